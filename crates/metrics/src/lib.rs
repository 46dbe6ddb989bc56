//! Binary classification metrics with scikit-learn's definitions, on plain slices of
//! labels and probabilities, and seeded bootstrap confidence intervals. The positive
//! class is "replayed"; probabilities are of the positive class. A small crate without
//! I/O, so that a model crate can score itself (the forest's out-of-bag ROC-AUC) without
//! depending on the evaluation stage; `replay-eval` re-exports it as `replay_eval::metrics`.
//!
//! ```
//! let y = [true, false, true, false];
//! let p = [0.9, 0.2, 0.4, 0.6];
//! assert_eq!(replay_metrics::roc_auc(&y, &p), Ok(0.75));
//! assert_eq!(replay_metrics::confusion_matrix(&y, &p, 0.5), [[1, 1], [1, 1]]);
//! ```

#![warn(missing_docs)]

pub mod bootstrap;
pub mod calibration;
pub mod curves;
pub mod ranking;

use serde::{Deserialize, Serialize};

use crate::ranking::Ranking;

/// Why metrics could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// Labels and probabilities differ in length.
    #[error("{labels} labels but {scores} predictions")]
    Length {
        /// Labels given.
        labels: usize,
        /// Predictions given.
        scores: usize,
    },
    /// The metric needs both classes among the labels.
    #[error("the labels hold a single class; ROC-AUC and PR-AUC are undefined")]
    SingleClass,
    /// More rows than a ranking can index.
    #[error("{rows} rows; at most {max} can be evaluated")]
    TooManyRows {
        /// Rows given.
        rows: usize,
        /// The limit, [`crate::ranking::MAX_ROWS`].
        max: usize,
    },
    /// A prediction is NaN or outside [0, 1].
    #[error("prediction {index} is {value}, not a probability")]
    NotAProbability {
        /// Its position.
        index: usize,
        /// The value.
        value: f64,
    },
}

/// Check lengths, that both classes occur, and that every prediction is a probability.
pub fn check(y: &[bool], p: &[f64]) -> Result<(), MetricError> {
    check_probabilities(y, p)?;
    let positives = y.iter().filter(|&&v| v).count();
    if positives == 0 || positives == y.len() {
        return Err(MetricError::SingleClass);
    }
    Ok(())
}

/// Check lengths and that every prediction is a probability.
pub fn check_probabilities(y: &[bool], p: &[f64]) -> Result<(), MetricError> {
    if y.len() != p.len() {
        return Err(MetricError::Length {
            labels: y.len(),
            scores: p.len(),
        });
    }
    if let Some(index) = p.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(MetricError::NotAProbability {
            index,
            value: p[index],
        });
    }
    Ok(())
}

/// `[[tn, fp], [fn, tp]]` with a track predicted replayed when `p >= threshold`.
pub fn confusion_matrix(y: &[bool], p: &[f64], threshold: f64) -> [[u64; 2]; 2] {
    let mut cm = [[0u64; 2]; 2];
    for (&truth, &prob) in y.iter().zip(p) {
        cm[usize::from(truth)][usize::from(prob >= threshold)] += 1;
    }
    cm
}

/// Area under the ROC curve; tied scores count one half (scikit-learn's `roc_auc_score`).
pub fn roc_auc(y: &[bool], p: &[f64]) -> Result<f64, MetricError> {
    check(y, p)?;
    Ranking::new(y, p)?.roc_auc()
}

/// Average precision, `Σ (Rₙ − Rₙ₋₁) Pₙ` over distinct thresholds (scikit-learn's
/// `average_precision_score`, the area under the precision-recall curve).
pub fn average_precision(y: &[bool], p: &[f64]) -> Result<f64, MetricError> {
    check(y, p)?;
    Ranking::new(y, p)?.average_precision()
}

/// Mean negative log-likelihood, probabilities clipped to `[ε, 1 − ε]` with ε the f64
/// machine epsilon (scikit-learn's `log_loss`).
pub fn log_loss(y: &[bool], p: &[f64]) -> f64 {
    let eps = f64::EPSILON;
    let total: f64 = y
        .iter()
        .zip(p)
        .map(|(&t, &q)| {
            let q = q.clamp(eps, 1.0 - eps);
            -if t { q.ln() } else { (1.0 - q).ln() }
        })
        .sum();
    total / y.len().max(1) as f64
}

/// Mean squared difference between probability and outcome (scikit-learn's `brier_score_loss`).
pub fn brier(y: &[bool], p: &[f64]) -> f64 {
    let total: f64 = y
        .iter()
        .zip(p)
        .map(|(&t, &q)| (q - f64::from(u8::from(t))).powi(2))
        .sum();
    total / y.len().max(1) as f64
}

/// Expected calibration error with `bins` equal-width bins over [0, 1] (a probability of
/// exactly 1 falls in the last bin): `Σ_b (n_b / n) · |mean outcome_b − mean probability_b|`.
pub fn expected_calibration_error(y: &[bool], p: &[f64], bins: usize) -> f64 {
    calibration_error_of_bins(&crate::curves::calibration(y, p, bins), y.len())
}

