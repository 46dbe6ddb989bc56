//! Reading train/test Parquet back into the matrices models need.

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::Float64Type;
use ndarray::{Array1, Array2};
use replay_core::schema::ModelFamily;
use replay_core::{io, schema};

use crate::spec::column;
use crate::FeatureError;

/// Labelled model inputs: one row per track.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    /// Track ids, in row order.
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

impl FeatureMatrix {
    /// Read a train or test Parquet file written by the feature stage.
    pub fn read(path: &Path) -> Result<Self, FeatureError> {
        let (schema, batches) = io::read_parquet(path)?;
        Self::from_batch(&concat_batches(&schema, &batches)?)
    }

    /// Convert a batch in the layout of [`crate::FeatureSpec::apply`]; every label must be present.
    pub fn from_batch(batch: &RecordBatch) -> Result<Self, FeatureError> {
        let ids = column(batch, schema::ID)?
            .as_string_opt::<i32>()
            .ok_or(FeatureError::ColumnType {
                column: schema::ID,
                expected: "Utf8",
            })?;
        let labels = column(batch, schema::LABEL)?
            .as_boolean_opt()
            .ok_or(FeatureError::ColumnType {
                column: schema::LABEL,
                expected: "Boolean",
            })?;
        if let Some(row) = (0..labels.len()).find(|&i| labels.is_null(i)) {
            return Err(FeatureError::MissingPopularity { row });
        }
        let schema = batch.schema();
        let feature_fields: Vec<_> = schema.fields().iter().skip(3).collect();
        let mut x = Array2::zeros((batch.num_rows(), feature_fields.len()));
        for (j, field) in feature_fields.iter().enumerate() {
            let values = column(batch, field.name())?
                .as_primitive_opt::<Float64Type>()
                .ok_or(FeatureError::ColumnType {
                    column: "feature",
                    expected: "Float64",
                })?;
            for (cell, v) in x.column_mut(j).iter_mut().zip(values.values().iter()) {
                *cell = *v;
            }
        }
        let used_by = feature_fields
            .iter()
            .map(|f| match f.metadata().get(schema::USED_BY_METADATA) {
                Some(text) => text.split(',').filter_map(ModelFamily::from_name).collect(),
                None => ModelFamily::ALL.to_vec(),
            })
            .collect();
        Ok(FeatureMatrix {
            ids: ids.iter().map(|s| s.unwrap_or_default().to_string()).collect(),
            names: feature_fields.iter().map(|f| f.name().clone()).collect(),
            used_by,
            x,
            y: labels.iter().map(|l| l.unwrap_or(false)).collect(),
        })
    }

    /// Names of the inputs read by models of `family`, in column order.
    pub fn names_for(&self, family: ModelFamily) -> Vec<String> {
        self.names
            .iter()
            .zip(&self.used_by)
            .filter(|(_, used_by)| used_by.contains(&family))
            .map(|(name, _)| name.clone())
            .collect()
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
