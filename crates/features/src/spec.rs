//! The feature spec: every fitted transformation from ingested tracks to model inputs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use ndarray::Array2;
use replay_core::schema::{self, ModelFamily};
use serde::{Deserialize, Serialize};

use crate::encode::{fold_of_rows, out_of_fold_target_means, Categories, KeyParse, KeyStats};
use crate::{Encoding, FeatureError, FeatureOptions, FeaturesConfig};

/// Format version of [`FeatureSpec`] files.
pub const SPEC_FORMAT: u32 = 2;

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
    /// The month of the release date; missing for a bare year.
    ReleaseMonth,
    /// `newest_year` minus the year of the release date.
    ReleaseAge {
        /// The newest release year of the training rows.
        newest_year: i32,
    },
    /// 1 when the categorical `column` holds `category`, else 0 (also when missing).
    Indicator {
        /// The categorical column.
        column: String,
        /// The category.
        category: String,
    },
    /// The ordinal code of the categorical `column` ([`FeatureSpec::categories`]).
    CategoryCode {
        /// The categorical column.
        column: String,
    },
    /// The smoothed target mean of the key in `column` ([`FeatureSpec::keys`]).
    TargetMean {
        /// The key column.
        column: String,
    },
    /// The number of training rows with the key in `column` ([`FeatureSpec::keys`]).
    KeyCount {
        /// The key column.
        column: String,
    },
    /// The number of names in the list literal in `column`.
    ListLength {
        /// The list column.
        column: String,
    },
}

impl FeatureSource {
    /// The column of the ingested tracks the input is computed from (the release date
    /// column, [`schema::RELEASE_DATE`], for year, month and age): what a one-hot
    /// indicator, a target mean and a count of the same column are grouped by.
    pub fn column(&self) -> &str {
        match self {
            FeatureSource::Column { column }
            | FeatureSource::Indicator { column, .. }
            | FeatureSource::CategoryCode { column }
            | FeatureSource::TargetMean { column }
            | FeatureSource::KeyCount { column }
            | FeatureSource::ListLength { column } => column,
            FeatureSource::ReleaseYear | FeatureSource::ReleaseMonth | FeatureSource::ReleaseAge { .. } => {
                schema::RELEASE_DATE
            }
        }
    }
}

/// A high-cardinality key column: how its key is read and the training statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyColumn {
    /// How the key is read from a cell.
    pub parse: KeyParse,
    /// Label statistics of every key over all training rows.
    pub stats: KeyStats,
}

/// The raw values of a source in some tracks (missing values are `None`).
type RawValues<'a> = dyn Fn(&FeatureSource) -> Result<Vec<Option<f64>>, FeatureError> + 'a;

/// One model input: its raw source, the model families that read it, the value that
/// replaces a missing one, and the affine scaling `(raw - center) / scale`, all fitted on
/// the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureColumn {
    /// Name of the input (column name in train/test Parquet).
    pub name: String,
    /// Where the raw value comes from.
    pub source: FeatureSource,
    /// The model families that read this input: one-hot indicators are for linear models,
    /// ordinal codes for trees, everything else for both.
    pub used_by: Vec<ModelFamily>,
    /// Median of the training values, used for missing values.
    pub impute: f64,
    /// Subtracted from the raw value (training mean, or 0 without standardization).
    pub center: f64,
    /// Divides the centred value (training standard deviation, or 1).
    pub scale: f64,
}

impl FeatureColumn {
    /// The model input from a raw value: imputed, centred and scaled.
    fn finish(&self, raw: Option<f64>) -> f64 {
        (raw.unwrap_or(self.impute) - self.center) / self.scale
    }

    /// Fit `impute` (median of the present training values) and, with `standardize`,
    /// `center` and `scale` (mean and standard deviation of the imputed values, summed in
    /// row order) on the raw training values of this input.
    pub(crate) fn fit_statistics(&mut self, raw: &[Option<f64>], standardize: bool) {
        self.impute = median(raw);
        if standardize {
            let values: Vec<f64> = raw.iter().map(|v| v.unwrap_or(self.impute)).collect();
            (self.center, self.scale) = mean_std(&values);
        }
    }
}