/// The mean [`expected_calibration_error`] of probabilities `p` against `draws` sets of
/// labels drawn from them (row `i` replayed with probability `p[i]`, ChaCha8 seeded by
/// `seed`, stream per draw): the ECE that perfectly calibrated probabilities show on this
/// many rows through sampling noise alone. The same value whatever the thread count.
pub fn ece_of_calibrated(p: &[f64], bins: usize, draws: usize, seed: u64) -> f64 {
    use rand::{Rng, SeedableRng};
    use rayon::prelude::*;
    let total: f64 = (0..draws)
        .into_par_iter()
        .map(|d| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(d as u64);
            let y: Vec<bool> = p.iter().map(|&q| rng.random::<f64>() < q).collect();
            expected_calibration_error(&y, p, bins)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .sum();
    total / draws.max(1) as f64
}

/// [`expected_calibration_error`] of the bins of `rows` rows already computed by
/// [`crate::curves::calibration`].
pub fn calibration_error_of_bins(bins: &[crate::curves::CalibrationBin], rows: usize) -> f64 {
    bins.iter()
        .map(|b| b.count as f64 * (b.fraction_positive - b.mean_probability).abs())
        .sum::<f64>()
        / rows.max(1) as f64
}

/// The highest threshold at which at least `target` of the positives are predicted
/// positive (`p >= threshold`).
pub fn threshold_for_recall(y: &[bool], p: &[f64], target: f64) -> f64 {
    let mut positives: Vec<f64> = y.iter().zip(p).filter(|(&t, _)| t).map(|(_, &q)| q).collect();
    if positives.is_empty() {
        return 0.0;
    }
    positives.sort_by(|a, b| b.total_cmp(a));
    let needed = ((target * positives.len() as f64).ceil() as usize).clamp(1, positives.len());
    positives[needed - 1]
}

/// Precision, recall and F1 of one class, and how many true rows it has.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Of the rows predicted as this class, the share that is.
    pub precision: f64,
    /// Of the rows of this class, the share predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Rows of this class.
    pub support: u64,
}

/// Metrics that depend on the decision threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdMetrics {
    /// Predicted replayed when the probability is at least this.
    pub threshold: f64,
    /// `[[tn, fp], [fn, tp]]`.
    pub confusion_matrix: [[u64; 2]; 2],
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Mean of the two classes' recalls.
    pub balanced_accuracy: f64,
    /// Scores of the not-replayed class.
    pub not_replayed: ClassScores,
    /// Scores of the replayed class.
    pub replayed: ClassScores,
    /// Unweighted means over both classes.
    pub macro_avg: ClassScores,
}

/// A ratio that is 0 when the denominator is (scikit-learn's `zero_division=0`).
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

fn scores(tp: f64, fp: f64, fn_: f64) -> ClassScores {
    ClassScores {
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
        f1: ratio(2.0 * tp, 2.0 * tp + fp + fn_),
        support: (tp + fn_) as u64,
    }
}

