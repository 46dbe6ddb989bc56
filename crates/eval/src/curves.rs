//! Curves and bins behind the charts: ROC, precision-recall, calibration, histograms.

use serde::{Deserialize, Serialize};

use crate::metrics::{class_counts, threshold_walk};

/// Points `(false positive rate, true positive rate)` of the ROC curve, from (0, 0) to
/// (1, 1), one per distinct threshold.
pub fn roc_curve(y: &[bool], p: &[f64]) -> Vec<(f64, f64)> {
    let (pos, neg) = class_counts(y);
    let mut points = vec![(0.0, 0.0)];
    threshold_walk(y, p, |tp, fp| points.push((fp / neg.max(1.0), tp / pos.max(1.0))));
    points
}

/// Points `(recall, precision)` of the precision-recall curve, one per distinct
/// threshold, from the highest threshold down.
pub fn precision_recall_curve(y: &[bool], p: &[f64]) -> Vec<(f64, f64)> {
    let (pos, _) = class_counts(y);
    let mut points = Vec::new();
    threshold_walk(y, p, |tp, fp| points.push((tp / pos.max(1.0), tp / (tp + fp))));
    points
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge of the bin.
    pub lower: f64,
    /// Upper edge of the bin.
    pub upper: f64,
    /// Rows whose probability falls in the bin.
    pub count: u64,
    /// Their mean predicted probability (the bin's midpoint when empty).
    pub mean_probability: f64,
    /// Their share of replayed tracks (0 when empty).
    pub fraction_positive: f64,
}

/// `bins` equal-width bins over [0, 1]; a probability of exactly 1 falls in the last one.
pub fn calibration(y: &[bool], p: &[f64], bins: usize) -> Vec<CalibrationBin> {
    let bins = bins.max(1);
    let mut sums = vec![(0u64, 0.0f64, 0u64); bins];
    for (&t, &q) in y.iter().zip(p) {
        let b = ((q * bins as f64) as usize).min(bins - 1);
        sums[b].0 += 1;
        sums[b].1 += q;
        sums[b].2 += u64::from(t);
    }
    sums.iter()
        .enumerate()
        .map(|(b, &(count, sum_p, positives))| {
            let lower = b as f64 / bins as f64;
            let upper = (b + 1) as f64 / bins as f64;
            CalibrationBin {
                lower,
                upper,
                count,
                mean_probability: if count > 0 {
                    sum_p / count as f64
                } else {
                    (lower + upper) / 2.0
                },
                fraction_positive: if count > 0 {
                    positives as f64 / count as f64
                } else {
                    0.0
                },
            }
        })
        .collect()
}

/// Counts of probabilities in `bins` equal-width bins over [0, 1], separately for rows
/// that are not replayed (first) and replayed (second).
pub fn probability_histogram(y: &[bool], p: &[f64], bins: usize) -> (Vec<u64>, Vec<u64>) {
    let bins = bins.max(1);
    let (mut negative, mut positive) = (vec![0u64; bins], vec![0u64; bins]);
    for (&t, &q) in y.iter().zip(p) {
        let b = ((q * bins as f64) as usize).min(bins - 1);
        if t {
            positive[b] += 1;
        } else {
            negative[b] += 1;
        }
    }
    (negative, positive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_curve_matches_scikit_learn_points() {
        // scikit-learn roc_curve([0,0,1,1], [.1,.4,.35,.8]) (drop_intermediate=False):
        // fpr 0, 0, .5, .5, 1; tpr 0, .5, .5, 1, 1
        let points = roc_curve(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]);
        assert_eq!(
            points,
            [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
    }

    #[test]
    fn precision_recall_points_and_histograms() {
        let y = [false, false, true, true];
        let p = [0.1, 0.4, 0.35, 0.8];
        assert_eq!(
            precision_recall_curve(&y, &p),
            [(0.5, 1.0), (0.5, 0.5), (1.0, 2.0 / 3.0), (1.0, 0.5)]
        );
        let (neg, pos) = probability_histogram(&y, &p, 2);
        assert_eq!((neg, pos), (vec![2, 0], vec![1, 1]));
        let bins = calibration(&y, &p, 2);
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 4);
        assert!((bins[0].fraction_positive - 1.0 / 3.0).abs() < 1e-12);
    }
}
