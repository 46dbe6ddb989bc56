//! Evaluation of the replay pipeline: how good predicted replay probabilities are against
//! true labels, with scikit-learn's metric definitions, seeded bootstrap confidence
//! intervals, and the curves behind the report's charts (the metrics themselves are the
//! `replay-metrics` crate, re-exported as [`metrics`]).
//!
//! Features: `report` (default) draws the charts and writes report.html and report.md
//! (plotters); `stage` adds the `stage` module: the eval and report stages on
//! files (Arrow, Parquet and the models).
//!
//! ```
//! use replay_eval::{evaluate, EvalConfig};
//! let y = [true, false, true, false];
//! let p = [0.9, 0.2, 0.4, 0.6];
//! let m = evaluate(&y, &p, &EvalConfig::default()).unwrap();
//! assert_eq!(m.confusion_matrix, [[1, 1], [1, 1]]);
//! assert_eq!(m.roc_auc, 0.75);
//! ```

#![warn(missing_docs)]

#[cfg(feature = "report")]
pub mod explain_charts;
#[cfg(feature = "report")]
pub mod plots;
#[cfg(feature = "report")]
pub mod report;
#[cfg(feature = "stage")]
pub mod stage;

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use bootstrap::{Intervals, Resampling, Scored};
/// The metrics themselves (the `replay-metrics` crate), as `replay_eval::metrics`.
pub use replay_metrics as metrics;
pub use replay_metrics::calibration::{CalibrationMethod, Calibrator, ThresholdRule};
pub use replay_metrics::{bootstrap, curves, ranking};
pub use replay_metrics::{ranking::Ranking, ClassScores, MetricError, ThresholdMetrics};

/// File name of the metrics written by the eval stage.
pub const METRICS_FILE: &str = "metrics.json";

/// Configuration of the eval stage (`[eval]` in pipeline.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Probability at or above which a track is predicted replayed.
    #[serde(deserialize_with = "replay_core::config::unit_interval")]
    pub threshold: f64,
    /// Recall of the replayed class for the second operating point (the seed reached 0.75).
    #[serde(deserialize_with = "replay_core::config::unit_interval")]
    pub target_recall: f64,
    /// Bootstrap resamples for the confidence intervals (0 turns them off).
    pub bootstrap_samples: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Equal-width probability bins of the calibration error and diagram.
    #[serde(deserialize_with = "replay_core::config::at_least_one")]
    pub calibration_bins: usize,
    /// How each model's decision threshold is chosen on out-of-fold training predictions
    /// (`"max_f1"`, `{ recall = r }`, `{ cost_ratio = c }`), replacing `threshold`; the
    /// train stage chooses it and saves it with the model.
    #[serde(deserialize_with = "threshold_rule", skip_serializing_if = "Option::is_none")]
    pub operating_point: Option<ThresholdRule>,
    /// Test songs, spread evenly over the test rows, whose contributions the report
    /// explains for every model (0: no explanation section).
    pub explain_songs: usize,
}

/// Deserialize a checked [`ThresholdRule`].
fn threshold_rule<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ThresholdRule>, D::Error> {
    let rule = ThresholdRule::deserialize(d)?;
    match rule.defect() {
        Some(message) => Err(serde::de::Error::custom(message)),
        None => Ok(Some(rule)),
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            threshold: 0.5,
            target_recall: 0.75,
            bootstrap_samples: 1000,
            seed: 42,
            calibration_bins: 10,
            operating_point: None,
            explain_songs: 200,
        }
    }
}

/// 95% bootstrap intervals of the headline metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceIntervals {
    /// Confidence level (0.95).
    pub level: f64,
    /// Resamples drawn.
    pub samples: usize,
    /// `[low, high]` of ROC-AUC.
    pub roc_auc: [f64; 2],
    /// `[low, high]` of accuracy at the decision threshold.
    pub accuracy: [f64; 2],
}

