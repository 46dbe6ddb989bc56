//! The feature stage over a tracks Parquet file, a batch at a time.
//!
//! [`crate::build`] holds every track in memory; this module gives the same outputs, bit
//! for bit, while holding only a few bytes per track plus one input's training values at
//! a time:
//!
//! 1. `assign` reads `id` and `popularity`: it keeps the first row of every id (64-bit
//!    hashes sorted to find candidate duplicates, which are then confirmed on the full
//!    ids, so a hash collision never drops a track), labels the distinct rows, splits them
//!    and records each row's fate in one byte.
//! 2. `fit` reads one source column at a time (a projection) and fits the inputs fed by
//!    it: categories and the newest release year first (they name the inputs), then every
//!    input's median, mean and standard deviation from its training values, and the key
//!    statistics with their per-fold counts (out-of-fold means are the totals minus the
//!    row's fold, exact in integers).
//! 3. `write` reads whole batches and writes the transformed training and test rows
//!    through [`replay_parquet::Sink`]s.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Float64Type, SchemaRef};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use replay_core::io;
use replay_core::schema;

use crate::encode::{fold_of_rows_compact, Categories, KeyParse, KeyStats};
use crate::spec::{self, KeyColumn, YearMonth, SPEC_FORMAT};
use crate::{
    split, FeatureError, FeatureOptions, FeatureSource, FeatureSpec, FeaturesConfig, SplitReport,
    SHUFFLE_LABELS_STREAM, SPEC_FILE, SPLIT_REPORT_FILE, TEST_FILE, TRAIN_FILE,
};

/// Rows per batch read by [`crate::run`].
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

/// A row dropped because its id is missing or was seen before.
const DROPPED: u8 = 0;
/// A training row.
const TRAIN: u8 = 1;
/// A test row.
const TEST: u8 = 2;

/// The stage on the tracks at `path`, read `batch_rows` rows at a time.
pub(crate) fn run(
    path: &Path,
    config: &FeaturesConfig,
    out_dir: &Path,
    batch_rows: usize,
) -> Result<SplitReport, FeatureError> {
    let tracks = Tracks::open(path, batch_rows)?;
    let rows = assign(&tracks, config)?;
    let fitted = fit(&tracks, &rows, config)?;
    if rows.train_positives == 0 || rows.train_positives == rows.train_rows {
        return Err(FeatureError::SingleClass {
            threshold: rows.cut,
            rows: rows.train_rows,
        });
    }
    write(&tracks, &rows, &fitted, out_dir)?;
    let report = rows.report(&fitted.spec);
    io::write_json(&out_dir.join(SPEC_FILE), &fitted.spec)?;
    io::write_json(&out_dir.join(SPLIT_REPORT_FILE), &report)?;
    Ok(report)
}

/// The ingested tracks file, read in batches and column projections.
struct Tracks<'a> {
    path: &'a Path,
    schema: SchemaRef,
    batch_rows: usize,
}

impl<'a> Tracks<'a> {
    fn open(path: &'a Path, batch_rows: usize) -> Result<Self, FeatureError> {
        Ok(Tracks {
            path,
            schema: replay_parquet::schema(path)?,
            batch_rows: batch_rows.max(1),
        })
    }

    /// Call `f(first_row, batch)` on every batch of the columns `columns`. A second
    /// thread reads and decodes the next batches meanwhile (a few in flight).
    fn scan(
        &self,
        columns: &[&str],
        mut f: impl FnMut(usize, &RecordBatch) -> Result<(), FeatureError>,
    ) -> Result<(), FeatureError> {
        if let Some(name) = columns.iter().find(|c| self.schema.field_with_name(c).is_err()) {
            return Err(FeatureError::MissingColumn(name.to_string()));
        }
        let (_, batches) = replay_parquet::batches(self.path, Some(columns), self.batch_rows)?;
        std::thread::scope(|scope| {
            let (send, receive) = std::sync::mpsc::sync_channel(2);
            scope.spawn(move || {
                for batch in batches {
                    let failed = batch.is_err();
                    // A closed channel: `f` failed and nothing more is wanted.
                    if send.send(batch).is_err() || failed {
                        break;
                    }
                }
            });
            let mut first = 0;
            for batch in receive {
                let batch = batch?;
                f(first, &batch)?;
                first += batch.num_rows();
            }
            Ok(())
        })
    }

