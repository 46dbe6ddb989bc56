//! A model's rows sorted once by decreasing score. Every ranking metric (ROC-AUC, average
//! precision, the recall operating point), every curve and every bootstrap resample is a
//! walk over this one order, so a model's scores are sorted once per evaluation.

use crate::MetricError;

/// Most rows a [`Ranking`] holds: a row index shares a `u32` with two flags.
pub const MAX_ROWS: usize = 1 << 30;

/// Flag of a replayed row.
const POSITIVE: u32 = 1 << 31;
/// Flag of the last row of a run of equal scores.
const RUN_END: u32 = 1 << 30;
/// Bits of the row index.
const ROW: u32 = RUN_END - 1;

/// The rows of one model in decreasing order of score (`f64::total_cmp`), with their
/// labels and the runs of equal scores (`==`, so `0.0` and `-0.0` tie). It borrows the
/// scores and adds 4 bytes per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking<'a> {
    /// Per position: the row index, [`POSITIVE`] and [`RUN_END`].
    rows: Vec<u32>,
    /// The scores, by row.
    p: &'a [f64],
    /// Replayed rows.
    positives: usize,
}

impl<'a> Ranking<'a> {
    /// Sort the rows of labels `y` and scores `p` by decreasing score.
    pub fn new(y: &[bool], p: &'a [f64]) -> Result<Self, MetricError> {
        if y.len() != p.len() {
            return Err(MetricError::Length {
                labels: y.len(),
                scores: p.len(),
            });
        }
        if p.len() > MAX_ROWS {
            return Err(MetricError::TooManyRows {
                rows: p.len(),
                max: MAX_ROWS,
            });
        }
        // Within equal scores the order does not matter: every walk sums whole runs.
        let mut pairs: Vec<(f64, u32)> = p.iter().zip(0u32..).map(|(&q, i)| (q, i)).collect();
        pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let rows = pairs
            .iter()
            .enumerate()
            .map(|(k, &(q, i))| {
                let run_end = pairs.get(k + 1).is_none_or(|next| next.0 != q);
                i | if y[i as usize] { POSITIVE } else { 0 } | if run_end { RUN_END } else { 0 }
            })
            .collect();
        Ok(Ranking {
            rows,
            p,
            positives: y.iter().filter(|&&v| v).count(),
        })
    }

    /// Rows ranked.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Numbers of positives and negatives, as floats.
    pub fn class_counts(&self) -> (f64, f64) {
        (self.positives as f64, (self.len() - self.positives) as f64)
    }

    /// The scores, highest first.
    pub fn scores(&self) -> impl Iterator<Item = f64> + '_ {
        self.rows.iter().map(|&r| self.p[row(r)])
    }

    /// `(tp, fp)`, the cumulative counts of positives and negatives, after each run of
    /// equal scores: one item per distinct threshold, highest threshold first.
    pub fn runs(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.rows
            .iter()
            .scan((0u64, 0u64), |(tp, fp), &r| {
                if r & POSITIVE != 0 {
                    *tp += 1;
                } else {
                    *fp += 1;
                }
                Some((r & RUN_END != 0).then_some((*tp as f64, *fp as f64)))
            })
            .flatten()
    }

    /// The threshold (one of the scores) at which `objective(tp, fp)`, the counts of
    /// positives and negatives predicted positive (`p >= threshold`), is largest; the
    /// highest such threshold when several tie. 0 without rows.
    pub fn best_threshold(&self, objective: impl Fn(f64, f64) -> f64) -> f64 {
        let (mut best, mut best_value) = (0.0, f64::NEG_INFINITY);
        let (mut tp, mut fp) = (0u64, 0u64);
        for &r in &self.rows {
            if r & POSITIVE != 0 {
                tp += 1;
            } else {
                fp += 1;
            }
            if r & RUN_END != 0 {
                let value = objective(tp as f64, fp as f64);
                if value > best_value {
                    (best, best_value) = (self.p[row(r)], value);
                }
            }
        }
        best
    }

    /// Area under the ROC curve; tied scores count one half (scikit-learn's
    /// `roc_auc_score`). Scores are not checked here: see [`crate::roc_auc`].
    pub fn roc_auc(&self) -> Result<f64, MetricError> {
        let (n_pos, n_neg) = self.class_counts();
        if n_pos == 0.0 || n_neg == 0.0 {
            return Err(MetricError::SingleClass);
        }
        let mut area = AucArea::default();
        for (tp, fp) in self.runs() {
            area.add_run(tp, fp);
        }
        Ok(area.value / (n_pos * n_neg))
    }

    /// Average precision, `Σ (Rₙ − Rₙ₋₁) Pₙ` over distinct thresholds (scikit-learn's
    /// `average_precision_score`).
    pub fn average_precision(&self) -> Result<f64, MetricError> {
        let (n_pos, n_neg) = self.class_counts();
        if n_pos == 0.0 || n_neg == 0.0 {
            return Err(MetricError::SingleClass);
        }
        let (mut ap, mut previous_tp) = (0.0, 0.0);
        for (tp, fp) in self.runs() {
            ap += ((tp - previous_tp) / n_pos) * (tp / (tp + fp));
            previous_tp = tp;
        }
        Ok(ap)
    }

    /// The highest threshold at which at least `target` of the positives are predicted
    /// positive (`p >= threshold`): the score of the `⌈target · positives⌉`-th positive
    /// (at least the first), 0 without positives.
    pub fn threshold_for_recall(&self, target: f64) -> f64 {
        if self.positives == 0 {
            return 0.0;
        }
        let needed = ((target * self.positives as f64).ceil() as usize).clamp(1, self.positives);
        self.rows
            .iter()
            .filter(|&&r| r & POSITIVE != 0)
            .nth(needed - 1)
            .map_or(0.0, |&r| self.p[row(r)])
    }

    /// Positions whose score is at least `threshold` (they come first). Assumes scores
    /// without NaN, as probabilities are.
    pub fn count_at_least(&self, threshold: f64) -> usize {
        self.rows.partition_point(|&r| self.p[row(r)] >= threshold)
    }

    /// The packed rows, for the bootstrap.
    pub(crate) fn packed(&self) -> &[u32] {
        &self.rows
    }
}

