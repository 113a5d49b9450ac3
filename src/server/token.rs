//! The secret a caller must present in `Authorization`: random, given, or read from a file and
//! read again when the file changes; compared in constant time, wiped from memory when dropped.
//!
//! A token file is trusted only while it is a regular file (not a symlink) owned by this
//! process's user, unreadable by others, at most 4 KiB, holding one token with nothing around
//! it: checked at every read, since the file can change under the server.

use std::fmt;
use std::fs::Metadata;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_async::time::SharedTimeSource;
use parking_lot::Mutex;
use subtle::ConstantTimeEq;
use tracing::{debug, warn};
use zeroize::Zeroizing;

/// Bytes of randomness in a generated token: 256 bits.
const RANDOM_BYTES: usize = 32;
/// The shortest token of the operator's: 32 characters, as the ECS agent's.
pub(crate) const MIN_TOKEN_CHARS: usize = 32;
/// The longest token, and the largest token file.
pub(crate) const MAX_TOKEN_BYTES: usize = 4096;
/// A file modified this recently may be modified again within the same tick of the file
/// system's clock, leaving the same stamp: it is read again at every request until it is older
/// (git's rule for "racily clean" files).
const RACY: Duration = Duration::from_secs(2);

/// The token value, wiped when dropped.
type Secret = Arc<Zeroizing<String>>;

/// Where the token comes from.
#[derive(Clone)]
pub(crate) enum TokenSource {
    Random,
    Fixed(Secret),
    File(PathBuf),
}

