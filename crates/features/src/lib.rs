//! Feature stage of the replay pipeline.
//!
//! From validated tracks (see `replay-ingest`) it builds the label
//! `replayed = popularity >= threshold`, drops repeated ids so that no track is on both
//! sides of the split, splits train/test (stratified, seeded), fits every transformation
//! on the training rows only, and records them in a [`FeatureSpec`] that turns any
//! ingested batch, including new songs, into exactly the model inputs used in training.

#![warn(missing_docs)]

mod config;
pub mod encode;
mod error;
mod matrix;
mod spec;
mod split;
mod stream;

use std::collections::HashSet;
use std::path::Path;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{Float64Type, SchemaRef};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use replay_core::schema;
use serde::{Deserialize, Serialize};

pub use config::{Encoding, FeatureOptions, FeaturesConfig, LabelConfig, SplitConfig, TargetEncodingOptions};
pub use error::FeatureError;
pub use matrix::{FeatureMatrix, Ids, InputColumns};
pub use spec::{FeatureColumn, FeatureSource, FeatureSpec, KeyColumn};
pub use split::stratified_split;
pub use stream::DEFAULT_BATCH_ROWS;

/// Training rows: id, popularity, label and the transformed features.
pub const TRAIN_FILE: &str = "train.parquet";
/// Held-out test rows, in the same layout as [`TRAIN_FILE`].
pub const TEST_FILE: &str = "test.parquet";
/// The fitted [`FeatureSpec`] as JSON.
pub const SPEC_FILE: &str = "feature_spec.json";
/// The [`SplitReport`] as JSON.
pub const SPLIT_REPORT_FILE: &str = "split_report.json";

/// What the split did: row counts and positive rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitReport {
    /// Rows in the ingested tracks.
    pub rows_in: usize,
    /// Popularity at or above which a track is replayed: the configured threshold, or
    /// the cut fitted on the training rows by `[label] quantile`.
    pub label_cut: f64,
    /// Rows dropped because their id had been seen before (the first one is kept).
    pub duplicate_ids_dropped: usize,
    /// Training rows.
    pub train_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// Share of replayed tracks among the distinct tracks.
    pub positive_rate: f64,
    /// Share of replayed tracks in the training rows.
    pub train_positive_rate: f64,
    /// Share of replayed tracks in the test rows.
    pub test_positive_rate: f64,
    /// Model input names, in column order.
    pub features: Vec<String>,
}

/// The output of [`build`]: the fitted spec and the transformed train and test rows.
#[derive(Debug, Clone)]
pub struct FeatureSet {
    /// Every fitted transformation.
    pub spec: FeatureSpec,
    /// Training rows (layout of [`FeatureSpec::apply`]).
    pub train: RecordBatch,
    /// Test rows (same layout).
    pub test: RecordBatch,
    /// Counts and rates.
    pub report: SplitReport,
}

/// Build labels, split, fit the transformations on the training rows and apply them.
///
/// With `label.shuffle_training_labels_seed` (a leakage check), the training rows'
/// popularity is permuted right after the split, before anything is fitted.
pub fn build(
    schema: SchemaRef,
    batches: &[RecordBatch],
    config: &FeaturesConfig,
) -> Result<FeatureSet, FeatureError> {
    config.check()?;
    let all = concat_batches(&schema, batches)?;
    let rows_in = all.num_rows();
    let (distinct, split::Labelled { cut, labels, .. }, train_rows, test_rows) = split_rows(&all, config)?;
    let mut train_raw = take_rows(&distinct, &train_rows)?;
    if let Some(seed) = config.label.shuffle_training_labels_seed {
        train_raw = shuffle_popularity(&train_raw, seed)?;
    }
    let test_raw = take_rows(&distinct, &test_rows)?;
    let (spec, train) = FeatureSpec::fit(&train_raw, config)?;
    let test = spec.apply(&test_raw)?;
    let positives = |rows: &[usize]| rows.iter().filter(|&&i| labels[i]).count();
    let rate = |p: usize, n: usize| if n == 0 { 0.0 } else { p as f64 / n as f64 };
    let (train_pos, test_pos) = (positives(&train_rows), positives(&test_rows));
    if train_pos == 0 || train_pos == train_rows.len() {
        return Err(FeatureError::SingleClass {
            threshold: cut,
            rows: train_rows.len(),
        });
    }
    let report = SplitReport {
        rows_in,
        label_cut: cut,
        duplicate_ids_dropped: rows_in - distinct.num_rows(),
        train_rows: train_rows.len(),
        test_rows: test_rows.len(),
        positive_rate: rate(train_pos + test_pos, labels.len()),
        train_positive_rate: rate(train_pos, train_rows.len()),
        test_positive_rate: rate(test_pos, test_rows.len()),
        features: spec.names().map(str::to_string).collect(),
    };
    Ok(FeatureSet {
        spec,
        train,
        test,
        report,
    })
}

