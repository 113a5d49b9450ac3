//! Signals and `aws-role-chain`: one during start-up ends the command at once with nothing
//! started; afterwards `exec` passes every signal that would end it on to its child, exits as
//! the child did, and never leaves the child behind.

#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::*;

/// A signal while the first AssumeRole hangs ends the command with 128 + the signal, at once
/// and without running the child.
/// `status` is `None` for a command that the signal ends by its default action.
async fn during_start_up((subcommand, signal, status): (&str, libc::c_int, Option<i32>)) {
    let (sts, env) = world().await;
    // Far longer than the 10 s the command is given to end.
    sts.set_latency(Duration::from_secs(50));
    let marker = scratch(&format!("cli-start-up-{subcommand}-{signal}")).join("ran");
    let mut args = vec![subcommand];
    args.extend(TWO_ROLES);
    let touch = format!("open('{}', 'w')", marker.display());
    if subcommand == "exec" {
        args.extend(["--", "python3", "-c", &touch]);
    }
    let mut running = Running::start(&env, &args);
    eventually("the first request comes", || !sts.requests().is_empty()).await;

    running.signal(signal);

    let ended = running.status(Duration::from_secs(10)).await;
    assert_eq!(ended.code(), status, "{ended:?}");
    assert!(!marker.exists(), "the child never ran");
}

cases! { during_start_up:
    sigterm_during_exec_start_up_exits_143_without_the_child: ("exec", libc::SIGTERM, Some(143));
    sigint_during_exec_start_up_exits_130_without_the_child: ("exec", libc::SIGINT, Some(130));
    sigint_during_serve_start_up_exits_130: ("serve", libc::SIGINT, Some(130));
    sigterm_during_serve_start_up_exits_143: ("serve", libc::SIGTERM, Some(143));
    sigint_ends_credential_process_at_once: ("credential-process", libc::SIGINT, None);
}

/// Every signal that `exec` passes on.
fn forwarded() -> Vec<libc::c_int> {
    let mut signals = vec![
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGIO,
        libc::SIGWINCH,
        libc::SIGPWR,
        libc::SIGSTKFLT,
    ];
    signals.extend([libc::SIGRTMIN(), libc::SIGRTMIN() + 1, libc::SIGRTMAX() - 1]);
    signals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_passes_every_signal_on_and_exits_as_its_child_did() {
    let (_sts, env) = world().await;
    // The child prints each signal it gets, and dies of SIGTERM.
    let numbers: Vec<String> = forwarded().iter().map(i32::to_string).collect();
    // os.write, not print: a signal may come while the handler for the one before still holds
    // print's buffer. Short sleeps, not one of 50 s: a signal that comes after Python has looked
    // for pending signals and before it is back in the sleep's system call does not interrupt
    // that call, and its handler would run only when the sleep ends (a loaded machine widens
    // that window; the handler then runs within 10 ms).
    let script = "import os, signal, sys, time\n\
                  def seen(number, frame): os.write(1, b'%d\\n' % number)\n\
                  for number in sys.argv[1].split(','): signal.signal(int(number), seen)\n\
                  print('ready', flush=True)\n\
                  for _ in range(5000): time.sleep(0.01)\n";
    let joined = numbers.join(",");
    let mut args = vec!["exec"];
    args.extend(TWO_ROLES);
    args.extend(["--", "python3", "-c", script, &joined]);
    let mut running = Running::start(&env, &args);
    assert_eq!(running.line().await, "ready");

    for number in forwarded() {
        running.signal(number);
        assert_eq!(running.line().await, number.to_string(), "signal {number}");
    }
    running.signal(libc::SIGTERM);

    let status = running.status(LIMIT).await;
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
}

/// The state of process `pid` in /proc (`R`, `S`, `Z`…), `None` once it is gone.
fn state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_killed_takes_its_child_with_it() {
    let (_sts, env) = world().await;
    let script = "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(50)\n";
    let mut args = vec!["exec"];
    args.extend(TWO_ROLES);
    args.extend(["--", "python3", "-c", script]);
    let mut running = Running::start(&env, &args);
    let pid = running.line().await;
    assert!(matches!(state(&pid), Some('R' | 'S')), "the child runs");

    running.signal(libc::SIGKILL);
    running.status(LIMIT).await;

    eventually(
        "the child is gone",
        || !matches!(state(&pid), Some(state) if state != 'Z'),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_ignored_as_under_nohup_stays_ignored_for_exec_and_its_child() {
    use std::os::unix::process::CommandExt;
    let (_sts, env) = world().await;
    let script = "import signal, sys, time\n\
                  print(signal.getsignal(signal.SIGHUP) == signal.SIG_IGN, flush=True)\n\
                  time.sleep(50)\n";
    let mut args = vec!["exec"];
    args.extend(TWO_ROLES);
    args.extend(["--", "python3", "-c", script]);
    let mut command = command(&env, &args);
    // SAFETY: signal(2) is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut running = Running::from(command);
    assert_eq!(running.line().await, "True", "the child ignores SIGHUP");

    running.signal(libc::SIGHUP);
    running.signal(libc::SIGTERM);

    let status = running.status(LIMIT).await;
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGTERM),
        "SIGHUP changed nothing"
    );
}