/// Every metric of one model. The flat keys are those of the replayed class at
/// [`EvalConfig::threshold`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetrics {
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Mean recall of the two classes.
    pub balanced_accuracy: f64,
    /// Precision of the replayed class.
    pub precision: f64,
    /// Recall of the replayed class.
    pub recall: f64,
    /// F1 of the replayed class.
    pub f1: f64,
    /// Area under the ROC curve.
    pub roc_auc: f64,
    /// Average precision (area under the precision-recall curve).
    pub pr_auc: f64,
    /// Mean negative log-likelihood.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Expected calibration error.
    pub ece: f64,
    /// The decision threshold of the flat keys.
    pub threshold: f64,
    /// `[[tn, fp], [fn, tp]]` at the decision threshold.
    pub confusion_matrix: [[u64; 2]; 2],
    /// Per-class and macro-averaged scores at the decision threshold.
    pub at_threshold: ThresholdMetrics,
    /// The operating point that reaches [`EvalConfig::target_recall`].
    pub at_target_recall: ThresholdMetrics,
    /// Bootstrap intervals (absent when turned off).
    pub confidence_intervals: Option<ConfidenceIntervals>,
    /// The rule that chose [`ModelMetrics::threshold`] on out-of-fold training
    /// predictions (absent: `[eval] threshold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_rule: Option<ThresholdRule>,
    /// The probabilities' quality before and after calibration (calibrated models only;
    /// the other metrics are of the calibrated probabilities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationEffect>,
}

/// What calibration changed on the test rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationEffect {
    /// The calibration map's method.
    pub method: CalibrationMethod,
    /// The model's own probabilities.
    pub before: ProbabilityQuality,
    /// The calibrated probabilities.
    pub after: ProbabilityQuality,
    /// The ECE that perfectly calibrated probabilities like these show on these test
    /// rows through sampling noise alone: the mean ECE of the calibrated probabilities
    /// against [`ECE_NOISE_DRAWS`] sets of labels drawn from them. ECEs near it cannot be
    /// told apart. Absent from metrics files written before it was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ece_noise: Option<f64>,
    /// The bootstrap interval (the metrics' resamples and level) of `after.ece −
    /// before.ece`: a change whose interval holds 0 is within the test rows' noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ece_change_interval: Option<[f64; 2]>,
}

/// Label sets drawn for [`CalibrationEffect::ece_noise`].
pub const ECE_NOISE_DRAWS: usize = 200;

/// How well probabilities match outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbabilityQuality {
    /// Expected calibration error ([`EvalConfig::calibration_bins`] bins).
    pub ece: f64,
    /// Brier score.
    pub brier: f64,
    /// Mean negative log-likelihood.
    pub log_loss: f64,
    /// Area under the ROC curve (a monotone map changes it only through ties).
    pub roc_auc: f64,
    /// The reliability diagram's bins.
    pub curve: Vec<curves::CalibrationBin>,
}

impl ProbabilityQuality {
    /// The quality of probabilities `p` of rows labelled `y`.
    pub fn of(y: &[bool], p: &[f64], bins: usize) -> Result<Self, MetricError> {
        Ok(Self::with_roc_auc(y, p, metrics::roc_auc(y, p)?, bins))
    }

    /// [`ProbabilityQuality::of`] with the ROC-AUC already computed (one pass over the
    /// bins for the curve and the ECE).
    fn with_roc_auc(y: &[bool], p: &[f64], roc_auc: f64, bins: usize) -> Self {
        let curve = curves::calibration(y, p, bins);
        ProbabilityQuality {
            ece: metrics::calibration_error_of_bins(&curve, y.len()),
            brier: metrics::brier(y, p),
            log_loss: metrics::log_loss(y, p),
            roc_auc,
            curve,
        }
    }
}

/// One model's test-set probabilities, with what its model file adds to them.
#[derive(Debug, Clone, Copy)]
pub struct Scores<'a> {
    /// The probabilities (calibrated, for a model with a calibration map).
    pub p: &'a [f64],
    /// The threshold chosen on out-of-fold training predictions and its rule, which
    /// replace [`EvalConfig::threshold`].
    pub operating_point: Option<(ThresholdRule, f64)>,
    /// The calibration method and the probabilities before calibration.
    pub uncalibrated: Option<(CalibrationMethod, &'a [f64])>,
}

impl<'a> Scores<'a> {
    /// Probabilities with nothing added.
    pub fn plain(p: &'a [f64]) -> Self {
        Scores {
            p,
            operating_point: None,
            uncalibrated: None,
        }
    }
}

/// Every metric of probabilities `p` against labels `y`.
pub fn evaluate(y: &[bool], p: &[f64], config: &EvalConfig) -> Result<ModelMetrics, MetricError> {
    let mut all = evaluate_models(y, &[p], config)?;
    all.pop().ok_or(MetricError::Length {
        labels: y.len(),
        scores: 0,
    })
}

