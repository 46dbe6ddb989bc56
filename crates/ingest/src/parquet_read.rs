//! Parquet sources: read one batch at a time, only the mapped columns, and validated row
//! by row like CSV (row numbers from 1 in each file), batches in parallel.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, SchemaRef};
use indicatif::ProgressBar;

use crate::dialect::ValueFormat;
use crate::emit::Emitter;
use crate::ordered::map_in_order;
use crate::source::resolve;
use crate::validate::{line_prefix, Cell, Layout, RowBuilder, Target};
use crate::{IngestError, Rejection};

/// Read the Parquet file `path` into `emit`, `batch_rows` rows at a time; batches are
/// validated on rayon tasks ([`map_in_order`]).
pub(crate) fn read(
    path: &Path,
    layout: Layout<'_>,
    batch_rows: usize,
    emit: &mut Emitter<'_>,
    progress: &ProgressBar,
) -> Result<(), IngestError> {
    let file_schema = replay_parquet::schema(path)?;
    let header: Vec<String> = file_schema.fields().iter().map(|f| f.name().clone()).collect();
    let indices = resolve(path, &header, layout.columns, layout.targets)?;
    let wanted: Vec<&str> = indices.iter().flatten().map(|&i| header[i].as_str()).collect();
    let (projected, batches) = replay_parquet::batches(path, Some(&wanted), batch_rows)?;
    let positions = indices
        .iter()
        .map(|index| index.and_then(|i| projected.index_of(&header[i]).ok()))
        .collect();
    let plan = Arc::new(BatchPlan {
        path: path.to_path_buf(),
        file: path.display().to_string(),
        targets: layout.targets.to_vec(),
        schema: SchemaRef::clone(layout.schema),
        values: layout.source.values(),
        line_prefix: line_prefix(path, &layout),
        positions,
    });
    let mut rows_before = 0u64;
    let numbered = batches.map(|batch| {
        let batch = batch?;
        let first_row = rows_before + 1;
        rows_before += batch.num_rows() as u64;
        Ok((first_row, batch))
    });
    let validate = move |_, (first_row, batch)| plan.validate(first_row, &batch);
    map_in_order(numbered, validate, |result| {
        let (kept, rejections) = result?;
        for rejection in rejections {
            emit.reject(rejection)?;
        }
        emit.kept(kept)?;
        progress.set_position(emit.report.rows_read);
        Ok(())
    })
}

/// What validating a batch of one Parquet file needs.
struct BatchPlan {
    path: PathBuf,
    file: String,
    targets: Vec<Target>,
    schema: SchemaRef,
    /// How text columns write numbers and missing values.
    values: ValueFormat,
    /// What a line id starts with.
    line_prefix: String,
    /// For each target, its column in the projected batches (`None`: absent, optional).
    positions: Vec<Option<usize>>,
}

impl BatchPlan {
    /// The kept rows and the rejections of `batch`, whose first row is `first_row`.
    fn validate(
        &self,
        first_row: u64,
        batch: &RecordBatch,
    ) -> Result<(RecordBatch, Vec<Rejection>), IngestError> {
        let arrays = self.typed_columns(batch)?;
        let rows = batch.num_rows();
        let schema = SchemaRef::clone(&self.schema);
        let prefix = self.line_prefix.clone();
        let mut builder = RowBuilder::new(&self.targets, schema, self.values.clone(), prefix, rows);
        let mut rejections = Vec::new();
        let mut cells = Vec::with_capacity(arrays.len());
        for row in 0..rows {
            cells.clear();
            cells.extend(arrays.iter().map(|array| cell(array.as_deref(), row)));
            let line = first_row + row as u64;
            if let Err((target, reason, detail)) = builder.push_row(&self.targets, &cells, line) {
                rejections.push(Rejection {
                    line,
                    column: self.targets[target].source.clone(),
                    reason,
                    detail,
                    file: self.file.clone(),
                });
            }
        }
        Ok((builder.finish(), rejections))
    }

    /// Each target's column of `batch`, cast for validation (`None`: absent, optional).
    fn typed_columns(&self, batch: &RecordBatch) -> Result<Vec<Option<ArrayRef>>, IngestError> {
        let schema = batch.schema();
        self.targets
            .iter()
            .zip(&self.positions)
            .map(|(target, position)| match position {
                None => Ok(None),
                Some(i) => {
                    let name = schema.field(*i).name();
                    typed_column(&self.path, name, batch.column(*i), target.is_numeric()).map(Some)
                }
            })
            .collect()
    }
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
