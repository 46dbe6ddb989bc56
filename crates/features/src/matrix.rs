//! Reading train/test Parquet back into the matrices models need.

use std::path::Path;

use arrow::array::{Array, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, FieldRef, Float64Type, Schema};
use ndarray::{s, Array1, Array2};
use replay_core::schema::ModelFamily;
use replay_core::{schema, ArtifactError};

use crate::spec::column;
use crate::FeatureError;

/// Labelled model inputs: one row per track.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    /// Track ids, in row order (empty when read with [`Ids::Skip`]).
    pub ids: Vec<String>,
    /// Input names, in column order.
    pub names: Vec<String>,
    /// The model families that read each input (from the Parquet field metadata
    /// [`schema::USED_BY_METADATA`]; both families when a field has none).
    pub used_by: Vec<Vec<ModelFamily>>,
    /// Inputs, rows x features (every input, whatever its family).
    pub x: Array2<f64>,
    /// Labels (`replayed`).
    pub y: Array1<bool>,
}

/// Whether [`FeatureMatrix::read_columns`] reads the track ids (training needs none: at
/// 13.6M rows they would take about 0.7 GB as `String`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// Read the ids into [`FeatureMatrix::ids`].
    Read,
    /// Leave [`FeatureMatrix::ids`] empty.
    Skip,
}

/// The model inputs of a train or test file and the families that read them, from the
/// file's metadata only.
#[derive(Debug, Clone, PartialEq)]
pub struct InputColumns {
    /// Input names, in column order.
    pub names: Vec<String>,
    /// The model families that read each input (see [`FeatureMatrix::used_by`]).
    pub used_by: Vec<Vec<ModelFamily>>,
}

impl InputColumns {
    /// The inputs of a train or test Parquet file written by the feature stage.
    pub fn read(path: &Path) -> Result<Self, FeatureError> {
        let schema = replay_parquet::schema(path)?;
        Ok(Self::of_schema(&schema))
    }

    /// The inputs of a schema in the layout of [`crate::FeatureSpec::apply`]: every field
    /// but the [`schema::RECORD_COLUMNS`].
    fn of_schema(schema: &Schema) -> Self {
        let fields: Vec<&FieldRef> = schema
            .fields()
            .iter()
            .filter(|f| !schema::RECORD_COLUMNS.contains(&f.name().as_str()))
            .collect();
        InputColumns {
            names: fields.iter().map(|f| f.name().clone()).collect(),
            used_by: fields.iter().map(|f| used_by(f)).collect(),
        }
    }

    /// Names of the inputs read by models of `family`, in column order.
    pub fn names_for(&self, family: ModelFamily) -> Vec<String> {
        names_used_by(&self.names, &self.used_by, family)
    }

    /// Families of the input `name`; an unknown name is an error.
    fn families(&self, name: &str) -> Result<Vec<ModelFamily>, FeatureError> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|k| self.used_by[k].clone())
            .ok_or_else(|| FeatureError::UnknownFeature(name.to_string()))
    }
}

/// The `names` whose families (`used_by`, one list per name) include `family`, in order.
fn names_used_by(names: &[String], used_by: &[Vec<ModelFamily>], family: ModelFamily) -> Vec<String> {
    names
        .iter()
        .zip(used_by)
        .filter(|(_, used_by)| used_by.contains(&family))
        .map(|(name, _)| name.clone())
        .collect()
}

/// The families of a field, from its [`schema::USED_BY_METADATA`] (both when absent).
fn used_by(field: &Field) -> Vec<ModelFamily> {
    match field.metadata().get(schema::USED_BY_METADATA) {
        Some(text) => text.split(',').filter_map(ModelFamily::from_name).collect(),
        None => ModelFamily::ALL.to_vec(),
    }
}

/// Rows read at a time by [`FeatureMatrix::read_columns`].
const READ_BATCH_ROWS: usize = 64 * 1024;

