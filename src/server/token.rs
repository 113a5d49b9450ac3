//! The secret a caller must present in `Authorization`: random, or read from a file and read
//! again when the file changes, compared in constant time, wiped from memory when dropped.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes of randomness in a generated token: 256 bits.
const RANDOM_BYTES: usize = 32;

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
    current: Mutex<Secret>,
    file: Option<WatchedFile>,
}

/// A token file and what it looked like when last read.
struct WatchedFile {
    path: PathBuf,
    seen: Mutex<Option<Stamp>>,
}

/// What identifies a version of the file: its modification time, length, inode and change
/// time, so that a token rewritten with the same length within one tick of the modification
/// time, or a new file renamed over the old one, is still seen.
type Stamp = (SystemTime, u64, u64, i64, i64);

impl Token {
    /// The token of `source`: 256 random bits in hex, the fixed value, or the file's content
    /// without surrounding whitespace. An empty token is refused.
    pub(crate) fn new(source: TokenSource) -> io::Result<Token> {
        let (current, file) = match source {
            TokenSource::Random => (random()?, None),
            TokenSource::Fixed(secret) => (secret, None),
            TokenSource::File(path) => {
                let file = WatchedFile {
                    path,
                    seen: Mutex::new(None),
                };
                (file.read()?, Some(file))
            }
        };
        if current.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the credentials server's token is empty; give a non-empty token or token file",
            ));
        }
        Ok(Token {
            current: Mutex::new(current),
            file,
        })
    }

    /// The token now, after reading the file again if it changed.
    pub(crate) fn current(&self) -> Secret {
        if let Some(file) = &self.file {
            if let Some(token) = file.read_if_changed() {
                *self.current.lock() = token;
            }
        }
        self.current.lock().clone()
    }

    /// Whether `presented` is the token, in time that does not depend on where they differ.
    pub(crate) fn admits(&self, presented: &[u8]) -> bool {
        let token = self.current();
        token.len() == presented.len() && bool::from(token.as_bytes().ct_eq(presented))
    }
}

impl WatchedFile {
    /// The file's version: when it changes, the file is read again.
    fn stamp(&self) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(&self.path).ok()?;
        Some((
            metadata.modified().ok()?,
            metadata.len(),
            metadata.ino(),
            metadata.ctime(),
            metadata.ctime_nsec(),
        ))
    }

    fn read(&self) -> io::Result<Secret> {
        let stamp = self.stamp();
        let text = Zeroizing::new(std::fs::read_to_string(&self.path).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot read the token file {}: {err}", self.path.display()),
            )
        })?);
        *self.seen.lock() = stamp;
        Ok(Arc::new(Zeroizing::new(text.trim().to_owned())))
    }

    /// The file's token if it changed since it was last read and is readable and not empty; a
    /// file being rewritten keeps the token it had.
    fn read_if_changed(&self) -> Option<Secret> {
        let stamp = self.stamp()?;
        if *self.seen.lock() == Some(stamp) {
            return None;
        }
        self.read().ok().filter(|token| !token.is_empty())
    }
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
mod tests {
    use super::*;

    #[test]
    fn a_random_token_is_256_bits_in_hex_and_new_each_time() {
        let (a, b) = (random().unwrap(), random().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{}", a.as_str());
        assert_ne!(a.as_str(), b.as_str());
    }

    #[test]
    fn only_the_exact_token_is_admitted() {
        let token = Token::new(TokenSource::fixed("s3cret-token".into())).unwrap();
        assert!(token.admits(b"s3cret-token"));
        for wrong in [&b""[..], b"s3cret-toke", b"s3cret-token!", b"S3cret-token"] {
            assert!(!token.admits(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn an_empty_token_is_refused() {
        let err = Token::new(TokenSource::fixed(String::new())).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_token_file_is_read_trimmed_and_read_again_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("role-chain-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "first-token\n").unwrap();
        let token = Token::new(TokenSource::File(path.clone())).unwrap();
        assert!(token.admits(b"first-token"));

        std::fs::write(&path, "second-token-longer\n").unwrap();
        assert!(token.admits(b"second-token-longer"));
        assert!(!token.admits(b"first-token"));

        std::fs::remove_file(&path).unwrap();
        assert!(
            token.admits(b"second-token-longer"),
            "a vanished file keeps the token"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_token_file_is_an_error_naming_it() {
        let path = PathBuf::from("/nonexistent/role-chain/token");
        let err = Token::new(TokenSource::File(path)).err().unwrap();
        assert!(
            err.to_string().contains("/nonexistent/role-chain/token"),
            "{err}"
        );
    }
}
