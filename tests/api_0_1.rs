//! A program written against the 0.1 API, as an application outside this repository has it: the
//! builder by its old name `Builder`, the MFA token provider as a closure, `Status`'s accessors
//! of 0.1. It must build with nothing worse than deprecation warnings (allowed here) and behave
//! as it did.
#![allow(deprecated)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_role_chain::test_util::{LocalRole, LocalSts};
use aws_role_chain::{Builder, ErrorKind, Role, RoleChainProvider};
use aws_types::region::Region;

const STORAGE: &str = "arn:aws:iam::111111111111:role/storage-access";
const DEVICE: &str = "arn:aws:iam::222222222222:mfa/compute";

/// compute → storage (ExternalId and MFA), the way a 0.1 program builds it; and how many times
/// its closure was asked for a code.
async fn chain(external_id: &str) -> (LocalSts, Builder, Arc<AtomicUsize>) {
    let sts = LocalSts::start().await.unwrap();
    let compute = sts.add_user("222222222222", "compute");
    sts.add_role(
        LocalRole::new(STORAGE)
            .trust("arn:aws:iam::222222222222:user/compute")
            .external_id("storage-7f3a9c")
            .mfa(DEVICE),
    );
    let device = sts.mfa_device(DEVICE).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let builder: Builder = RoleChainProvider::builder()
        .base_provider(compute)
        .endpoint_url(sts.endpoint_url())
        .region(Region::new("us-east-1"))
        .assume(
            Role::new(STORAGE)
                .external_id(external_id)
                .mfa_serial(DEVICE),
        )
        .mfa_token_provider(move |request| {
            counter.fetch_add(1, Ordering::SeqCst);
            let code = device.code();
            async move {
                assert_eq!(request.serial_number(), DEVICE);
                assert_eq!((request.role_arn(), request.hop()), (STORAGE, 0));
                Ok(code)
            }
        });
    (sts, builder, asked)
}

#[tokio::test]
async fn a_0_1_program_gets_the_role_with_its_closure_asked_once() {
    let (sts, builder, asked) = chain("storage-7f3a9c").await;
    let provider = builder.build().unwrap();
    let credentials = provider.credentials().await.unwrap();
    assert_eq!(
        credentials.account_id().map(|a| a.as_str()),
        Some("111111111111")
    );
    provider.credentials().await.unwrap();
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    assert_eq!(provider.status().successful_refreshes(), 1);
    sts.stop().await;
}

#[tokio::test]
async fn a_0_1_program_reads_a_failure_from_status_as_before() {
    let (sts, builder, _) = chain("guess").await;
    let provider = builder.build().unwrap();
    let err = provider.credentials().await.unwrap_err();
    assert_eq!((err.kind(), err.hop()), (ErrorKind::AccessDenied, Some(0)));
    let status = provider.status();
    assert_eq!(status.last_error_kind(), Some(ErrorKind::AccessDenied));
    assert_eq!(status.last_error_message(), Some(err.to_string().as_str()));
    // New in 0.2, beside them: the error itself.
    let last = status.last_error().unwrap();
    assert_eq!(
        (last.kind(), last.hop(), last.role_arn()),
        (ErrorKind::AccessDenied, Some(0), Some(STORAGE))
    );
    sts.stop().await;
}

#[test]
fn the_old_name_is_the_new_builder() {
    let builder: Builder = Builder::default();
    let _: aws_role_chain::RoleChainProviderBuilder = builder;
}
