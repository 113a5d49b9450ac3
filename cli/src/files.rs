//! Files of this user's only: the ones the command creates (a token, a child's config) and
//! removes at exit if they are still its own, and the ExternalId files it reads.

use std::fs::Metadata;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest file read: an ExternalId is at most 1,224 characters.
const MAX_READ_BYTES: u64 = 4096;

/// A file this process created, removed when dropped if it is still the one created.
#[derive(Debug)]
pub(crate) struct Created {
    path: PathBuf,
    identity: (u64, u64),
}

impl Created {
    /// Writes `contents` to a new file at `path` that only this user can read: never through a
    /// file or link that is already there.
    pub(crate) fn write(path: PathBuf, contents: &[u8]) -> Result<Created, String> {
        let shown = path.display();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|err| format!("cannot create {shown}: {err}"))?;
        let metadata = file
            .metadata()
            .map_err(|err| format!("cannot create {shown}: {err}"))?;
        let created = Created {
            identity: (metadata.dev(), metadata.ino()),
            path,
        };
        file.write_all(contents)
            .map_err(|err| format!("cannot write {}: {err}", created.path.display()))?;
        Ok(created)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        // Another process may have put its own file at the path since: that one stays.
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|metadata| (metadata.dev(), metadata.ino()) == self.identity);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `aws-role-chain-<pid>-<random>.<extension>` in `$XDG_RUNTIME_DIR` (private to the user),
/// else in the temporary directory, where another user could otherwise take a name first.
pub(crate) fn private_path(extension: &str) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    // A randomly keyed hasher's output: unpredictable enough for a file name.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    dir.join(format!(
        "aws-role-chain-{}-{random:016x}.{extension}",
        std::process::id()
    ))
}

/// The content of a file that only this user controls, as the credentials server reads its
/// token file: not through a symlink, a regular file of this user's, without group or other
/// permission bits, at most 4 KiB.
pub(crate) fn read_private(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| match err.raw_os_error() {
            Some(libc::ELOOP) => format!("{shown} is a symbolic link: give the file itself"),
            _ => format!("cannot read {shown}: {err}"),
        })?;
    let metadata = file
        .metadata()
        .map_err(|err| format!("cannot read {shown}: {err}"))?;
    if let Some(problem) = unfit(&metadata) {
        return Err(format!("{shown} {problem}"));
    }
    read_at_most(file, MAX_READ_BYTES)
        .map_err(|err| format!("cannot read {shown}: {err}"))?
        .ok_or_else(|| format!("{shown} grew past {MAX_READ_BYTES} bytes as it was read"))
}

/// The text of `reader` if it holds at most `limit` bytes; `None` if it holds more (a file that
/// grew since its size was checked).
fn read_at_most(reader: impl Read, limit: u64) -> std::io::Result<Option<String>> {
    let mut text = String::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_string(&mut text)?;
    Ok((u64::try_from(text.len()).unwrap_or(u64::MAX) <= limit).then_some(text))
}

fn unfit(metadata: &Metadata) -> Option<String> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let mode = metadata.mode() & 0o7777;
    if !metadata.file_type().is_file() {
        Some("is not a regular file".to_owned())
    } else if metadata.uid() != uid {
        Some(format!(
            "belongs to user {}, not to this user ({uid})",
            metadata.uid()
        ))
    } else if mode & 0o077 != 0 {
        Some(format!(
            "can be read or written by other users (mode {mode:o}): chmod 600 it"
        ))
    } else if metadata.len() > MAX_READ_BYTES {
        Some(format!("is larger than {MAX_READ_BYTES} bytes"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("role-chain-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn at_most_4_kib_is_read_and_a_file_that_grew_past_it_is_told() {
        let read = |n: u64| read_at_most(std::io::repeat(b'k').take(n), MAX_READ_BYTES).unwrap();
        assert_eq!(read(MAX_READ_BYTES).map(|text| text.len()), Some(4096));
        assert!(read(MAX_READ_BYTES + 1).is_none());
    }

    #[test]
    fn a_private_file_of_4_kib_is_read_and_a_larger_one_refused_by_its_size() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("size");
        let path = dir.join("external-id");
        for (len, read) in [(MAX_READ_BYTES, true), (MAX_READ_BYTES + 1, false)] {
            std::fs::write(&path, "k".repeat(len as usize)).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            match read_private(&path) {
                Ok(text) => assert!(read && text.len() == 4096, "{len} bytes read"),
                Err(err) => {
                    assert!(!read, "{len} bytes: {err}");
                    assert!(err.ends_with("is larger than 4096 bytes"), "{err}");
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_is_never_written_through_one_already_there() {
        let dir = scratch("create-new");
        let existing = dir.join("existing");
        std::fs::write(&existing, "theirs").unwrap();
        let target = dir.join("target");
        let link = dir.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();

        for path in [&existing, &link] {
            let err = Created::write(path.clone(), b"ours").unwrap_err();
            assert!(err.contains("cannot create"), "{err}");
        }

        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "theirs");
        assert!(!target.exists(), "nothing written through the link");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_created_file_is_private_and_removed_only_while_it_is_the_one_created() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("created");
        let path = dir.join("file");
        let created = Created::write(path.clone(), b"ours").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(created);
        assert!(!path.exists());

        let created = Created::write(path.clone(), b"ours").unwrap();
        let other = dir.join("other");
        std::fs::write(&other, "theirs").unwrap();
        std::fs::rename(&other, &path).unwrap();
        drop(created);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "theirs");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