/// Every fitted transformation of the feature stage, saved as JSON so that scoring new
/// songs reproduces training exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// File format version ([`SPEC_FORMAT`]).
    pub format_version: u32,
    /// Popularity at or above which a track counts as replayed.
    pub label_threshold: f64,
    /// Training categories of every `category` column, by column.
    pub categories: BTreeMap<String, Categories>,
    /// Training statistics of every `target` / `target_list` column, by column.
    pub keys: BTreeMap<String, KeyColumn>,
    /// The model inputs, in column order.
    pub features: Vec<FeatureColumn>,
    /// How the training tracks were read from their source ([`FeaturesConfig::read_as`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_as: Option<serde_json::Value>,
}

impl FeatureSpec {
    /// Fit every transformation on the training tracks in `train` and return the spec with
    /// the training rows in the layout of [`FeatureSpec::apply`]. The training rows carry
    /// out-of-fold target means (each row encoded by the other folds); everything else is
    /// exactly what [`FeatureSpec::apply`] computes.
    ///
    /// Inputs, in order: every Float64 column but popularity; `year`, `month`, `age` (as
    /// configured, from the release date); then, per categorical column in schema order,
    /// its encoding's inputs (see [`Encoding`]).
    pub fn fit(train: &RecordBatch, config: &FeaturesConfig) -> Result<(Self, RecordBatch), FeatureError> {
        let options = &config.features;
        let cut = config.label.fit_cut(&crate::popularity(train)?);
        let labels = labels(train, cut)?;
        let schema = train.schema();
        let newest_year = match schema.field_with_name(schema::RELEASE_DATE) {
            Ok(_) => release_dates(train)?.iter().flatten().map(|(y, _)| *y).max(),
            Err(_) => None,
        };
        let encodings = encodings(&schema, options)?;
        let prior = positive_rate(&labels);
        let mut categories = BTreeMap::new();
        let mut keys = BTreeMap::new();
        for (column, encoding) in &encodings {
            let cells = strings(train, column)?;
            match key_parse(*encoding) {
                None => {
                    categories.insert(column.clone(), Categories::fit(cells.iter().copied()));
                }
                Some(parse) => {
                    let row_keys: Vec<Option<String>> = cells.iter().map(|c| parse.key(*c)).collect();
                    let stats = KeyStats::fit(
                        row_keys.iter().map(Option::as_deref).zip(labels.iter().copied()),
                        prior,
                        options.target_encoding.smoothing,
                    );
                    keys.insert(column.clone(), KeyColumn { parse, stats });
                }
            }
        }
        let features = layout(&schema, options, newest_year, &encodings, &categories)?;
        let mut spec = FeatureSpec {
            format_version: SPEC_FORMAT,
            label_threshold: cut,
            categories,
            keys,
            features,
            read_as: config.read_as.clone(),
        };
        let fold = fold_of_rows(
            train.num_rows(),
            options.target_encoding.folds,
            options.target_encoding.seed,
        );
        let mut x = Array2::zeros((train.num_rows(), spec.features.len()));
        for j in 0..spec.features.len() {
            let raw = match &spec.features[j].source {
                FeatureSource::TargetMean { column } => {
                    let key = spec.key_column(column)?;
                    let row_keys: Vec<Option<String>> = strings(train, column)?
                        .into_iter()
                        .map(|c| key.parse.key(c))
                        .collect();
                    out_of_fold_target_means(&row_keys, &labels, &fold, key.stats.prior, key.stats.smoothing)
                        .into_iter()
                        .map(Some)
                        .collect()
                }
                source => spec.raw_values(train, source)?,
            };
            let feature = &mut spec.features[j];
            feature.fit_statistics(&raw, options.standardize);
            for (cell, v) in x.column_mut(j).iter_mut().zip(raw) {
                *cell = feature.finish(v);
            }
        }
        let batch = spec.assemble(train, &x)?;
        Ok((spec, batch))
    }

