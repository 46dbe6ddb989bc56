//! Evaluation of the replay pipeline: classification metrics of predicted replay
//! probabilities against true labels, with scikit-learn's definitions.
//!
//! ```
//! let y = [true, false, true, false];
//! let p = [0.9, 0.2, 0.4, 0.6];
//! let m = replay_eval::evaluate(&y, &p, 0.5).unwrap();
//! assert_eq!(m.confusion_matrix, [[1, 1], [1, 1]]);
//! assert_eq!(m.roc_auc, 0.75);
//! ```

#![warn(missing_docs)]

mod metrics;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use metrics::{confusion_matrix, evaluate, roc_auc, BinaryMetrics, EvalError};

/// File name of the metrics written by the eval stage.
pub const METRICS_FILE: &str = "metrics.json";

/// Configuration of the eval stage (`[eval]` in pipeline.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Probability at or above which a track is predicted replayed.
    #[serde(deserialize_with = "unit_interval")]
    pub threshold: f64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig { threshold: 0.5 }
    }
}

fn unit_interval<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a probability between 0 and 1, got {v}"
        )))
    }
}

/// The test set the metrics were computed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSetSummary {
    /// Test rows.
    pub rows: usize,
    /// Replayed tracks among them.
    pub positives: usize,
    /// Share of replayed tracks.
    pub positive_rate: f64,
}

/// Contents of `metrics.json`: metrics per model name, and the test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    /// Metrics of every model, by name.
    pub models: BTreeMap<String, BinaryMetrics>,
    /// The test set.
    pub test_set: TestSetSummary,
}

impl MetricsReport {
    /// Evaluate every model's probabilities `(name, p)` against labels `y`.
    pub fn compute<'a>(
        y: &[bool],
        predictions: impl IntoIterator<Item = (&'a str, &'a [f64])>,
        config: &EvalConfig,
    ) -> Result<Self, EvalError> {
        let models = predictions
            .into_iter()
            .map(|(name, p)| Ok((name.to_string(), evaluate(y, p, config.threshold)?)))
            .collect::<Result<_, EvalError>>()?;
        let positives = y.iter().filter(|&&v| v).count();
        Ok(MetricsReport {
            models,
            test_set: TestSetSummary {
                rows: y.len(),
                positives,
                positive_rate: positives as f64 / y.len().max(1) as f64,
            },
        })
    }

    /// A plain-text table of the models, best ROC-AUC first.
    pub fn summary_table(&self) -> String {
        let mut rows: Vec<_> = self.models.iter().collect();
        rows.sort_by(|a, b| b.1.roc_auc.total_cmp(&a.1.roc_auc));
        let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(5).max(5);
        let mut out = format!(
            "{:<width$}  {:>8}  {:>9}  {:>6}  {:>6}  {:>7}\n",
            "model", "accuracy", "precision", "recall", "f1", "roc_auc"
        );
        for (name, m) in rows {
            out.push_str(&format!(
                "{:<width$}  {:>8.4}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7.4}\n",
                name, m.accuracy, m.precision, m.recall, m.f1, m.roc_auc
            ));
        }
        out
    }
}