impl ThresholdMetrics {
    /// Every threshold-dependent metric at `threshold`.
    pub fn at(y: &[bool], p: &[f64], threshold: f64) -> Self {
        let confusion_matrix = confusion_matrix(y, p, threshold);
        let [[tn, fp], [fn_, tp]] = confusion_matrix.map(|row| row.map(|c| c as f64));
        let replayed = scores(tp, fp, fn_);
        let not_replayed = scores(tn, fn_, fp);
        let macro_avg = ClassScores {
            precision: (replayed.precision + not_replayed.precision) / 2.0,
            recall: (replayed.recall + not_replayed.recall) / 2.0,
            f1: (replayed.f1 + not_replayed.f1) / 2.0,
            support: replayed.support + not_replayed.support,
        };
        ThresholdMetrics {
            threshold,
            confusion_matrix,
            accuracy: ratio(tp + tn, tp + tn + fp + fn_),
            balanced_accuracy: macro_avg.recall,
            not_replayed,
            replayed,
            macro_avg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfectly_calibrated_probabilities_show_the_ece_of_sampling_noise() {
        // One bin at 0.5: the ECE is |Binomial(n, 1/2) / n - 1/2|, whose mean is about
        // sqrt(2 / pi) / (2 sqrt(n)).
        let n = 10_000;
        let p = vec![0.5; n];
        let want = (2.0 / std::f64::consts::PI).sqrt() / (2.0 * (n as f64).sqrt());
        let got = ece_of_calibrated(&p, 10, 400, 3);
        assert!((got / want - 1.0).abs() < 0.1, "{got} vs {want}");
        // Fewer rows, more noise; the same seed, the same value.
        assert!(ece_of_calibrated(&p[..1000], 10, 400, 3) > 2.5 * got);
        assert_eq!(got.to_bits(), ece_of_calibrated(&p, 10, 400, 3).to_bits());
    }

    // scikit-learn 1.x on y = [1,0,1,1,0,0,1,0,1,0], p = [.9,.1,.4,.4,.4,.2,.8,.7,.35,.05]:
    // roc_auc_score 0.8, average_precision_score 0.8095238095238095,
    // log_loss 0.5305503444670536, brier_score_loss 0.1895,
    // at 0.5: accuracy 0.6, balanced_accuracy 0.6, precision 2/3, recall 0.4, f1 0.5,
    // class 0: precision 4/7, recall 0.8, f1 2/3.
    const Y: [bool; 10] = [true, false, true, true, false, false, true, false, true, false];
    const P: [f64; 10] = [0.9, 0.1, 0.4, 0.4, 0.4, 0.2, 0.8, 0.7, 0.35, 0.05];

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn ranking_metrics_match_scikit_learn_with_ties() {
        assert!(close(roc_auc(&Y, &P).unwrap(), 0.8));
        assert!(close(average_precision(&Y, &P).unwrap(), 0.8095238095238095));
    }

    #[test]
    fn probability_metrics_match_scikit_learn() {
        assert!(
            close(log_loss(&Y, &P), 0.5305503444670536),
            "{}",
            log_loss(&Y, &P)
        );
        assert!(close(brier(&Y, &P), 0.1895));
    }

    #[test]
    fn threshold_metrics_match_scikit_learn() {
        let m = ThresholdMetrics::at(&Y, &P, 0.5);
        assert_eq!(m.confusion_matrix, [[4, 1], [3, 2]]);
        assert!(close(m.accuracy, 0.6) && close(m.balanced_accuracy, 0.6));
        assert!(
            close(m.replayed.precision, 2.0 / 3.0)
                && close(m.replayed.recall, 0.4)
                && close(m.replayed.f1, 0.5)
        );
        assert!(close(m.not_replayed.precision, 4.0 / 7.0) && close(m.not_replayed.recall, 0.8));
        assert!(close(m.not_replayed.f1, 2.0 / 3.0));
        assert_eq!((m.replayed.support, m.not_replayed.support), (5, 5));
        // f1_score(y, y_hat, average="macro") = 0.5833333333333333
        assert!(close(m.macro_avg.f1, 0.5833333333333333));
    }

    #[test]
    fn perfect_reversed_and_constant_rankings() {
        let y = [false, false, true, true];
        assert_eq!(roc_auc(&y, &[0.1, 0.2, 0.3, 0.4]).unwrap(), 1.0);
        assert_eq!(roc_auc(&y, &[0.4, 0.3, 0.2, 0.1]).unwrap(), 0.0);
        assert_eq!(roc_auc(&y, &[0.5; 4]).unwrap(), 0.5);
        assert_eq!(average_precision(&y, &[0.1, 0.2, 0.3, 0.4]).unwrap(), 1.0);
        assert_eq!(
            average_precision(&y, &[0.5; 4]).unwrap(),
            0.5,
            "constant scores: the positive rate"
        );
    }

    #[test]
    fn brier_of_a_constant_prediction_is_its_squared_distance() {
        // A constant q on a positive rate r gives r(1-q)² + (1-r)q².
        let y = [true, false, false, false];
        assert!(close(brier(&y, &[0.25; 4]), 0.25 * 0.5625 + 0.75 * 0.0625));
    }

    #[test]
    fn calibration_error_of_hand_worked_bins() {
        // Bin [0.1, 0.2): p 0.1, 0.1 and outcomes 0, 1 -> |0.5 - 0.1| · 2/4.
        // Bin [0.9, 1.0]: p 0.9, 1.0 and outcomes 1, 1 -> |1 - 0.95| · 2/4.
        let ece = expected_calibration_error(&[false, true, true, true], &[0.1, 0.1, 0.9, 1.0], 10);
        assert!(close(ece, 0.4 * 0.5 + 0.05 * 0.5), "{ece}");
        // Perfectly calibrated: each bin's outcome rate equals its probability.
        assert!(close(
            expected_calibration_error(&[true, false], &[0.5, 0.5], 10),
            0.0
        ));
    }

    #[test]
    fn threshold_for_recall_reaches_the_target_and_no_higher_threshold_does() {
        let t = threshold_for_recall(&Y, &P, 0.75);
        assert_eq!(t, 0.4);
        let recall = ThresholdMetrics::at(&Y, &P, t).replayed.recall;
        assert!(recall >= 0.75, "{recall}");
        assert!(ThresholdMetrics::at(&Y, &P, 0.41).replayed.recall < 0.75);
    }

    #[test]
    fn confusion_counts_sum_to_n_and_errors_are_typed() {
        let cm = confusion_matrix(&Y, &P, 0.3);
        assert_eq!(cm.iter().flatten().sum::<u64>(), 10);
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), Err(MetricError::SingleClass));
        assert_eq!(
            roc_auc(&[true], &[0.1, 0.2]),
            Err(MetricError::Length { labels: 1, scores: 2 })
        );
        assert!(matches!(
            roc_auc(&[true, false], &[f64::NAN, 0.2]),
            Err(MetricError::NotAProbability { index: 0, .. })
        ));
    }
}
