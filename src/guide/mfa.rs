//! # MFA
//!
//! A role whose trust policy requires MFA (`aws:MultiFactorAuthPresent`) needs `Role::mfa_serial`
//! (or `mfa_serial` in its profile) and a token provider: an async function given an `MfaRequest`
//! (`serial_number()`, `role_arn()`, `hop()`) that returns the device's current 6-digit code.
//!
//! - **Asked once per fetch** of that hop, never at `build()`, never while the hop's credentials
//!   are valid. A hop fetched with a code is kept for its whole lifetime and the later hops refresh
//!   from it: with hop 0 at 12 hours (`duration(Duration::from_secs(43_200))`, the role's
//!   `MaxSessionDuration` permitting) and a chained hop of 1 hour, the code is asked once in 12
//!   hours. An invalidation derives the hops after the MFA hop anew and keeps the MFA hop.
//! - **Checked** before the request (exactly 6 ASCII digits, surrounding whitespace trimmed; else
//!   `MfaToken`, and no request) and **never logged**, printed or put in an error.
//! - **Given three quarters of `RefreshPolicy::fetch_timeout`** (22.5 s by default) to answer, so
//!   that a token provider that hangs is named as the cause (`MfaToken`) before the run times out.
//!   For a person at a prompt, raise `fetch_timeout` (to 2 minutes, say).
//! - **When the MFA hop must be refreshed in the background** and the token provider fails or does
//!   not answer, the valid credentials keep being served until they expire, like after any failed
//!   refresh; `status()` and the error say the MFA code was the cause (`MfaToken`), and the next
//!   attempt (5 min later, or at expiry) asks again. STS's answer to a wrong code is
//!   `AccessDenied` at that hop.
//! - **The library never prompts.** The token provider runs on the refresh task: read a terminal
//!   in `tokio::task::spawn_blocking`, as `examples/profile.rs` does with `--prompt`. Fetch once at
//!   startup (`provider.credentials().await`), so that the prompt comes before any SDK client,
//!   whose identity cache waits only 5 s, needs credentials.
//!
//! ```rust,no_run
//! use std::io::{BufRead, Write};
//! use aws_role_chain::{Role, RoleChainProvider};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! # let sdk_config = aws_config::load_from_env().await;
//! let provider = RoleChainProvider::builder()
//!     .configure(&sdk_config)
//!     .assume(
//!         Role::new("arn:aws:iam::333333333333:role/broker")
//!             .duration(std::time::Duration::from_secs(12 * 3600))
//!             .mfa_serial("arn:aws:iam::222222222222:mfa/alice"),
//!     )
//!     .assume(Role::new("arn:aws:iam::111111111111:role/storage-access").external_id("storage-7f3a9c"))
//!     .mfa_token_provider(|request| async move {
//!         tokio::task::spawn_blocking(move || {
//!             print!("MFA code for {}: ", request.serial_number());
//!             std::io::stdout().flush()?;
//!             let mut code = String::new();
//!             std::io::stdin().lock().read_line(&mut code)?;
//!             Ok(code)
//!         })
//!         .await?
//!     })
//!     .build()?;
//! # let _ = provider; Ok(()) }
//! ```
//!
