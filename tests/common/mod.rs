//! The world the tests and the benchmarks share: a LocalSts with a compute user and a
//! broker → storage → audit chain of roles, on the system clock or a clock of the test's.
#![allow(dead_code)]

use aws_credential_types::Credentials;
use aws_role_chain::test_util::{LocalRole, LocalSts, RecordedRequest};
use aws_role_chain::{Role, RoleChainProvider, RoleChainProviderBuilder};
use aws_smithy_async::time::TimeSource;
use aws_types::region::Region;

pub const COMPUTE_USER: &str = "arn:aws:iam::222222222222:user/compute";
pub const BROKER: &str = "arn:aws:iam::333333333333:role/broker";
pub const STORAGE: &str = "arn:aws:iam::111111111111:role/storage-access";
pub const AUDIT: &str = "arn:aws:iam::444444444444:role/audit";
pub const BROKER_EXTERNAL_ID: &str = "broker-ext-5b1e";
pub const STORAGE_EXTERNAL_ID: &str = "storage-ext-7f3a9c";
pub const AUDIT_EXTERNAL_ID: &str = "audit-ext-09d2";

/// The chain's roles in order, with their ExternalIds.
pub const ROLES: [(&str, &str); 3] = [
    (BROKER, BROKER_EXTERNAL_ID),
    (STORAGE, STORAGE_EXTERNAL_ID),
    (AUDIT, AUDIT_EXTERNAL_ID),
];

/// A LocalSts where the compute user may assume the broker, the broker the storage role, and the
/// storage role the audit role, each with its own ExternalId.
pub struct World {
    pub sts: LocalSts,
    pub compute: Credentials,
}

impl World {
    pub async fn new() -> World {
        World::on(LocalSts::start().await.expect("LocalSts starts"))
    }

    /// The same world on a LocalSts whose clock is `time`, for manual time.
    pub async fn with_clock(time: impl TimeSource + 'static) -> World {
        let sts = LocalSts::builder().time_source(time).start().await;
        World::on(sts.expect("LocalSts starts"))
    }

    /// The same world on manual time, whose broker role allows 12-hour sessions, with its clock
    /// and a builder on that clock with jitter off: refreshes come at exact times.
    pub async fn on_manual_time() -> (
        World,
        aws_smithy_async::test_util::tick_advance_sleep::TickAdvanceTime,
        RoleChainProviderBuilder,
    ) {
        let (time, sleep) =
            aws_smithy_async::test_util::tick_advance_sleep::tick_advance_time_and_sleep();
        let world = World::with_clock(time.clone()).await;
        world.sts.add_role(
            LocalRole::new(BROKER)
                .trust(COMPUTE_USER)
                .external_id(BROKER_EXTERNAL_ID)
                .max_session_duration(std::time::Duration::from_secs(12 * 3600)),
        );
        let builder = world
            .builder()
            .time_source(time.clone())
            .sleep_impl(sleep)
            .refresh_policy(aws_role_chain::RefreshPolicy::default().jitter(0.0));
        (world, time, builder)
    }

