//! The feature spec: every fitted transformation from ingested tracks to model inputs.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use ndarray::Array2;
use replay_core::schema;
use serde::{Deserialize, Serialize};

use crate::{FeatureError, FeaturesConfig};

/// Format version of [`FeatureSpec`] files.
pub const SPEC_FORMAT: u32 = 1;

/// Where a model input's raw value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureSource {
    /// A numeric column of the ingested tracks.
    Column {
        /// The column name.
        column: String,
    },
    /// The year of the release date (`YYYY[-MM[-DD]]`).
    ReleaseYear,
}

/// One model input: its raw source, the value that replaces a missing one, and the
/// affine scaling `(raw - center) / scale`, all fitted on the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureColumn {
    /// Name of the input (column name in train/test Parquet).
    pub name: String,
    /// Where the raw value comes from.
    pub source: FeatureSource,
    /// Median of the training values, used for missing values.
    pub impute: f64,
    /// Subtracted from the raw value (training mean, or 0 without standardization).
    pub center: f64,
    /// Divides the centred value (training standard deviation, or 1).
    pub scale: f64,
}

/// Every fitted transformation of the feature stage, saved as JSON so that scoring new
/// songs reproduces training exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// File format version ([`SPEC_FORMAT`]).
    pub format_version: u32,
    /// Popularity at or above which a track counts as replayed.
    pub label_threshold: f64,
    /// The model inputs, in column order.
    pub features: Vec<FeatureColumn>,
}

impl FeatureSpec {
    /// Fit imputation and scaling on the (training) tracks in `train`.
    pub fn fit(train: &RecordBatch, config: &FeaturesConfig) -> Result<Self, FeatureError> {
        let schema = train.schema();
        let mut sources: Vec<(String, FeatureSource)> = schema
            .fields()
            .iter()
            .filter(|f| f.data_type() == &DataType::Float64 && f.name() != schema::POPULARITY)
            .map(|f| {
                (
                    f.name().clone(),
                    FeatureSource::Column {
                        column: f.name().clone(),
                    },
                )
            })
            .collect();
        let has_year = sources.iter().any(|(name, _)| name == schema::YEAR);
        if config.features.derive_year && !has_year && schema.field_with_name(schema::RELEASE_DATE).is_ok() {
            sources.push((schema::YEAR.to_string(), FeatureSource::ReleaseYear));
        }
        if sources.is_empty() {
            return Err(FeatureError::NoFeatures);
        }
        let features = sources
            .into_iter()
            .map(|(name, source)| {
                let raw = raw_values(train, &source)?;
                let impute = median(&raw);
                let values: Vec<f64> = raw.iter().map(|v| v.unwrap_or(impute)).collect();
                let (center, scale) = if config.features.standardize {
                    mean_std(&values)
                } else {
                    (0.0, 1.0)
                };
                Ok(FeatureColumn {
                    name,
                    source,
                    impute,
                    center,
                    scale,
                })
            })
            .collect::<Result<_, FeatureError>>()?;
        Ok(FeatureSpec {
            format_version: SPEC_FORMAT,
            label_threshold: config.label.threshold,
            features,
        })
    }

    /// Input names, in column order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| f.name.as_str())
    }

    /// Model inputs (rows x features) of ingested tracks.
    pub fn transform(&self, tracks: &RecordBatch) -> Result<Array2<f64>, FeatureError> {
        let mut x = Array2::zeros((tracks.num_rows(), self.features.len()));
        for (j, feature) in self.features.iter().enumerate() {
            let raw = raw_values(tracks, &feature.source)?;
            for (cell, v) in x.column_mut(j).iter_mut().zip(raw) {
                *cell = (v.unwrap_or(feature.impute) - feature.center) / feature.scale;
            }
        }
        Ok(x)
    }

    /// Ingested tracks as id, popularity, label (null without popularity) and the model inputs.
    pub fn apply(&self, tracks: &RecordBatch) -> Result<RecordBatch, FeatureError> {
        let x = self.transform(tracks)?;
        let popularity = crate::popularity(tracks)?;
        let label: BooleanArray = popularity
            .iter()
            .map(|&p| (!p.is_nan()).then_some(p >= self.label_threshold))
            .collect();
        let mut fields = vec![
            Field::new(schema::ID, DataType::Utf8, false),
            Field::new(schema::POPULARITY, DataType::Float64, true),
            Field::new(schema::LABEL, DataType::Boolean, true),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::clone(column(tracks, schema::ID)?),
            Arc::clone(column(tracks, schema::POPULARITY)?),
            Arc::new(label),
        ];
        for (j, feature) in self.features.iter().enumerate() {
            fields.push(Field::new(&feature.name, DataType::Float64, false));
            columns.push(Arc::new(Float64Array::from(x.column(j).to_vec())));
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
    }
}

/// The column `name` of `batch`.
pub(crate) fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, FeatureError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| FeatureError::MissingColumn(name.to_string()))
}

/// Labels `popularity >= threshold`; every row must have a popularity.
pub(crate) fn labels(tracks: &RecordBatch, threshold: f64) -> Result<Vec<bool>, FeatureError> {
    crate::popularity(tracks)?
        .into_iter()
        .enumerate()
        .map(|(row, p)| {
            if p.is_nan() {
                Err(FeatureError::MissingPopularity { row })
            } else {
                Ok(p >= threshold)
            }
        })
        .collect()
}

/// Raw values of one source; missing values are `None`.
fn raw_values(tracks: &RecordBatch, source: &FeatureSource) -> Result<Vec<Option<f64>>, FeatureError> {
    match source {
        FeatureSource::Column { column: name } => {
            let array = column(tracks, name)?;
            let values = array.as_primitive_opt::<Float64Type>().ok_or_else(|| {
                FeatureError::MissingColumn(format!("{name} (as Float64; found {})", array.data_type()))
            })?;
            Ok(values.iter().collect())
        }
        FeatureSource::ReleaseYear => {
            let array = column(tracks, schema::RELEASE_DATE)?;
            let dates = array.as_string_opt::<i32>().ok_or(FeatureError::ColumnType {
                column: schema::RELEASE_DATE,
                expected: "Utf8",
            })?;
            Ok(dates
                .iter()
                .map(|d| {
                    d.and_then(schema::parse_release_date)
                        .map(|(year, _)| f64::from(year))
                })
                .collect())
        }
    }
}

/// Median of the present values (mean of the two middle ones for an even count); 0 if none.
fn median(values: &[Option<f64>]) -> f64 {
    let mut present: Vec<f64> = values.iter().flatten().copied().collect();
    if present.is_empty() {
        return 0.0;
    }
    present.sort_by(f64::total_cmp);
    let n = present.len();
    if n % 2 == 1 {
        present[n / 2]
    } else {
        (present[n / 2 - 1] + present[n / 2]) / 2.0
    }
}

/// Mean and population standard deviation; a constant column gets scale 1.
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let std = var.sqrt();
    (mean, if std > 0.0 { std } else { 1.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_missing() {
        assert_eq!(median(&[Some(3.0), None, Some(1.0), Some(2.0)]), 2.0);
        assert_eq!(median(&[Some(4.0), Some(1.0), Some(2.0), Some(3.0)]), 2.5);
        assert_eq!(median(&[None]), 0.0);
    }

    #[test]
    fn mean_std_is_population_std_and_constant_columns_keep_scale_one() {
        assert_eq!(mean_std(&[1.0, 3.0]), (2.0, 1.0));
        assert_eq!(mean_std(&[5.0, 5.0]), (5.0, 1.0));
    }
}