/// The ingested training tracks of [`build`]'s split (one row per id, untransformed),
/// e.g. to choose hyperparameters on a validation split of the training rows only.
pub fn training_tracks(
    schema: SchemaRef,
    batches: &[RecordBatch],
    config: &FeaturesConfig,
) -> Result<RecordBatch, FeatureError> {
    config.check()?;
    let all = concat_batches(&schema, batches)?;
    let (distinct, _, train_rows, _) = split_rows(&all, config)?;
    take_rows(&distinct, &train_rows)
}

/// One row per id, its labels, and the training and test rows among them.
type SplitRows = (RecordBatch, split::Labelled, Vec<usize>, Vec<usize>);

fn split_rows(all: &RecordBatch, config: &FeaturesConfig) -> Result<SplitRows, FeatureError> {
    let distinct = take_rows(all, &first_of_each_id(all)?)?;
    let popularity = popularity(&distinct)?;
    if let Some(row) = popularity.iter().position(|p| p.is_nan()) {
        return Err(FeatureError::MissingPopularity { row });
    }
    let labelled = split::label_and_split(&popularity, config);
    let (test_rows, train_rows): (Vec<usize>, Vec<usize>) =
        (0..labelled.test.len()).partition(|&i| labelled.test[i]);
    Ok((distinct, labelled, train_rows, test_rows))
}

/// Run the stage: read ingested tracks from `tracks` and write [`TRAIN_FILE`],
/// [`TEST_FILE`], [`SPEC_FILE`] and [`SPLIT_REPORT_FILE`] into `out_dir`.
///
/// The same outputs as [`build`] on the whole file, but streamed: the tracks are read
/// [`DEFAULT_BATCH_ROWS`] rows at a time, a column at a time while fitting, so memory
/// holds a few bytes per track plus one input's training values (see [`run_in_batches`]).
pub fn run(tracks: &Path, config: &FeaturesConfig, out_dir: &Path) -> Result<SplitReport, FeatureError> {
    run_in_batches(tracks, config, out_dir, DEFAULT_BATCH_ROWS)
}

/// [`run`], reading `batch_rows` rows at a time (the outputs do not depend on it).
///
/// Passes over the file: `id` and `popularity` (dedup by id, labels, split; `id` once
/// more when two ids share a 64-bit hash, to compare them in full); each source column
/// once to fit its inputs (categorical and release-date columns twice: their categories
/// and newest year name the inputs); then every column to write the outputs.
pub fn run_in_batches(
    tracks: &Path,
    config: &FeaturesConfig,
    out_dir: &Path,
    batch_rows: usize,
) -> Result<SplitReport, FeatureError> {
    config.check()?;
    stream::run(tracks, config, out_dir, batch_rows)
}

/// Indices of the first row of every distinct id, in order.
fn first_of_each_id(batch: &RecordBatch) -> Result<Vec<usize>, FeatureError> {
    let ids = spec::column(batch, schema::ID)?;
    let ids = ids
        .as_string_opt::<i32>()
        .ok_or_else(|| FeatureError::ColumnType {
            column: schema::ID.to_string(),
            expected: "Utf8",
        })?;
    let mut seen = HashSet::with_capacity(ids.len());
    Ok((0..ids.len())
        .filter(|&i| ids.is_valid(i) && seen.insert(ids.value(i)))
        .collect())
}

/// ChaCha8 stream of the leakage check's label permutation.
pub(crate) const SHUFFLE_LABELS_STREAM: u64 = 1;

/// `batch` with its popularity column permuted (seeded).
fn shuffle_popularity(batch: &RecordBatch, seed: u64) -> Result<RecordBatch, FeatureError> {
    let mut order: Vec<usize> = (0..batch.num_rows()).collect();
    // Its own stream: were the seed the split's, two Fisher-Yates shuffles of similar
    // lengths drawn from one stream would be correlated.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(SHUFFLE_LABELS_STREAM);
    order.shuffle(&mut rng);
    let indices = UInt32Array::from_iter_values(order.iter().map(|&i| i as u32));
    let index = batch.schema().index_of(schema::POPULARITY)?;
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[index] = arrow::compute::take(&columns[index], &indices, None)?;
    Ok(RecordBatch::try_new(Arc::clone(&batch.schema()), columns)?)
}

fn take_rows(batch: &RecordBatch, rows: &[usize]) -> Result<RecordBatch, FeatureError> {
    let indices = UInt32Array::from_iter_values(rows.iter().map(|&i| i as u32));
    Ok(take_record_batch(batch, &indices)?)
}

/// Popularity values of an ingested batch (nulls as NaN).
pub(crate) fn popularity(batch: &RecordBatch) -> Result<Vec<f64>, FeatureError> {
    let column = spec::column(batch, schema::POPULARITY)?;
    let values = column
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| FeatureError::ColumnType {
            column: schema::POPULARITY.to_string(),
            expected: "Float64",
        })?;
    Ok(values.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}
