//! # The AWS config files
//!
//! [`profile(name)`](crate::RoleChainProviderBuilder::profile) reads the chain that operators describe in `~/.aws/config`, with the
//! SDK's own parser (aws-runtime's `env_config`), from the files every AWS SDK reads:
//! `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config` and
//! `~/.aws/credentials` (`[profile x]` and `[default]` sections; a key in the credentials file wins
//! over the same profile's in the config file), or those given to `profile_files`.
//!
//! ```ini
//! # ~/.aws/config
//! [profile storage]
//! role_arn = arn:aws:iam::111111111111:role/storage-access
//! source_profile = broker
//! external_id = storage-7f3a9c
//! role_session_name = nightly-export
//! region = eu-west-1
//!
//! [profile broker]
//! role_arn = arn:aws:iam::333333333333:role/broker
//! source_profile = compute
//! external_id = broker-5b1e
//! mfa_serial = arn:aws:iam::222222222222:mfa/alice
//! duration_seconds = 43200
//!
//! # ~/.aws/credentials
//! [compute]
//! aws_access_key_id = AKIA…
//! aws_secret_access_key = …
//! ```
//!
//! ```rust,no_run
//! use aws_role_chain::RoleChainProvider;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = RoleChainProvider::builder()
//!     .profile("storage") // compute → broker → storage
//!     .mfa_token_provider(|request| async move {
//!         // Ask your user, a secrets manager, …: see the MFA guide.
//!         # let _ = request; Ok::<_, Box<dyn std::error::Error + Send + Sync>>("123456".to_owned())
//!     })
//!     .build()?;
//! provider.credentials().await?; // asks for the code now, before any SDK client needs it
//! # Ok(()) }
//! ```
//!
//! `build()` walks `source_profile` from the named profile to the root, as aws-config and the AWS
//! CLI do: each profile with a `role_arn` is a hop, root first; past the named profile, a profile
//! with a key pair is the root even if it has a `role_arn` (part of a pair does not count); a
//! profile that names itself as `source_profile` assumes its role with its own keys (and is
//! refused without them); a profile with `web_identity_token_file` is a root. Every hop is then validated like a `Role` (the message names the profile), and `build()`
//! refuses with `field() == "profile"`: an unknown profile (the message lists the known ones), a
//! `source_profile` loop (`a → b → a`), `source_profile` and `credential_source` on one profile, a
//! role with neither, half a key pair, a root with no credentials unless `base_provider` is set,
//! and a profile that assumes no role while `assume` adds none. The files are read once, by
//! `build()`.
//!
//! | key | aws-config's profile provider | `RoleChainProvider` |
//! |---|---|---|
//! | `role_arn` | a hop | a hop, validated by `build()` |
//! | `source_profile` | followed to the root | followed by the same rules; a loop refused by `build()`, naming it |
//! | `external_id` | sent | sent; never logged |
//! | `role_session_name` | sent; default `assume-role-from-profile-<millis>` (botocore: `botocore-session-<secs>`) | sent; default `aws-role-chain-<millis>` |
//! | `duration_seconds` | ignored: 1 hour | sent as `DurationSeconds`, 900–43 200 s on hop 0, at most 3600 s on later hops |
//! | `mfa_serial` | ignored: a role that requires MFA is refused | sent as `SerialNumber` with the token provider's code (see [MFA](crate::guide::mfa)) |
//! | `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token` | the root's credentials | the base credentials |
//! | `credential_source` | `Environment`, `Ec2InstanceMetadata`, `EcsContainer` | the same, through aws-config's providers (feature `aws-config`) |
//! | `sso_session`/`sso_*`, `credential_process`, `web_identity_token_file` | the root's credentials | the base credentials, through aws-config's profile provider for the root (feature `aws-config`) |
//! | `endpoint_url` (of the root profile) | the endpoint of the root's own calls | the same: aws-config's provider for an SSO or web-identity root calls the portal or STS endpoint its profile names (`tests/sso.rs`, `tests/profile.rs` run both against local endpoints); the hops call the builder's `endpoint_url`, else the one `configure` gives, else STS's regional endpoint |
//! | `region` (of the named profile) | the STS region | the STS region unless `region()` is set |
//! | `sts_regional_endpoints` | ignored: always regional | `regional` (default); `legacy` calls STS's global endpoint (signing in `us-east-1`) in the 16 regions that had it, as botocore; `AWS_STS_REGIONAL_ENDPOINTS` wins over the file |
//!
//! Explicit settings win over the files: `region`, `endpoint_url`, `base_provider` (the root
//! profile's credentials are then not used), `refresh_policy`; `assume` appends hops after the
//! profile's. The same files give the same chain as botocore: `tests/moto.rs` compares the caller
//! identity of both against moto.
//!
