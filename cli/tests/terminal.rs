//! MFA codes at a real (pseudo-)terminal: asked while the command starts, in the terminal's
//! foreground only; once the child or the server runs, a refresh that needs a code fails, the
//! credentials in service are served until they expire, and the command says so once.

#![cfg(target_os = "linux")]

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_role_chain::test_util::{LocalRole, LocalSts, MfaDevice};
use common::*;

const MFA_ROLE: &str = "arn:aws:iam::333333333333:role/mfa-broker";
const SERIAL: &str = "arn:aws:iam::222222222222:mfa/compute";

/// A pseudo-terminal: its controller side, and the device the command gets as its terminal.
struct Pty {
    controller: File,
    device: OwnedFd,
}

impl Pty {
    /// A new pseudo-terminal whose descriptors close on exec: the commands of other tests,
    /// started meanwhile, must not hold this one open.
    fn open() -> Pty {
        // SAFETY: posix_openpt(3), grantpt(3), unlockpt(3) and ptsname_r(3) on the descriptor
        // just opened, with a buffer of the size given.
        unsafe {
            let controller = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            assert!(controller >= 0, "{}", std::io::Error::last_os_error());
            let controller = File::from_raw_fd(controller);
            assert_eq!(libc::grantpt(controller.as_raw_fd()), 0);
            assert_eq!(libc::unlockpt(controller.as_raw_fd()), 0);
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(
                libc::ptsname_r(controller.as_raw_fd(), name.as_mut_ptr(), name.len()),
                0
            );
            let device = libc::open(
                name.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            assert!(device >= 0, "{}", std::io::Error::last_os_error());
            Pty {
                controller,
                device: OwnedFd::from_raw_fd(device),
            }
        }
    }

    /// Makes `command` the leader of a new session whose controlling terminal is this one,
    /// in its foreground.
    fn control(&self, command: &mut Command) {
        use std::os::unix::process::CommandExt;
        let device = self.device.as_raw_fd();
        // SAFETY: setsid(2) and ioctl(2) are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0 || libc::ioctl(device, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Reads what the command writes to the terminal, and answers each MFA prompt with the
    /// device's current code; what was written, as it grows.
    fn answer_prompts(&self, device: MfaDevice) -> Screen {
        let screen = Arc::new(Mutex::new(String::new()));
        let mut reader = self.controller.try_clone().unwrap();
        let mut writer = self.controller.try_clone().unwrap();
        let shown = screen.clone();
        let reader = std::thread::spawn(move || {
            let mut buffer = [0; 1024];
            let mut answered = 0;
            // Ends when the last process with the terminal is gone (EIO).
            while let Ok(read @ 1..) = reader.read(&mut buffer) {
                let mut screen = shown.lock().unwrap();
                screen.push_str(&String::from_utf8_lossy(&buffer[..read]));
                // A prompt is answered once it is whole: it ends with "): ".
                let prompts = screen.matches("): ").count();
                while answered < prompts {
                    answered += 1;
                    let _ = writeln!(writer, "{}", device.code());
                }
            }
        });
        Screen { screen, reader }
    }

    /// Everything written to the terminal, once every process that had it is gone (for at
    /// most 20 s: a process stopped in the background would hold it for ever).
    fn screen(self, screen: Screen) -> String {
        drop(self.device);
        let started = Stopwatch::start();
        while !screen.reader.is_finished() {
            let text = screen.screen.lock().unwrap().clone();
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "a process still holds the terminal: {text:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = screen.screen.lock().unwrap().clone();
        text
    }
}

/// What the command wrote to the terminal.
struct Screen {
    screen: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

/// The world with a role that requires MFA, and `--role` for it.
async fn mfa_world() -> (LocalSts, Vec<(&'static str, String)>, String) {
    let (sts, env) = world().await;
    sts.add_role(LocalRole::new(MFA_ROLE).trust(COMPUTE_USER).mfa(SERIAL));
    (sts, env, format!("{MFA_ROLE},mfa-serial={SERIAL}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_typed_at_the_terminal_while_the_command_starts_assumes_the_role() {
    let (sts, env, role) = mfa_world().await;
    let pty = Pty::open();
    let mut command = command(&env, &["credential-process", "--role", &role]);
    pty.control(&mut command);
    let screen = pty.answer_prompts(sts.mfa_device(SERIAL).unwrap());

    let output = finish(command).await;

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["AccessKeyId"], sts.issued()[0].access_key_id());
    assert!(sts.requests()[0].carried_mfa_code());
    let screen = pty.screen(screen);
    assert!(
        screen.contains(&format!("MFA code for {SERIAL} ({MFA_ROLE}): ")),
        "{screen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_in_the_background_of_its_terminal_never_reads_it() {
    let (sts, env, role) = mfa_world().await;
    let pty = Pty::open();
    // A shell with job control, as at a prompt: `serve &` runs in a process group of its own,
    // not the terminal's foreground one, and the shell waits for it.
    let mut command = Command::new("bash");
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["-c", "set -m; \"$@\" & wait $!", "bash"])
        .args([
            env!("CARGO_BIN_EXE_aws-role-chain"),
            "serve",
            "--role",
            &role,
        ]);
    let device = || Stdio::from(File::from(pty.device.try_clone().unwrap()));
    command.stdin(device()).stdout(device()).stderr(device());
    pty.control(&mut command);
    let screen = pty.answer_prompts(sts.mfa_device(SERIAL).unwrap());

    let mut shell = tokio::process::Command::from(command)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(LIMIT, shell.wait())
        .await
        .unwrap()
        .unwrap();

    let screen = pty.screen(screen);
    assert_eq!(status.code(), Some(1), "{screen:?}");
    assert!(
        screen.contains("in the background of its terminal: run it in the foreground"),
        "{screen:?}"
    );
    assert!(!screen.contains("MFA code for"), "{screen:?}");
    assert!(sts.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_start_a_refresh_needing_a_code_fails_and_the_command_says_when_credentials_end() {
    let (sts, env, role) = mfa_world().await;
    // Sessions of 20 s: within the 60-s mandatory window from the start, so that refreshes
    // come at once and keep coming.
    sts.set_session_lifetime(Some(Duration::from_secs(20)));
    let pty = Pty::open();
    // The child asks the endpoint every 200 ms until it is refused, and prints the answers.
    let script = "import json, os, time, urllib.request, urllib.error\n\
                  request = urllib.request.Request(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'],\n\
                      headers={'Authorization': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN']})\n\
                  for _ in range(250):\n\
                  \x20   try:\n\
                  \x20       print(200, json.load(urllib.request.urlopen(request))['AccessKeyId'], flush=True)\n\
                  \x20   except urllib.error.HTTPError as refused:\n\
                  \x20       print(refused.code, json.load(refused)['code'], flush=True)\n\
                  \x20       break\n\
                  \x20   time.sleep(0.2)\n";
    let mut command = command(
        &env,
        &["exec", "--role", &role, "--", "python3", "-c", script],
    );
    pty.control(&mut command);
    let screen = pty.answer_prompts(sts.mfa_device(SERIAL).unwrap());

    // It runs until its 20-s session expires; ten times that is a hang.
    let output = finish_within(command, Duration::from_secs(200)).await;

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let answers: Vec<&str> = stdout.lines().collect();
    // About 95 answers (19 s at one each 200 ms): 19× the threshold.
    assert!(answers.len() > 5, "{stdout}");
    let served = sts.issued().last().unwrap().access_key_id().to_owned();
    for answer in &answers[..answers.len() - 1] {
        assert_eq!(*answer, format!("200 {served}"), "{stdout}");
    }
    assert_eq!(answers[answers.len() - 1], "500 MfaToken", "{stdout}");
    let said = "a refresh needs a new MFA code, which is asked only at start: the credentials in \
                service last until ";
    assert_eq!(stderr.matches(said).count(), 1, "{stderr}");
    let prompts = pty.screen(screen).matches("MFA code for").count();
    assert_eq!(
        prompts,
        sts.issued().len(),
        "a code asked for each session issued"
    );
}
