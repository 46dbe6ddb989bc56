//! Binary classification metrics of the replayed class.

use serde::{Deserialize, Serialize};

/// Why metrics could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// Labels and probabilities differ in length.
    #[error("{labels} labels but {scores} predictions")]
    Length {
        /// Labels given.
        labels: usize,
        /// Predictions given.
        scores: usize,
    },
    /// ROC-AUC needs both classes among the labels.
    #[error("ROC-AUC is undefined: the labels hold a single class")]
    SingleClass,
    /// A prediction is NaN.
    #[error("prediction {index} is NaN")]
    NaN {
        /// Its position.
        index: usize,
    },
}

/// Metrics of one model, at one decision threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Of the tracks predicted replayed, the share that is (0 when none is predicted).
    pub precision: f64,
    /// Of the replayed tracks, the share predicted replayed.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Area under the ROC curve (ties count one half).
    pub roc_auc: f64,
    /// `[[tn, fp], [fn, tp]]`, rows the true class, columns the predicted one.
    pub confusion_matrix: [[u64; 2]; 2],
    /// The decision threshold: predicted replayed when the probability is at least this.
    pub threshold: f64,
}

fn check(y: &[bool], p: &[f64]) -> Result<(), EvalError> {
    if y.len() != p.len() {
        return Err(EvalError::Length {
            labels: y.len(),
            scores: p.len(),
        });
    }
    match p.iter().position(|v| v.is_nan()) {
        Some(index) => Err(EvalError::NaN { index }),
        None => Ok(()),
    }
}

/// `[[tn, fp], [fn, tp]]` with a track predicted replayed when `p >= threshold`.
pub fn confusion_matrix(y: &[bool], p: &[f64], threshold: f64) -> [[u64; 2]; 2] {
    let mut cm = [[0u64; 2]; 2];
    for (&truth, &prob) in y.iter().zip(p) {
        cm[usize::from(truth)][usize::from(prob >= threshold)] += 1;
    }
    cm
}

/// Area under the ROC curve: the probability that a random replayed track scores above a
/// random other one, ties counting one half (equal to scikit-learn's `roc_auc_score`).
pub fn roc_auc(y: &[bool], p: &[f64]) -> Result<f64, EvalError> {
    check(y, p)?;
    let n_pos = y.iter().filter(|&&v| v).count();
    let n_neg = y.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Err(EvalError::SingleClass);
    }
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    // Sum of the (average, 1-based) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && p[order[end + 1]] == p[order[start]] {
            end += 1;
        }
        let average_rank = (start + end) as f64 / 2.0 + 1.0;
        let positives = order[start..=end].iter().filter(|&&i| y[i]).count();
        rank_sum += average_rank * positives as f64;
        start = end + 1;
    }
    let (n_pos, n_neg) = (n_pos as f64, n_neg as f64);
    Ok((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

/// All metrics of probabilities `p` against labels `y` at `threshold`.
pub fn evaluate(y: &[bool], p: &[f64], threshold: f64) -> Result<BinaryMetrics, EvalError> {
    let roc_auc = roc_auc(y, p)?;
    let cm = confusion_matrix(y, p, threshold);
    let [[tn, fp], [fn_, tp]] = cm.map(|row| row.map(|c| c as f64));
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    Ok(BinaryMetrics {
        accuracy: ratio(tp + tn, tp + tn + fp + fn_),
        precision,
        recall,
        f1: ratio(2.0 * tp, 2.0 * tp + fp + fn_),
        roc_auc,
        confusion_matrix: cm,
        threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed with scikit-learn 1.x:
    //   y = [1,0,1,1,0,0,1,0,1,0]; p = [.9,.1,.4,.4,.4,.2,.8,.7,.35,.05]
    //   roc_auc_score(y, p) = 0.8; at 0.5: accuracy 0.6, precision 2/3, recall 0.4, f1 0.5
    const Y: [bool; 10] = [true, false, true, true, false, false, true, false, true, false];
    const P: [f64; 10] = [0.9, 0.1, 0.4, 0.4, 0.4, 0.2, 0.8, 0.7, 0.35, 0.05];

    #[test]
    fn matches_scikit_learn_on_a_small_case_with_ties() {
        let m = evaluate(&Y, &P, 0.5).unwrap();
        assert!((m.roc_auc - 0.8).abs() < 1e-12, "{}", m.roc_auc);
        assert_eq!(m.confusion_matrix, [[4, 1], [3, 2]]);
        assert!((m.accuracy - 0.6).abs() < 1e-12);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall - 0.4).abs() < 1e-12);
        assert!((m.f1 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn perfect_and_reversed_rankings() {
        let y = [false, false, true, true];
        assert_eq!(roc_auc(&y, &[0.1, 0.2, 0.3, 0.4]).unwrap(), 1.0);
        assert_eq!(roc_auc(&y, &[0.4, 0.3, 0.2, 0.1]).unwrap(), 0.0);
        assert_eq!(roc_auc(&y, &[0.5; 4]).unwrap(), 0.5);
    }

    #[test]
    fn confusion_counts_sum_to_n_and_errors_are_typed() {
        let cm = confusion_matrix(&Y, &P, 0.3);
        assert_eq!(cm.iter().flatten().sum::<u64>(), 10);
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), Err(EvalError::SingleClass));
        assert_eq!(
            roc_auc(&[true], &[0.1, 0.2]),
            Err(EvalError::Length { labels: 1, scores: 2 })
        );
        assert_eq!(
            roc_auc(&[true, false], &[f64::NAN, 0.2]),
            Err(EvalError::NaN { index: 0 })
        );
    }
}
