//! `rejected_rows.csv`, written one row at a time and renamed into place at the end.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use replay_core::{atomic, ArtifactError};

use crate::{IngestError, Rejection};

/// The columns of the rejected-rows file.
const HEADER: [&str; 5] = ["line", "column", "reason", "detail", "file"];

/// A rejected-rows CSV file being written: rows go to a temporary file beside the target,
/// which [`RejectionFile::finish`] renames into place. Dropped unfinished, it removes the
/// temporary file.
pub(crate) struct RejectionFile {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<csv::Writer<BufWriter<File>>>,
}

impl RejectionFile {
    /// Start writing `path` (its directory is created if needed).
    pub fn create(path: &Path) -> Result<Self, IngestError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ArtifactError::io(dir, e))?;
        }
        let tmp = atomic::temp_path_for(path);
        let file = File::create(&tmp).map_err(|e| ArtifactError::io(&tmp, e))?;
        let mut file = RejectionFile {
            path: path.to_path_buf(),
            tmp,
            writer: Some(csv::Writer::from_writer(BufWriter::new(file))),
        };
        file.write_record(&HEADER)?;
        Ok(file)
    }

    /// Append one rejected row.
    pub fn write(&mut self, r: &Rejection) -> Result<(), IngestError> {
        let line = r.line.to_string();
        self.write_record(&[
            line.as_str(),
            r.column.as_str(),
            r.reason.as_str(),
            r.detail.as_str(),
            r.file.as_str(),
        ])
    }

    fn write_record(&mut self, fields: &[&str; 5]) -> Result<(), IngestError> {
        let writer = self.writer.as_mut().ok_or_else(|| ArtifactError::Invalid {
            path: self.path.clone(),
            message: "write after finish".into(),
        })?;
        writer
            .write_record(fields)
            .map_err(|e| ArtifactError::io(&self.tmp, e.into()).into())
    }

    /// Flush and sync the file and rename it into place.
    pub fn finish(mut self) -> Result<(), IngestError> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let result = self.close(writer);
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result
    }

    fn close(&self, writer: csv::Writer<BufWriter<File>>) -> Result<(), IngestError> {
        let io_error = |e: std::io::Error| IngestError::from(ArtifactError::io(&self.tmp, e));
        let buffered = writer
            .into_inner()
            .map_err(|e| io_error(std::io::Error::other(e.to_string())))?;
        let file = buffered.into_inner().map_err(|e| io_error(e.into_error()))?;
        file.sync_all().map_err(io_error)?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| ArtifactError::io(&self.path, e).into())
    }
}

impl Drop for RejectionFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