    /// Call `f(train_row, cell)` on the Utf8 cell of `column` of every training row, in order.
    fn scan_training_text(
        &self,
        column: &str,
        role: &[u8],
        mut f: impl FnMut(usize, Option<&str>),
    ) -> Result<(), FeatureError> {
        let mut train_row = 0;
        self.scan(&[column], |first, batch| {
            let cells = spec::strings(batch, column)?;
            for (cell, _) in cells
                .into_iter()
                .zip(&role[first..])
                .filter(|(_, r)| **r == TRAIN)
            {
                f(train_row, cell);
                train_row += 1;
            }
            Ok(())
        })
    }
}

/// The fate of every row of the tracks and the labels of the training rows.
struct Assignment {
    /// [`DROPPED`], [`TRAIN`] or [`TEST`], per row of the tracks.
    role: Vec<u8>,
    /// Distinct tracks (rows kept).
    distinct: usize,
    /// The popularity cut of the labels, fitted on the training rows.
    cut: f64,
    /// Training rows.
    train_rows: usize,
    /// Replayed training rows (true labels).
    train_positives: usize,
    /// Replayed test rows.
    test_positives: usize,
    /// Labels of the training rows, in order, after the leakage check's permutation.
    train_labels: Vec<bool>,
    /// With the leakage check, the permuted popularity of the training rows.
    train_popularity: Option<Vec<f64>>,
}

impl Assignment {
    fn report(&self, spec: &FeatureSpec) -> SplitReport {
        let test_rows = self.distinct - self.train_rows;
        let rate = |p: usize, n: usize| if n == 0 { 0.0 } else { p as f64 / n as f64 };
        SplitReport {
            rows_in: self.role.len(),
            label_cut: self.cut,
            duplicate_ids_dropped: self.role.len() - self.distinct,
            train_rows: self.train_rows,
            test_rows,
            positive_rate: rate(self.train_positives + self.test_positives, self.distinct),
            train_positive_rate: rate(self.train_positives, self.train_rows),
            test_positive_rate: rate(self.test_positives, test_rows),
            features: spec.names().map(str::to_string).collect(),
        }
    }
}

/// First pass: dedup by id (first row kept), labels, split, leakage-check permutation.
fn assign(tracks: &Tracks, config: &FeaturesConfig) -> Result<Assignment, FeatureError> {
    let shuffle = config.label.shuffle_training_labels_seed;
    let mut has_id: Vec<bool> = Vec::new();
    let mut hashes: Vec<u64> = Vec::new();
    let mut popularity: Vec<f64> = Vec::new();
    tracks.scan(&[schema::ID, schema::POPULARITY], |_, batch| {
        let ids = ids(batch)?;
        for i in 0..ids.len() {
            has_id.push(ids.is_valid(i));
            if ids.is_valid(i) {
                hashes.push(hash_id(ids.value(i)));
            }
        }
        popularity.extend(crate::popularity(batch)?);
        Ok(())
    })?;
    if has_id.len() > u32::MAX as usize {
        return Err(FeatureError::TooManyRows {
            rows: has_id.len(),
            max: u32::MAX as usize,
        });
    }
    let kept = first_of_each_id(tracks, has_id, hashes)?;
    let mut distinct_popularity = Vec::new();
    for (&p, _) in popularity.iter().zip(&kept).filter(|(_, k)| **k) {
        if p.is_nan() {
            return Err(FeatureError::MissingPopularity {
                row: distinct_popularity.len(),
            });
        }
        distinct_popularity.push(p);
    }
    let split::Labelled { cut, labels, test } = split::label_and_split(&distinct_popularity, config);
    drop(distinct_popularity);
    let mut role = vec![DROPPED; kept.len()];
    let mut distinct = 0;
    let mut train_labels = Vec::new();
    let mut train_popularity = Vec::new();
    let mut test_positives = 0;
    for (row, _) in kept.iter().enumerate().filter(|(_, k)| **k) {
        if test[distinct] {
            role[row] = TEST;
            test_positives += usize::from(labels[distinct]);
        } else {
            role[row] = TRAIN;
            train_labels.push(labels[distinct]);
            if shuffle.is_some() {
                train_popularity.push(popularity[row]);
            }
        }
        distinct += 1;
    }
    let train_rows = train_labels.len();
    let train_positives = train_labels.iter().filter(|&&l| l).count();
    let train_popularity = match shuffle {
        Some(seed) => {
            let order = label_permutation(train_rows, seed);
            train_labels = order.iter().map(|&i| train_labels[i as usize]).collect();
            Some(order.iter().map(|&i| train_popularity[i as usize]).collect())
        }
        None => None,
    };
    Ok(Assignment {
        role,
        distinct,
        cut,
        train_rows,
        train_positives,
        test_positives,
        train_labels,
        train_popularity,
    })
}

