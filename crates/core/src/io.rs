//! Errors that name the artifact file, and reading and writing JSON artifacts. Parquet
//! artifacts are read and written by the `replay-parquet` crate, so that this crate needs
//! neither Arrow nor Parquet.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::atomic;

/// An artifact could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The Parquet file is unreadable or could not be written.
    #[error("{path}: not a readable Parquet file: {source}")]
    Parquet {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error (a `parquet::errors::ParquetError`).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The JSON file is malformed or does not have the expected shape.
    #[error("{path}: {source}")]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error (it names line and column).
        source: serde_json::Error,
    },
    /// The file is readable but its content is not what was expected.
    #[error("{path}: {message}")]
    Invalid {
        /// The file concerned.
        path: PathBuf,
        /// What was expected.
        message: String,
    },
}

impl ArtifactError {
    /// The file concerned.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::Parquet { path, .. }
            | Self::Json { path, .. }
            | Self::Invalid { path, .. } => path,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A Parquet error on `path`.
    pub fn parquet(path: &Path, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Parquet {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    }
}

/// Write a value as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ArtifactError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| ArtifactError::Json {
        path: path.into(),
        source: e,
    })?;
    bytes.push(b'\n');
    atomic::write_bytes(path, &bytes)
}

/// Read a JSON file into a value.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ArtifactError> {
    let bytes = std::fs::read(path).map_err(|e| ArtifactError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| ArtifactError::Json {
        path: path.into(),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_malformed_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.json");
        write_json(&path, &vec![1.5, 2.0]).unwrap();
        assert_eq!(read_json::<Vec<f64>>(&path).unwrap(), vec![1.5, 2.0]);
        std::fs::write(&path, b"[1.5,").unwrap();
        let err = read_json::<Vec<f64>>(&path).unwrap_err().to_string();
        assert!(err.contains("v.json") && err.contains("line 1"), "{err}");
    }
}
