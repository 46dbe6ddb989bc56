//! Reading train/test Parquet back into the matrices models need.

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::Float64Type;
use ndarray::{Array1, Array2};
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
    /// Inputs, rows x features.
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
        Ok(FeatureMatrix {
            ids: ids.iter().map(|s| s.unwrap_or_default().to_string()).collect(),
            names: feature_fields.iter().map(|f| f.name().clone()).collect(),
            x,
            y: labels.iter().map(|l| l.unwrap_or(false)).collect(),
        })
    }
}
