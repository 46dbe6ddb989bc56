//! Reading and writing Parquet and JSON artifacts, with errors that name the file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
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
        /// The underlying error.
        source: parquet::errors::ParquetError,
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
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn parquet(path: &Path, source: impl Into<parquet::errors::ParquetError>) -> Self {
        Self::Parquet {
            path: path.to_path_buf(),
            source: source.into(),
        }
    }
}

/// Write record batches to a Snappy-compressed Parquet file, atomically.
pub fn write_parquet(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<(), ArtifactError> {
    atomic::write_with(path, |out| {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let mut writer = ArrowWriter::try_new(out, Arc::clone(&schema), Some(props))
            .map_err(|e| ArtifactError::parquet(path, e))?;
        for batch in batches {
            writer.write(batch).map_err(|e| ArtifactError::parquet(path, e))?;
        }
        writer.close().map_err(|e| ArtifactError::parquet(path, e))?;
        Ok(())
    })
}

/// Open a Parquet file and read its metadata.
fn parquet_reader(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, ArtifactError> {
    let file = File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| ArtifactError::parquet(path, e))
}

/// The Arrow schema of a Parquet file, from its metadata only.
pub fn read_parquet_schema(path: &Path) -> Result<SchemaRef, ArtifactError> {
    Ok(Arc::clone(parquet_reader(path)?.schema()))
}

/// Read a whole Parquet file into record batches.
pub fn read_parquet(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>), ArtifactError> {
    let builder = parquet_reader(path)?;
    let schema = Arc::clone(builder.schema());
    let reader = builder
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| ArtifactError::parquet(path, e))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ArtifactError::parquet(path, e))?;
    Ok((schema, batches))
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
    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn parquet_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("x", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(Float64Array::from(vec![Some(1.5), None])),
            ],
        )
        .unwrap();
        write_parquet(&path, Arc::clone(&schema), std::slice::from_ref(&batch)).unwrap();
        let (read_schema, batches) = read_parquet(&path).unwrap();
        assert_eq!(read_schema.fields(), schema.fields());
        assert_eq!(batches, vec![batch]);
    }

    #[test]
    fn truncated_parquet_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        std::fs::write(&path, b"PAR1 not really").unwrap();
        let err = read_parquet(&path).unwrap_err().to_string();
        assert!(err.contains("t.parquet") && err.contains("Parquet"), "{err}");
    }
}