impl FeatureMatrix {
    /// Read a train or test Parquet file written by the feature stage: ids, labels and
    /// every input.
    pub fn read(path: &Path) -> Result<Self, FeatureError> {
        let inputs = InputColumns::read(path)?;
        Self::read_columns(path, &inputs.names, Ids::Read)
    }

    /// Read the labels, the inputs called `names` (in that order: `x` is rows x names) and,
    /// with [`Ids::Read`], the ids of a train or test Parquet file, batch by batch straight
    /// into one matrix: only those columns are read, and no other copy of them is made.
    /// An unknown name is an error ([`FeatureError::UnknownFeature`]).
    pub fn read_columns(path: &Path, names: &[String], ids: Ids) -> Result<Self, FeatureError> {
        let inputs = InputColumns::read(path)?;
        let used_by = names
            .iter()
            .map(|n| inputs.families(n))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = replay_parquet::rows(path)?;
        let mut projection: Vec<&str> = vec![schema::LABEL];
        if ids == Ids::Read {
            projection.push(schema::ID);
        }
        projection.extend(names.iter().map(String::as_str));
        let (_, batches) = replay_parquet::batches(path, Some(&projection), READ_BATCH_ROWS)?;
        let mut matrix = FeatureMatrix {
            ids: Vec::with_capacity(if ids == Ids::Read { rows } else { 0 }),
            names: names.to_vec(),
            used_by,
            x: Array2::zeros((rows, names.len())),
            y: Array1::from_elem(rows, false),
        };
        let mut first = 0;
        for batch in batches {
            let batch = batch?;
            let end = first + batch.num_rows();
            if end > rows {
                return Err(row_count_mismatch(path, rows).into());
            }
            matrix.fill(&batch, first, ids)?;
            first = end;
        }
        if first != rows {
            return Err(row_count_mismatch(path, rows).into());
        }
        Ok(matrix)
    }

    /// Copy the rows of `batch` (labels, inputs and maybe ids) into rows `first..`.
    fn fill(&mut self, batch: &RecordBatch, first: usize, ids: Ids) -> Result<(), FeatureError> {
        let rows = first..first + batch.num_rows();
        let labels = label_column(batch)?;
        if let Some(row) = (0..labels.len()).find(|&i| labels.is_null(i)) {
            return Err(FeatureError::MissingPopularity { row: first + row });
        }
        let y = self.y.slice_mut(s![rows.clone()]);
        for (cell, label) in y.into_iter().zip(labels.values().iter()) {
            *cell = label;
        }
        if ids == Ids::Read {
            let column = id_column(batch)?;
            self.ids
                .extend(column.iter().map(|s| s.unwrap_or_default().to_string()));
        }
        for (j, name) in self.names.iter().enumerate() {
            let values = feature_column(batch, name)?;
            let x = self.x.slice_mut(s![rows.clone(), j]);
            for (cell, v) in x.into_iter().zip(values.values().iter()) {
                *cell = *v;
            }
        }
        Ok(())
    }

    /// Convert a batch in the layout of [`crate::FeatureSpec::apply`]; every label must be present.
    pub fn from_batch(batch: &RecordBatch) -> Result<Self, FeatureError> {
        let ids = id_column(batch)?;
        let labels = label_column(batch)?;
        if let Some(row) = (0..labels.len()).find(|&i| labels.is_null(i)) {
            return Err(FeatureError::MissingPopularity { row });
        }
        let schema = batch.schema();
        let inputs = InputColumns::of_schema(&schema);
        let mut x = Array2::zeros((batch.num_rows(), inputs.names.len()));
        for (j, name) in inputs.names.iter().enumerate() {
            let values = feature_column(batch, name)?;
            for (cell, v) in x.column_mut(j).iter_mut().zip(values.values().iter()) {
                *cell = *v;
            }
        }
        Ok(FeatureMatrix {
            ids: ids.iter().map(|s| s.unwrap_or_default().to_string()).collect(),
            names: inputs.names,
            used_by: inputs.used_by,
            x,
            y: labels.iter().map(|l| l.unwrap_or(false)).collect(),
        })
    }

