//! Seeded bootstrap confidence intervals of ROC-AUC and accuracy.
//!
//! Resample `b` draws `n` row indices with replacement from its own generator (ChaCha8
//! seeded by the seed, stream `b`), so it is the same resample for every model and any
//! thread count. Rather than copying the rows and sorting them again, a resample is kept
//! as the multiplicity of every row, and each model is scored by one pass over its
//! [`Ranking`] (sorted once), weighting each row by its multiplicity: O(n) per resample
//! and model instead of O(n log n), with the same values as the metric recomputed on a
//! copied resample.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::ranking::{self, Ranking};
use crate::MetricError;

/// How to resample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resampling {
    /// Resamples drawn (0 gives no intervals).
    pub samples: usize,
    /// Seed of every resample's generator.
    pub seed: u64,
    /// Confidence level of the intervals, e.g. 0.95.
    pub level: f64,
}

/// A model to bootstrap: its ranking and its decision threshold.
#[derive(Debug, Clone, Copy)]
pub struct Scored<'a> {
    /// The model's rows by decreasing score.
    pub ranking: &'a Ranking<'a>,
    /// Predicted replayed when the score is at least this (for accuracy).
    pub threshold: f64,
}

/// The percentile bootstrap intervals of one model, `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intervals {
    /// ROC-AUC over the resamples that hold both classes (`None` if none does).
    pub roc_auc: Option<[f64; 2]>,
    /// Accuracy at the threshold (`None` without rows or resamples).
    pub accuracy: Option<[f64; 2]>,
}