/// The Utf8 id column of a batch.
fn ids(batch: &RecordBatch) -> Result<&StringArray, FeatureError> {
    spec::column(batch, schema::ID)?
        .as_string_opt::<i32>()
        .ok_or_else(|| FeatureError::ColumnType {
            column: schema::ID.to_string(),
            expected: "Utf8",
        })
}

/// A 64-bit hash of an id (SipHash with fixed keys: the same in every run).
fn hash_id(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// Whether each row is the first of its id: `kept` says which rows have an id, and
/// comes back with the repeats cleared. `hashes` are the
/// hashes of the ids present, in row order. Only rows whose hash occurs more than once
/// can repeat an id; their full ids are compared in a second read of the id column.
fn first_of_each_id(
    tracks: &Tracks,
    mut kept: Vec<bool>,
    mut hashes: Vec<u64>,
) -> Result<Vec<bool>, FeatureError> {
    hashes.sort_unstable();
    let mut repeated: Vec<u64> = hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    drop(hashes);
    repeated.dedup();
    if repeated.is_empty() {
        return Ok(kept);
    }
    let mut seen: HashSet<String> = HashSet::new();
    tracks.scan(&[schema::ID], |first, batch| {
        let ids = ids(batch)?;
        for i in (0..ids.len()).filter(|&i| ids.is_valid(i)) {
            let id = ids.value(i);
            if repeated.binary_search(&hash_id(id)).is_ok() && !seen.insert(id.to_string()) {
                kept[first + i] = false;
            }
        }
        Ok(())
    })?;
    Ok(kept)
}

/// The leakage check's permutation of the training rows (as `shuffle_popularity`'s).
fn label_permutation(n: usize, seed: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(SHUFFLE_LABELS_STREAM);
    order.shuffle(&mut rng);
    order
}

/// The fitted spec and what the training rows' out-of-fold means need.
struct Fitted {
    spec: FeatureSpec,
    /// Fold of every training row (empty without key columns).
    folds: Vec<u32>,
    /// Per-fold key counts of every key column.
    keys: BTreeMap<String, FoldCounts>,
}

/// Second step: fit the spec on the training rows, one source column at a time.
fn fit(tracks: &Tracks, rows: &Assignment, config: &FeaturesConfig) -> Result<Fitted, FeatureError> {
    let options = &config.features;
    let schema = Arc::clone(&tracks.schema);
    let newest_year = match schema.field_with_name(schema::RELEASE_DATE) {
        Ok(_) => gather_dates(tracks, &rows.role)?
            .into_iter()
            .flatten()
            .map(|(y, _)| y)
            .max(),
        Err(_) => None,
    };
    let encodings = spec::encodings(&schema, options)?;
    let mut categories = BTreeMap::new();
    for (column, encoding) in &encodings {
        if spec::key_parse(*encoding).is_none() {
            categories.insert(column.clone(), fit_categories(tracks, &rows.role, column)?);
        }
    }
    let features = spec::layout(&schema, options, newest_year, &encodings, &categories)?;
    let mut spec = FeatureSpec {
        format_version: SPEC_FORMAT,
        label_threshold: rows.cut,
        categories,
        keys: BTreeMap::new(),
        features,
        read_as: config.read_as.clone(),
    };
    let has_keys = encodings.iter().any(|(_, e)| spec::key_parse(*e).is_some());
    let target = &options.target_encoding;
    let folds = if has_keys {
        fold_of_rows_compact(rows.train_rows, target.folds, target.seed)
    } else {
        Vec::new()
    };
    let context = FitContext {
        tracks,
        rows,
        options,
        folds: &folds,
        prior: spec::positive_rate(&rows.train_labels),
        smoothing: target.smoothing,
    };
    let mut keys = BTreeMap::new();
    for (column, members) in source_groups(&spec) {
        let mut gathered = context.gather(&spec, &column, &spec.features[members[0]].source)?;
        for j in members {
            let raw = context.raw(&spec, &mut gathered, &spec.features[j].source)?;
            spec.features[j].fit_statistics(&raw, options.standardize);
        }
        if let Gathered::Keys(key_rows) = gathered {
            let counts = key_rows.counts;
            let stats = counts.key_stats();
            spec.keys.insert(
                column.clone(),
                KeyColumn {
                    parse: counts.parse,
                    stats,
                },
            );
            keys.insert(column, counts);
        }
    }
    Ok(Fitted { spec, folds, keys })
}

/// The inputs of the spec grouped by the tracks column they come from (by column name).
fn source_groups(spec: &FeatureSpec) -> BTreeMap<String, Vec<usize>> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (j, feature) in spec.features.iter().enumerate() {
        groups
            .entry(feature.source.column().to_string())
            .or_default()
            .push(j);
    }
    groups
}

