//! Parquet artifacts of the replay pipeline: record batches written atomically (whole, or
//! one batch at a time through a [`Sink`]) and read back whole, in batches or by column,
//! with errors that name the file ([`ArtifactError`]).
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Float64Array, RecordBatch};
//! use arrow::datatypes::{DataType, Field, Schema};
//! let schema = Arc::new(Schema::new(vec![Field::new("energy", DataType::Float64, false)]));
//! let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Float64Array::from(vec![0.5, 0.7]))])?;
//! let path = std::env::temp_dir().join(format!("replay-doc-{}.parquet", std::process::id()));
//! replay_parquet::write(&path, schema, &[batch.clone()])?;
//! assert_eq!(replay_parquet::rows(&path)?, 2);
//! assert_eq!(replay_parquet::read(&path)?.1, vec![batch]);
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use replay_core::ArtifactError;

/// Write record batches to a Snappy-compressed Parquet file, atomically.
pub fn write(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<(), ArtifactError> {
    let mut sink = Sink::create(path, schema)?;
    for batch in batches {
        sink.write(batch)?;
    }
    sink.finish()
}

/// A Parquet file written one record batch at a time, so a stage never has to hold all
/// its rows: batches go to a temporary file beside `path`, which [`Sink::finish`]
/// renames into place. Dropped without `finish` (an error upstream), it removes the
/// temporary file, so no half-written artifact is ever visible.
pub struct Sink {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<ArrowWriter<std::io::BufWriter<File>>>,
    rows: usize,
}

impl Sink {
    /// Start writing a Snappy-compressed Parquet file of `schema` at `path`.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self, ArtifactError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ArtifactError::io(dir, e))?;
        }
        let tmp = replay_core::atomic::temp_path_for(path);
        let file = File::create(&tmp).map_err(|e| ArtifactError::io(&tmp, e))?;
        // Row groups of 128k rows bound what the writer buffers; dictionaries cost time
        // and memory on columns of mostly distinct values (ids, measurements), and Snappy
        // already shrinks the repeated text of the others.
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(128 * 1024))
            .set_dictionary_enabled(false)
            .build();
        let writer = ArrowWriter::try_new(std::io::BufWriter::new(file), schema, Some(props))
            .map_err(|e| ArtifactError::parquet(path, e))?;
        Ok(Sink {
            path: path.to_path_buf(),
            tmp,
            writer: Some(writer),
            rows: 0,
        })
    }

    /// Append one batch (its schema must be the sink's).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArtifactError> {
        let writer = self.writer.as_mut().ok_or_else(|| ArtifactError::Invalid {
            path: self.path.clone(),
            message: "write after finish".into(),
        })?;
        writer
            .write(batch)
            .map_err(|e| ArtifactError::parquet(&self.path, e))?;
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Close the file, sync it and rename it into place.
    pub fn finish(mut self) -> Result<(), ArtifactError> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let out = writer
            .into_inner()
            .map_err(|e| ArtifactError::parquet(&self.path, e))?;
        let file = out
            .into_inner()
            .map_err(|e| ArtifactError::io(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| ArtifactError::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| ArtifactError::io(&self.path, e))
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The record batches of a Parquet file, read one at a time (`batch_rows` rows each), and
/// only the columns named in `columns` (all when `None`), in the file's order.
pub fn batches(
    path: &Path,
    columns: Option<&[&str]>,
    batch_rows: usize,
) -> Result<
    (
        SchemaRef,
        impl Iterator<Item = Result<RecordBatch, ArtifactError>>,
    ),
    ArtifactError,
> {
    let builder = reader(path)?;
    let builder = match columns {
        Some(names) => {
            let parquet_schema = builder.parquet_schema();
            let arrow_schema = builder.schema();
            let mut roots = Vec::with_capacity(names.len());
            for name in names {
                let index = arrow_schema.index_of(name).map_err(|_| ArtifactError::Invalid {
                    path: path.into(),
                    message: format!("no column '{name}'"),
                })?;
                roots.push(index);
            }
            let mask = parquet::arrow::ProjectionMask::roots(parquet_schema, roots);
            builder.with_projection(mask)
        }
        None => builder,
    };
    let schema = Arc::clone(builder.schema());
    let reader = builder
        .with_batch_size(batch_rows.max(1))
        .build()
        .map_err(|e| ArtifactError::parquet(path, e))?;
    let path = path.to_path_buf();
    let schema = match columns {
        Some(names) => {
            let fields: Vec<_> = schema
                .fields()
                .iter()
                .filter(|f| names.contains(&f.name().as_str()))
                .cloned()
                .collect();
            Arc::new(arrow::datatypes::Schema::new_with_metadata(
                fields,
                schema.metadata().clone(),
            ))
        }
        None => schema,
    };
    Ok((
        schema,
        reader.map(move |b| b.map_err(|e| ArtifactError::parquet(&path, e))),
    ))
}

/// Open a Parquet file and read its metadata.
fn reader(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, ArtifactError> {
    let file = File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| ArtifactError::parquet(path, e))
}

/// The Arrow schema of a Parquet file, from its metadata only.
pub fn schema(path: &Path) -> Result<SchemaRef, ArtifactError> {
    Ok(Arc::clone(reader(path)?.schema()))
}

/// The number of rows of a Parquet file, from its metadata only.
pub fn rows(path: &Path) -> Result<usize, ArtifactError> {
    let rows = reader(path)?.metadata().file_metadata().num_rows();
    Ok(usize::try_from(rows).unwrap_or(0))
}

/// Read a whole Parquet file into record batches.
pub fn read(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>), ArtifactError> {
    let builder = reader(path)?;
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
        write(&path, Arc::clone(&schema), std::slice::from_ref(&batch)).unwrap();
        let (read_schema, batches) = read(&path).unwrap();
        assert_eq!(read_schema.fields(), schema.fields());
        assert_eq!(batches, vec![batch]);
    }

    #[test]
    fn sink_streams_batches_and_leaves_nothing_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, false)]));
        let batch = |v: Vec<f64>| {
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Float64Array::from(v))]).unwrap()
        };
        let path = dir.path().join("s.parquet");
        let mut sink = Sink::create(&path, Arc::clone(&schema)).unwrap();
        sink.write(&batch(vec![1.0, 2.0])).unwrap();
        sink.write(&batch(vec![3.0])).unwrap();
        assert_eq!(sink.rows(), 3);
        sink.finish().unwrap();
        let (_, read) = batches(&path, Some(&["x"]), 2).unwrap();
        let values: Vec<f64> = read
            .map(|b| b.unwrap())
            .flat_map(|b| {
                let c = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .unwrap()
                    .clone();
                c.values().to_vec()
            })
            .collect();
        assert_eq!(values, vec![1.0, 2.0, 3.0]);

        let dropped = dir.path().join("d.parquet");
        let mut sink = Sink::create(&dropped, Arc::clone(&schema)).unwrap();
        sink.write(&batch(vec![1.0])).unwrap();
        drop(sink);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("s.parquet")]);
        assert!(batches(&path, Some(&["nope"]), 2).is_err());
    }

    #[test]
    fn truncated_parquet_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        std::fs::write(&path, b"PAR1 not really").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("t.parquet") && err.contains("Parquet"), "{err}");
    }
}