impl TokenSource {
    pub(crate) fn fixed(token: String) -> Self {
        TokenSource::Fixed(Arc::new(Zeroizing::new(token)))
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Random => f.write_str("Random"),
            TokenSource::Fixed(_) => f.write_str("Fixed(** redacted **)"),
            TokenSource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// The token requests are checked against.
pub(crate) struct Token {
    /// The token, and for a file the version of it that was read, under one lock: a request
    /// never sees the token of one version with the stamp of another.
    state: Mutex<State>,
    file: Option<PathBuf>,
    time: SharedTimeSource,
}

struct State {
    /// `None` while the token file is not fit to trust: every request is then refused.
    token: Option<Secret>,
    /// The version read, unless it is too recent to tell from the next one.
    stamp: Option<Stamp>,
}

/// What identifies a version of the file: device, inode, length, modification and change times,
/// so that a token rewritten in place with the same length, or a new file renamed over the old
/// one, is still seen.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp([i64; 7]);

impl Stamp {
    fn of(metadata: &Metadata) -> Stamp {
        // Device and inode numbers compared as bits: only equality counts.
        let bits = |n: u64| i64::from_ne_bytes(n.to_ne_bytes());
        Stamp([
            bits(metadata.dev()),
            bits(metadata.ino()),
            bits(metadata.len()),
            metadata.mtime(),
            metadata.mtime_nsec(),
            metadata.ctime(),
            metadata.ctime_nsec(),
        ])
    }
}

impl Token {
    /// The token of `source`: 256 random bits in hex, the given value, or the file's content.
    /// A token shorter than 32 characters, longer than 4 KiB or with other than visible ASCII
    /// characters is refused, and so is a file not fit to trust. `time` tells how old a
    /// version of the file is.
    pub(crate) fn new(source: TokenSource, time: SharedTimeSource) -> io::Result<Token> {
        let (state, file) = match source {
            TokenSource::Random => (State::of(random()?), None),
            TokenSource::Fixed(secret) => {
                check(&secret).map_err(|problem| invalid(format!("the token {problem}")))?;
                (State::of(secret), None)
            }
            TokenSource::File(path) => {
                let mut state = State {
                    token: None,
                    stamp: None,
                };
                state.read(&path, &time)?;
                (state, Some(path))
            }
        };
        Ok(Token {
            state: Mutex::new(state),
            file,
            time,
        })
    }

    /// The token now, after reading the file again if it changed; `None` while the file is not
    /// fit to trust.
    pub(crate) fn current(&self) -> Option<Secret> {
        let mut state = self.state.lock();
        if let Some(path) = &self.file {
            state.refresh(path, &self.time);
        }
        state.token.clone()
    }

    /// Whether `presented` is the token, in time that does not depend on where they differ.
    pub(crate) fn admits(&self, presented: &[u8]) -> bool {
        self.current()
            .is_some_and(|token| same(token.as_bytes(), presented))
    }
}

/// Whether `token` and `presented` are equal, in time that depends on their lengths only.
fn same(token: &[u8], presented: &[u8]) -> bool {
    token.len() == presented.len() && bool::from(token.ct_eq(presented))
}

impl State {
    fn of(token: Secret) -> State {
        State {
            token: Some(token),
            stamp: None,
        }
    }

    /// Reads the token file again if `lstat` shows a new version, or the last one was too
    /// recent to tell. A file that vanished, is empty (being rewritten in place) or cannot be
    /// read for now keeps the token it had; one that is no longer fit to trust leaves no token
    /// until it is fixed.
    fn refresh(&mut self, path: &Path, time: &SharedTimeSource) {
        let Ok(metadata) = std::fs::symlink_metadata(path) else {
            return;
        };
        if self.stamp == Some(Stamp::of(&metadata)) || metadata.len() == 0 {
            return;
        }
        match self.read(path, time) {
            Err(err) if err.kind() == io::ErrorKind::InvalidInput => {
                warn!(error = %err, "the credentials server refuses every request until its token file is fixed");
                self.token = None;
            }
            Err(err) => debug!(error = %err, "the credentials server keeps its token for now"),
            Ok(()) => {}
        }
    }

    /// Reads the token file. Unfit, it is an `InvalidInput` error, and its version is kept so
    /// that it is not read again until it changes; unreadable, it is read again next time.
    fn read(&mut self, path: &Path, time: &SharedTimeSource) -> io::Result<()> {
        let (metadata, token) = read_token_file(path).inspect_err(|err| {
            self.stamp = std::fs::symlink_metadata(path)
                .ok()
                .filter(|_| err.kind() == io::ErrorKind::InvalidInput)
                .map(|metadata| Stamp::of(&metadata));
        })?;
        let settled = metadata.modified().is_ok_and(|modified| {
            time.now()
                .duration_since(modified)
                .is_ok_and(|age| age >= RACY)
        });
        self.stamp = settled.then(|| Stamp::of(&metadata));
        self.token = Some(token);
        Ok(())
    }
}

/// The token in the file at `path`, and the metadata of the version read, if the file is fit to
/// trust; `InvalidInput` if it is not.
fn read_token_file(path: &Path) -> io::Result<(Metadata, Secret)> {
    let shown = path.display();
    let refused = |problem: String| invalid(format!("the token file {shown} {problem}"));
    let (metadata, bytes) = read_private_file(path).map_err(|err| match err {
        PrivateFileError::Io(err) => io::Error::new(
            err.kind(),
            format!("cannot read the token file {shown}: {err}"),
        ),
        PrivateFileError::Unfit(problem) => refused(problem),
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| refused("is not text".to_owned()))?;
    if text.trim() != text {
        return Err(refused(
            "has spaces or a newline around the token, which AWS SDKs would send as part of it: \
             write it with printf '%s'"
                .to_owned(),
        ));
    }
    check(text).map_err(|problem| refused(format!("holds a token that {problem}")))?;
    Ok((metadata, Arc::new(Zeroizing::new(text.to_owned()))))
}

/// Why a private file cannot be used.
enum PrivateFileError {
    Io(io::Error),
    Unfit(String),
}

/// The content of a file that only this process's user controls: opened without following a
/// symlink or blocking on a FIFO, then checked on the open file (regular, owned by this user,
/// no group or other permission bits, at most 4 KiB) so that a swap between check and read
/// cannot pass.
fn read_private_file(path: &Path) -> Result<(Metadata, Zeroizing<Vec<u8>>), PrivateFileError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| match err.raw_os_error() {
            Some(libc::ELOOP) => PrivateFileError::Unfit(
                "is a symbolic link: give the path of the file itself".to_owned(),
            ),
            _ => PrivateFileError::Io(err),
        })?;
    let metadata = file.metadata().map_err(PrivateFileError::Io)?;
    if let Some(problem) = unfit(&metadata, effective_uid()) {
        return Err(PrivateFileError::Unfit(problem));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_TOKEN_BYTES));
    // One byte more than allowed tells a file that grew since the check.
    let limit = u64::try_from(MAX_TOKEN_BYTES + 1).unwrap_or(u64::MAX);
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(PrivateFileError::Io)?;
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(PrivateFileError::Unfit(format!(
            "is larger than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    Ok((metadata, bytes))
}

/// What makes a file with `metadata` unfit to hold a secret of the user `uid`, if anything.
fn unfit(metadata: &Metadata, uid: u32) -> Option<String> {
    let mode = metadata.mode() & 0o7777;
    if !metadata.file_type().is_file() {
        Some("is not a regular file".to_owned())
    } else if metadata.uid() != uid {
        Some(format!(
            "belongs to user {} and this server runs as user {uid}: it must be the server's own",
            metadata.uid()
        ))
    } else if mode & 0o077 != 0 {
        Some(format!(
            "can be read or written by other users (mode {mode:o}): chmod 600 it"
        ))
    } else if metadata.len() > u64::try_from(MAX_TOKEN_BYTES).unwrap_or(u64::MAX) {
        Some(format!("is larger than {MAX_TOKEN_BYTES} bytes"))
    } else {
        None
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why `token` cannot be used, if it cannot: what SDKs can send in a header, and long enough
/// not to be guessed.
fn check(token: &str) -> Result<(), String> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(format!("is longer than {MAX_TOKEN_BYTES} bytes"));
    }
    if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err("has characters other than visible ASCII (no spaces)".to_owned());
    }
    if token.len() < MIN_TOKEN_CHARS {
        return Err(format!(
            "is shorter than {MIN_TOKEN_CHARS} characters, which is too easy to guess: leave \
             the token unset for a random one, or use 32 random bytes in hex"
        ));
    }
    Ok(())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// 256 bits from the operating system's random source, in hex.
fn random() -> io::Result<Secret> {
    let mut bytes = Zeroizing::new([0u8; RANDOM_BYTES]);
    getrandom::fill(bytes.as_mut()).map_err(io::Error::other)?;
    let mut hex = Zeroizing::new(String::with_capacity(RANDOM_BYTES * 2));
    for byte in bytes.iter() {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    Ok(Arc::new(hex))
}

#[cfg(test)]
mod tests;