/// The parsed release dates of the training rows, in order.
fn gather_dates(tracks: &Tracks, role: &[u8]) -> Result<Vec<Option<YearMonth>>, FeatureError> {
    let mut dates = Vec::new();
    tracks.scan(&[schema::RELEASE_DATE], |first, batch| {
        let parsed = spec::release_dates(batch)?;
        let train = parsed
            .into_iter()
            .zip(&role[first..])
            .filter(|(_, r)| **r == TRAIN);
        dates.extend(train.map(|(date, _)| date));
        Ok(())
    })?;
    Ok(dates)
}

/// The sorted distinct training values of a `category` column.
fn fit_categories(tracks: &Tracks, role: &[u8], column: &str) -> Result<Categories, FeatureError> {
    let mut distinct: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    tracks.scan_training_text(column, role, |_, cell| {
        if let Some(value) = cell {
            if !distinct.contains(value) {
                distinct.insert(value.to_string());
            }
        }
    })?;
    Ok(Categories::fit(distinct.iter().map(|v| Some(v.as_str()))))
}

/// Compact training values of one source column.
enum Gathered {
    /// A numeric column's values.
    Numbers(Vec<Option<f64>>),
    /// Parsed release dates.
    Dates(Vec<Option<YearMonth>>),
    /// Category codes (index in the sorted categories).
    Codes(Vec<u32>),
    /// Keys of a high-cardinality column.
    Keys(KeyRows),
}

/// The keys of a key column's training rows, as indices into its [`FoldCounts`].
struct KeyRows {
    /// Key index of every training row ([`NO_KEY`] when it has none).
    ids: Vec<u32>,
    /// Number of names of every training row (list columns only).
    lengths: Vec<u32>,
    /// The per-fold counts.
    counts: FoldCounts,
}

/// Key index of a row without a key.
const NO_KEY: u32 = u32::MAX;

/// What fitting one source column needs.
struct FitContext<'a> {
    tracks: &'a Tracks<'a>,
    rows: &'a Assignment,
    options: &'a FeatureOptions,
    folds: &'a [u32],
    prior: f64,
    smoothing: f64,
}