    /// The user and the roles, on `sts`.
    pub fn on(sts: LocalSts) -> World {
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
    pub fn builder(&self) -> RoleChainProviderBuilder {
        RoleChainProvider::builder()
            .base_provider(self.compute.clone())
            .endpoint_url(self.sts.endpoint_url())
            .region(Region::new("us-east-1"))
    }

    /// A builder with the first `hops` roles of the chain, each with its ExternalId.
    pub fn chain(&self, hops: usize) -> RoleChainProviderBuilder {
        ROLES[..hops]
            .iter()
            .fold(self.builder(), |builder, (arn, id)| {
                builder.assume(Role::new(*arn).external_id(*id))
            })
    }

    /// compute → broker → storage
    pub fn two_hops(&self) -> RoleChainProvider {
        self.chain(2).build().expect("valid chain")
    }

    pub fn assume_role_requests(&self) -> Vec<RecordedRequest> {
        self.sts
            .requests()
            .into_iter()
            .filter(|r| r.action() == Some("AssumeRole"))
            .collect()
    }
}

/// Waits in real time until `done` holds, looking every millisecond, for at most 20 s: far
/// beyond any wait that passes, for a loaded machine.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = stopwatch();
    while !done() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Moves manual `time` on in `step`s, for at most `limit`, until `done` holds (waiting up to
/// 50 ms of real time after each step for the work it woke), then waits for it in real time
/// as [`eventually`] does. A background task that recorded its outcome but had not yet gone to
/// sleep when one big step was taken would sleep through it and never wake; the next small
/// step wakes it.
pub async fn advance_until(
    time: &aws_smithy_async::test_util::tick_advance_sleep::TickAdvanceTime,
    step: std::time::Duration,
    limit: std::time::Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
) {
    let mut moved = std::time::Duration::ZERO;
    while moved < limit && !done() {
        time.tick(step).await;
        moved += step;
        for _ in 0..50 {
            if done() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    eventually(what, done).await;
}

/// The tasks alive on the current runtime: back to what it was before a provider or a pool was
/// built once everything it started has ended.
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Wall-clock time, for tests that check that callers did not wait on STS.
pub fn stopwatch() -> Stopwatch {
    #[allow(clippy::disallowed_methods)]
    Stopwatch(std::time::Instant::now())
}

/// Real time since [`stopwatch`]: the one place tests read the monotonic clock.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    pub fn elapsed(&self) -> std::time::Duration {
        #[allow(clippy::disallowed_methods)]
        self.0.elapsed()
    }
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

/// One test per row of a table, named after the row, so that one failing row does not hide the
/// others: `cases! { check: name_of_row: arguments; … }` runs `check(arguments).await` on tokio,
/// `cases! { manual_time check: … }` on a current-thread runtime, and `cases! { sync check: … }`
/// runs `check(arguments)`.
///
/// A check on manual time that moves the clock in one big tick needs the current-thread runtime:
/// there the worker that handed out credentials has gone to sleep (registered its nap) before
/// the caller runs again, while on two threads the tick can come first and the nap be counted
/// from the moved clock, so that the refresh the tick was for never comes.
#[macro_export]
macro_rules! cases {
    (sync $check:ident: $($name:ident: $args:expr;)+) => {
        $(
            #[test]
            fn $name() {
                $check($args)
            }
        )+
    };
    (manual_time $check:ident: $($name:ident: $args:expr;)+) => {
        $(
            #[tokio::test(flavor = "current_thread")]
            async fn $name() {
                $check($args).await
            }
        )+
    };
    ($check:ident: $($name:ident: $args:expr;)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $check($args).await
            }
        )+
    };
}

/// A flood of the credentials server at `addr`: `connections` at once without the token, two in
/// three sending a whole request and coming straight back, one in three holding half a request,
/// for `attack`. It runs in a thread and on a runtime of its own, as other processes would, not
/// on the threads that serve; the thread gives the number of rounds made.
pub fn flood(addr: std::net::SocketAddr, connections: usize, attack: std::time::Duration) -> Flood {
    let started = stopwatch();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = sent.clone();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let floods: Vec<_> = (0..connections)
                .map(|n| {
                    let stop = stopped.clone();
                    let sent = counted.clone();
                    tokio::spawn(tokenless(addr, started, attack, stop, sent, n % 3 == 0))
                })
                .collect();
            let mut rounds = 0;
            for flood in floods {
                rounds += flood.await.unwrap();
            }
            rounds
        })
    });
    Flood { stop, sent, thread }
}

/// A flood under way, until its time is up or it is stopped.
pub struct Flood {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sent: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    thread: std::thread::JoinHandle<usize>,
}

impl Flood {
    /// The requests (whole or half) sent so far.
    pub fn sent(&self) -> usize {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits for the flood's time to be up; the requests made.
    pub fn join(self) -> usize {
        self.thread.join().unwrap()
    }

    /// Ends the flood after each connection's current request; the requests made.
    pub fn stop(self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.join()
    }
}

/// One connection without the token after another, each with a whole request or (`slow`) half
/// of one, until `attack` has passed since `started` or 5,000 rounds are up; how many rounds it
/// made.
async fn tokenless(
    addr: std::net::SocketAddr,
    started: Stopwatch,
    attack: std::time::Duration,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sent: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    slow: bool,
) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = format!("GET /role-chain/credentials HTTP/1.1\r\nHost: {addr}\r\n");
    if !slow {
        request.push_str("\r\n");
    }
    let mut rounds = 0;
    let stopped = || stop.load(std::sync::atomic::Ordering::Relaxed);
    while !stopped() && started.elapsed() < attack && rounds < 5_000 {
        rounds += 1;
        let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
            continue;
        };
        if stream.write_all(request.as_bytes()).await.is_err() {
            continue;
        }
        sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(attack, stream.read_to_end(&mut answer)).await;
    }
    rounds
}
