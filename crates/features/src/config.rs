//! Configuration of the feature stage: `[label]`, `[split]` and `[features]` in pipeline.toml.

use serde::{Deserialize, Serialize};

/// The label rule: a track is `replayed` when its popularity is at least `threshold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelConfig {
    /// Popularity threshold (0..=100).
    #[serde(deserialize_with = "threshold")]
    pub threshold: f64,
}

impl Default for LabelConfig {
    fn default() -> Self {
        Self { threshold: 50.0 }
    }
}

fn threshold<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a popularity threshold between 0 and 100, got {v}"
        )))
    }
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

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            test_fraction: 0.2,
            stratify: true,
            seed: 42,
        }
    }
}

/// Which model inputs are derived and how they are scaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureOptions {
    /// Standardize every input to zero mean and unit variance on the training rows.
    pub standardize: bool,
    /// Derive `year` from the release date when the source has no `year` column.
    pub derive_year: bool,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        Self {
            standardize: true,
            derive_year: true,
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
}
