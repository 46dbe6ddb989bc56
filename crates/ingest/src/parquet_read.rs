//! Parquet sources: read one batch at a time, only the mapped columns, and validated row
//! by row like CSV (row numbers from 1 in each file).

use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, SchemaRef};
use indicatif::ProgressBar;
use replay_core::io;

use crate::emit::Emitter;
use crate::source::resolve;
use crate::validate::{Cell, RowBuilder, Target};
use crate::{ColumnMap, IngestError, Rejection};

/// Read the Parquet file `path` into `emit`, `batch_rows` rows at a time.
pub(crate) fn read(
    path: &Path,
    columns: &ColumnMap,
    targets: &[Target],
    schema: &SchemaRef,
    batch_rows: usize,
    emit: &mut Emitter<'_>,
    progress: &ProgressBar,
) -> Result<(), IngestError> {
    let file_schema = io::read_parquet_schema(path)?;
    let header: Vec<String> = file_schema.fields().iter().map(|f| f.name().clone()).collect();
    let indices = resolve(path, &header, columns, targets)?;
    let wanted: Vec<&str> = indices.iter().flatten().map(|&i| header[i].as_str()).collect();
    let (projected, batches) = io::parquet_batches(path, Some(&wanted), batch_rows)?;
    let positions: Vec<Option<usize>> = indices
        .iter()
        .map(|index| index.and_then(|i| projected.index_of(&header[i]).ok()))
        .collect();
    let file = path.display().to_string();
    let mut rows_before = 0u64;
    for batch in batches {
        let batch = batch?;
        let typed = typed_columns(path, targets, &positions, &batch)?;
        let first_row = rows_before + 1;
        rows_before += batch.num_rows() as u64;
        validate_batch(&file, targets, schema, &typed, batch.num_rows(), first_row, emit)?;
        progress.set_position(emit.report.rows_read);
    }
    Ok(())
}

/// Each target's column of `batch`, cast for validation (`None`: absent, optional).
fn typed_columns(
    path: &Path,
    targets: &[Target],
    positions: &[Option<usize>],
    batch: &RecordBatch,
) -> Result<Vec<Option<ArrayRef>>, IngestError> {
    let schema = batch.schema();
    targets
        .iter()
        .zip(positions)
        .map(|(target, position)| match position {
            None => Ok(None),
            Some(i) => {
                let name = schema.field(*i).name();
                typed_column(path, name, batch.column(*i), target.is_numeric()).map(Some)
            }
        })
        .collect()
}

/// Validate the `rows` rows of `arrays` (row `first_row` onwards) into `emit`.
fn validate_batch(
    file: &str,
    targets: &[Target],
    schema: &SchemaRef,
    arrays: &[Option<ArrayRef>],
    rows: usize,
    first_row: u64,
    emit: &mut Emitter<'_>,
) -> Result<(), IngestError> {
    let mut builder = RowBuilder::new(targets, SchemaRef::clone(schema), rows);
    let mut rejections = Vec::new();
    let mut cells = Vec::with_capacity(arrays.len());
    for row in 0..rows {
        cells.clear();
        cells.extend(arrays.iter().map(|array| cell(array.as_deref(), row)));
        if let Err((target, reason, detail)) = builder.push_row(targets, &cells) {
            rejections.push(Rejection {
                line: first_row + row as u64,
                column: targets[target].source.clone(),
                reason,
                detail,
                file: file.to_string(),
            });
        }
    }
    for rejection in rejections {
        emit.reject(rejection)?;
    }
    emit.kept(builder.finish())
}

/// The cell of `row` in a column cast by [`typed_column`].
fn cell(array: Option<&dyn Array>, row: usize) -> Cell<'_> {
    match array {
        None => Cell::Null,
        Some(a) if a.is_null(row) => Cell::Null,
        Some(a) => match a.data_type() {
            DataType::Float64 => Cell::Number(a.as_primitive::<Float64Type>().value(row)),
            _ => Cell::Text(a.as_string::<i32>().value(row)),
        },
    }
}

/// Cast a Parquet column to Float64 (numbers and booleans for a numeric role) or to Utf8
/// (everything else; text in a numeric role is then parsed and rejected row by row).
fn typed_column(path: &Path, name: &str, array: &dyn Array, numeric: bool) -> Result<ArrayRef, IngestError> {
    let data_type = array.data_type();
    let target = if numeric && (data_type.is_numeric() || *data_type == DataType::Boolean) {
        DataType::Float64
    } else {
        DataType::Utf8
    };
    cast(array, &target).map_err(|_| IngestError::ColumnType {
        path: path.into(),
        column: name.into(),
        found: data_type.to_string(),
        expected: if numeric { "numbers or text" } else { "text" },
    })
}
