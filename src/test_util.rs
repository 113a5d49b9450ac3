//! Testing without AWS: [`LocalSts`], a real STS endpoint on 127.0.0.1.
//!
//! Enabled by the `test-util` feature, for this crate's tests and examples and for users' own
//! test suites:
//!
//! ```toml
//! [dev-dependencies]
//! aws-role-chain = { version = "0.1", features = ["test-util"] }
//! ```
//!
//! These are the types of the `aws-role-chain-local-sts` crate, whose documentation describes
//! what `LocalSts` checks and answers; it can also be used on its own, with any STS client.
//!
//! ```
//! use aws_role_chain::test_util::{LocalRole, LocalSts};
//! use aws_role_chain::{Role, RoleChainProvider};
//! use aws_types::region::Region;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sts = LocalSts::start().await?;
//! let compute = sts.add_user("222222222222", "compute");
//! sts.add_role(
//!     LocalRole::new("arn:aws:iam::111111111111:role/storage-access")
//!         .trust("arn:aws:iam::222222222222:user/compute")
//!         .external_id("storage-7f3a9c"),
//! );
//!
//! let provider = RoleChainProvider::builder()
//!     .base_provider(compute)
//!     .endpoint_url(sts.endpoint_url())
//!     .region(Region::new("us-east-1"))
//!     .assume(Role::new("arn:aws:iam::111111111111:role/storage-access").external_id("storage-7f3a9c"))
//!     .build()?;
//! let credentials = provider.credentials().await?;
//! assert_eq!(credentials.account_id().map(|a| a.as_str()), Some("111111111111"));
//! assert_eq!(sts.requests().len(), 1);
//! sts.stop().await;
//! # Ok(()) }
//! ```

pub use aws_role_chain_local_sts::{
    Fault, LocalRole, LocalSts, LocalStsBuilder, MfaDevice, RecordedRequest,
};
