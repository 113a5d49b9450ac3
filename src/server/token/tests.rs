use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use std::fs::File;

use aws_smithy_async::time::{SystemTimeSource, TimeSource};

use super::*;
use crate::testing::cases;

const TOKEN_A: &str = "a-token-of-thirty-two-characters";
const TOKEN_B: &str = "b-token-of-thirty-two-characters-and-more";

/// A directory of this test's own, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("role-chain-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    /// Writes `contents` to `name` with `mode`; its path.
    fn file(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn token_of(source: TokenSource) -> io::Result<Token> {
    Token::new(source, SharedTimeSource::new(SystemTimeSource::new()))
}

fn from_file(path: &Path) -> io::Result<Token> {
    token_of(TokenSource::File(path.to_owned()))
}

#[test]
fn a_random_token_is_256_bits_in_hex_and_new_each_time() {
    let tokens: Vec<_> = (0..1000).map(|_| random().unwrap()).collect();
    assert!(tokens.iter().all(|t| t.len() == 64), "64 hex digits");
    assert!(tokens
        .iter()
        .all(|t| t.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))));
    let distinct: std::collections::HashSet<_> = tokens.iter().map(|t| t.as_str()).collect();
    assert_eq!(distinct.len(), tokens.len());
    // Every bit position is set in about half the tokens: a counter, a clock or a fixed value
    // would not be.
    for digit in 0..64 {
        for bit in 0..4 {
            let set = tokens
                .iter()
                .filter(|t| {
                    let value = (t.as_bytes()[digit] as char).to_digit(16).unwrap();
                    value >> bit & 1 == 1
                })
                .count();
            assert!((380..=620).contains(&set), "digit {digit} bit {bit}: {set}");
        }
    }
}

#[test]
fn only_the_exact_token_is_admitted() {
    let token = token_of(TokenSource::fixed(TOKEN_A.into())).unwrap();
    assert!(token.admits(TOKEN_A.as_bytes()));
    let longer = format!("{TOKEN_A}!");
    let upper = TOKEN_A.to_uppercase();
    for wrong in [
        "",
        &TOKEN_A[1..],
        &TOKEN_A[..31],
        longer.as_str(),
        upper.as_str(),
    ] {
        assert!(!token.admits(wrong.as_bytes()), "{wrong:?}");
    }
}

/// The least time of many comparisons of `presented` with `token`: the machine's load only adds
/// time, so the least is the comparison's own.
#[allow(clippy::disallowed_methods)] // measures the CPU, not the time of a chain
fn least_time(token: &[u8], presented: &[u8]) -> std::time::Duration {
    (0..200)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(same(
                std::hint::black_box(token),
                std::hint::black_box(presented),
            ));
            start.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
fn the_comparison_takes_as_long_whichever_byte_differs() {
    // Longer than any token, so that the comparison outweighs the call around it.
    let token = vec![b'k'; 64 * 1024];
    let mut first = token.clone();
    first[0] = b'x';
    let mut last = token.clone();
    last[token.len() - 1] = b'x';

    let (early, late) = (least_time(&token, &first), least_time(&token, &last));

    // A comparison that stops at the first difference (memcmp) takes a few nanoseconds for the
    // first byte and hundreds of times that for the last one (a ratio of about 0.01); a
    // constant-time one as long (about 1). The threshold sits 10× from each.
    let ratio = early.as_secs_f64() / late.as_secs_f64();
    assert!(ratio > 0.1, "first byte {early:?}, last byte {late:?}");
}

fn fixed_refused((token, says): (&str, &str)) {
    let err = token_of(TokenSource::fixed(token.to_owned()))
        .err()
        .unwrap();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains(says), "{err}");
    if token.len() > 3 {
        assert!(!err.to_string().contains(token), "{err}");
    }
}

cases! { fixed_refused:
    an_empty_token_is_refused: ("", "shorter than 32 characters");
    a_token_of_31_characters_is_refused: ("0123456789012345678901234567890", "shorter than 32 characters");
    a_token_with_a_space_is_refused: ("0123456789012345 678901234567890123", "visible ASCII");
    a_token_with_a_newline_is_refused: ("01234567890123456789012345678901\n", "visible ASCII");
    a_token_with_a_non_ascii_letter_is_refused: ("0123456789012345678901234567890é", "visible ASCII");
}

#[test]
fn a_token_of_32_to_4096_characters_is_accepted_and_longer_is_refused() {
    for length in [32, MAX_TOKEN_BYTES] {
        assert!(token_of(TokenSource::fixed("t".repeat(length))).is_ok());
    }
    let err = token_of(TokenSource::fixed("t".repeat(MAX_TOKEN_BYTES + 1)))
        .err()
        .unwrap();
    assert!(err.to_string().contains("longer than 4096 bytes"), "{err}");
}

