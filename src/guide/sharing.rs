//! # Sharing credentials with other processes
//!
//! A worker rarely runs only Rust: a job runner starts `aws s3 cp`, a Python step, a Java tool.
//! Every AWS SDK and the AWS CLI read credentials from a local HTTP endpoint through the
//! container-credentials protocol (`AWS_CONTAINER_CREDENTIALS_FULL_URI` with
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN` or `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`) and refresh from
//! it by themselves. Put one provider behind such an endpoint and every process of the host shares
//! one chain: one set of STS calls instead of one per process, each request answered from the
//! cache (about 10 µs; BENCHMARKS.md in the repository has the measurements).
//!
//! ```rust,no_run
//! use aws_role_chain::server::CredentialsServer;
//! # use aws_role_chain::test_util::{LocalRole, LocalSts};
//! use aws_role_chain::{Role, RoleChainProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let sts = LocalSts::start().await?;
//! # let compute = sts.add_user("222222222222", "compute");
//! # sts.add_role(LocalRole::new("arn:aws:iam::111111111111:role/storage-access").external_id("storage-7f3a9c"));
//! let provider = RoleChainProvider::builder()
//! #   .base_provider(compute).endpoint_url(sts.endpoint_url())
//!     .assume(Role::new("arn:aws:iam::111111111111:role/storage-access").external_id("storage-7f3a9c"))
//!     .build()?;
//! let server = CredentialsServer::start(provider).await?; // 127.0.0.1, a free port, a random token
//! let status = tokio::process::Command::new("aws")
//!     .args(["s3", "ls", "s3://storage-a"])
//!     .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url())
//!     .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", server.token())
//!     .env_remove("AWS_ACCESS_KEY_ID")
//!     .status()
//!     .await;
//! # let _ = status;
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! `CredentialsServer::builder(provider)` sets the `address`, the `path` (default
//! `/role-chain/credentials`), a fixed `token` (32 to 4,096 visible ASCII characters) or a
//! `token_file`, `max_connections` (256; 1 to 65,536) and `max_request_bytes` (8 KiB; up to 1 MiB);
//! `start()` refuses a value out of range, naming it. An answer is `200` with `AccessKeyId`,
//! `SecretAccessKey`, `Token`, `Expiration` (RFC 3339) and `AccountId`, or, when the chain fails,
//! `503` (retryable) or `500` with `{"code", "message"}`: the error kind (as
//! [`ErrorKind::as_str`](crate::ErrorKind::as_str) names it) and the hop, never STS's
//! own words or a credential process's output, which go to the server's log at `warn`. The SDKs
//! retry both.
//!
//! ## The `aws-role-chain` command
//!
//! It does the same without code. The chain comes from `--profile
//! NAME` (see [the AWS config files](crate::guide::config_files)) or repeated `--role
//! ARN[,external-id-env=VAR|external-id-file=PATH][,session-name=NAME][,duration=SECONDS][,mfa-serial=SERIAL]`
//! (an ExternalId is never an argument: arguments are visible to every user of the host in `ps`);
//! the base credentials, region and STS endpoint as every AWS tool resolves them (the default
//! credentials chain, `AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`);
//! MFA codes are asked at the terminal; logs go to stderr, filtered by `RUST_LOG`. Each command
//! fetches the credentials once before anything else, so a chain that cannot work fails at once
//! with one line naming what to fix.
//!
//! ```sh
//! # A host-wide endpoint: prints the two variables to export; runs until SIGINT or SIGTERM.
//! aws-role-chain serve --profile storage
//! #   export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:40123/role-chain/credentials
//! #   export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/user/1000/aws-role-chain-4242.token
//!
//! # One command with the role: an endpoint for as long as it runs; its exit status is returned.
//! BROKER_EXT=… STORAGE_EXT=… aws-role-chain exec \
//!     --role arn:aws:iam::333333333333:role/broker,external-id-env=BROKER_EXT \
//!     --role arn:aws:iam::111111111111:role/storage-access,external-id-env=STORAGE_EXT \
//!     -- python3 nightly_export.py
//!
//! # For a credential_process line of an AWS config file:
//! #   [profile storage-via-chain]
//! #   credential_process = aws-role-chain credential-process --profile storage
//! aws-role-chain credential-process --profile storage
//! ```
//!
//! `serve` writes a random token, without a newline (the SDKs send the file as it is), to a new
//! file of mode 0600 (in `$XDG_RUNTIME_DIR`, else the temporary directory, under an unguessable
//! name, or at `--token-file PATH`), never through a file or link already there, prints the two
//! `export` lines shell-quoted, and at exit removes the file if it is still the one it created. A
//! `--token-file` that already exists is the operator's: its content is the token, read again when
//! it changes and left in place at exit; it must be a regular file (not a symlink) of the user
//! `serve` runs as, without group or other permission bits, at most 4 KiB, holding 32 to 4,096
//! visible characters with nothing around them (write it with `printf '%s'`), checked at every
//! read: while it is not so, every request is refused. An `external-id-file` must be private in the
//! same way.
//!
//! `exec` gives the command the endpoint and nothing that any SDK's default credentials chain
//! would read before it. It removes `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN` and the legacy names `AWS_SECURITY_TOKEN`, `AWS_ACCESS_KEY`,
//! `AWS_SECRET_KEY` and `AWS_CREDENTIAL_FILE`, `AWS_PROFILE`, `AWS_DEFAULT_PROFILE`,
//! `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`,
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` and the variables named by `external-id-env`; points
//! `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CREDENTIAL_PROFILES_FILE` (the AWS SDK for Java 1.x's) and
//! `BOTO_CONFIG` (boto's legacy config) at `/dev/null`; and points `AWS_CONFIG_FILE` at a file of
//! its own
//! (mode 0600, removed at exit) whose `[default]` profile holds only the chosen profile's settings
//! that are not credentials (`region`, `output`, `retry_mode`, `max_attempts`, `endpoint_url`,
//! `ca_bundle` and the like). A `[default]` profile with keys, `credential_process`, `sso_session`
//! or `role_arn` in your config file therefore cannot run the command as another principal. It
//! sets `AWS_ROLE_CHAIN_EXEC` in the command, and refuses to run inside another `exec` unless given
//! `--nested` (the outer role would then sign this chain's first hop). On Linux the command is
//! killed if `exec` dies, so that it never keeps a URI to a port another user could then bind
//! (`PR_SET_PDEATHSIG`: the command itself, not the processes it starts, and not after it runs a
//! set-user-ID program).
//! `exec` exits with the command's status (128 plus the signal if a signal ended it; 127 if the
//! command is not found, 126 if it cannot run).
//!
//! ## Signals and MFA
//!
//! A signal while a command starts (until the child runs or the variables
//! are printed: the first chain run, an MFA prompt) ends it at once with status 128 plus the
//! signal, with nothing left behind. Afterwards `serve` stops on SIGHUP, SIGINT, SIGQUIT, SIGTERM,
//! SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO and, on Linux, SIGPWR,
//! SIGSTKFLT and the real-time signals (every signal that would end it but those of a fault of its
//! own) and exits 0, and `exec` passes each of them, and SIGWINCH, on to the command (Ctrl-C at a terminal reaches the command
//! both from the terminal and from `exec`). A signal the command was started ignoring (SIGHUP
//! under `nohup`) stays ignored, for it and its child. MFA codes are asked at the controlling terminal only while the
//! command starts, and only when the command is in the terminal's foreground (a `serve &` never
//! reads it); once the server or the child runs, the terminal is theirs: a refresh that needs a new
//! code fails with `ErrorKind::MfaToken`, the credentials in service are served until they expire,
//! and the command says once on stderr when that is, so that it can be restarted in time.
//! `credential-process` prints `Version`, `AccessKeyId`, `SecretAccessKey`, `SessionToken`,
//! `Expiration` and `AccountId`; since each run is a new process, it fetches anew each time the SDK
//! asks, so prefer the endpoint for long jobs.
//!
//! ## Health
//!
//! The endpoint answers `GET` (or `HEAD`) of `/healthz` (`health_path` sets another) **without
//! the token**: `200` with `{"state":"valid","expires_in":<seconds>}` while the provider holds
//! valid credentials, else `503` with `{"state":"expired"}`, or `{"state":"none"}` before the
//! first; never an ARN, an account or an error's text. It does not fetch: the background refresh
//! keeps the credentials valid, and `serve` fetches the first ones before it listens. On the
//! endpoint's own address the `Host` check still applies. A kubelet's probes connect to the
//! pod's address, not its loopback: `health_address` (`serve --health-address 0.0.0.0:9912`)
//! opens a second listener that answers the health path alone, to any `Host`, and nothing else,
//! so the credentials stay on loopback.
//!
//! ## A Kubernetes sidecar
//!
//! Run `aws-role-chain serve --address 127.0.0.1:9911 --token-file
//! /var/run/role-chain/token --health-address 0.0.0.0:9912` in a container of the pod (the
//! containers of a pod share its loopback), with the token file on a shared `emptyDir` volume
//! written by an init container, and give the application containers
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9911/role-chain/credentials` and
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/var/run/role-chain/token`. The token file must
//! belong to the user `serve` runs as and be readable by no one else, so the init container, the
//! sidecar and the application containers run as one user (`runAsUser` in the pod's
//! `securityContext`). The README has the whole pod: the sidecar as a native sidecar (an init
//! container with `restartPolicy: Always`, started before the application and ready only once
//! it serves valid credentials), with `/healthz` on port 9912 as its readiness and startup
//! probe. Use a TCP probe for liveness: credentials that cannot be refreshed while STS is down
//! are not mended by a restart.
//!
//! ## Security of the endpoint
//!
//! What holds:
//! - It listens on loopback only; `start()` refuses any other address unless
//!   `allow_non_loopback(true)` is set. Bound to loopback, it drops connections from any other
//!   address (a host with `route_localnet=1` can route outside traffic to 127.0.0.1).
//! - Every request must carry the token (by default 256 bits from the operating system's random
//!   source) in `Authorization`, compared in constant time; a missing token gets `401`, a wrong one
//!   `403`, and neither gets anything else. The token is wiped from memory when dropped and never
//!   shown by `Debug` or logs.
//! - A `Host` header must be a loopback address or `localhost`, with an optional port
//!   (`127.0.0.1:port`, `[::1]:port`, `localhost:port`), against DNS rebinding from a browser;
//!   anything else, a missing one included, gets `403`. Only `GET` on the path is served, without a
//!   body; request heads are limited to 8 KiB (`431` beyond) and must arrive within 5 s; a
//!   connection lasts at most 30 s; no answer may be cached (`Cache-Control: no-store`).
//! - A process without the token cannot crowd out the callers that have it: every refusal closes
//!   its connection; refusals are answered at most 100 at once and 50 a second, the rest closed
//!   unanswered (with one warning a minute); connections are accepted first and given a slot after,
//!   and when all 256 slots are taken the oldest connection whose caller has not shown the token is
//!   closed for the newcomer (a caller counts as having shown it as soon as it has, even while it
//!   waits for a refresh). Only when every slot holds a caller that showed the token does a
//!   newcomer get `503`. 300 local connections without the token, hammering it, leave the SDK's own
//!   container provider and boto3 served within a second (`tests/endpoint_under_load.rs`,
//!   `tests/moto.rs`).
//! - A token file is opened without following symlinks or blocking, and trusted only while it is a
//!   regular file of the server's user, private, at most 4 KiB, with nothing around the token;
//!   its token and the version read (device, inode, size, mode, owner and times) are swapped under
//!   one lock, and a file changed within the last 2 s (by the later of its modification time and
//!   its change time, which no one can set) is read at every request, since two writes within one
//!   tick of the file system's clock can look alike: a rotation never leaves the old token valid.
//!
//! What does not hold, by the protocol's design: any process that can read the token (the same
//! user, or root) gets the credentials, as it could read `~/.aws/credentials`; a process of the same
//! user can also read the server's memory. Keep the token file's mode at 0600 and the endpoint on a
//! host (or pod) whose processes you trust with the role. Beside its peers:
//! aws-vault's `--ecs-server` and mairu also serve this protocol on loopback behind a random token
//! and a `Host` check, and aws-vault likewise asks for no MFA code once it serves; the ECS agent and
//! the EKS Pod Identity agent, daemons that serve many tasks, also limit request rates, time out
//! slow request heads, close connections after a refusal and check the peer address, as this
//! endpoint does for one chain and one host's processes.
//!
