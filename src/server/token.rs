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
use std::time::{Duration, SystemTime};

use aws_smithy_async::time::SharedTimeSource;
use parking_lot::Mutex;
use rustix::fs::OFlags;
use rustix::io::Errno;
use rustix::process::geteuid;
use subtle::ConstantTimeEq;
use tracing::{debug, warn};
use zeroize::Zeroizing;

use crate::redact::REDACTED;

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
            TokenSource::Fixed(_) => f.debug_tuple("Fixed").field(&REDACTED).finish(),
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

/// What identifies a version of the file: device, inode, length, mode, owner, modification and
/// change times, so that a token rewritten in place with the same length, a new file renamed
/// over the old one, or a file made private, is still seen.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp([i64; 9]);

impl Stamp {
    fn of(metadata: &Metadata) -> Stamp {
        // Device and inode numbers compared as bits: only equality counts.
        let bits = |n: u64| i64::from_ne_bytes(n.to_ne_bytes());
        Stamp([
            bits(metadata.dev()),
            bits(metadata.ino()),
            bits(metadata.len()),
            i64::from(metadata.mode()),
            i64::from(metadata.uid()),
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
    /// read for now keeps the token it had; one that is not fit to trust leaves no token until
    /// it is fixed.
    fn refresh(&mut self, path: &Path, time: &SharedTimeSource) {
        let Ok(metadata) = std::fs::symlink_metadata(path) else {
            return;
        };
        if self.stamp == Some(Stamp::of(&metadata)) {
            return;
        }
        let had_token = self.token.is_some();
        match self.read(path, time) {
            Err(err) if self.token.is_none() && had_token => {
                warn!(error = %err, "the credentials server refuses every request until its token file is fixed");
            }
            Err(err) => debug!(error = %err, "the credentials server's token file was not used"),
            Ok(()) => {}
        }
    }

    /// Reads the token file: a fit one gives the token; an unfit one takes it away; one that
    /// cannot be read for now leaves it. The version read is kept, to tell the next one by,
    /// unless it is too recent (see [`RACY`]).
    fn read(&mut self, path: &Path, time: &SharedTimeSource) -> io::Result<()> {
        let now = time.now();
        let settled = |metadata: &Metadata| settled(metadata, now).then(|| Stamp::of(metadata));
        match read_token_file(path) {
            Outcome::Token(metadata, token) => {
                self.stamp = settled(&metadata);
                self.token = Some(token);
                Ok(())
            }
            Outcome::Unfit(err, metadata) => {
                self.stamp = metadata.as_ref().and_then(settled);
                self.token = None;
                Err(err)
            }
            Outcome::NotNow(err) => {
                self.stamp = None;
                Err(err)
            }
        }
    }
}

/// Whether the version of a file with `metadata` is old enough at `now` that a later write would
/// change its stamp: by the later of its modification time (which a user can set) and its
/// change time (which no one can).
fn settled(metadata: &Metadata, now: SystemTime) -> bool {
    let changed = u64::try_from(metadata.ctime())
        .ok()
        .zip(u32::try_from(metadata.ctime_nsec()).ok())
        .and_then(|(secs, nanos)| SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos)));
    let latest = match (metadata.modified().ok(), changed) {
        (Some(modified), Some(changed)) => modified.max(changed),
        _ => return false,
    };
    now.duration_since(latest).is_ok_and(|age| age >= RACY)
}

/// What reading the token file found.
enum Outcome {
    Token(Metadata, Secret),
    /// Not fit to trust (`InvalidInput`), with the version read if the file could be opened.
    Unfit(io::Error, Option<Metadata>),
    /// Cannot be read for now: vanished, empty while being rewritten, an I/O error.
    NotNow(io::Error),
}

/// The token in the file at `path`, if the file is fit to trust.
fn read_token_file(path: &Path) -> Outcome {
    let shown = path.display();
    let refused = |problem: String| invalid(format!("the token file {shown} {problem}"));
    let (metadata, bytes) = match read_private_file(path) {
        Ok(read) => read,
        Err(PrivateFileError::Io(err)) => {
            let message = format!("cannot read the token file {shown}: {err}");
            return Outcome::NotNow(io::Error::new(err.kind(), message));
        }
        Err(PrivateFileError::Unfit(problem, metadata)) => {
            return Outcome::Unfit(refused(problem), metadata.map(|metadata| *metadata))
        }
    };
    if bytes.is_empty() {
        return Outcome::NotNow(io::Error::other(format!(
            "the token file {shown} is empty: written, perhaps, as it was read"
        )));
    }
    let token = std::str::from_utf8(&bytes)
        .map_err(|_| "is not text".to_owned())
        .and_then(|text| {
            if text.trim() != text {
                return Err(
                    "has spaces or a newline around the token, which AWS SDKs would \
                            send as part of it: write it with printf '%s'"
                        .to_owned(),
                );
            }
            check(text).map_err(|problem| format!("holds a token that {problem}"))?;
            Ok(text)
        });
    match token {
        Ok(text) => Outcome::Token(metadata, Arc::new(Zeroizing::new(text.to_owned()))),
        Err(problem) => Outcome::Unfit(refused(problem), Some(metadata)),
    }
}

/// Why a private file cannot be used.
enum PrivateFileError {
    Io(io::Error),
    /// What is wrong, and the file's metadata if it could be opened.
    Unfit(String, Option<Box<Metadata>>),
}

/// The content of a file that only this process's user controls: opened without following a
/// symlink or blocking on a FIFO, then checked on the open file (regular, owned by this user,
/// no group or other permission bits, at most 4 KiB) so that a swap between check and read
/// cannot pass.
fn read_private_file(path: &Path) -> Result<(Metadata, Zeroizing<Vec<u8>>), PrivateFileError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .map_err(|err| match err.raw_os_error() {
            Some(code) if code == Errno::LOOP.raw_os_error() => PrivateFileError::Unfit(
                "is a symbolic link: give the path of the file itself".to_owned(),
                None,
            ),
            _ => PrivateFileError::Io(err),
        })?;
    let metadata = file.metadata().map_err(PrivateFileError::Io)?;
    if let Some(problem) = unfit(&metadata, effective_uid()) {
        return Err(PrivateFileError::Unfit(problem, Some(Box::new(metadata))));
    }
    match read_at_most(file, MAX_TOKEN_BYTES) {
        Ok(Some(bytes)) => Ok((metadata, bytes)),
        Ok(None) => Err(PrivateFileError::Unfit(
            format!("grew past {MAX_TOKEN_BYTES} bytes as it was read"),
            Some(Box::new(metadata)),
        )),
        Err(err) => Err(PrivateFileError::Io(err)),
    }
}

/// At most `limit` bytes of `reader`; `None` if it has more (a file that grew since its size
/// was checked).
fn read_at_most(reader: impl Read, limit: usize) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(limit));
    let one_more = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(one_more).read_to_end(&mut bytes)?;
    Ok((bytes.len() <= limit).then_some(bytes))
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
    geteuid().as_raw()
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
