//! What the command's tests share: LocalSts with compute → broker → storage, the environment
//! that points the command at it, and runs of the command under a timeout.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

use aws_role_chain::test_util::{LocalRole, LocalSts};

pub const COMPUTE_USER: &str = "arn:aws:iam::222222222222:user/compute";
pub const BROKER: &str = "arn:aws:iam::333333333333:role/broker";
pub const STORAGE: &str = "arn:aws:iam::111111111111:role/storage-access";
pub const BROKER_EXTERNAL_ID: &str = "broker-ext-5b1e";
pub const STORAGE_EXTERNAL_ID: &str = "storage-ext-7f3a9c";

/// Empty AWS config and credentials files, so that only the environment counts.
pub fn empty_files() -> (String, String) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-empty");
    std::fs::create_dir_all(&dir).unwrap();
    let paths = (dir.join("config"), dir.join("credentials"));
    std::fs::write(&paths.0, "").unwrap();
    std::fs::write(&paths.1, "").unwrap();
    (paths.0.display().to_string(), paths.1.display().to_string())
}

/// LocalSts with compute → broker → storage, and the environment that points a command at it
/// with the compute user's keys.
pub async fn world() -> (LocalSts, Vec<(&'static str, String)>) {
    let (config, credentials) = empty_files();
    let sts = LocalSts::start().await.unwrap();
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
    let env = vec![
        ("AWS_ACCESS_KEY_ID", compute.access_key_id().to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY",
            compute.secret_access_key().to_owned(),
        ),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL_STS", sts.endpoint_url().to_owned()),
        ("AWS_CONFIG_FILE", config),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("BROKER_EXT", BROKER_EXTERNAL_ID.to_owned()),
        ("STORAGE_EXT", STORAGE_EXTERNAL_ID.to_owned()),
        ("PATH", std::env::var("PATH").unwrap_or_default()),
    ];
    (sts, env)
}

/// The command with only `env` as its environment, and SIGINT and SIGQUIT at their default
/// actions.
pub fn command(env: &[(&str, String)], args: &[&str]) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_aws-role-chain"));
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args);
    // A shell without job control starts `cmd &` with SIGINT and SIGQUIT ignored, `nohup` a
    // command with SIGHUP ignored, and the command keeps a signal it inherited as ignored, as it
    // should: the suite, started that way, would see it ignore the signals the tests send. Tests
    // that want a signal ignored set it after this.
    // SAFETY: signal(2) is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            Ok(())
        });
    }
    command
}

/// The longest any run of the command may take in these tests.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Runs the command to its end, killed if it takes longer than [`LIMIT`].
pub async fn run(env: &[(&str, String)], args: &[&str]) -> Output {
    finish(command(env, args)).await
}

pub async fn finish(command: Command) -> Output {
    finish_within(command, LIMIT).await
}

/// [`finish`], killed if it takes longer than `limit`: for a command that runs for a while by
/// design.
pub async fn finish_within(command: Command, limit: Duration) -> Output {
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true).stdin(Stdio::null());
    tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("the command ends within {limit:?}"))
        .unwrap()
}

/// A directory of this test's own under cargo's temporary directory, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `contents` at `path` with `mode`.
pub fn write_file(path: &Path, contents: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Sends `signal` to the process `pid`.
pub fn kill(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with the pid of a child of this test not yet waited for.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

pub const TWO_ROLES: [&str; 4] = [
    "--role",
    "arn:aws:iam::333333333333:role/broker,external-id-env=BROKER_EXT",
    "--role",
    "arn:aws:iam::111111111111:role/storage-access,external-id-env=STORAGE_EXT,session-name=cli-test",
];

/// Real time since it was made: the one place these tests read the monotonic clock.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    pub fn start() -> Stopwatch {
        #[allow(clippy::disallowed_methods)]
        Stopwatch(std::time::Instant::now())
    }

    pub fn elapsed(&self) -> Duration {
        #[allow(clippy::disallowed_methods)]
        self.0.elapsed()
    }
}

/// Waits in real time until `done` holds, looking every 10 ms, for at most 20 s.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = Stopwatch::start();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The command started with `args`, its stdout read line by line, killed when dropped.
pub struct Running {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Running {
    pub fn start(env: &[(&str, String)], args: &[&str]) -> Running {
        Running::from(command(env, args))
    }

    /// `command` started, with its stdout piped.
    pub fn from(command: Command) -> Running {
        let mut child = tokio::process::Command::from(command)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Running { child, lines }
    }

    /// The next line of its stdout.
    pub async fn line(&mut self) -> String {
        let line = tokio::time::timeout(LIMIT, self.lines.next_line());
        line.await.unwrap().unwrap().expect("a line")
    }

    /// Sends it `signal`.
    pub fn signal(&self, signal: libc::c_int) {
        kill(self.child.id().unwrap(), signal);
    }

    /// Sends `signal` and waits (for at most a minute) for the exit status.
    pub async fn stopped_by(mut self, signal: libc::c_int) -> std::process::ExitStatus {
        self.signal(signal);
        self.status(LIMIT).await
    }

    /// The exit status, which must come within `within`.
    pub async fn status(&mut self, within: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(within, self.child.wait())
            .await
            .expect("the command ended in time")
            .unwrap()
    }
}

/// One test per row of a table, named after the row: `cases! { check: name: arguments; … }`
/// runs `check(arguments).await` on tokio.
#[macro_export]
macro_rules! cases {
    ($check:ident: $($name:ident: $args:expr;)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $check($args).await
            }
        )+
    };
}
