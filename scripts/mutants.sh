#!/usr/bin/env bash
# Mutation testing of the modules that hold the crate's rules, each against the tests that pin
# it; results in mutants.out/<group>/. Usage: scripts/mutants.sh [GROUP…], GROUP one of
# timing, sts, roles, provider, profile, builder, server, pool, cli (all by default). TESTING.md has
# the last run's counts.
set -euo pipefail
cd "$(dirname "$0")/.."

version=27.1.0
if [[ "$(cargo mutants --version 2>/dev/null)" != "cargo-mutants $version" ]]; then
    cargo install --locked "cargo-mutants@$version"
fi
# mold links the test binaries of each mutant several times faster, when it is installed.
if command -v mold >/dev/null; then
    export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-fuse-ld=mold"
fi
# One target directory for every group: the dependencies are built once, not once a group.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/mutants}"

# run GROUP [cargo-mutants options…] -- TARGETS…: the test targets (`--lib`, `--bins`,
# `--test NAME`) go to every cargo command, so that each mutant builds only the tests it runs.
run() {
    local group=$1
    shift
    local args=()
    while [[ $# -gt 0 && $1 != -- ]]; do
        args+=("$1")
        shift
    done
    shift || true
    while [[ $# -gt 0 ]]; do
        if [[ $1 == --test ]]; then
            args+=("--cargo-arg=--test=$2")
            shift 2
        else
            args+=("--cargo-arg=$1")
            shift
        fi
    done
    mkdir -p "mutants.out/$group"
    # Exit code 2 (missed mutants) and 3 (timeouts) are results; anything else is a failure.
    cargo mutants --jobs 1 --output "mutants.out/$group" "${args[@]}" || {
        local code=$?
        [[ $code == 2 || $code == 3 ]] || exit "$code"
    }
}

for group in "${@:-timing sts roles provider profile builder server pool cli}"; do
    for g in $group; do
        case $g in
        timing)
            # The timing rules (the policy's windows, backoffs and decisions, and the saturating
            # time arithmetic) and the cache: their unit tests run on manual time, and
            # tests/logs.rs (about 6 s of real time) checks what the cache logs. A mutant that
            # hangs a test is stopped after 30 s.
            run timing --timeout 30 --file src/policy.rs --file src/policy/rules.rs \
                --file src/policy/backoff.rs --file src/time.rs --file src/cache.rs \
                --file src/cache/snapshot.rs -- --lib --test logs ;;
        sts)
            # One hop's request, the chain, MFA codes and the classification of STS's errors,
            # against LocalSts (the chain's timing on manual time in tests/chain.rs and
            # tests/mfa.rs).
            run sts --timeout 60 --file src/hop.rs --file src/chain.rs --file src/classify.rs \
                --file src/mfa.rs -- --lib --test chain --test errors --test faults --test mfa \
                --test extremes ;;
        roles)
            # 200 cases per property: each of the role's rules is reached in tens of them.
            PROPTEST_CASES=200 run roles --file src/role.rs --file src/limits.rs \
                -- --lib --test validation --test properties ;;
        provider)
            # The provider's face (error mapping onto the SDK's, fallback_on_interrupt, the
            # cache's failures) and the metrics, against the errors' and the metrics' tests.
            run provider --timeout 60 --file src/provider.rs --file src/metrics.rs \
                -- --lib --test errors --test metrics ;;
        profile)
            # The walk of the AWS config files and its refusals, against the unit tests (files
            # on aws-types' in-memory file system), tests/profile.rs (real files, LocalSts) and
            # tests/sso.rs (an SSO root fetched from a local portal).
            run profile --timeout 60 --file src/profile.rs -- --lib --test profile --test sso ;;
        builder)
            # Which setting wins (explicit, profile, SdkConfig), the defaults and build()'s
            # refusals, against the unit tests and the tests that build providers every way.
            run builder --timeout 60 --file src/builder.rs \
                -- --lib --test validation --test profile --test chain --test metrics ;;
        server)
            # The endpoint's checks of each request (token, Host, path, method, health), against
            # its tests and aws-config's own container-credentials provider.
            run server --timeout 60 --file src/server/respond.rs \
                -- --lib --test server --test container_credentials ;;
        pool)
            # The pool's rate gate and engine (shared hops, turns, idle tenants, eviction), on
            # manual time in tests/pool.rs, and the pool's metrics.
            run pool --timeout 60 --file src/pool/gate.rs --file src/pool/engine.rs \
                -- --lib --test pool --test metrics ;;
        cli)
            # The command's environment handling: the chain options as every AWS tool reads
            # them, the child's environment and config file, the files it reads and writes;
            # against its unit tests, tests/cli.rs, which runs the command, and tests/signals.rs
            # (the child dies with the command). Every target is built: tests/cli.rs runs the
            # example sdk_credentials (an SDK client) as the command's child.
            run cli --timeout 120 --package aws-role-chain-cli --file cli/src/chain.rs \
                --file cli/src/child.rs --file cli/src/files.rs --cargo-test-arg=--bins \
                --cargo-test-arg=--test=cli --cargo-test-arg=--test=signals ;;
        *)
            echo "unknown group $g: one of timing, sts, roles, provider, profile, builder, server, pool, cli" >&2
            exit 2 ;;
        esac
    done
done
