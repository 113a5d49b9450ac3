//! MFA hops against LocalSts on manual time: the code asked once per fetch of the MFA hop, the
//! chained hop refreshed behind it without a new code, a wrong code, and a token provider that
//! fails, hangs or answers something else than a code while the credentials are still valid.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_role_chain::test_util::{LocalRole, MfaDevice};
use aws_role_chain::{
    ErrorKind, MfaRequest, MfaTokenFuture, ProvideMfaToken, Role, RoleChainProvider,
    RoleChainProviderBuilder,
};
use aws_smithy_async::test_util::tick_advance_sleep::TickAdvanceTime;
use aws_smithy_async::time::TimeSource;
use common::*;
use futures_util::future::BoxFuture;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DEVICE: &str = "arn:aws:iam::222222222222:mfa/compute";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the person at the token provider does when asked.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    /// Types the device's current code.
    Code,
    /// Types a code that is not the device's.
    WrongCode,
    /// Closes the prompt.
    Fail,
    /// Never answers.
    Hang,
    /// Types five digits.
    FiveDigits,
    /// Panics while asked.
    Panic,
}

/// A token provider that answers as told, with the codes of `device`, and remembers what it was
/// asked.
#[derive(Clone)]
struct Person {
    device: MfaDevice,
    answer: Arc<Mutex<Answer>>,
    asked: Arc<Mutex<Vec<MfaRequest>>>,
}

impl Person {
    fn new(device: MfaDevice) -> Person {
        Person {
            device,
            answer: Arc::new(Mutex::new(Answer::Code)),
            asked: Arc::default(),
        }
    }

    fn will(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn times_asked(&self) -> usize {
        self.asked.lock().unwrap().len()
    }

    fn ask(&self, request: MfaRequest) -> BoxFuture<'static, Result<String, BoxError>> {
        self.asked.lock().unwrap().push(request);
        let answer = *self.answer.lock().unwrap();
        let code = self.device.code();
        Box::pin(async move {
            match answer {
                Answer::Code => Ok(code),
                Answer::WrongCode => Ok(format!("{:06}", (code.parse::<u32>()? + 1) % 1_000_000)),
                Answer::Fail => Err("the prompt was closed".into()),
                Answer::FiveDigits => Ok("12345".to_owned()),
                Answer::Hang => std::future::pending().await,
                Answer::Panic => panic!("the token device broke"),
            }
        })
    }
}

/// The person as a token provider of a type of its own, for `mfa_token_source`.
impl ProvideMfaToken for Person {
    fn provide_mfa_token(&self, request: MfaRequest) -> MfaTokenFuture<'_> {
        self.ask(request)
    }
}

/// compute → broker (MFA, `broker` long) → storage (1 h) on manual time, the broker role
/// requiring MFA with `DEVICE`; and the person with the device.
async fn mfa_world(
    broker: Duration,
    hops: usize,
) -> (World, TickAdvanceTime, RoleChainProviderBuilder, Person) {
    let (world, time, builder) = World::on_manual_time().await;
    world.sts.add_role(
        LocalRole::new(BROKER)
            .trust(COMPUTE_USER)
            .external_id(BROKER_EXTERNAL_ID)
            .max_session_duration(12 * HOUR)
            .mfa(DEVICE),
    );
    let person = Person::new(world.sts.mfa_device(DEVICE).unwrap());
    let answering = person.clone();
    let mut builder = builder
        .assume(
            Role::new(BROKER)
                .external_id(BROKER_EXTERNAL_ID)
                .duration(broker)
                .mfa_serial(DEVICE),
        )
        .mfa_token_provider(move |request| answering.ask(request));
    if hops == 2 {
        builder = builder.assume(Role::new(STORAGE).external_id(STORAGE_EXTERNAL_ID));
    }
    (world, time, builder, person)
}

/// The roles of the AssumeRole requests so far, with whether each carried the device and a code.
fn calls(world: &World) -> Vec<(String, bool)> {
    world
        .assume_role_requests()
        .iter()
        .map(|r| {
            let mfa = r.mfa_serial_number() == Some(DEVICE) && r.carried_mfa_code();
            (r.param("RoleArn").unwrap().to_owned(), mfa)
        })
        .collect()
}