/// The row index of a packed row.
pub(crate) fn row(packed: u32) -> usize {
    (packed & ROW) as usize
}

/// Whether a packed row is replayed.
pub(crate) fn is_positive(packed: u32) -> bool {
    packed & POSITIVE != 0
}

/// Whether a packed row ends a run of equal scores.
pub(crate) fn is_run_end(packed: u32) -> bool {
    packed & RUN_END != 0
}

/// The ROC area summed run by run: a run adding `run_pos` positives and `run_neg` negatives
/// adds `run_neg · (tp before + run_pos / 2)` (trapezoids; ties count one half).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AucArea {
    /// Area so far (not yet divided by positives · negatives).
    pub(crate) value: f64,
    previous: (f64, f64),
}

impl AucArea {
    /// Add the run ending at cumulative counts `(tp, fp)`.
    pub(crate) fn add_run(&mut self, tp: f64, fp: f64) {
        let (run_pos, run_neg) = (tp - self.previous.0, fp - self.previous.1);
        self.value += run_neg * (self.previous.0 + run_pos / 2.0);
        self.previous = (tp, fp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_equal_scores_in_decreasing_order() {
        let y = [true, false, true, false, true];
        let p = [0.4, 0.9, 0.4, 0.1, -0.0];
        let ranking = Ranking::new(&y, &p).unwrap();
        let scores: Vec<f64> = ranking.scores().collect();
        assert_eq!(scores, [0.9, 0.4, 0.4, 0.1, -0.0]);
        let runs: Vec<_> = ranking.runs().collect();
        assert_eq!(runs, [(0.0, 1.0), (2.0, 1.0), (2.0, 2.0), (3.0, 2.0)]);
        assert_eq!(ranking.count_at_least(0.4), 3);
        assert_eq!(ranking.count_at_least(0.0), 5, "-0.0 >= 0.0");
    }

    #[test]
    fn zero_and_negative_zero_form_one_run() {
        let ranking = Ranking::new(&[true, false], &[0.0, -0.0]).unwrap();
        assert_eq!(ranking.runs().collect::<Vec<_>>(), [(1.0, 1.0)]);
        assert_eq!(ranking.roc_auc().unwrap(), 0.5);
    }

    #[test]
    fn recall_threshold_is_the_score_of_the_needed_positive() {
        let y = [true, true, false, true, true];
        let p = [0.2, 0.8, 0.9, 0.5, 0.5];
        let ranking = Ranking::new(&y, &p).unwrap();
        assert_eq!(ranking.threshold_for_recall(0.25), 0.8);
        assert_eq!(ranking.threshold_for_recall(0.5), 0.5);
        assert_eq!(ranking.threshold_for_recall(0.75), 0.5);
        assert_eq!(ranking.threshold_for_recall(1.0), 0.2);
        assert_eq!(ranking.threshold_for_recall(0.0), 0.8, "at least one positive");
        let none = Ranking::new(&[false], &[0.3]).unwrap();
        assert_eq!(none.threshold_for_recall(0.75), 0.0);
    }

    #[test]
    fn lengths_and_single_classes_are_typed_errors() {
        assert_eq!(
            Ranking::new(&[true], &[0.1, 0.2]),
            Err(MetricError::Length { labels: 1, scores: 2 })
        );
        let single = Ranking::new(&[true, true], &[0.1, 0.2]).unwrap();
        assert_eq!(single.roc_auc(), Err(MetricError::SingleClass));
        assert_eq!(single.average_precision(), Err(MetricError::SingleClass));
    }
}
