#!/usr/bin/env bash
# Build footprint, side by side: the packages in the dependency tree and the clean release build
# time of a minimal program that uses this crate (with its default features, and without them),
# and of one that uses aws-config's AssumeRoleProvider (aws-config and aws-sdk-sts with their
# default features), in one run.
#
#   scripts/footprint.sh
#
# Each program is built from clean in its own target directory under target/footprint; the two
# builds run one after the other. Prints a Markdown table.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/target/footprint"
rm -rf "$work"
mkdir -p "$work/role-chain/src" "$work/role-chain-minimal/src" "$work/aws-config/src"

cat >"$work/role-chain/Cargo.toml" <<TOML
[package]
name = "footprint-role-chain"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
aws-role-chain = { path = "$root" }
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }

[workspace]
TOML
cat >"$work/role-chain/src/main.rs" <<'RS'
use aws_role_chain::{Role, RoleChainProvider};

#[tokio::main]
async fn main() {
    let config = aws_types::SdkConfig::builder().build();
    let provider = RoleChainProvider::builder()
        .configure(&config)
        .assume(Role::new("arn:aws:iam::111111111111:role/storage-access").external_id("ext"))
        .build();
    println!("{provider:?}");
}
RS
sed -i 's/^tokio = .*/&\naws-types = "1"/' "$work/role-chain/Cargo.toml"
# The same program without the default aws-config feature.
sed 's/^name = .*/name = "footprint-role-chain-minimal"/; s|^aws-role-chain = .*|aws-role-chain = { path = "'"$root"'", default-features = false }|' \
    "$work/role-chain/Cargo.toml" >"$work/role-chain-minimal/Cargo.toml"
cp "$work/role-chain/src/main.rs" "$work/role-chain-minimal/src/main.rs"

cat >"$work/aws-config/Cargo.toml" <<'TOML'
[package]
name = "footprint-aws-config"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
aws-config = { version = "1", features = ["behavior-version-latest"] }
aws-sdk-sts = "1"
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }

[workspace]
TOML
cat >"$work/aws-config/src/main.rs" <<'RS'
use aws_config::sts::AssumeRoleProvider;

#[tokio::main]
async fn main() {
    let config = aws_config::load_from_env().await;
    let provider = AssumeRoleProvider::builder("arn:aws:iam::111111111111:role/storage-access")
        .external_id("ext")
        .configure(&config)
        .build()
        .await;
    println!("{provider:?}");
}
RS

echo "| program | packages | TLS stacks (rustls versions) | hyper 0.14 | clean release build |"
echo "|---|---|---|---|---|"
for program in role-chain role-chain-minimal aws-config; do
    dir="$work/$program"
    (cd "$dir" && cargo generate-lockfile --quiet)
    packages=$(cd "$dir" && cargo tree --edges normal,build --prefix none --format '{p}' | sed 's/ (\*)//; s/ (proc-macro)//' | sort -u | wc -l)
    rustls=$(cd "$dir" && cargo tree --edges normal --prefix none --format '{p}' | sed 's/ (\*)//' | grep -E '^rustls v' | sort -u | wc -l)
    hyper014=$(cd "$dir" && cargo tree --edges normal --prefix none --format '{p}' | grep -cE '^hyper v0\.14' || true)
    start=$SECONDS
    (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build --release --quiet)
    echo "| $program | $packages | $rustls | $([ "$hyper014" -gt 0 ] && echo yes || echo no) | $((SECONDS - start)) s |"
done