    /// Input names, in column order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| f.name.as_str())
    }

    /// The source column of the input called `name` ([`FeatureSource::column`]).
    pub fn source_column(&self, name: &str) -> Option<&str> {
        self.features
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.source.column())
    }

    /// Model inputs (rows x features) of ingested tracks, every input in spec order.
    pub fn transform(&self, tracks: &RecordBatch) -> Result<Array2<f64>, FeatureError> {
        self.transform_inputs(tracks, &self.features.iter().collect::<Vec<_>>())
    }

    /// Model inputs of ingested tracks, only the inputs called `names`, in that order (the
    /// inputs of one model: `SavedModel::feature_names`).
    pub fn transform_named(
        &self,
        tracks: &RecordBatch,
        names: &[String],
    ) -> Result<Array2<f64>, FeatureError> {
        let by_name: HashMap<&str, &FeatureColumn> =
            self.features.iter().map(|f| (f.name.as_str(), f)).collect();
        let features = names
            .iter()
            .map(|n| {
                by_name
                    .get(n.as_str())
                    .copied()
                    .ok_or_else(|| FeatureError::UnknownFeature(n.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.transform_inputs(tracks, &features)
    }

    fn transform_inputs(
        &self,
        tracks: &RecordBatch,
        features: &[&FeatureColumn],
    ) -> Result<Array2<f64>, FeatureError> {
        self.transform_with(tracks, features, &|source| self.raw_values(tracks, source))
    }

    /// Model inputs of `features` from the raw values given by `raw`.
    fn transform_with(
        &self,
        tracks: &RecordBatch,
        features: &[&FeatureColumn],
        raw: &RawValues<'_>,
    ) -> Result<Array2<f64>, FeatureError> {
        let mut x = Array2::zeros((tracks.num_rows(), features.len()));
        for (j, feature) in features.iter().enumerate() {
            let raw = raw(&feature.source)?;
            for (cell, v) in x.column_mut(j).iter_mut().zip(raw) {
                *cell = feature.finish(v);
            }
        }
        Ok(x)
    }

    /// Ingested tracks as id, popularity, label (null without popularity) and the model
    /// inputs; each input's Arrow field carries the model families that read it
    /// ([`schema::USED_BY_METADATA`]).
    pub fn apply(&self, tracks: &RecordBatch) -> Result<RecordBatch, FeatureError> {
        self.assemble(tracks, &self.transform(tracks)?)
    }

    /// Training rows in the layout of [`FeatureSpec::apply`], except that every target
    /// mean comes from `target_means(column)` (out of fold) instead of the statistics of
    /// the whole training set.
    pub(crate) fn apply_training(
        &self,
        tracks: &RecordBatch,
        target_means: &dyn Fn(&str) -> Result<Vec<f64>, FeatureError>,
    ) -> Result<RecordBatch, FeatureError> {
        let features: Vec<&FeatureColumn> = self.features.iter().collect();
        let x = self.transform_with(tracks, &features, &|source| match source {
            FeatureSource::TargetMean { column } => Ok(target_means(column)?.into_iter().map(Some).collect()),
            source => self.raw_values(tracks, source),
        })?;
        self.assemble(tracks, &x)
    }

    /// The Arrow schema of [`FeatureSpec::apply`]'s output.
    pub fn output_schema(&self) -> SchemaRef {
        let mut fields = vec![
            Field::new(schema::ID, DataType::Utf8, false),
            Field::new(schema::POPULARITY, DataType::Float64, true),
            Field::new(schema::LABEL, DataType::Boolean, true),
        ];
        for feature in &self.features {
            let used_by: Vec<&str> = feature.used_by.iter().map(|f| f.as_str()).collect();
            let metadata = HashMap::from([(schema::USED_BY_METADATA.to_string(), used_by.join(","))]);
            fields.push(Field::new(&feature.name, DataType::Float64, false).with_metadata(metadata));
        }
        Arc::new(Schema::new(fields))
    }

    /// The layout of [`FeatureSpec::apply`] from the tracks and their inputs `x`.
    fn assemble(&self, tracks: &RecordBatch, x: &Array2<f64>) -> Result<RecordBatch, FeatureError> {
        let popularity = crate::popularity(tracks)?;
        let label: BooleanArray = popularity
            .iter()
            .map(|&p| (!p.is_nan()).then_some(p >= self.label_threshold))
            .collect();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::clone(column(tracks, schema::ID)?),
            Arc::clone(column(tracks, schema::POPULARITY)?),
            Arc::new(label),
        ];
        for j in 0..self.features.len() {
            columns.push(Arc::new(Float64Array::from(x.column(j).to_vec())));
        }
        Ok(RecordBatch::try_new(self.output_schema(), columns)?)
    }

    pub(crate) fn key_column(&self, column: &str) -> Result<&KeyColumn, FeatureError> {
        self.keys.get(column).ok_or_else(|| FeatureError::Encoding {
            column: column.to_string(),
            message: "the feature spec has no key statistics for it".into(),
        })
    }

    /// Raw values of one source; missing values are `None`.
    fn raw_values(
        &self,
        tracks: &RecordBatch,
        source: &FeatureSource,
    ) -> Result<Vec<Option<f64>>, FeatureError> {
        let from_keys = |column: &str, f: &dyn Fn(&KeyColumn, Option<&str>) -> f64| {
            let key = self.key_column(column)?;
            Ok(strings(tracks, column)?
                .into_iter()
                .map(|c| Some(f(key, c)))
                .collect())
        };
        match source {
            FeatureSource::Column { column: name } => {
                let array = column(tracks, name)?;
                let values = array.as_primitive_opt::<Float64Type>().ok_or_else(|| {
                    FeatureError::MissingColumn(format!("{name} (as Float64; found {})", array.data_type()))
                })?;
                Ok(values.iter().collect())
            }
            FeatureSource::ReleaseYear => Ok(release_dates(tracks)?
                .into_iter()
                .map(|d| d.map(|(year, _)| f64::from(year)))
                .collect()),
            FeatureSource::ReleaseMonth => Ok(release_dates(tracks)?
                .into_iter()
                .map(|d| d.and_then(|(_, month)| month).map(f64::from))
                .collect()),
            FeatureSource::ReleaseAge { newest_year } => Ok(release_dates(tracks)?
                .into_iter()
                .map(|d| d.map(|(year, _)| f64::from(newest_year - year)))
                .collect()),
            FeatureSource::Indicator { column, category } => Ok(strings(tracks, column)?
                .into_iter()
                .map(|c| Some(f64::from(u8::from(c == Some(category.as_str())))))
                .collect()),
            FeatureSource::CategoryCode { column } => {
                let categories = self
                    .categories
                    .get(column)
                    .ok_or_else(|| FeatureError::Encoding {
                        column: column.clone(),
                        message: "the feature spec has no categories for it".into(),
                    })?;
                Ok(strings(tracks, column)?
                    .into_iter()
                    .map(|c| Some(categories.code(c)))
                    .collect())
            }
            FeatureSource::TargetMean { column } => {
                from_keys(column, &|k, c| k.stats.target_mean(k.parse.key(c).as_deref()))
            }
            FeatureSource::KeyCount { column } => {
                from_keys(column, &|k, c| k.stats.count(k.parse.key(c).as_deref()))
            }
            FeatureSource::ListLength { column } => from_keys(column, &|k, c| k.parse.length(c) as f64),
        }
    }
}

/// The categorical columns of `schema` (Utf8, but not the id or the release date) with
/// their encodings, in schema order. A categorical column without an encoding, or an
/// encoding of a column that is not categorical, is an error.
pub(crate) fn encodings(
    schema: &Schema,
    options: &FeatureOptions,
) -> Result<Vec<(String, Encoding)>, FeatureError> {
    let text_columns: Vec<String> = schema
        .fields()
        .iter()
        .filter(|f| f.data_type() == &DataType::Utf8)
        .map(|f| f.name().clone())
        .filter(|name| name != schema::ID && name != schema::RELEASE_DATE)
        .collect();
    let mut encodings = Vec::with_capacity(text_columns.len());
    for column in &text_columns {
        let encoding = options.encode.get(column).ok_or_else(|| FeatureError::Encoding {
            column: column.clone(),
            message: "a categorical column needs an encoding: \"category\", \"target\" or \"target_list\""
                .into(),
        })?;
        encodings.push((column.clone(), *encoding));
    }
    if let Some(column) = options.encode.keys().find(|c| !text_columns.contains(c)) {
        return Err(FeatureError::Encoding {
            column: column.clone(),
            message: "not a categorical column of the tracks (list it under [columns] categorical)".into(),
        });
    }
    Ok(encodings)
}

/// How the key of a `target` / `target_list` column is read; `None` for a `category` column.
pub(crate) fn key_parse(encoding: Encoding) -> Option<KeyParse> {
    match encoding {
        Encoding::Category => None,
        Encoding::Target => Some(KeyParse::Plain),
        Encoding::TargetList => Some(KeyParse::PythonList),
    }
}

/// Share of `true` among `labels` (0 when empty).
pub(crate) fn positive_rate(labels: &[bool]) -> f64 {
    labels.iter().filter(|&&l| l).count() as f64 / labels.len().max(1) as f64
}

/// The model inputs of tracks with `schema`, in order, before any statistics (impute 0,
/// center 0, scale 1): every Float64 column but popularity; `year`, `month`, `age` (as
/// configured, when there is a release date; `age` needs `newest_year`); then, per
/// categorical column, the inputs of its encoding (`categories` must hold the fitted
/// categories of every `category` column).
pub(crate) fn layout(
    schema: &Schema,
    options: &FeatureOptions,
    newest_year: Option<i32>,
    encodings: &[(String, Encoding)],
    categories: &BTreeMap<String, Categories>,
) -> Result<Vec<FeatureColumn>, FeatureError> {
    let both = || ModelFamily::ALL.to_vec();
    let mut sources: Vec<(String, FeatureSource, Vec<ModelFamily>)> = schema
        .fields()
        .iter()
        .filter(|f| f.data_type() == &DataType::Float64 && f.name() != schema::POPULARITY)
        .map(|f| {
            let column = f.name().clone();
            (column.clone(), FeatureSource::Column { column }, both())
        })
        .collect();
    if schema.field_with_name(schema::RELEASE_DATE).is_ok() {
        let has_year = sources.iter().any(|(name, ..)| name == schema::YEAR);
        if options.derive_year && !has_year {
            sources.push((schema::YEAR.into(), FeatureSource::ReleaseYear, both()));
        }
        if options.derive_month {
            sources.push((schema::MONTH.into(), FeatureSource::ReleaseMonth, both()));
        }
        if let (true, Some(newest_year)) = (options.derive_age, newest_year) {
            sources.push((
                schema::AGE.into(),
                FeatureSource::ReleaseAge { newest_year },
                both(),
            ));
        }
    }
    for (column, encoding) in encodings {
        let c = || column.clone();
        match encoding {
            Encoding::Category => {
                let fitted = categories.get(column).ok_or_else(|| FeatureError::Encoding {
                    column: c(),
                    message: "no fitted categories".into(),
                })?;
                for category in fitted.as_slice() {
                    let source = FeatureSource::Indicator {
                        column: c(),
                        category: category.clone(),
                    };
                    sources.push((format!("{column}={category}"), source, vec![ModelFamily::Linear]));
                }
                let source = FeatureSource::CategoryCode { column: c() };
                sources.push((format!("{column}_code"), source, vec![ModelFamily::Trees]));
            }
            Encoding::Target | Encoding::TargetList => {
                let mean = FeatureSource::TargetMean { column: c() };
                sources.push((format!("{column}_target_mean"), mean, both()));
                let count = FeatureSource::KeyCount { column: c() };
                sources.push((format!("{column}_count"), count, both()));
                if *encoding == Encoding::TargetList {
                    let length = FeatureSource::ListLength { column: c() };
                    sources.push((format!("{column}_length"), length, both()));
                }
            }
        }
    }
    if sources.is_empty() {
        return Err(FeatureError::NoFeatures);
    }
    let mut seen: HashSet<&str> = schema::RECORD_COLUMNS.into_iter().collect();
    if let Some((name, ..)) = sources.iter().find(|(name, ..)| !seen.insert(name.as_str())) {
        return Err(FeatureError::DuplicateFeature(name.clone()));
    }
    Ok(sources
        .into_iter()
        .map(|(name, source, used_by)| FeatureColumn {
            name,
            source,
            used_by,
            impute: 0.0,
            center: 0.0,
            scale: 1.0,
        })
        .collect())
}

/// The text cells of the Utf8 `name` column (missing as `None`).
pub(crate) fn strings<'a>(tracks: &'a RecordBatch, name: &str) -> Result<Vec<Option<&'a str>>, FeatureError> {
    let array = column(tracks, name)?;
    let values = array.as_string_opt::<i32>().ok_or_else(|| {
        FeatureError::MissingColumn(format!("{name} (as Utf8; found {})", array.data_type()))
    })?;
    Ok(values.iter().collect())
}

