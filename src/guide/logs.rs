//! # Logs and status
//!
//! ## Logs
//!
//! A `debug` span per background attempt (`refresh`) and per hop (`assume_role`: hop, role ARN,
//! session name, expiry, outcome); a `debug` span for a caller that waits (`role_chain_credentials`)
//! and a `trace` event for a cached call. A refresh logs its start and success (new expiry, next
//! refresh) at `debug`; a failure logs a `warn` once per failure streak (error, next refresh), later
//! failures of the streak at `debug`, and the recovery at `info`. The credentials server logs each
//! request it answers at `debug` (method, path, status), a failing chain's whole error at `warn`,
//! refusals beyond its budget in one `warn` a minute (and nothing per refusal), and a token file
//! that turned unfit at `warn`. No secret
//! key, session token, ExternalId or server token is ever logged, printed by `Debug`, or put in an
//! error.
//!
//! ## Status
//!
//! [`provider.status()`](crate::RoleChainProvider::status) is a cheap snapshot for health checks,
//! free of secrets: expiry, next refresh, successful refreshes, consecutive failures, the last
//! error, and each hop's expiry ([`HopStatus`](crate::HopStatus)).
//!
//! ## Security notes
//!
//! - **The ExternalId guards against the confused deputy.** When a third party assumes roles in many
//!   customers' accounts, the trust policy's `sts:ExternalId` condition makes sure it acts for the
//!   right customer. Treat it like a secret: this crate never prints or logs it.
//! - **Assume the role in the account that owns the resource.** The worker then acts as a principal
//!   of that account: no cross-account bucket policies or ACLs, and objects it writes belong to the
//!   bucket's account.
//! - **Keep sessions short and scoped.** Chained sessions last at most an hour; a session `policy`
//!   or `policy_arns` narrows what a hop may do; `source_identity` and transitive tags follow the
//!   session through the chain into CloudTrail.
//!
