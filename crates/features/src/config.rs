//! Configuration of the feature stage: `[label]`, `[split]` and `[features]` in pipeline.toml.

use std::collections::BTreeMap;

use replay_core::config::{checked, rule};
use serde::{Deserialize, Deserializer, Serialize};

use crate::FeatureError;

/// The label rule: a track is `replayed` when its popularity is at least `threshold`
/// on a 0-100 scale ([`LabelConfig::cut`] in the popularity's own units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelConfig {
    /// Popularity threshold on a 0-100 scale (0..=100).
    #[serde(deserialize_with = "checked_threshold")]
    pub threshold: f64,
    /// The popularity's maximum in the source: 100 (Spotify's API, Kaggle) or 1 (a 0-1
    /// share); `threshold` is scaled to it.
    #[serde(deserialize_with = "replay_core::config::positive")]
    pub scale: f64,
    /// Read the label from this source column instead (0/1, true/false or yes/no), in
    /// place of `[columns] popularity`; `threshold` and `scale` then do not apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// A leakage check, never for real models: when set, the popularity (hence the label)
    /// of the training rows is permuted with this seed after the split and before anything
    /// is fitted. Test labels stay true, so an honest model scores ROC-AUC ≈ 0.5 (a model
    /// fitted to random labels points in a random direction, so single fits scatter
    /// around 0.5; average several seeds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shuffle_training_labels_seed: Option<u64>,
}

impl Default for LabelConfig {
    fn default() -> Self {
        Self {
            threshold: 50.0,
            scale: 100.0,
            column: None,
            shuffle_training_labels_seed: None,
        }
    }
}

impl LabelConfig {
    /// The popularity, in the source's units, at or above which a track is replayed. A
    /// label column is read as popularity 100 (replayed) or 0, cut at 50.
    pub fn cut(&self) -> f64 {
        match self.column {
            Some(_) => 50.0,
            None => self.threshold * self.scale / 100.0,
        }
    }
}

// The rules of every numeric setting of the stage: config files reach them through the
// serde functions below, values built in code through `FeaturesConfig::check`. Shares
// and scales follow `replay_core::config::rule`; the label threshold and the folds say
// what they are.

fn threshold(v: f64) -> Result<(), String> {
    if (0.0..=100.0).contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "expected a popularity threshold between 0 and 100, got {v}"
        ))
    }
}

fn folds(v: usize) -> Result<(), String> {
    if v >= 2 {
        Ok(())
    } else {
        Err(format!("expected at least 2 folds, got {v}"))
    }
}

fn checked_threshold<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, threshold)
}

fn checked_folds<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    checked(d, folds)
}

/// `result` as a [`FeatureError::InvalidSetting`] of `key`.
fn check(key: &'static str, result: Result<(), String>) -> Result<(), FeatureError> {
    result.map_err(|message| FeatureError::InvalidSetting { key, message })
}

/// How rows are split into train and test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Share of the distinct tracks held out for testing.
    #[serde(deserialize_with = "replay_core::config::open_unit_interval")]
    pub test_fraction: f64,
    /// Keep the positive rate equal in train and test.
    pub stratify: bool,
    /// Seed of the shuffle.
    pub seed: u64,
}

impl SplitConfig {
    /// Check every value, with the rules a config file is read with.
    pub fn check(&self) -> Result<(), FeatureError> {
        check("split.test_fraction", rule::open_unit(self.test_fraction))
    }
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            test_fraction: 0.2,
            stratify: true,
            seed: 42,
        }
    }
}

/// How a categorical (text) column of the tracks becomes model inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// A low-cardinality category: one indicator per training category for linear models
    /// (`<column>=<category>`), and the ordinal code `<column>_code` for tree models
    /// (index in the sorted training categories; unseen or missing: the number of
    /// categories).
    Category,
    /// A high-cardinality key (artist, album): `<column>_target_mean`, the smoothed share of
    /// replayed training tracks with the key (out of fold for the training rows), and
    /// `<column>_count`, its number of training rows. Both families use both.
    Target,
    /// As `target`, for a Python list literal of names (the Kaggle schema's `artists`):
    /// the key is the first name, and `<column>_length` is the number of names.
    TargetList,
}

/// Out-of-fold target encoding of `target` and `target_list` columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetEncodingOptions {
    /// Folds of the training rows (at least 2): each training row is encoded with the
    /// statistics of the other folds.
    #[serde(deserialize_with = "checked_folds")]
    pub folds: usize,
    /// Pseudo-count `m` of `(sum + prior * m) / (count + m)` (finite, >= 0).
    #[serde(deserialize_with = "replay_core::config::non_negative")]
    pub smoothing: f64,
    /// Seed of the shuffle that assigns training rows to folds.
    pub seed: u64,
}

impl Default for TargetEncodingOptions {
    fn default() -> Self {
        Self {
            folds: 5,
            smoothing: 10.0,
            seed: 42,
        }
    }
}

/// Which model inputs are derived and how they are encoded and scaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureOptions {
    /// Standardize every input to zero mean and unit variance on the training rows.
    pub standardize: bool,
    /// Derive `year` from the release date when the source has no `year` column.
    pub derive_year: bool,
    /// Derive `month` (1-12) from the release date; missing for a bare year (imputed).
    pub derive_month: bool,
    /// Derive `age`: the newest release year of the training rows minus the release year.
    pub derive_age: bool,
    /// The encoding of every categorical column of the tracks (`[columns] categorical`),
    /// by column name. A categorical column without one is an error.
    pub encode: BTreeMap<String, Encoding>,
    /// Settings of the `target` and `target_list` encodings.
    pub target_encoding: TargetEncodingOptions,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        Self {
            standardize: true,
            derive_year: true,
            derive_month: false,
            derive_age: false,
            encode: BTreeMap::new(),
            target_encoding: TargetEncodingOptions::default(),
        }
    }
}

/// Everything the feature stage is configured by.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeaturesConfig {
    /// The label rule.
    pub label: LabelConfig,
    /// The split.
    pub split: SplitConfig,
    /// Derived inputs and scaling.
    pub features: FeatureOptions,
    /// How the tracks were read from their source, as the caller describes it (the
    /// pipeline: its `[source]` settings and `[columns]` mapping). Copied into the
    /// [`crate::FeatureSpec`] so that new songs can be read the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_as: Option<serde_json::Value>,
}

impl FeaturesConfig {
    /// Check every numeric value, with the rules a config file is read with (values built
    /// in code skip those). Every entry point of the stage calls it first.
    pub fn check(&self) -> Result<(), FeatureError> {
        check("label.threshold", threshold(self.label.threshold))?;
        check("label.scale", rule::positive(self.label.scale))?;
        self.split.check()?;
        let te = &self.features.target_encoding;
        check("features.target_encoding.folds", folds(te.folds))?;
        check(
            "features.target_encoding.smoothing",
            rule::non_negative(te.smoothing),
        )
    }
}