/// A parsed release date: year and, when given, month.
pub(crate) type YearMonth = (i32, Option<u32>);

/// `(year, month)` of every release date (`None` when missing).
pub(crate) fn release_dates(tracks: &RecordBatch) -> Result<Vec<Option<YearMonth>>, FeatureError> {
    let array = column(tracks, schema::RELEASE_DATE)?;
    let dates = array
        .as_string_opt::<i32>()
        .ok_or_else(|| FeatureError::ColumnType {
            column: schema::RELEASE_DATE.to_string(),
            expected: "Utf8",
        })?;
    Ok(dates
        .iter()
        .map(|d| d.and_then(schema::parse_release_date))
        .collect())
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

/// Median of the present values (mean of the two middle ones for an even count); 0 if none.
fn median(values: &[Option<f64>]) -> f64 {
    let mut present: Vec<f64> = values.iter().flatten().copied().collect();
    let n = present.len();
    if n == 0 {
        return 0.0;
    }
    // The (n/2)-th value in `total_cmp` order, and the largest before it: exactly the
    // middle values of a full sort (values equal under `total_cmp` have the same bits).
    let (below, middle, _) = present.select_nth_unstable_by(n / 2, f64::total_cmp);
    let middle = *middle;
    if n % 2 == 1 {
        middle
    } else {
        let lower = below.iter().copied().max_by(f64::total_cmp).unwrap_or(middle);
        (lower + middle) / 2.0
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
    fn median_by_selection_is_the_median_of_a_full_sort() {
        let sorted_median = |values: &[Option<f64>]| {
            let mut present: Vec<f64> = values.iter().flatten().copied().collect();
            present.sort_by(f64::total_cmp);
            let n = present.len();
            if n % 2 == 1 {
                present[n / 2]
            } else {
                (present[n / 2 - 1] + present[n / 2]) / 2.0
            }
        };
        let pool = [0.0, -0.0, 1.5, -2.25, 3.0, 1.5, f64::NAN, 1e300, -1e-300, 7.0];
        let mut state = 12345u64;
        for n in 1..60 {
            let values: Vec<Option<f64>> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let i = (state >> 33) as usize % (pool.len() + 1);
                    pool.get(i).copied()
                })
                .collect();
            if values.iter().flatten().next().is_some() {
                assert_eq!(
                    median(&values).to_bits(),
                    sorted_median(&values).to_bits(),
                    "{values:?}"
                );
            }
        }
    }

    #[test]
    fn mean_std_is_population_std_and_constant_columns_keep_scale_one() {
        assert_eq!(mean_std(&[1.0, 3.0]), (2.0, 1.0));
        assert_eq!(mean_std(&[5.0, 5.0]), (5.0, 1.0));
    }
}
