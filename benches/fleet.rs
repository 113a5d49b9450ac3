//! A fleet on simulated time: 10,000 providers with 1-hour credentials, all started within the
//! same second, run for 6 hours; STS calls per second and per minute with this crate's spread of
//! refresh points and without it, next to the floor of any random spread (the same number of
//! calls at independent, uniformly random seconds), and during and after a 10-minute STS
//! outage. STS is an in-process fake answering at once, and
//! time is a simulated clock that jumps from one due sleep to the next. The calls per minute are
//! charted in `benches/charts/fleet.svg` and `benches/charts/fleet-outage.svg`.
//!
//! ```text
//! cargo bench --bench fleet
//! ```

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_role_chain::{RefreshPolicy, Role, RoleChainProvider};
use support::chart;
use support::sim::{drain, sdk_config, FakeSts, SimClock};

const FLEET: usize = 10_000;
const HOURS: u64 = 6;

struct Run {
    /// STS calls in each simulated second.
    per_second: Vec<u64>,
}

impl Run {
    fn peak_and_mean(&self, from: usize, to: usize) -> (u64, f64) {
        peak_and_mean(&self.per_second[from..to.min(self.per_second.len())])
    }

    /// Peak and mean of the calls in each whole minute from `from` to `to`.
    fn per_minute(&self, from: usize, to: usize) -> (u64, f64) {
        let minutes: Vec<u64> = self.per_second[from..to.min(self.per_second.len())]
            .chunks_exact(60)
            .map(|minute| minute.iter().sum())
            .collect();
        peak_and_mean(&minutes)
    }

    /// The calls in each whole minute from `from` to `to`, as (hours since the start, calls): the
    /// points of a chart.
    fn minutes(&self, from: usize, to: usize) -> Vec<(f64, f64)> {
        self.per_second[from..to.min(self.per_second.len())]
            .chunks_exact(60)
            .enumerate()
            .map(|(i, minute)| {
                let hours = (from / 60 + i) as f64 / 60.0;
                (hours, minute.iter().sum::<u64>() as f64)
            })
            .collect()
    }

    /// The same number of calls from `from` to `to`, each at an independent, uniformly random
    /// second: the least peak any random spread can expect.
    fn random_floor(&self, from: usize, to: usize) -> Run {
        let to = to.min(self.per_second.len());
        let calls: u64 = self.per_second[from..to].iter().sum();
        let mut per_second = vec![0u64; to - from];
        let mut rng = fastrand::Rng::with_seed(42);
        for _ in 0..calls {
            per_second[rng.usize(..to - from)] += 1;
        }
        Run { per_second }
    }
}

fn peak_and_mean(counts: &[u64]) -> (u64, f64) {
    let peak = counts.iter().copied().max().unwrap_or(0);
    let mean = counts.iter().sum::<u64>() as f64 / counts.len().max(1) as f64;
    (peak, mean)
}

/// `| name | peak/s | mean/s | peak/mean | peak/min | mean/min | peak/mean |`
fn row(name: &str, run: &Run, from: usize, to: usize) {
    let (peak, mean) = run.peak_and_mean(from, to);
    let (peak_minute, mean_minute) = run.per_minute(from, to);
    println!(
        "| {name} | {peak} | {mean:.2} | {:.1}× | {peak_minute} | {mean_minute:.1} | {:.1}× |",
        peak as f64 / mean,
        peak_minute as f64 / mean_minute
    );
}

/// Writes `benches/charts/<name>`, a chart of calls per minute, and says where or why not.
fn write_chart(name: &str, title: &str, series: &[(&str, &[(f64, f64)])], marks: &[(f64, &str)]) {
    let path = chart::path(name);
    let axes = ("simulated hours", "STS calls per minute");
    match chart::lines(&path, title, axes, series, None, marks) {
        Ok(()) => println!("chart: {}", path.display()),
        Err(e) => eprintln!("chart {} not written: {e}", path.display()),
    }
}