impl FitContext<'_> {
    /// Read the training values of `column`, which feeds `source` (and maybe others).
    fn gather(
        &self,
        spec: &FeatureSpec,
        column: &str,
        source: &FeatureSource,
    ) -> Result<Gathered, FeatureError> {
        let role = &self.rows.role;
        match source {
            FeatureSource::Column { column } => self.gather_numbers(column).map(Gathered::Numbers),
            FeatureSource::ReleaseYear | FeatureSource::ReleaseMonth | FeatureSource::ReleaseAge { .. } => {
                gather_dates(self.tracks, role).map(Gathered::Dates)
            }
            FeatureSource::Indicator { .. } | FeatureSource::CategoryCode { .. } => {
                let categories = spec.categories.get(column).ok_or_else(|| no_categories(column))?;
                let mut codes = Vec::with_capacity(self.rows.train_rows);
                self.tracks.scan_training_text(column, role, |_, cell| {
                    codes.push(categories.code(cell) as u32);
                })?;
                Ok(Gathered::Codes(codes))
            }
            FeatureSource::TargetMean { .. }
            | FeatureSource::KeyCount { .. }
            | FeatureSource::ListLength { .. } => self.gather_keys(column).map(Gathered::Keys),
        }
    }

    fn gather_numbers(&self, column: &str) -> Result<Vec<Option<f64>>, FeatureError> {
        let mut values = Vec::with_capacity(self.rows.train_rows);
        let role = &self.rows.role;
        self.tracks.scan(&[column], |first, batch| {
            let array = spec::column(batch, column)?;
            let numbers = array.as_primitive_opt::<Float64Type>().ok_or_else(|| {
                FeatureError::MissingColumn(format!("{column} (as Float64; found {})", array.data_type()))
            })?;
            let train = numbers.iter().zip(&role[first..]).filter(|(_, r)| **r == TRAIN);
            values.extend(train.map(|(v, _)| v));
            Ok(())
        })?;
        Ok(values)
    }

    fn gather_keys(&self, column: &str) -> Result<KeyRows, FeatureError> {
        let parse = self
            .options
            .encode
            .get(column)
            .and_then(|e| spec::key_parse(*e))
            .ok_or_else(|| FeatureError::Encoding {
                column: column.to_string(),
                message: "not a target-encoded column".into(),
            })?;
        let folds = self.folds.iter().max().map_or(1, |f| *f as usize + 1);
        let mut counts = FoldCounts::new(parse, folds, self.prior, self.smoothing);
        let mut ids = Vec::with_capacity(self.rows.train_rows);
        let mut lengths = Vec::new();
        let labels = &self.rows.train_labels;
        self.tracks
            .scan_training_text(column, &self.rows.role, |t, cell| {
                ids.push(counts.add(parse.key(cell), self.folds[t], labels[t]));
                if parse == KeyParse::PythonList {
                    lengths.push(parse.length(cell) as u32);
                }
            })?;
        Ok(KeyRows { ids, lengths, counts })
    }

    /// The raw training values of `source` from the gathered values of its column.
    fn raw(
        &self,
        spec: &FeatureSpec,
        gathered: &mut Gathered,
        source: &FeatureSource,
    ) -> Result<Vec<Option<f64>>, FeatureError> {
        let year = |d: &Option<YearMonth>| d.map(|(year, _)| year);
        Ok(match (gathered, source) {
            (Gathered::Numbers(values), FeatureSource::Column { .. }) => std::mem::take(values),
            (Gathered::Dates(dates), FeatureSource::ReleaseYear) => {
                dates.iter().map(|d| year(d).map(f64::from)).collect()
            }
            (Gathered::Dates(dates), FeatureSource::ReleaseMonth) => dates
                .iter()
                .map(|d| d.and_then(|(_, month)| month).map(f64::from))
                .collect(),
            (Gathered::Dates(dates), FeatureSource::ReleaseAge { newest_year }) => dates
                .iter()
                .map(|d| year(d).map(|y| f64::from(newest_year - y)))
                .collect(),
            (Gathered::Codes(codes), FeatureSource::Indicator { column, category }) => {
                let categories = spec.categories.get(column).ok_or_else(|| no_categories(column))?;
                let index = categories.code(Some(category.as_str())) as u32;
                codes
                    .iter()
                    .map(|&c| Some(f64::from(u8::from(c == index))))
                    .collect()
            }
            (Gathered::Codes(codes), FeatureSource::CategoryCode { .. }) => {
                codes.iter().map(|&c| Some(f64::from(c))).collect()
            }
            (Gathered::Keys(keys), FeatureSource::TargetMean { .. }) => keys
                .ids
                .iter()
                .zip(self.folds)
                .map(|(&id, &fold)| Some(keys.counts.out_of_fold(id, fold)))
                .collect(),
            (Gathered::Keys(keys), FeatureSource::KeyCount { .. }) => {
                keys.ids.iter().map(|&id| Some(keys.counts.count(id))).collect()
            }
            (Gathered::Keys(keys), FeatureSource::ListLength { .. }) => {
                keys.lengths.iter().map(|&n| Some(f64::from(n))).collect()
            }
            (_, source) => {
                return Err(FeatureError::Encoding {
                    column: source.column().to_string(),
                    message: "inputs of one column disagree on its kind".into(),
                })
            }
        })
    }
}

