//! Simulated time and an in-process STS, for runs of hours over thousands of chains: a clock
//! that jumps from one due sleep to the next, and an STS that answers at once, counting its
//! calls per simulated second.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_async::rt::sleep::{AsyncSleep, Sleep};
use aws_smithy_async::time::TimeSource;
use aws_smithy_http_client::test_util::infallible_client_fn;
use aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::DateTime;
use aws_types::region::Region;
use aws_types::SdkConfig;
use tokio::sync::oneshot;

/// A clock that moves only when told, and wakes the sleeps that come due.
#[derive(Clone, Debug, Default)]
pub struct SimClock(Arc<Mutex<Sim>>);

#[derive(Debug, Default)]
struct Sim {
    now: Duration,
    due: BinaryHeap<Reverse<(Duration, u64)>>,
    wakers: HashMap<u64, oneshot::Sender<()>>,
    next: u64,
}

impl TimeSource for SimClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + self.0.lock().unwrap().now
    }
}

impl AsyncSleep for SimClock {
    fn sleep(&self, duration: Duration) -> Sleep {
        let (sender, receiver) = oneshot::channel();
        let mut sim = self.0.lock().unwrap();
        let (id, at) = (sim.next, sim.now + duration);
        sim.next += 1;
        sim.due.push(Reverse((at, id)));
        sim.wakers.insert(id, sender);
        Sleep::new(async move {
            let _ = receiver.await;
        })
    }
}

impl SimClock {
    /// Moves to `to` and wakes every sleep due by then that is still awaited; returns how many.
    pub fn advance(&self, to: Duration) -> u64 {
        let mut sim = self.0.lock().unwrap();
        sim.now = sim.now.max(to);
        let mut woken = 0;
        while let Some(Reverse((at, id))) = sim.due.peek().copied() {
            if at > to {
                break;
            }
            sim.due.pop();
            if let Some(waker) = sim.wakers.remove(&id) {
                woken += u64::from(waker.send(()).is_ok());
            }
        }
        woken
    }

    /// Moves to `to` one due sleep at a time, letting the woken tasks run after each: what
    /// happens at a time that a sleep ends is seen at that time, not at `to`.
    pub async fn run_until(&self, to: Duration) {
        loop {
            let next = {
                let sim = self.0.lock().unwrap();
                sim.due.peek().map(|Reverse((at, _))| *at)
            };
            match next {
                Some(at) if at <= to => {
                    self.advance(at);
                    settle().await;
                }
                _ => break,
            }
        }
        self.advance(to);
        settle().await;
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.0.lock().unwrap().now
    }
}

/// Lets the woken tasks of a current-thread runtime run until they wait again.
pub async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

/// An STS that answers at once: credentials for an hour, or 503 while `down`; it counts its
/// calls, in total and per second of its clock from the Unix epoch (a simulated clock's start)
/// or, on a clock far from it, from its first call.
#[derive(Default)]
pub struct FakeSts {
    pub calls: AtomicU64,
    pub down: AtomicBool,
    per_second: Mutex<(Option<Duration>, Vec<u64>)>,
}

impl FakeSts {
    /// The calls in each simulated second so far.
    pub fn per_second(&self) -> Vec<u64> {
        self.per_second.lock().unwrap().1.clone()
    }

    fn count(&self, at: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut counts = self.per_second.lock().unwrap();
        // A simulated clock starts at the epoch; the system clock's seconds count from the first.
        let start = *counts
            .0
            .get_or_insert(match at < Duration::from_secs(86_400 * 365) {
                true => Duration::ZERO,
                false => at,
            });
        let second = at.saturating_sub(start).as_secs() as usize;
        let per_second = &mut counts.1;
        if per_second.len() <= second {
            per_second.resize(second + 1, 0);
        }
        per_second[second] += 1;
    }
}

/// An `SdkConfig` whose HTTP client is `sts`, on `clock`, without retries.
pub fn sdk_config<C>(clock: &C, sts: &Arc<FakeSts>) -> SdkConfig
where
    C: TimeSource + AsyncSleep + Clone + 'static,
{
    let (clock_for_sts, sts) = (clock.clone(), sts.clone());
    let http = infallible_client_fn(move |_request| {
        let now = clock_for_sts.now();
        sts.count(now.duration_since(UNIX_EPOCH).unwrap_or_default());
        if sts.down.load(Ordering::Relaxed) {
            let body = "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>\
                        <Message>Service is unavailable.</Message></Error></ErrorResponse>";
            return http::Response::builder()
                .status(503)
                .body(body.to_owned())
                .unwrap();
        }
        let n = sts.calls.load(Ordering::Relaxed);
        let expiry = DateTime::from(now + Duration::from_secs(3600));
        let body = format!(
            "<AssumeRoleResponse><AssumeRoleResult><AssumedRoleUser>\
             <Arn>arn:aws:sts::111111111111:assumed-role/storage/fleet</Arn>\
             <AssumedRoleId>AROAFLEET:fleet</AssumedRoleId></AssumedRoleUser><Credentials>\
             <AccessKeyId>ASIA{n:016}</AccessKeyId><SecretAccessKey>{n:040}</SecretAccessKey>\
             <SessionToken>{n:0400}</SessionToken><Expiration>{}</Expiration></Credentials>\
             </AssumeRoleResult></AssumeRoleResponse>",
            expiry.fmt(Format::DateTime).unwrap()
        );
        http::Response::builder().status(200).body(body).unwrap()
    });
    SdkConfig::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .http_client(http)
        .time_source(clock.clone())
        .sleep_impl(clock.clone())
        .retry_config(RetryConfig::disabled())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build()
}

/// Lets woken tasks run until STS has answered `expected` calls, then a little longer for them
/// to schedule their next attempt.
pub async fn drain(sts: &FakeSts, expected: u64) {
    for _ in 0..10_000 {
        if sts.calls.load(Ordering::Relaxed) >= expected {
            break;
        }
        tokio::task::yield_now().await;
    }
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}