/// Moves time on by `by` and waits for the provider to have made `refreshes` successful runs.
async fn refreshed(
    time: &TickAdvanceTime,
    by: Duration,
    provider: &RoleChainProvider,
    refreshes: u64,
) {
    time.tick(by).await;
    eventually(&format!("{refreshes} successful runs"), || {
        provider.status().successful_refreshes() == refreshes
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_code_is_asked_once_in_twelve_hours_while_the_chained_hop_refreshes_behind_it() {
    let (world, time, builder, person) = mfa_world(12 * HOUR, 2).await;
    let provider = builder.build().unwrap();
    assert_eq!(person.times_asked(), 0, "build asks nothing");

    provider.credentials().await.unwrap();
    assert_eq!(person.times_asked(), 1);
    let request = person.asked.lock().unwrap()[0].clone();
    assert_eq!(
        (request.serial_number(), request.role_arn(), request.hop()),
        (DEVICE, BROKER, 0)
    );
    assert_eq!(
        calls(&world),
        [(BROKER.to_owned(), true), (STORAGE.to_owned(), false)]
    );
    let broker_key = world.sts.issued()[0].access_key_id().to_owned();

    // The 1-hour storage credentials are refreshed every 45 minutes, signed by the broker
    // session that the one code opened, for as long as it lasts.
    for k in 1..=15u64 {
        refreshed(&time, 45 * MINUTE, &provider, k + 1).await;
        assert_eq!(person.times_asked(), 1, "after {} min", 45 * k);
        let last = world.sts.requests().last().cloned().unwrap();
        assert_eq!(last.param("RoleArn"), Some(STORAGE));
        assert_eq!(last.access_key_id(), Some(broker_key.as_str()));
    }
    assert_eq!(calls(&world).len(), 17);

    // At 12 hours the broker session ends: one more code, then the storage role again.
    refreshed(&time, 45 * MINUTE, &provider, 17).await;
    assert_eq!(person.times_asked(), 2);
    assert_eq!(
        calls(&world)[17..],
        [(BROKER.to_owned(), true), (STORAGE.to_owned(), false)]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_invalidation_keeps_the_mfa_hop_and_asks_no_new_code() {
    let (world, _time, builder, person) = mfa_world(12 * HOUR, 2).await;
    let provider = builder.build().unwrap();
    let first = provider.credentials().await.unwrap();

    provider.invalidate();
    let second = provider.credentials().await.unwrap();

    assert_ne!(first.access_key_id(), second.access_key_id());
    assert_eq!(person.times_asked(), 1);
    assert_eq!(
        calls(&world),
        [
            (BROKER.to_owned(), true),
            (STORAGE.to_owned(), false),
            (STORAGE.to_owned(), false)
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_code_is_access_denied_at_the_mfa_hop() {
    let (world, _time, builder, person) = mfa_world(HOUR, 2).await;
    person.will(Answer::WrongCode);
    let provider = builder.build().unwrap();

    let err = provider.credentials().await.unwrap_err();

    assert_eq!((err.kind(), err.hop()), (ErrorKind::AccessDenied, Some(0)));
    assert!(
        err.to_string()
            .contains("MultiFactorAuthentication failed with invalid MFA one time pass code"),
        "{err}"
    );
    assert_eq!(calls(&world), [(BROKER.to_owned(), true)]);
    assert_eq!(person.times_asked(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_that_is_not_six_digits_is_refused_before_any_request() {
    let (world, _time, builder, person) = mfa_world(HOUR, 2).await;
    person.will(Answer::FiveDigits);
    let provider = builder.build().unwrap();

    let err = provider.credentials().await.unwrap_err();

    assert_eq!((err.kind(), err.hop()), (ErrorKind::MfaToken, Some(0)));
    assert!(
        err.to_string()
            .contains("other than 6 digits (value redacted, 5 characters)"),
        "{err}"
    );
    assert!(!err.to_string().contains("12345"), "{err}");
    assert_eq!(calls(&world), []);
}

/// The MFA hop alone, 1 hour long: at 45 minutes its background refresh asks the person, who
/// `answer`s; the credentials stay in service until they expire, and the error names the token
/// provider.
async fn background_refresh_without_a_code(answer: Answer, says: &str) {
    let (world, time, builder, person) = mfa_world(HOUR, 1).await;
    let provider = builder.build().unwrap();
    let served = provider.credentials().await.unwrap();
    person.will(answer);

    time.tick(45 * MINUTE).await;
    if answer == Answer::Hang {
        eventually("the person is asked", || person.times_asked() == 2).await;
        // Three quarters of the 30-s fetch timeout.
        time.tick(Duration::from_millis(22_500)).await;
    }
    eventually("the refresh fails", || {
        provider.status().consecutive_failures() == 1
    })
    .await;
    let status = provider.status();
    assert_eq!(status.last_error_kind(), Some(ErrorKind::MfaToken));
    assert!(
        status.last_error_message().unwrap().contains(says),
        "{status:?}"
    );
    assert_eq!(person.times_asked(), 2);
    assert_eq!(calls(&world).len(), 1, "no request without a code");

    // Still served at once, outside the last minute (the mandatory window).
    time.tick(13 * MINUTE).await;
    let still = provider.credentials().await.unwrap();
    assert_eq!(still.access_key_id(), served.access_key_id());

    // Once they have expired, callers get the error, naming the MFA code.
    person.will(Answer::Fail);
    time.tick(2 * MINUTE).await;
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.hop()),
        (ErrorKind::MfaToken, Some(0)),
        "{err}"
    );
    assert!(err.to_string().contains("MFA token provider"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_token_provider_keeps_the_credentials_in_service_until_expiry() {
    background_refresh_without_a_code(
        Answer::Fail,
        "hop 0 (arn:aws:iam::333333333333:role/broker): no MFA code: the MFA token provider \
         failed: the prompt was closed",
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_token_provider_that_does_not_answer_is_given_up_on_before_the_run_times_out() {
    background_refresh_without_a_code(
        Answer::Hang,
        "the MFA token provider did not answer within 22.5s",
    )
    .await;
}

#[tokio::test]
async fn an_mfa_role_without_a_token_provider_is_refused_by_build() {
    let world = World::new().await;
    let err = world
        .chain(1)
        .assume(Role::new(STORAGE).mfa_serial(DEVICE))
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.hop()), ("mfa_token_provider", Some(1)));
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_code_at_a_later_hop_keeps_the_hop_before() {
    let (world, time, builder) = World::on_manual_time().await;
    world.sts.add_role(
        LocalRole::new(STORAGE)
            .trust(BROKER)
            .external_id(STORAGE_EXTERNAL_ID)
            .mfa(DEVICE),
    );
    let person = Person::new(world.sts.mfa_device(DEVICE).unwrap());
    let answering = person.clone();
    let provider = builder
        .assume(
            Role::new(BROKER)
                .external_id(BROKER_EXTERNAL_ID)
                .duration(12 * HOUR),
        )
        .assume(
            Role::new(STORAGE)
                .external_id(STORAGE_EXTERNAL_ID)
                .mfa_serial(DEVICE),
        )
        .mfa_token_provider(move |request| answering.ask(request))
        .build()
        .unwrap();
    provider.credentials().await.unwrap();
    person.will(Answer::Fail);
    time.tick(45 * MINUTE).await;
    eventually("the refresh fails", || {
        provider.status().consecutive_failures() == 1
    })
    .await;

    person.will(Answer::Code);
    refreshed(&time, 5 * MINUTE, &provider, 2).await;
    let asked = person.asked.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .all(|r| (r.hop(), r.role_arn()) == (1, STORAGE)),
        "{asked:?}"
    );

    assert_eq!(
        calls(&world),
        [
            (BROKER.to_owned(), false),
            (STORAGE.to_owned(), true),
            (STORAGE.to_owned(), true)
        ],
        "the broker session is reused: no request was made without a code"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_invalidation_of_a_chain_that_ends_with_the_mfa_hop_asks_again() {
    let (world, _time, builder, person) = mfa_world(HOUR, 1).await;
    let provider = builder.build().unwrap();
    let first = provider.credentials().await.unwrap();

    provider.invalidate();
    let second = provider.credentials().await.unwrap();

    assert_ne!(first.access_key_id(), second.access_key_id());
    assert_eq!(person.times_asked(), 2);
    assert_eq!(
        calls(&world),
        [(BROKER.to_owned(), true), (BROKER.to_owned(), true)]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_token_provider_of_its_own_type_is_asked_once_per_fetch_of_the_mfa_hop() {
    let (world, time, builder) = World::on_manual_time().await;
    world.sts.add_role(
        LocalRole::new(BROKER)
            .trust(COMPUTE_USER)
            .external_id(BROKER_EXTERNAL_ID)
            .mfa(DEVICE),
    );
    let person = Person::new(world.sts.mfa_device(DEVICE).unwrap());
    let provider = builder
        .assume(
            Role::new(BROKER)
                .external_id(BROKER_EXTERNAL_ID)
                .mfa_serial(DEVICE),
        )
        .mfa_token_source(person.clone())
        .build()
        .unwrap();

    provider.credentials().await.unwrap();
    provider.credentials().await.unwrap();
    assert_eq!(person.times_asked(), 1);
    assert_eq!(calls(&world), [(BROKER.to_owned(), true)]);
    // The 1-hour MFA hop is refreshed by 45 minutes, with a new code.
    refreshed(&time, 45 * MINUTE, &provider, 2).await;
    assert_eq!(person.times_asked(), 2);
    assert_eq!(
        calls(&world),
        [(BROKER.to_owned(), true), (BROKER.to_owned(), true)]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_token_provider_is_an_mfa_token_error_and_no_request() {
    let (world, time, builder, person) = mfa_world(HOUR, 1).await;
    person.will(Answer::Panic);
    let provider = builder.build().unwrap();

    let err = provider.credentials().await.unwrap_err();

    assert_eq!(
        (err.kind(), err.hop()),
        (ErrorKind::MfaToken, Some(0)),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("the MFA token provider panicked: the token device broke"),
        "{err}"
    );
    assert!(calls(&world).is_empty(), "no request without a code");
    // The panic took nothing down: the next attempt asks again and succeeds.
    person.will(Answer::Code);
    provider.invalidate();
    common::advance_until(
        &time,
        MINUTE / 10,
        2 * MINUTE,
        "a refresh with a code",
        || provider.status().successful_refreshes() == 1,
    )
    .await;
    assert_eq!(person.times_asked(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn after_a_failed_background_ask_the_next_attempt_asks_again_and_a_code_refreshes() {
    let (world, time, builder, person) = mfa_world(HOUR, 1).await;
    let provider = builder.build().unwrap();
    let served = provider.credentials().await.unwrap();
    person.will(Answer::Fail);
    // Jitter off: the refresh point is the advisory point, 15 minutes before expiry.
    time.tick(45 * MINUTE).await;
    eventually("the first background ask fails", || {
        provider.status().consecutive_failures() == 1
    })
    .await;
    assert_eq!(person.times_asked(), 2);

    // A missing code is not retryable as it is: the next attempt comes after the retry
    // backoff's maximum, 5 minutes, and asks again; not before.
    person.will(Answer::Code);
    let wait = provider
        .status()
        .next_refresh()
        .and_then(|next| next.duration_since(time.now()).ok())
        .unwrap();
    // The attempt failed at the refresh point, a moment before the clock's 45 minutes.
    assert!(wait <= 5 * MINUTE && wait > 4 * MINUTE, "{wait:?}");
    time.tick(wait - Duration::from_secs(1)).await;
    assert_eq!(person.times_asked(), 2, "asked again too soon");
    common::advance_until(
        &time,
        Duration::from_millis(100),
        Duration::from_secs(2),
        "a second ask",
        || person.times_asked() == 3,
    )
    .await;
    eventually("the refresh with the code", || {
        provider.status().successful_refreshes() == 2
    })
    .await;
    let refreshed = provider.credentials().await.unwrap();
    assert_ne!(refreshed.access_key_id(), served.access_key_id());
    assert_eq!(calls(&world).len(), 2, "one request per code");
}