#[test]
fn a_token_file_is_read_again_when_it_changes_in_place_or_by_rename() {
    let dir = Dir::new("token-changes");
    let path = dir.file("token", TOKEN_A, 0o600);
    let token = from_file(&path).unwrap();
    assert!(token.admits(TOKEN_A.as_bytes()));

    std::fs::write(&path, TOKEN_B).unwrap();
    assert!(token.admits(TOKEN_B.as_bytes()));
    assert!(!token.admits(TOKEN_A.as_bytes()));

    let next = dir.file("next", TOKEN_A, 0o600);
    std::fs::rename(&next, &path).unwrap();
    assert!(token.admits(TOKEN_A.as_bytes()));
    assert!(!token.admits(TOKEN_B.as_bytes()));
}

#[test]
fn a_token_file_that_vanishes_or_is_emptied_keeps_its_token() {
    let dir = Dir::new("token-vanishes");
    let path = dir.file("token", TOKEN_A, 0o600);
    let token = from_file(&path).unwrap();

    std::fs::write(&path, "").unwrap();
    assert!(token.admits(TOKEN_A.as_bytes()), "being rewritten");
    std::fs::write(&path, TOKEN_B).unwrap();
    assert!(token.admits(TOKEN_B.as_bytes()));
    std::fs::remove_file(&path).unwrap();
    assert!(token.admits(TOKEN_B.as_bytes()), "a vanished file");
}

/// A token file that turns unfit after the start admits nobody until it is fixed.
fn unfit_later((break_it, says): (fn(&Path), &str)) {
    let dir = Dir::new("token-later");
    let path = dir.file("token", TOKEN_A, 0o600);
    let token = from_file(&path).unwrap();
    assert!(token.admits(TOKEN_A.as_bytes()));

    break_it(&path);
    let Outcome::Unfit(err, _) = read_token_file(&path) else {
        panic!("the file is fit");
    };
    assert!(err.to_string().contains(says), "{err}");
    assert!(!token.admits(TOKEN_A.as_bytes()));
    assert!(!token.admits(TOKEN_B.as_bytes()));

    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, TOKEN_B).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(token.admits(TOKEN_B.as_bytes()), "fixed");
}

cases! { unfit_later:
    a_file_made_readable_by_others_later_admits_nobody: (
        |path| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap(), "other users");
    a_file_given_a_newline_later_admits_nobody: (
        |path| std::fs::write(path, format!("{TOKEN_B}\n")).unwrap(), "newline");
    a_file_given_a_short_token_later_admits_nobody: (
        |path| std::fs::write(path, "short").unwrap(), "shorter than 32");
    a_file_swapped_for_a_symlink_later_admits_nobody: (|path| {
        let target = path.with_extension("target");
        std::fs::write(&target, TOKEN_B).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::remove_file(path).unwrap();
        std::os::unix::fs::symlink(&target, path).unwrap();
    }, "symbolic link");
    a_file_grown_past_4_kib_later_admits_nobody: (
        |path| std::fs::write(path, "t".repeat(MAX_TOKEN_BYTES + 1)).unwrap(), "larger than 4096");
    a_file_swapped_for_a_fifo_later_admits_nobody: (|path| {
        std::fs::remove_file(path).unwrap();
        make_fifo(path);
    }, "not a regular file");
}

