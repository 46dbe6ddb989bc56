//! Seeded bootstrap confidence intervals.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// A percentile bootstrap interval of `metric(y, p)`: `samples` resamples of the rows with
/// replacement, resample `b` drawn from its own generator seeded by `(seed, b)`, so the
/// result does not depend on the thread count. Resamples where the metric is undefined
/// (`None`, e.g. ROC-AUC of a single class) are skipped. Returns `[low, high]` at `level`.
pub fn interval(
    y: &[bool],
    p: &[f64],
    samples: usize,
    seed: u64,
    level: f64,
    metric: impl Fn(&[bool], &[f64]) -> Option<f64> + Sync,
) -> Option<[f64; 2]> {
    if y.is_empty() || samples == 0 {
        return None;
    }
    let mut values: Vec<f64> = (0..samples)
        .into_par_iter()
        .filter_map(|b| {
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
        .collect();
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

    fn accuracy(y: &[bool], p: &[f64]) -> Option<f64> {
        Some(y.iter().zip(p).filter(|(&t, &q)| t == (q >= 0.5)).count() as f64 / y.len() as f64)
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.0), 1.0);
    }

    #[test]
    fn intervals_contain_the_estimate_are_seeded_and_thread_count_free() {
        let y: Vec<bool> = (0..400).map(|i| i % 3 == 0).collect();
        let p: Vec<f64> = (0..400).map(|i| if i % 5 == 0 { 0.9 } else { 0.2 }).collect();
        let estimate = accuracy(&y, &p).unwrap();
        let [low, high] = interval(&y, &p, 300, 1, 0.95, accuracy).unwrap();
        assert!(low < estimate && estimate < high, "{low} {estimate} {high}");
        let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let again = one_thread
            .install(|| interval(&y, &p, 300, 1, 0.95, accuracy))
            .unwrap();
        assert_eq!(again, [low, high]);
        assert_ne!(interval(&y, &p, 300, 2, 0.95, accuracy).unwrap(), [low, high]);
    }
}
