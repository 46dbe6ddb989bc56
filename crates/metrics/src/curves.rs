//! Curves and bins behind the charts: ROC, precision-recall, calibration, histograms.

use serde::{Deserialize, Serialize};

use crate::ranking::Ranking;

/// Points `(false positive rate, true positive rate)` of the ROC curve, from (0, 0) to
/// (1, 1), one per distinct threshold.
pub fn roc_curve<'r>(ranking: &'r Ranking<'_>) -> impl Iterator<Item = (f64, f64)> + 'r {
    let (pos, neg) = ranking.class_counts();
    std::iter::once((0.0, 0.0)).chain(
        ranking
            .runs()
            .map(move |(tp, fp)| (fp / neg.max(1.0), tp / pos.max(1.0))),
    )
}

/// Points `(recall, precision)` of the precision-recall curve, one per distinct
/// threshold, from the highest threshold down.
pub fn precision_recall_curve<'r>(ranking: &'r Ranking<'_>) -> impl Iterator<Item = (f64, f64)> + 'r {
    let (pos, _) = ranking.class_counts();
    ranking
        .runs()
        .map(move |(tp, fp)| (tp / pos.max(1.0), tp / (tp + fp)))
}

/// The vertices of a curve worth drawing: the first point, then each point at least
/// `step` away (in x or in y) from the last one kept, and always the last point. Every
/// dropped point lies within `step` of a kept one, so with `step` a small share of the
/// axes (e.g. 1/2000) the drawn line looks the same, and a curve that moves monotonically
/// over the unit square (ROC) keeps at most `2 / step + 2` points.
pub fn thin(points: impl IntoIterator<Item = (f64, f64)>, step: f64) -> Vec<(f64, f64)> {
    let mut kept: Vec<(f64, f64)> = Vec::new();
    let mut pending = None;
    for point in points {
        let far = kept
            .last()
            .is_none_or(|&(x, y)| (point.0 - x).abs() >= step || (point.1 - y).abs() >= step);
        if far {
            kept.push(point);
            pending = None;
        } else {
            pending = Some(point);
        }
    }
    kept.extend(pending);
    kept
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
        let ranking = Ranking::new(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        let points: Vec<_> = roc_curve(&ranking).collect();
        assert_eq!(
            points,
            [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
    }

    #[test]
    fn precision_recall_points_and_histograms() {
        let y = [false, false, true, true];
        let p = [0.1, 0.4, 0.35, 0.8];
        let ranking = Ranking::new(&y, &p).unwrap();
        assert_eq!(
            precision_recall_curve(&ranking).collect::<Vec<_>>(),
            [(0.5, 1.0), (0.5, 0.5), (1.0, 2.0 / 3.0), (1.0, 0.5)]
        );
        let (neg, pos) = probability_histogram(&y, &p, 2);
        assert_eq!((neg, pos), (vec![2, 0], vec![1, 1]));
        let bins = calibration(&y, &p, 2);
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 4);
        assert!((bins[0].fraction_positive - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn thinning_keeps_the_ends_and_points_a_step_apart() {
        assert!(thin([], 0.1).is_empty());
        assert_eq!(thin([(0.5, 0.5)], 0.1), [(0.5, 0.5)]);
        let points = [
            (0.0, 0.0),
            (0.01, 0.02),
            (0.05, 0.3),
            (0.06, 0.31),
            (0.2, 0.31),
            (0.21, 0.32),
        ];
        assert_eq!(
            thin(points, 0.1),
            [(0.0, 0.0), (0.05, 0.3), (0.2, 0.31), (0.21, 0.32)]
        );
        assert_eq!(thin(points, 0.0), points, "a zero step keeps everything");
    }

    #[test]
    fn a_thinned_roc_curve_is_short_and_close_to_the_full_one() {
        // 20 000 rows with distinct scores: 20 001 vertices before thinning.
        let n = 20_000;
        let y: Vec<bool> = (0..n).map(|i| (i * 7919) % 13 < 5).collect();
        let p: Vec<f64> = (0..n).map(|i| ((i * 104_729) % n) as f64 / n as f64).collect();
        let ranking = Ranking::new(&y, &p).unwrap();
        let full: Vec<_> = roc_curve(&ranking).collect();
        let step = 1.0 / 2000.0;
        let kept = thin(full.iter().copied(), step);
        assert!(kept.len() <= 4002, "{}", kept.len());
        assert_eq!((kept[0], kept[kept.len() - 1]), (full[0], full[full.len() - 1]));
        // Every dropped vertex is within a step of the last vertex kept before it.
        let mut k = 0;
        for &point in &full[1..] {
            if kept.get(k + 1) == Some(&point) {
                k += 1;
                continue;
            }
            let anchor = kept[k];
            assert!((point.0 - anchor.0).abs() < step && (point.1 - anchor.1).abs() < step);
        }
    }
}
