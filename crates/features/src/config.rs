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
    /// Label by rank instead of a fixed threshold: the cut is this quantile (in (0, 1),
    /// linear interpolation) of the training rows' popularity, so about the top
    /// `1 - quantile` of them are replayed (ties at the cut included). The fitted cut is
    /// recorded in the feature spec and applies to the test rows and new songs too;
    /// `threshold` and `scale` then do not apply. See [`LabelConfig::fit_cut`].
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "checked_quantile"
    )]
    pub quantile: Option<f64>,
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
            quantile: None,
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

    /// The cut fitted on the popularity of `rows` (no missing values): the `quantile` of
    /// them with `quantile`, otherwise [`LabelConfig::cut`] whatever the rows. The stage
    /// stratifies its split by the cut fitted on every distinct row, then labels train
    /// and test rows by the cut fitted on the training rows only.
    pub fn fit_cut(&self, rows: &[f64]) -> f64 {
        match self.quantile {
            Some(q) if self.column.is_none() => quantile(rows, q),
            _ => self.cut(),
        }
    }
}

/// The `q` quantile of `values` by linear interpolation between the order statistics
/// (NumPy's default); 0 for no values.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    let h = last as f64 * q;
    let lo = (h.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
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

fn checked_quantile<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = f64::deserialize(d)?;
    rule::open_unit(v).map_err(serde::de::Error::custom)?;
    Ok(Some(v))
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
        if let Some(q) = self.label.quantile {
            check("label.quantile", rule::open_unit(q))?;
            if let Some(column) = &self.label.column {
                return check(
                    "label.quantile",
                    Err(format!(
                        "a quantile cuts a popularity, but [label] column '{column}' is the label itself; set one of them"
                    )),
                );
            }
        }
        self.split.check()?;
        let te = &self.features.target_encoding;
        check("features.target_encoding.folds", folds(te.folds))?;
        check(
            "features.target_encoding.smoothing",
            rule::non_negative(te.smoothing),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NumPy: `np.quantile([4, 1, 3, 2], [0.5, 0.25, 0.8])` is `[2.5, 1.75, 3.4]`, and
    /// `np.quantile([10, 20, 30], 0.9)` is 28.
    #[test]
    fn quantile_interpolates_as_numpy() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(quantile(&[4.0, 1.0, 3.0, 2.0], 0.5), 2.5));
        assert!(close(quantile(&[4.0, 1.0, 3.0, 2.0], 0.25), 1.75));
        assert!(close(quantile(&[4.0, 1.0, 3.0, 2.0], 0.8), 3.4));
        assert!(close(quantile(&[10.0, 20.0, 30.0], 0.9), 28.0));
        assert_eq!(quantile(&[7.0], 0.3), 7.0);
    }

    #[test]
    fn fit_cut_is_the_fixed_threshold_without_a_quantile() {
        let label = LabelConfig {
            threshold: 40.0,
            scale: 1.0,
            ..LabelConfig::default()
        };
        assert_eq!(label.fit_cut(&[0.9, 0.1]), 0.4);
        let by_rank = LabelConfig {
            quantile: Some(0.5),
            ..label
        };
        assert_eq!(by_rank.fit_cut(&[0.9, 0.1]), 0.5);
    }
}
