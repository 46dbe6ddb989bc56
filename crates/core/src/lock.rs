//! One run at a time per artifacts directory, and the sweep of what killed runs left.
//!
//! [`ProjectLock::acquire`] takes an exclusive advisory lock on `<artifacts>/.lock`
//! (`flock` on Unix, `LockFileEx` on Windows, through [`std::fs::File::lock`]); a second run
//! in the same directory waits for the first and then finds its stages cached, so together
//! they compute each stage once. The operating system releases the lock when the holder
//! exits, even by `kill -9`. Holding the lock, a run knows that every temporary name in the
//! directory (see [`crate::atomic::is_temp_name`]) is left over from a killed run,
//! and [`sweep_temporaries`] removes them.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::atomic::is_temp_name;
use crate::ArtifactError;

/// The lock file in the artifacts directory.
pub const LOCK_FILE: &str = ".lock";

/// Exclusive use of an artifacts directory, released when dropped.
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
}

impl ProjectLock {
    /// Lock `artifacts` (created if needed). When another process holds the lock,
    /// `waiting(holder)` is called once with what the holder wrote (its process id), and
    /// this call blocks until the lock is free.
    pub fn acquire(artifacts: &Path, waiting: impl FnOnce(&str)) -> Result<Self, ArtifactError> {
        fs::create_dir_all(artifacts).map_err(|e| ArtifactError::io(artifacts, e))?;
        let path = artifacts.join(LOCK_FILE);
        let io = |e| ArtifactError::io(&path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                waiting(holder.trim());
                file.lock().map_err(io)?;
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "process {}", std::process::id()).map_err(io)?;
        Ok(ProjectLock { _file: file })
    }
}

/// The `waiting` callback of [`ProjectLock::acquire`] that says, on standard error, which
/// process the caller waits for.
pub fn say_waiting(artifacts: &Path) -> impl FnOnce(&str) + '_ {
    move |holder| {
        eprintln!(
            "waiting for another run in {} ({holder}) to finish",
            artifacts.display()
        )
    }
}

/// Remove the temporaries that killed runs left in `artifacts` and in every namespace of
/// its cache (`cache/<stage>/`); returns how many. Only call holding the [`ProjectLock`]:
/// then no live run owns one.
pub fn sweep_temporaries(artifacts: &Path) -> Result<usize, ArtifactError> {
    let mut dirs = vec![artifacts.to_path_buf()];
    let cache = artifacts.join("cache");
    if cache.is_dir() {
        for entry in fs::read_dir(&cache).map_err(|e| ArtifactError::io(&cache, e))? {
            let entry = entry.map_err(|e| ArtifactError::io(&cache, e))?;
            if entry.path().is_dir() {
                dirs.push(entry.path());
            }
        }
    }
    let mut swept = 0;
    for dir in dirs {
        for entry in fs::read_dir(&dir).map_err(|e| ArtifactError::io(&dir, e))? {
            let path = entry.map_err(|e| ArtifactError::io(&dir, e))?.path();
            let temporary = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_temp_name);
            if !temporary {
                continue;
            }
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(|e| ArtifactError::io(&path, e))?;
            swept += 1;
        }
    }
    Ok(swept)
}

/// Remove the cache and `latest/` of `artifacts`, waiting for a run that uses them to
/// finish first (`waiting(holder)` is called if it must wait), then the temporaries.
pub fn clean(artifacts: &Path, waiting: impl FnOnce(&str)) -> Result<(), ArtifactError> {
    let _lock = ProjectLock::acquire(artifacts, waiting)?;
    for dir in ["cache", "latest"] {
        let path = artifacts.join(dir);
        match fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(ArtifactError::io(&path, e)),
            _ => {}
        }
    }
    sweep_temporaries(artifacts)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = ProjectLock::acquire(dir.path(), |_| panic!("nobody holds it")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let lock = ProjectLock::acquire(&path, |holder| tx.send(holder.to_string()).unwrap());
            lock.map(drop).is_ok()
        });
        let holder = rx.recv().unwrap();
        assert_eq!(holder, format!("process {}", std::process::id()));
        drop(first);
        assert!(
            second.join().unwrap(),
            "the second run gets the lock once the first is done"
        );
    }

    #[test]
    fn only_temporaries_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let stage = root.join("cache/train");
        fs::create_dir_all(stage.join("0123456789abcdef")).unwrap();
        fs::create_dir_all(stage.join(".0123456789abcdef.tmp-41-0/models")).unwrap();
        fs::write(root.join(".latest.tmp-41-3"), "x").unwrap();
        fs::write(root.join(".lock"), "process 41").unwrap();
        fs::create_dir_all(root.join("latest")).unwrap();
        assert_eq!(sweep_temporaries(root).unwrap(), 2);
        assert!(stage.join("0123456789abcdef").is_dir());
        assert!(root.join("latest").is_dir() && root.join(".lock").is_file());
        assert!(!stage.join(".0123456789abcdef.tmp-41-0").exists());
        assert_eq!(sweep_temporaries(root).unwrap(), 0);
    }
}