async fn simulate(policy: RefreshPolicy, outage: Option<(u64, u64)>) -> Run {
    let clock = SimClock::default();
    let sts = Arc::new(FakeSts::default());
    let config = sdk_config(&clock, &sts);
    let providers: Vec<RoleChainProvider> = (0..FLEET)
        .map(|_| {
            RoleChainProvider::builder()
                .configure(&config)
                .base_provider(Credentials::new("AKIDFLEET", "secret", None, None, "fleet"))
                .endpoint_url("http://sts.fleet.invalid")
                .refresh_policy(policy.clone())
                .assume(Role::new("arn:aws:iam::111111111111:role/storage"))
                .build()
                .unwrap()
        })
        .collect();

    // Every process starts within the first second.
    let mut per_second = vec![0u64; (HOURS * 3600) as usize + 1];
    for (i, provider) in providers.iter().enumerate() {
        clock.advance(Duration::from_micros(i as u64 * 1_000_000 / FLEET as u64));
        let provider = provider.clone();
        tokio::spawn(async move { provider.credentials().await });
        drain(&sts, i as u64 + 1).await;
    }
    per_second[0] = sts.calls.load(Ordering::Relaxed);

    for second in 1..=HOURS * 3600 {
        if let Some((start, minutes)) = outage {
            sts.down.store(
                (start..start + minutes * 60).contains(&second),
                Ordering::Relaxed,
            );
        }
        let before = sts.calls.load(Ordering::Relaxed);
        let woken = clock.advance(Duration::from_secs(second));
        drain(&sts, before + woken).await;
        per_second[second as usize] = sts.calls.load(Ordering::Relaxed) - before;
    }
    drop(providers);
    Run { per_second }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let end = (HOURS * 3600) as usize + 1;
        println!("{FLEET} providers, 1-hour credentials, started within one second, {HOURS} simulated hours");
        println!();
        println!("| refresh policy | calls/s: peak | mean | peak / mean | calls/min: peak | mean | peak / mean |");
        println!("|---|---|---|---|---|---|---|");
        let mut policies = Vec::new();
        for (name, policy) in [
            ("default (spread from 40 % of the lifetime to the advisory point)", RefreshPolicy::default()),
            ("jitter 0.2 (a fifth of that spread)", RefreshPolicy::default().jitter(0.2)),
            ("jitter off", RefreshPolicy::default().jitter(0.0)),
        ] {
            let run = simulate(policy, None).await;
            row(name, &run, 1, end);
            // The legend names a policy as the table does, without the explanation.
            let short = name.split_once(" (").map_or(name, |(short, _)| short);
            policies.push((short, run.minutes(1, end)));
            if name.starts_with("default") {
                let floor = run.random_floor(1, end);
                row("floor: the default's calls at uniformly random seconds", &floor, 0, end - 1);
            }
        }

        // A 10-minute outage two hours in, for the default policy.
        let (start, minutes) = (2 * 3600, 10);
        let run = simulate(RefreshPolicy::default(), Some((start, minutes))).await;
        let (start, stop) = (start as usize, (start + minutes * 60) as usize);
        println!();
        println!("| 10-minute STS outage two hours in, default policy | calls/s: peak | mean | peak / mean | calls/min: peak | mean | peak / mean |");
        println!("|---|---|---|---|---|---|---|");
        row("the hour before", &run, 3600, start);
        row("during the outage", &run, start, stop);
        row("the 10 minutes after", &run, stop, stop + 600);
        row("from 30 minutes after to the end", &run, stop + 1800, end);
        row("all 6 hours", &run, 1, end);

        println!();
        let series: Vec<(&str, &[(f64, f64)])> = policies
            .iter()
            .map(|(name, points)| (*name, points.as_slice()))
            .collect();
        write_chart(
            "fleet.svg",
            &format!("{FLEET} providers, 1-hour credentials, started within one second"),
            &series,
            &[],
        );
        // From 1.5 to 3 hours.
        let window = run.minutes(5400, 10_800);
        write_chart(
            "fleet-outage.svg",
            "10-minute STS outage two hours in, default policy",
            &[("default", window.as_slice())],
            &[
                (start as f64 / 3600.0, "STS down"),
                (stop as f64 / 3600.0, "STS back"),
            ],
        );
    });
}
