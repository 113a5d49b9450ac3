//! The signals the command listens for: during start-up each ends it at once; afterwards `exec`
//! passes each on to its child and `serve` stops on them.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

/// Every signal whose default action would end this process, but those that report a fault of
/// its own (SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSYS) and SIGPIPE (ignored by
/// Rust programs): ending on one of them would leave `exec`'s child running with a URI to a
/// port that any local user could then bind. SIGWINCH is passed on too, for terminal programs.
const FORWARDED: [libc::c_int; 13] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGIO,
    libc::SIGWINCH,
];

/// [`FORWARDED`], and on Linux SIGPWR, SIGSTKFLT and the real-time signals that tokio can
/// listen for.
fn forwarded() -> Vec<libc::c_int> {
    let mut signals = FORWARDED.to_vec();
    #[cfg(target_os = "linux")]
    {
        signals.extend([libc::SIGPWR, libc::SIGSTKFLT]);
        // tokio keeps a slot for each signal below SIGRTMAX.
        signals.extend(libc::SIGRTMIN()..libc::SIGRTMAX());
    }
    signals
}

/// The signals of [`forwarded`] as they arrive.
pub(crate) struct Signals(mpsc::UnboundedReceiver<libc::c_int>);

impl Signals {
    /// Listens for every signal of [`forwarded`] that is not ignored (as `nohup` ignores
    /// SIGHUP, or a shell SIGINT for a background job: those stay ignored, for this process and
    /// its child): from now on none of them ends the process by its default action.
    pub(crate) fn listen() -> Result<Signals, String> {
        let (sender, receiver) = mpsc::unbounded_channel();
        for number in forwarded().into_iter().filter(|number| !ignored(*number)) {
            let mut stream = signal(SignalKind::from_raw(number))
                .map_err(|err| format!("cannot listen for signal {number}: {err}"))?;
            let sender = sender.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    if sender.send(number).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Signals(receiver))
    }

    /// The next signal to arrive.
    pub(crate) async fn next(&mut self) -> libc::c_int {
        match self.0.recv().await {
            Some(number) => number,
            // The listeners live as long as the runtime: never reached while it runs.
            None => std::future::pending().await,
        }
    }

    /// The next signal that should stop a server: any but SIGWINCH.
    pub(crate) async fn next_stop(&mut self) -> libc::c_int {
        loop {
            let number = self.next().await;
            if number != libc::SIGWINCH {
                return number;
            }
        }
    }
}

/// Whether `signal` is ignored by this process, as it was inherited.
fn ignored(signal: libc::c_int) -> bool {
    // SAFETY: sigaction(2) with no new action only reads the current one into `current`, a
    // zeroed struct of the right type.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}

/// The exit status of a process ended by `signal`, as shells report it.
pub(crate) fn status_of(signal: libc::c_int) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}