/// A token file refused at the start, with an error that says why and never the token; within
/// 10 s, so that a read that blocks fails the test rather than hanging it.
fn refused_at_start((make, says): (fn(&Dir) -> PathBuf, &str)) {
    let dir = Dir::new("token-start");
    let path = make(&dir);
    let (sender, receiver) = std::sync::mpsc::channel();
    let reading = path.clone();
    std::thread::spawn(move || sender.send(from_file(&reading).err()));
    let err = receiver
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("refused within 10 s")
        .unwrap();
    assert!(err.to_string().contains(says), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(!err.to_string().contains(TOKEN_A), "{err}");
}

cases! { refused_at_start:
    a_file_others_can_read_is_refused: (
        |dir| dir.file("token", TOKEN_A, 0o640), "other users (mode 640): chmod 600 it");
    a_file_with_a_newline_is_refused: (
        |dir| dir.file("token", &format!("{TOKEN_A}\n"), 0o600), "spaces or a newline around the token");
    a_file_with_a_short_token_is_refused: (
        |dir| dir.file("token", "short-token", 0o600), "shorter than 32 characters");
    a_symlink_is_refused: (|dir| {
        let target = dir.file("target", TOKEN_A, 0o600);
        let link = dir.0.join("link");
        std::os::unix::fs::symlink(target, &link).unwrap();
        link
    }, "is a symbolic link");
    a_symlink_to_dev_zero_is_refused_without_reading_it: (|dir| {
        let link = dir.0.join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        link
    }, "is a symbolic link");
    a_fifo_is_refused_without_blocking: (|dir| {
        let path = dir.0.join("fifo");
        make_fifo(&path);
        path
    }, "not a regular file");
    a_directory_is_refused: (|dir| {
        let path = dir.0.join("sub");
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        path
    }, "not a regular file");
    a_file_over_4_kib_is_refused: (
        |dir| dir.file("token", &"t".repeat(MAX_TOKEN_BYTES + 1), 0o600), "larger than 4096 bytes");
    a_missing_file_is_named: (|dir| dir.0.join("missing"), "cannot read the token file");
}

#[test]
fn a_file_of_another_user_is_unfit() {
    let dir = Dir::new("token-owner");
    let path = dir.file("token", TOKEN_A, 0o600);
    let metadata = std::fs::metadata(&path).unwrap();
    let uid = effective_uid();
    assert_eq!(unfit(&metadata, uid), None);
    let other = unfit(&metadata, uid.wrapping_add(1)).unwrap();
    assert!(other.contains("it must be the server's own"), "{other}");
}

/// The token file at `path` with a clock an hour ahead, by which every version is settled:
/// only its stamp tells one version from the next.
fn settled_token(path: &Path) -> Token {
    let later = SystemTimeSource::new().now() + std::time::Duration::from_secs(3600);
    let clock = aws_smithy_async::time::StaticTimeSource::new(later);
    Token::new(
        TokenSource::File(path.to_owned()),
        SharedTimeSource::new(clock),
    )
    .unwrap()
}

/// The token file at `path` read on a clock at `after` past its modification time: whether its
/// version was kept, to tell the next one by.
fn version_kept_after(after: std::time::Duration) -> bool {
    let dir = Dir::new("token-racy");
    let path = dir.file("token", TOKEN_A, 0o600);
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let clock = aws_smithy_async::time::StaticTimeSource::new(modified + after);
    let token = Token::new(TokenSource::File(path), SharedTimeSource::new(clock)).unwrap();
    assert!(token.admits(TOKEN_A.as_bytes()));
    let kept = token.state.lock().stamp.is_some();
    kept
}

#[test]
fn a_file_modified_within_2_s_is_read_again_at_every_request() {
    // Two writes within one tick of the file system's clock can leave the same stamp.
    assert!(!version_kept_after(std::time::Duration::from_secs(1)));
}

#[test]
fn a_file_modified_over_2_s_ago_is_read_again_only_when_it_changes() {
    assert!(version_kept_after(std::time::Duration::from_secs(3)));
}

#[test]
fn a_file_dated_back_is_judged_by_its_change_time() {
    let dir = Dir::new("token-dated-back");
    let path = dir.file("token", TOKEN_A, 0o600);
    let file = File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTimeSource::new().now() - std::time::Duration::from_secs(3600))
        .unwrap();
    let token = from_file(&path).unwrap();
    assert!(token.admits(TOKEN_A.as_bytes()));
    assert!(token.state.lock().stamp.is_none(), "changed just now");
}

#[test]
fn a_file_made_private_again_by_chmod_alone_admits_again() {
    let dir = Dir::new("token-chmod");
    let path = dir.file("token", TOKEN_A, 0o600);
    let token = settled_token(&path);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(!token.admits(TOKEN_A.as_bytes()));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(token.admits(TOKEN_A.as_bytes()));
}

#[test]
fn at_most_4_kib_is_read_and_a_file_that_grew_past_it_is_told() {
    let limit = MAX_TOKEN_BYTES;
    let read = |n: usize| read_at_most(std::io::repeat(b'k').take(n as u64), limit).unwrap();
    assert_eq!(read(limit).map(|bytes| bytes.len()), Some(limit));
    assert!(read(limit + 1).is_none());
}

#[test]
fn a_rotation_under_concurrent_requests_admits_the_new_token_and_only_it() {
    let dir = Dir::new("token-rotation");
    let path = dir.file("token", &format!("{TOKEN_A}-0"), 0o600);
    let token = Arc::new(settled_token(&path));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let (token, done) = (token.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    token.admits(TOKEN_B.as_bytes());
                }
            })
        })
        .collect();

    for n in 1..=200 {
        let next = dir.file("next", &format!("{TOKEN_A}-{n}"), 0o600);
        std::fs::rename(&next, &path).unwrap();
        // Requests read the new version concurrently; whichever read it last, the token is
        // the new one.
        std::thread::yield_now();
        assert!(
            token.admits(format!("{TOKEN_A}-{n}").as_bytes()),
            "rotation {n}"
        );
        assert!(!token.admits(format!("{TOKEN_A}-{}", n - 1).as_bytes()));
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for request in requests {
        request.join().unwrap();
    }
}

/// A FIFO at `path`, mode 0600.
fn make_fifo(path: &Path) {
    use rustix::fs::{mknodat, FileType, Mode, CWD};
    mknodat(CWD, path, FileType::Fifo, Mode::RUSR | Mode::WUSR, 0).unwrap();
}
