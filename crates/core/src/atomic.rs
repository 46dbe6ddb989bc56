//! Atomic file writes: write to a temporary file beside the target, then rename.
//!
//! A reader never sees a half-written artifact: either the old file (or none) or the
//! complete new one. On error the temporary file is removed.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ArtifactError;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary path in the same directory as `target`, unique within this process:
/// `.<name>.tmp-<pid>-<n>` (see [`is_temp_name`]).
pub fn temp_path_for(target: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}{TEMP_MARK}{}-{n}", std::process::id()))
}

/// What every [`temp_path_for`] name holds after the target's name.
const TEMP_MARK: &str = ".tmp-";

/// Whether a file name is one [`temp_path_for`] makes: a hidden name holding `.tmp-`.
/// One left behind belongs to a process that was killed before it renamed it.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(TEMP_MARK)
}

/// Write `target` atomically: `write` fills a buffered temporary file, which is flushed,
/// synced and renamed over `target` only if `write` succeeds.
pub fn write_with<E, F>(target: &Path, write: F) -> Result<(), E>
where
    E: From<ArtifactError>,
    F: FnOnce(&mut BufWriter<File>) -> Result<(), E>,
{
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| ArtifactError::io(dir, e))?;
    }
    let tmp = temp_path_for(target);
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| ArtifactError::io(&tmp, e))?;
        let mut out = BufWriter::new(file);
        write(&mut out)?;
        let file = out
            .into_inner()
            .map_err(|e| ArtifactError::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| ArtifactError::io(&tmp, e))?;
        fs::rename(&tmp, target).map_err(|e| ArtifactError::io(target, e))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Write `bytes` to `target` atomically.
pub fn write_bytes(target: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    write_with(target, |out| {
        out.write_all(bytes).map_err(|e| ArtifactError::io(target, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_no_file_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.txt");
        write_bytes(&target, b"old").unwrap();
        let result: Result<(), ArtifactError> = write_with(&target, |out| {
            out.write_all(b"partial").unwrap();
            Err(ArtifactError::Invalid {
                path: target.clone(),
                message: "boom".into(),
            })
        });
        assert!(result.is_err());
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temporary file left behind"
        );
    }
}