/// Bootstrap intervals of every model in `models`, all ranking the same rows, from the
/// same resamples. Resamples run in parallel; the result does not depend on the thread
/// count. Resamples where ROC-AUC is undefined (a single class) are skipped for it.
/// Scores must hold no NaN (probabilities, as [`crate::check`] ensures): the rows
/// at or above a threshold are then a prefix of the ranking.
pub fn intervals(models: &[Scored<'_>], resampling: &Resampling) -> Result<Vec<Intervals>, MetricError> {
    let n = models.first().map_or(0, |m| m.ranking.len());
    if let Some(other) = models.iter().find(|m| m.ranking.len() != n) {
        return Err(MetricError::Length {
            labels: n,
            scores: other.ranking.len(),
        });
    }
    let none = Intervals {
        roc_auc: None,
        accuracy: None,
    };
    if n == 0 || resampling.samples == 0 {
        return Ok(vec![none; models.len()]);
    }
    let cuts: Vec<usize> = models
        .iter()
        .map(|m| m.ranking.count_at_least(m.threshold))
        .collect();
    let per_resample: Vec<Vec<(Option<f64>, f64)>> = (0..resampling.samples)
        .into_par_iter()
        .map_init(
            || CountBuffers::new(n),
            |buffers, b| buffers.score(models, &cuts, resampling.seed, b),
        )
        .collect();
    let level = resampling.level;
    Ok((0..models.len())
        .map(|k| Intervals {
            roc_auc: percentile_interval(per_resample.iter().filter_map(|r| r[k].0), level),
            accuracy: percentile_interval(per_resample.iter().map(|r| r[k].1), level),
        })
        .collect())
}

/// The percentile interval of `ECE(after) − ECE(before)` (`bins` equal-width bins, as
/// [`crate::expected_calibration_error`]) over the resamples of the rows (the same
/// resamples as [`intervals`]): whether a calibration map changed the ECE by more than
/// the rows' sampling noise. `None` without rows or resamples, or when the lengths
/// differ; the probabilities must be checked ([`crate::check`]).
pub fn ece_change_interval(
    y: &[bool],
    before: &[f64],
    after: &[f64],
    bins: usize,
    resampling: &Resampling,
) -> Option<[f64; 2]> {
    let n = y.len();
    if n == 0 || resampling.samples == 0 || before.len() != n || after.len() != n {
        return None;
    }
    let bins = bins.max(1);
    // Each row's bin and outcome minus probability, before then after: a bin's ECE term
    // is the absolute sum of its rows' differences over all rows.
    let term = |t: bool, q: f64| {
        (
            ((q * bins as f64) as usize).min(bins - 1),
            f64::from(u8::from(t)) - q,
        )
    };
    let rows: Vec<[(usize, f64); 2]> = y
        .iter()
        .zip(before.iter().zip(after))
        .map(|(&t, (&b, &a))| [term(t, b), term(t, a)])
        .collect();
    let changes: Vec<f64> = (0..resampling.samples)
        .into_par_iter()
        .map_init(
            || (vec![0u32; n], vec![[0.0f64; 2]; bins]),
            |(counts, sums), b| {
                resample_counts(resampling.seed, b, counts);
                sums.fill([0.0; 2]);
                for (row, &c) in rows.iter().zip(counts.iter()) {
                    for (side, &(bin, difference)) in row.iter().enumerate() {
                        sums[bin][side] += f64::from(c) * difference;
                    }
                }
                let ece = |side: usize| sums.iter().map(|s| s[side].abs()).sum::<f64>() / n as f64;
                ece(1) - ece(0)
            },
        )
        .collect();
    percentile_interval(changes.into_iter(), resampling.level)
}

/// The multiplicities of one resample: in bytes when every one fits (nearly always, as a
/// row is drawn about once), a quarter of the memory for the model walks to gather from;
/// in `u32` otherwise.
struct CountBuffers {
    small: Vec<u8>,
    wide: Vec<u32>,
}

impl CountBuffers {
    fn new(n: usize) -> Self {
        CountBuffers {
            small: vec![0; n],
            wide: Vec::new(),
        }
    }

    /// ROC-AUC and accuracy of every model on resample `b`.
    fn score(
        &mut self,
        models: &[Scored<'_>],
        cuts: &[usize],
        seed: u64,
        b: usize,
    ) -> Vec<(Option<f64>, f64)> {
        if resample_counts_small(seed, b, &mut self.small) {
            score_models(models, cuts, &self.small)
        } else {
            self.wide.resize(self.small.len(), 0);
            resample_counts(seed, b, &mut self.wide);
            score_models(models, cuts, &self.wide)
        }
    }
}

/// ROC-AUC and accuracy of every model on the resample with multiplicities `counts`.
fn score_models<C: Copy + Into<u64>>(
    models: &[Scored<'_>],
    cuts: &[usize],
    counts: &[C],
) -> Vec<(Option<f64>, f64)> {
    models
        .iter()
        .zip(cuts)
        .map(|(m, &cut)| score_resample(m.ranking, cut, counts))
        .collect()
}

/// Call `hit(i)` for each of the `n` rows drawn by resample `b`: `n` draws of
/// `random_range(0..n)` from ChaCha8 seeded by `seed`, stream `b`.
fn draw(seed: u64, b: usize, n: usize, mut hit: impl FnMut(usize)) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(b as u64);
    for _ in 0..n {
        hit(rng.random_range(0..n));
    }
}

/// The multiplicity of every row in resample `b`: `counts.len()` draws of
/// `random_range(0..counts.len())` from ChaCha8 seeded by `seed`, stream `b`.
pub fn resample_counts(seed: u64, b: usize, counts: &mut [u32]) {
    counts.fill(0);
    draw(seed, b, counts.len(), |i| counts[i] += 1);
}

/// [`resample_counts`] in bytes; false (and the counts unusable) when a row is drawn
/// more than 255 times.
pub fn resample_counts_small(seed: u64, b: usize, counts: &mut [u8]) -> bool {
    counts.fill(0);
    let mut fits = true;
    draw(seed, b, counts.len(), |i| fits &= count_one(&mut counts[i]));
    fits
}

/// Add one to a byte count; false when it overflows.
fn count_one(count: &mut u8) -> bool {
    let (value, overflow) = count.overflowing_add(1);
    *count = value;
    !overflow
}

/// ROC-AUC (`None` for a single class) and accuracy of the resample with row
/// multiplicities `counts`, predicting replayed for the first `cut` positions of
/// `ranking`. Runs of equal scores are those of the full data; runs no row of the resample
/// falls in add nothing, so every sum matches the metric on the copied resample.
///
/// The ROC area is summed in integers, twice the area of [`crate::roc_auc`]'s
/// trapezoids. Those are multiples of one half, summed exactly in f64 as long as twice the
/// area, at most `2 · positives · negatives`, stays below 2⁵³ (always for up to 2²⁷ rows),
/// so the value is bit-identical; beyond, this one is the exact one.
fn score_resample<C: Copy + Into<u64>>(
    ranking: &Ranking<'_>,
    cut: usize,
    counts: &[C],
) -> (Option<f64>, f64) {
    let packed = ranking.packed();
    let (head, tail) = packed.split_at(cut.min(packed.len()));
    let mut walk = Walk::default();
    walk.visit(head, counts);
    let (tp_cut, fp_cut) = (walk.tp, walk.fp);
    walk.visit(tail, counts);
    let (tp, fp) = (walk.tp, walk.fp);
    let correct = tp_cut + (fp - fp_cut);
    let accuracy = correct as f64 / (tp + fp) as f64;
    let (n_pos, n_neg) = (tp as f64, fp as f64);
    let auc = (tp > 0 && fp > 0).then(|| (walk.area2 as f64 / 2.0) / (n_pos * n_neg));
    (auc, accuracy)
}

/// Weighted cumulative counts and twice the ROC area along a ranking, in integers: with
/// at most 2³⁰ rows every sum fits in a u64.
#[derive(Debug, Default, Clone, Copy)]
struct Walk {
    /// Positives so far.
    tp: u64,
    /// Negatives so far.
    fp: u64,
    /// Positives before the current run of equal scores.
    tp_before: u64,
    /// Negatives before the current run.
    fp_before: u64,
    /// Twice the area of the finished runs: a run adds its negatives times
    /// `2 · tp before + its positives`, i.e. `(fp − fp_before) · (tp_before + tp)`.
    area2: u64,
}

impl Walk {
    /// Continue the walk over `rows` (packed), each weighted by its multiplicity. Labels
    /// and run ends follow no pattern, so they are masks rather than branches, and every
    /// running sum depends on its previous value by a single addition or selection.
    fn visit<C: Copy + Into<u64>>(&mut self, rows: &[u32], counts: &[C]) {
        let Walk {
            mut tp,
            mut fp,
            mut tp_before,
            mut fp_before,
            mut area2,
        } = *self;
        for &r in rows {
            let c: u64 = counts[ranking::row(r)].into();
            let positive = 0u64.wrapping_sub(u64::from(ranking::is_positive(r)));
            let end = ranking::is_run_end(r);
            tp += c & positive;
            fp += c & !positive;
            let run = (fp - fp_before) * (tp_before + tp);
            area2 += run & 0u64.wrapping_sub(u64::from(end));
            tp_before = if end { tp } else { tp_before };
            fp_before = if end { fp } else { fp_before };
        }
        *self = Walk {
            tp,
            fp,
            tp_before,
            fp_before,
            area2,
        };
    }
}

/// `[low, high]` percentiles at `level` of `values` (`None` when empty).
fn percentile_interval(values: impl Iterator<Item = f64>, level: f64) -> Option<[f64; 2]> {
    let mut values: Vec<f64> = values.collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some([percentile(&values, tail), percentile(&values, 1.0 - tail)])
}

/// Linear-interpolated percentile of sorted values (numpy's default), `q` in [0, 1].
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{self as metrics, ThresholdMetrics};

    /// The former algorithm, kept as the reference: copy each resample and recompute the
    /// metric on it (re-sorting for ROC-AUC).
    fn reference_values(
        y: &[bool],
        p: &[f64],
        samples: usize,
        seed: u64,
        metric: impl Fn(&[bool], &[f64]) -> Option<f64>,
    ) -> Vec<Option<f64>> {
        (0..samples)
            .map(|b| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(b as u64);
                let (mut ys, mut ps) = (Vec::with_capacity(y.len()), Vec::with_capacity(y.len()));
                for _ in 0..y.len() {
                    let i = rng.random_range(0..y.len());
                    ys.push(y[i]);
                    ps.push(p[i]);
                }
                metric(&ys, &ps)
            })
            .collect()
    }

    /// The former `interval`: percentiles of the defined reference values.
    fn reference_interval(
        y: &[bool],
        p: &[f64],
        samples: usize,
        seed: u64,
        level: f64,
        metric: impl Fn(&[bool], &[f64]) -> Option<f64>,
    ) -> Option<[f64; 2]> {
        let values = reference_values(y, p, samples, seed, metric);
        percentile_interval(values.into_iter().flatten(), level)
    }

    fn auc(y: &[bool], p: &[f64]) -> Option<f64> {
        metrics::roc_auc(y, p).ok()
    }

    fn accuracy_at(threshold: f64) -> impl Fn(&[bool], &[f64]) -> Option<f64> {
        move |y, p| Some(ThresholdMetrics::at(y, p, threshold).accuracy)
    }

    /// Small data with many ties (scores on a grid of 7 values) and an uneven class mix.
    fn tied_data(n: usize) -> (Vec<bool>, Vec<f64>) {
        let y = (0..n).map(|i| (i * 37 + 11) % 10 < 3).collect();
        let p = (0..n)
            .map(|i| ((i * 53 + 5) % 7) as f64 / 6.0)
            .map(|q: f64| if q == 0.0 { -0.0 } else { q })
            .collect();
        (y, p)
    }

    fn resampling(samples: usize, seed: u64) -> Resampling {
        Resampling {
            samples,
            seed,
            level: 0.95,
        }
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.0), 1.0);
    }

    #[test]
    fn counts_are_the_rows_the_reference_draws() {
        let (n, seed, b) = (50, 9, 3);
        let mut counts = vec![7; n];
        resample_counts(seed, b, &mut counts);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(b as u64);
        let mut expected = vec![0u32; n];
        for _ in 0..n {
            expected[rng.random_range(0..n)] += 1;
        }
        assert_eq!(counts, expected);
        assert_eq!(counts.iter().sum::<u32>(), n as u32);
        let mut small = vec![3u8; n];
        assert!(resample_counts_small(seed, b, &mut small));
        assert!(small.iter().zip(&counts).all(|(&s, &c)| u32::from(s) == c));
    }

    #[test]
    fn byte_counts_report_overflow() {
        let mut count = 254u8;
        assert!(count_one(&mut count));
        assert_eq!(count, 255);
        assert!(!count_one(&mut count), "the 256th draw of a row does not fit");
    }

    #[test]
    fn byte_and_wide_counts_score_alike() {
        let (y, p) = tied_data(200);
        let ranking = Ranking::new(&y, &p).unwrap();
        let models = [Scored {
            ranking: &ranking,
            threshold: 0.5,
        }];
        let cuts = [ranking.count_at_least(0.5)];
        let (mut small, mut wide) = (vec![0u8; 200], vec![0u32; 200]);
        for b in 0..20 {
            assert!(resample_counts_small(4, b, &mut small));
            resample_counts(4, b, &mut wide);
            assert_eq!(
                score_models(&models, &cuts, &small),
                score_models(&models, &cuts, &wide)
            );
            let mut buffers = CountBuffers::new(200);
            assert_eq!(
                buffers.score(&models, &cuts, 4, b),
                score_models(&models, &cuts, &wide)
            );
        }
    }

    #[test]
    fn every_resample_scores_exactly_as_the_reference() {
        for (n, seed) in [(40, 1), (97, 2), (300, 3)] {
            let (y, p) = tied_data(n);
            let ranking = Ranking::new(&y, &p).unwrap();
            for threshold in [0.5, 0.0, 1.0, 2.0 / 6.0] {
                let cut = ranking.count_at_least(threshold);
                let auc_ref = reference_values(&y, &p, 60, seed, auc);
                let acc_ref = reference_values(&y, &p, 60, seed, accuracy_at(threshold));
                let mut counts = vec![0u32; n];
                for b in 0..60 {
                    resample_counts(seed, b, &mut counts);
                    let (auc, accuracy) = score_resample(&ranking, cut, &counts);
                    assert_eq!(auc.map(f64::to_bits), auc_ref[b].map(f64::to_bits), "{n} {b}");
                    assert_eq!(Some(accuracy.to_bits()), acc_ref[b].map(f64::to_bits));
                }
            }
        }
    }

    #[test]
    fn intervals_equal_the_reference_for_several_models() {
        let (y, tied) = tied_data(250);
        let distinct: Vec<f64> = (0..250).map(|i| ((i * 101) % 251) as f64 / 251.0).collect();
        let rankings = [
            Ranking::new(&y, &tied).unwrap(),
            Ranking::new(&y, &distinct).unwrap(),
        ];
        let models = [
            Scored {
                ranking: &rankings[0],
                threshold: 0.5,
            },
            Scored {
                ranking: &rankings[1],
                threshold: 0.3,
            },
        ];
        let got = intervals(&models, &resampling(200, 42)).unwrap();
        for ((p, threshold), intervals) in [(&tied, 0.5), (&distinct, 0.3)].into_iter().zip(got) {
            let auc_ref = reference_interval(&y, p, 200, 42, 0.95, auc);
            let acc_ref = reference_interval(&y, p, 200, 42, 0.95, accuracy_at(threshold));
            assert_eq!(intervals.roc_auc, auc_ref);
            assert_eq!(intervals.accuracy, acc_ref);
            assert!(auc_ref.is_some() && acc_ref.is_some());
        }
    }

    #[test]
    fn single_class_resamples_are_skipped_as_before() {
        // One positive in five rows: some resamples miss it, some draw only it.
        let y = [false, false, true, false, false];
        let p = [0.1, 0.4, 0.35, 0.8, 0.4];
        let values = reference_values(&y, &p, 100, 5, auc);
        assert!(values.iter().any(Option::is_none) && values.iter().any(Option::is_some));
        let ranking = Ranking::new(&y, &p).unwrap();
        let models = [Scored {
            ranking: &ranking,
            threshold: 0.5,
        }];
        let got = intervals(&models, &resampling(100, 5)).unwrap();
        assert_eq!(got[0].roc_auc, reference_interval(&y, &p, 100, 5, 0.95, auc));
        // All negatives: no resample defines ROC-AUC, accuracy still has an interval.
        let negatives = Ranking::new(&[false; 4], &[0.2, 0.7, 0.7, 0.1]).unwrap();
        let models = [Scored {
            ranking: &negatives,
            threshold: 0.5,
        }];
        let got = intervals(&models, &resampling(30, 5)).unwrap();
        assert_eq!(got[0].roc_auc, None);
        assert!(got[0].accuracy.is_some());
    }

    #[test]
    fn intervals_are_seeded_and_thread_count_free() {
        let (y, p) = tied_data(400);
        let ranking = Ranking::new(&y, &p).unwrap();
        let models = [Scored {
            ranking: &ranking,
            threshold: 0.5,
        }];
        let run = |threads: usize, seed: u64| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| intervals(&models, &resampling(300, seed)).unwrap())
        };
        let bits = |v: Vec<Intervals>| {
            v.iter()
                .map(|i| {
                    (
                        i.roc_auc.map(|a| a.map(f64::to_bits)),
                        i.accuracy.map(|a| a.map(f64::to_bits)),
                    )
                })
                .collect::<Vec<_>>()
        };
        let one = run(1, 1);
        assert_eq!(bits(one.clone()), bits(run(2, 1)));
        assert_eq!(bits(one.clone()), bits(run(3, 1)));
        assert_ne!(one, run(2, 2));
    }

    #[test]
    fn mismatched_rankings_and_empty_settings() {
        let a = Ranking::new(&[true, false], &[0.2, 0.1]).unwrap();
        let b = Ranking::new(&[true], &[0.2]).unwrap();
        let models = [
            Scored {
                ranking: &a,
                threshold: 0.5,
            },
            Scored {
                ranking: &b,
                threshold: 0.5,
            },
        ];
        assert_eq!(
            intervals(&models, &resampling(10, 1)),
            Err(MetricError::Length { labels: 2, scores: 1 })
        );
        let none = intervals(&models[..1], &resampling(0, 1)).unwrap();
        assert_eq!(none[0].roc_auc, None);
        assert_eq!(none[0].accuracy, None);
    }

    #[test]
    fn the_ece_change_is_the_percentiles_of_the_change_on_copied_resamples() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let n = 700;
        let before: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let y: Vec<bool> = before
            .iter()
            .map(|&q| rng.random::<f64>() < q * 0.8 + 0.1)
            .collect();
        // A monotone map, and the probability 1 (last bin) on a few rows.
        let mut after: Vec<f64> = before.iter().map(|&q| q * q).collect();
        after[..5].fill(1.0);
        // The change on each copied resample: the same rows drawn for both.
        let pairs: Vec<f64> = before.iter().zip(&after).flat_map(|(&b, &a)| [b, a]).collect();
        let changes = reference_values(
            &y,
            &(0..n).map(|i| i as f64).collect::<Vec<_>>(),
            300,
            5,
            |ys, rows| {
                let (b, a): (Vec<f64>, Vec<f64>) = rows
                    .iter()
                    .map(|&r| (pairs[2 * r as usize], pairs[2 * r as usize + 1]))
                    .unzip();
                Some(
                    metrics::expected_calibration_error(ys, &a, 10)
                        - metrics::expected_calibration_error(ys, &b, 10),
                )
            },
        );
        let want = percentile_interval(changes.into_iter().flatten(), 0.95).unwrap();
        let got = ece_change_interval(&y, &before, &after, 10, &resampling(300, 5)).unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
        }
        assert_eq!(
            ece_change_interval(&y, &before, &before, 10, &resampling(50, 5)),
            Some([0.0, 0.0])
        );
        assert_eq!(
            ece_change_interval(&y, &before, &after, 10, &resampling(0, 5)),
            None
        );
    }
}