fn no_categories(column: &str) -> FeatureError {
    FeatureError::Encoding {
        column: column.to_string(),
        message: "the feature spec has no categories for it".into(),
    }
}

/// Label counts of every key of a key column over the training rows, per fold: the
/// statistics of the other folds are the totals minus the row's fold, exact in integers,
/// so the out-of-fold means equal [`crate::encode::out_of_fold_target_means`]'s.
struct FoldCounts {
    parse: KeyParse,
    /// Key → index.
    index: HashMap<String, u32>,
    /// Folds of the training rows.
    folds: usize,
    /// `[replayed, rows]` per key and fold (`key * folds + fold`).
    per_fold: Vec<[u32; 2]>,
    /// `[replayed, rows]` per key over all training rows.
    totals: Vec<[u32; 2]>,
    prior: f64,
    smoothing: f64,
}

impl FoldCounts {
    fn new(parse: KeyParse, folds: usize, prior: f64, smoothing: f64) -> Self {
        FoldCounts {
            parse,
            index: HashMap::new(),
            folds,
            per_fold: Vec::new(),
            totals: Vec::new(),
            prior,
            smoothing,
        }
    }

    /// Count a training row with `key` in `fold`; its key index.
    fn add(&mut self, key: Option<String>, fold: u32, replayed: bool) -> u32 {
        let Some(key) = key else { return NO_KEY };
        let next = self.totals.len() as u32;
        let id = *self.index.entry(key).or_insert(next);
        if id == next {
            self.totals.push([0, 0]);
            self.per_fold.extend(std::iter::repeat_n([0, 0], self.folds));
        }
        let y = u32::from(replayed);
        let cell = &mut self.per_fold[id as usize * self.folds + fold as usize];
        cell[0] += y;
        cell[1] += 1;
        let total = &mut self.totals[id as usize];
        total[0] += y;
        total[1] += 1;
        id
    }

    /// Index of `key` ([`NO_KEY`] when missing or unknown).
    fn id(&self, key: Option<&str>) -> u32 {
        key.and_then(|k| self.index.get(k)).copied().unwrap_or(NO_KEY)
    }

    /// Smoothed target mean of key `id` over the training rows outside `fold`; the prior
    /// when no such row has the key.
    fn out_of_fold(&self, id: u32, fold: u32) -> f64 {
        let Some(total) = self.totals.get(id as usize) else {
            return self.prior;
        };
        let own = self.per_fold[id as usize * self.folds + fold as usize];
        let (sum, count) = (total[0] - own[0], total[1] - own[1]);
        if count == 0 {
            self.prior
        } else {
            (f64::from(sum) + self.prior * self.smoothing) / (f64::from(count) + self.smoothing)
        }
    }

    /// Training rows with key `id` (0 for [`NO_KEY`]).
    fn count(&self, id: u32) -> f64 {
        self.totals.get(id as usize).map_or(0.0, |t| f64::from(t[1]))
    }

    /// The statistics over all training rows, as [`KeyStats::fit`] computes them.
    fn key_stats(&self) -> KeyStats {
        let keys = self
            .index
            .iter()
            .map(|(key, &id)| {
                let [sum, count] = self.totals[id as usize];
                (key.clone(), [f64::from(sum), f64::from(count)])
            })
            .collect();
        KeyStats {
            prior: self.prior,
            smoothing: self.smoothing,
            keys,
        }
    }

