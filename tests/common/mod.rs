//! Shared setup: a LocalSts with a compute user and a broker → storage chain of roles.
#![allow(dead_code)]

use aws_credential_types::Credentials;
use aws_role_chain::test_util::{LocalRole, LocalSts, RecordedRequest};
use aws_role_chain::{Builder, Role, RoleChainProvider};
use aws_types::region::Region;

pub const COMPUTE_USER: &str = "arn:aws:iam::222222222222:user/compute";
pub const BROKER: &str = "arn:aws:iam::333333333333:role/broker";
pub const STORAGE: &str = "arn:aws:iam::111111111111:role/storage-access";
pub const AUDIT: &str = "arn:aws:iam::444444444444:role/audit";
pub const BROKER_EXTERNAL_ID: &str = "broker-ext-5b1e";
pub const STORAGE_EXTERNAL_ID: &str = "storage-ext-7f3a9c";
pub const AUDIT_EXTERNAL_ID: &str = "audit-ext-09d2";

/// A LocalSts where the compute user may assume the broker, the broker the storage role, and the
/// storage role the audit role, each with its own ExternalId.
pub struct World {
    pub sts: LocalSts,
    pub compute: Credentials,
}

impl World {
    pub async fn new() -> World {
        let sts = LocalSts::start().await.expect("LocalSts starts");
        let compute = sts.add_user("222222222222", "compute");
        sts.add_role(
            LocalRole::new(BROKER)
                .trust(COMPUTE_USER)
                .external_id(BROKER_EXTERNAL_ID),
        );
        sts.add_role(
            LocalRole::new(STORAGE)
                .trust(BROKER)
                .external_id(STORAGE_EXTERNAL_ID),
        );
        sts.add_role(
            LocalRole::new(AUDIT)
                .trust(STORAGE)
                .external_id(AUDIT_EXTERNAL_ID),
        );
        World { sts, compute }
    }

    /// A builder with the compute user as base, pointed at the LocalSts.
    pub fn builder(&self) -> Builder {
        RoleChainProvider::builder()
            .base_provider(self.compute.clone())
            .endpoint_url(self.sts.endpoint_url())
            .region(Region::new("us-east-1"))
    }

    /// compute → broker → storage
    pub fn two_hops(&self) -> RoleChainProvider {
        self.builder()
            .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
            .assume(Role::new(STORAGE).external_id(STORAGE_EXTERNAL_ID))
            .build()
            .expect("valid chain")
    }

    pub fn assume_role_requests(&self) -> Vec<RecordedRequest> {
        self.sts
            .requests()
            .into_iter()
            .filter(|r| r.action() == Some("AssumeRole"))
            .collect()
    }
}

/// Waits, in real time and for at most five seconds, until `done` holds.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Wall-clock time, for tests that check that callers did not wait on STS.
#[allow(clippy::disallowed_methods)]
pub fn stopwatch() -> std::time::Instant {
    std::time::Instant::now()
}

/// An `SdkConfig` whose only setting is: no SDK retries.
pub fn no_retries() -> aws_types::SdkConfig {
    with_retries(aws_smithy_types::retry::RetryConfig::disabled())
}

/// An `SdkConfig` whose only setting is: two attempts, the second 10 ms after the first.
pub fn two_attempts() -> aws_types::SdkConfig {
    with_retries(
        aws_smithy_types::retry::RetryConfig::standard()
            .with_max_attempts(2)
            .with_initial_backoff(std::time::Duration::from_millis(10)),
    )
}

fn with_retries(retry: aws_smithy_types::retry::RetryConfig) -> aws_types::SdkConfig {
    aws_types::SdkConfig::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .retry_config(retry)
        .build()
}

/// Captured tracing output, as a writer for `tracing_subscriber`.
#[derive(Clone, Default)]
pub struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// This host's time, as the system clock tells it.
pub fn now() -> std::time::SystemTime {
    use aws_smithy_async::time::TimeSource;
    aws_smithy_async::time::SystemTimeSource::new().now()
}