/// Every metric of each model's probabilities against labels `y`, in the order given. The
/// models share the bootstrap resamples (the same seed draws the same resamples for every
/// model), so they are drawn once; each model's scores are sorted once.
pub fn evaluate_models(
    y: &[bool],
    predictions: &[&[f64]],
    config: &EvalConfig,
) -> Result<Vec<ModelMetrics>, MetricError> {
    let scores: Vec<Scores<'_>> = predictions.iter().map(|p| Scores::plain(p)).collect();
    evaluate_scores(y, &scores, config)
}

/// [`evaluate_models`] for scores with their own thresholds and calibration.
pub fn evaluate_scores(
    y: &[bool],
    predictions: &[Scores<'_>],
    config: &EvalConfig,
) -> Result<Vec<ModelMetrics>, MetricError> {
    for s in predictions {
        metrics::check(y, s.p)?;
        if let Some((_, raw)) = s.uncalibrated {
            metrics::check(y, raw)?;
        }
    }
    let rankings = predictions
        .par_iter()
        .map(|s| Ranking::new(y, s.p))
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let scored: Vec<Scored<'_>> = rankings
        .iter()
        .zip(predictions)
        .map(|(ranking, s)| Scored {
            ranking,
            threshold: s.operating_point.map_or(config.threshold, |(_, t)| t),
        })
        .collect();
    let resampling = resampling(config);
    let intervals = bootstrap::intervals(&scored, &resampling)?;
    // Models are independent: in parallel, collected in order (the first error wins).
    predictions
        .par_iter()
        .zip(&rankings)
        .zip(intervals)
        .map(|((s, ranking), intervals)| {
            let mut m = point_metrics(y, s, ranking, config)?;
            m.confidence_intervals = confidence_intervals(&intervals, &resampling);
            Ok(m)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect()
}

/// The bootstrap resampling of `config`: its samples and seed, 95% intervals.
fn resampling(config: &EvalConfig) -> Resampling {
    Resampling {
        samples: config.bootstrap_samples,
        seed: config.seed,
        level: 0.95,
    }
}

/// The intervals of the report: both metrics or none.
fn confidence_intervals(intervals: &Intervals, resampling: &Resampling) -> Option<ConfidenceIntervals> {
    match (intervals.roc_auc, intervals.accuracy) {
        (Some(roc_auc), Some(accuracy)) => Some(ConfidenceIntervals {
            level: resampling.level,
            samples: resampling.samples,
            roc_auc,
            accuracy,
        }),
        _ => None,
    }
}

/// Every metric but the intervals, from checked probabilities and their ranking.
fn point_metrics(
    y: &[bool],
    scores: &Scores<'_>,
    ranking: &Ranking<'_>,
    config: &EvalConfig,
) -> Result<ModelMetrics, MetricError> {
    let p = scores.p;
    let threshold = scores.operating_point.map_or(config.threshold, |(_, t)| t);
    let quality = ProbabilityQuality::with_roc_auc(y, p, ranking.roc_auc()?, config.calibration_bins);
    let calibration = match scores.uncalibrated {
        None => None,
        Some((method, raw)) => Some(CalibrationEffect {
            method,
            before: ProbabilityQuality::of(y, raw, config.calibration_bins)?,
            after: quality.clone(),
            // A seed of its own, so that its labels do not reuse the bootstrap's draws.
            ece_noise: Some(metrics::ece_of_calibrated(
                p,
                config.calibration_bins,
                ECE_NOISE_DRAWS,
                config.seed.wrapping_add(0x9E37_79B9_7F4A_7C15),
            )),
            ece_change_interval: bootstrap::ece_change_interval(
                y,
                raw,
                p,
                config.calibration_bins,
                &resampling(config),
            ),
        }),
    };
    let at_threshold = ThresholdMetrics::at(y, p, threshold);
    let target_threshold = ranking.threshold_for_recall(config.target_recall);
    Ok(ModelMetrics {
        accuracy: at_threshold.accuracy,
        balanced_accuracy: at_threshold.balanced_accuracy,
        precision: at_threshold.replayed.precision,
        recall: at_threshold.replayed.recall,
        f1: at_threshold.replayed.f1,
        roc_auc: quality.roc_auc,
        pr_auc: ranking.average_precision()?,
        log_loss: quality.log_loss,
        brier: quality.brier,
        ece: quality.ece,
        threshold,
        confusion_matrix: at_threshold.confusion_matrix,
        at_target_recall: ThresholdMetrics::at(y, p, target_threshold),
        at_threshold,
        confidence_intervals: None,
        threshold_rule: scores.operating_point.map(|(rule, _)| rule),
        calibration,
    })
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
    pub models: BTreeMap<String, ModelMetrics>,
    /// The test set.
    pub test_set: TestSetSummary,
}

impl MetricsReport {
    /// Evaluate every model's probabilities `(name, p)` against labels `y`.
    pub fn compute<'a>(
        y: &[bool],
        predictions: impl IntoIterator<Item = (&'a str, &'a [f64])>,
        config: &EvalConfig,
    ) -> Result<Self, MetricError> {
        let (names, scores): (Vec<&str>, Vec<&[f64]>) = predictions.into_iter().unzip();
        let metrics = evaluate_models(y, &scores, config)?;
        let models = names.into_iter().map(str::to_string).zip(metrics).collect();
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

    /// Model names, best ROC-AUC first.
    pub fn ranked(&self) -> Vec<(&str, &ModelMetrics)> {
        let mut rows: Vec<_> = self.models.iter().map(|(n, m)| (n.as_str(), m)).collect();
        rows.sort_by(|a, b| b.1.roc_auc.total_cmp(&a.1.roc_auc).then(a.0.cmp(b.0)));
        rows
    }

    /// A plain-text table of the models, best ROC-AUC first.
    pub fn summary_table(&self) -> String {
        let rows = self.ranked();
        let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(5).max(5);
        let mut out = format!(
            "{:<width$}  {:>8}  {:>9}  {:>6}  {:>6}  {:>7}  {:>15}\n",
            "model", "accuracy", "precision", "recall", "f1", "roc_auc", "roc_auc 95% CI"
        );
        for (name, m) in rows {
            let ci = m
                .confidence_intervals
                .as_ref()
                .map(|c| format!("{:.3}-{:.3}", c.roc_auc[0], c.roc_auc[1]))
                .unwrap_or_default();
            out.push_str(&format!(
                "{:<width$}  {:>8.4}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7.4}  {:>15}\n",
                name, m.accuracy, m.precision, m.recall, m.f1, m.roc_auc, ci
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_json_has_every_key_the_report_promises() {
        let y: Vec<bool> = (0..200).map(|i| i % 3 == 0).collect();
        let p: Vec<f64> = (0..200).map(|i| ((i * 37) % 100) as f64 / 100.0).collect();
        let config = EvalConfig {
            bootstrap_samples: 50,
            ..Default::default()
        };
        let report = MetricsReport::compute(&y, [("m", p.as_slice())], &config).unwrap();
        let json = serde_json::to_value(&report).unwrap();
        let keys = [
            "accuracy",
            "balanced_accuracy",
            "precision",
            "recall",
            "f1",
            "roc_auc",
            "pr_auc",
            "log_loss",
            "brier",
            "ece",
        ];
        for key in keys {
            assert!(json["models"]["m"][key].is_f64(), "{key}");
        }
        assert!(json["models"]["m"]["confusion_matrix"][1][1].is_u64());
        assert!(
            json["models"]["m"]["at_target_recall"]["replayed"]["recall"]
                .as_f64()
                .unwrap()
                >= 0.75
        );
        assert!(json["models"]["m"]["confidence_intervals"]["roc_auc"][0].is_f64());
    }

    #[test]
    fn models_evaluated_together_equal_models_evaluated_alone() {
        let y: Vec<bool> = (0..300).map(|i| (i * 7) % 10 < 4).collect();
        let tied: Vec<f64> = (0..300).map(|i| ((i * 13) % 9) as f64 / 8.0).collect();
        let smooth: Vec<f64> = (0..300).map(|i| ((i * 101) % 307) as f64 / 307.0).collect();
        let config = EvalConfig {
            bootstrap_samples: 120,
            ..Default::default()
        };
        let together = evaluate_models(&y, &[&tied, &smooth], &config).unwrap();
        assert_eq!(together[0], evaluate(&y, &tied, &config).unwrap());
        assert_eq!(together[1], evaluate(&y, &smooth, &config).unwrap());
        assert!(together[0].confidence_intervals.is_some());
        let report =
            MetricsReport::compute(&y, [("b", smooth.as_slice()), ("a", tied.as_slice())], &config).unwrap();
        assert_eq!(report.models["a"], together[0]);
        assert_eq!(report.models["b"], together[1]);
        assert_eq!(
            evaluate_models(&y, &[&tied, &smooth[..10]], &config),
            Err(MetricError::Length {
                labels: 300,
                scores: 10
            })
        );
    }
}