    /// Names of the inputs read by models of `family`, in column order.
    pub fn names_for(&self, family: ModelFamily) -> Vec<String> {
        names_used_by(&self.names, &self.used_by, family)
    }

    /// The columns called `names`, in that order (rows x names); an unknown name is an error.
    pub fn select(&self, names: &[String]) -> Result<Array2<f64>, FeatureError> {
        let mut x = Array2::zeros((self.x.nrows(), names.len()));
        for (j, name) in names.iter().enumerate() {
            let k = self
                .names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| FeatureError::UnknownFeature(name.clone()))?;
            x.column_mut(j).assign(&self.x.column(k));
        }
        Ok(x)
    }
}

/// The Utf8 id column of a batch.
fn id_column(batch: &RecordBatch) -> Result<&StringArray, FeatureError> {
    column(batch, schema::ID)?
        .as_string_opt::<i32>()
        .ok_or_else(|| FeatureError::ColumnType {
            column: schema::ID.to_string(),
            expected: "Utf8",
        })
}

/// The Boolean label column of a batch.
fn label_column(batch: &RecordBatch) -> Result<&BooleanArray, FeatureError> {
    column(batch, schema::LABEL)?
        .as_boolean_opt()
        .ok_or_else(|| FeatureError::ColumnType {
            column: schema::LABEL.to_string(),
            expected: "Boolean",
        })
}

/// The Float64 input column `name` of a batch.
fn feature_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Float64Array, FeatureError> {
    column(batch, name)?
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| FeatureError::ColumnType {
            column: name.to_string(),
            expected: "Float64",
        })
}

/// The file's batches do not add up to the row count of its metadata.
fn row_count_mismatch(path: &Path, rows: usize) -> ArtifactError {
    ArtifactError::Invalid {
        path: path.to_path_buf(),
        message: format!("the row groups do not add up to the {rows} rows of the metadata"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array};
    use arrow::datatypes::DataType;

    use super::*;

    fn batch(fields: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let schema = Schema::new(
            fields
                .iter()
                .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(Arc::new(schema), fields.into_iter().map(|(_, a)| a).collect()).unwrap()
    }

    #[test]
    fn columns_are_found_by_name_wherever_they_are() {
        let b = batch(vec![
            ("energy", Arc::new(Float64Array::from(vec![0.5, 0.7]))),
            (schema::LABEL, Arc::new(BooleanArray::from(vec![true, false]))),
            ("tempo", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
            (schema::ID, Arc::new(StringArray::from(vec!["a", "b"]))),
            (schema::POPULARITY, Arc::new(Float64Array::from(vec![60.0, 10.0]))),
        ]);
        let m = FeatureMatrix::from_batch(&b).unwrap();
        assert_eq!(m.names, ["energy", "tempo"]);
        assert_eq!(m.ids, ["a", "b"]);
        assert_eq!(m.x, ndarray::array![[0.5, 1.0], [0.7, 2.0]]);
        assert_eq!(m.y, ndarray::array![true, false]);
    }

    #[test]
    fn a_mistyped_input_is_named_in_the_error() {
        let b = batch(vec![
            (schema::ID, Arc::new(StringArray::from(vec!["a"]))),
            (schema::LABEL, Arc::new(BooleanArray::from(vec![true]))),
            ("tempo", Arc::new(Int64Array::from(vec![120]))),
        ]);
        assert_eq!(b.schema().field(2).data_type(), &DataType::Int64);
        match FeatureMatrix::from_batch(&b) {
            Err(e @ FeatureError::ColumnType { .. }) => {
                assert_eq!(e.to_string(), "column 'tempo' must be Float64");
            }
            other => panic!("{other:?}"),
        }
    }
}