    /// Out-of-fold target means of training rows with `cells`, in `folds`.
    fn out_of_fold_cells(&self, cells: &[Option<&str>], folds: &[u32]) -> Vec<f64> {
        cells
            .iter()
            .zip(folds)
            .map(|(cell, &fold)| self.out_of_fold(self.id(self.parse.key(*cell).as_deref()), fold))
            .collect()
    }
}

/// Third step: transform the rows batch by batch and write train and test Parquet.
fn write(tracks: &Tracks, rows: &Assignment, fitted: &Fitted, out_dir: &Path) -> Result<(), FeatureError> {
    let schema = fitted.spec.output_schema();
    let mut train_sink = replay_parquet::Sink::create(&out_dir.join(TRAIN_FILE), Arc::clone(&schema))?;
    let mut test_sink = replay_parquet::Sink::create(&out_dir.join(TEST_FILE), schema)?;
    let names: Vec<&str> = tracks.schema.fields().iter().map(|f| f.name().as_str()).collect();
    // This thread reads and transforms the batches while a second one encodes and writes
    // them: a few batches in flight, the files written in the same order.
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Written>(2);
        let writer = scope.spawn(move || -> Result<(), FeatureError> {
            for message in receive {
                match message {
                    Written::Batches(train, test) => {
                        if let Some(train) = train {
                            train_sink.write(&train)?;
                        }
                        if let Some(test) = test {
                            test_sink.write(&test)?;
                        }
                    }
                    Written::End => {
                        train_sink.finish()?;
                        test_sink.finish()?;
                        return Ok(());
                    }
                }
            }
            // Without `End` (a read or transform failed), the sinks are dropped unfinished
            // and remove their temporary files.
            Ok(())
        });
        let mut written = 0;
        let transformed = tracks.scan(&names, |first, batch| {
            let role = &rows.role[first..first + batch.num_rows()];
            let train = rows_with_role(batch, role, TRAIN)?;
            let train_out = if train.num_rows() > 0 {
                let range = written..written + train.num_rows();
                let train = match &rows.train_popularity {
                    Some(popularity) => with_popularity(&train, &popularity[range.clone()])?,
                    None => train,
                };
                let folds = fitted.folds.get(range).unwrap_or(&[]);
                let out = fitted.spec.apply_training(&train, &|column| {
                    let counts = fitted.keys.get(column).ok_or_else(|| FeatureError::Encoding {
                        column: column.to_string(),
                        message: "the feature spec has no key statistics for it".into(),
                    })?;
                    Ok(counts.out_of_fold_cells(&spec::strings(&train, column)?, folds))
                })?;
                written += train.num_rows();
                Some(out)
            } else {
                None
            };
            let test = rows_with_role(batch, role, TEST)?;
            let test_out = match test.num_rows() {
                0 => None,
                _ => Some(fitted.spec.apply(&test)?),
            };
            // A closed channel means the writer failed: its error is reported below.
            let _ = send.send(Written::Batches(train_out, test_out));
            Ok(())
        });
        if transformed.is_ok() {
            let _ = send.send(Written::End);
        }
        drop(send);
        let wrote = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A read or transform error first: the writer then merely stopped early.
        transformed.and(wrote)
    })
}

/// What [`write`]'s reading thread hands its writing thread.
enum Written {
    /// The transformed training and test rows of one batch of tracks.
    Batches(Option<RecordBatch>, Option<RecordBatch>),
    /// Every batch was sent: finish both files.
    End,
}

/// The rows of `batch` whose role is `wanted`.
fn rows_with_role(batch: &RecordBatch, role: &[u8], wanted: u8) -> Result<RecordBatch, FeatureError> {
    if role.iter().all(|&r| r == wanted) {
        return Ok(batch.clone());
    }
    let mask: BooleanArray = role.iter().map(|&r| Some(r == wanted)).collect();
    Ok(filter_record_batch(batch, &mask)?)
}

/// `batch` with its popularity column replaced by `popularity`.
fn with_popularity(batch: &RecordBatch, popularity: &[f64]) -> Result<RecordBatch, FeatureError> {
    let index = batch.schema().index_of(schema::POPULARITY)?;
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[index] = Arc::new(Float64Array::from(popularity.to_vec()));
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}
