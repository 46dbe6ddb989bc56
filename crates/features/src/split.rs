//! Seeded, optionally stratified train/test split.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{FeatureError, FeaturesConfig, SplitConfig};

/// The labels of the distinct tracks and their split.
#[derive(Debug)]
pub(crate) struct Labelled {
    /// The popularity cut, fitted on the training rows ([`crate::LabelConfig::fit_cut`]).
    pub cut: f64,
    /// Whether each track is replayed (popularity at or above `cut`).
    pub labels: Vec<bool>,
    /// Whether each track is a test row.
    pub test: Vec<bool>,
}

/// Label and split the distinct tracks whose popularity is `popularity` (none missing).
///
/// The split is stratified by the cut fitted on every track (for a fixed threshold, the
/// threshold itself); the labels then follow the cut fitted on the training rows only,
/// so a quantile rule never looks at test popularity to decide a label.
pub(crate) fn label_and_split(popularity: &[f64], config: &FeaturesConfig) -> Labelled {
    let label = |cut: f64| popularity.iter().map(|&p| p >= cut).collect::<Vec<bool>>();
    let test = test_mask(&label(config.label.fit_cut(popularity)), &config.split);
    let training: Vec<f64> = match config.label.quantile {
        Some(_) => popularity
            .iter()
            .zip(&test)
            .filter(|(_, t)| !**t)
            .map(|(p, _)| *p)
            .collect(),
        None => Vec::new(),
    };
    let cut = config.label.fit_cut(&training);
    Labelled {
        cut,
        labels: label(cut),
        test,
    }
}

/// Split row indices into `(train, test)`, both sorted.
///
/// With `stratify`, each class is shuffled and split on its own, so both sides keep the
/// positive rate; each class sends `round(n_class * test_fraction)` rows to test.
/// The same labels and config always give the same split. An error when the config does
/// not pass [`SplitConfig::check`].
pub fn stratified_split(
    labels: &[bool],
    config: &SplitConfig,
) -> Result<(Vec<usize>, Vec<usize>), FeatureError> {
    config.check()?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let groups: Vec<Vec<usize>> = if config.stratify {
        [false, true]
            .iter()
            .map(|&c| (0..labels.len()).filter(|&i| labels[i] == c).collect())
            .collect()
    } else {
        vec![(0..labels.len()).collect()]
    };
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for mut group in groups {
        group.shuffle(&mut rng);
        let n_test = (group.len() as f64 * config.test_fraction).round() as usize;
        test.extend_from_slice(&group[..n_test]);
        train.extend_from_slice(&group[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

/// For each row, whether [`stratified_split`] puts it in the test set: the same split
/// (the shuffles draw the same numbers whatever the index type), with 4-byte row indices
/// and one byte of output per row. At most `u32::MAX` rows; `config` must pass
/// [`SplitConfig::check`].
pub(crate) fn test_mask(labels: &[bool], config: &SplitConfig) -> Vec<bool> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let n = u32::try_from(labels.len()).unwrap_or(u32::MAX);
    let groups: Vec<Vec<u32>> = if config.stratify {
        [false, true]
            .iter()
            .map(|&c| (0..n).filter(|&i| labels[i as usize] == c).collect())
            .collect()
    } else {
        vec![(0..n).collect()]
    };
    let mut test = vec![false; labels.len()];
    for mut group in groups {
        group.shuffle(&mut rng);
        let n_test = ((group.len() as f64 * config.test_fraction).round() as usize).min(group.len());
        for &i in &group[..n_test] {
            test[i as usize] = true;
        }
    }
    test
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize, positive_every: usize) -> Vec<bool> {
        (0..n).map(|i| i % positive_every == 0).collect()
    }

    #[test]
    fn stratified_split_keeps_class_shares_and_partitions_rows() {
        let y = labels(1000, 4);
        let (train, test) = stratified_split(&y, &SplitConfig::default()).unwrap();
        assert_eq!(test.len(), 200);
        assert_eq!(test.iter().filter(|&&i| y[i]).count(), 50);
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let y = labels(500, 3);
        let config = SplitConfig::default();
        assert_eq!(
            stratified_split(&y, &config).unwrap(),
            stratified_split(&y, &config).unwrap()
        );
        let other = SplitConfig { seed: 7, ..config };
        assert_ne!(
            stratified_split(&y, &SplitConfig::default()).unwrap().1,
            stratified_split(&y, &other).unwrap().1
        );
    }

    #[test]
    fn test_mask_is_the_stratified_split() {
        for (n, every, stratify, seed) in [
            (1000, 4, true, 42),
            (777, 3, false, 7),
            (5, 2, true, 1),
            (0, 2, true, 3),
        ] {
            let y = labels(n, every);
            let config = SplitConfig {
                stratify,
                seed,
                ..SplitConfig::default()
            };
            let (_, test) = stratified_split(&y, &config).unwrap();
            let mask = test_mask(&y, &config);
            let from_mask: Vec<usize> = (0..n).filter(|&i| mask[i]).collect();
            assert_eq!(from_mask, test);
        }
    }

    #[test]
    fn fractions_outside_zero_one_are_errors_not_panics() {
        let y = labels(100, 4);
        for test_fraction in [1.5, 1.0, 0.0, -0.2, f64::NAN] {
            let config = SplitConfig {
                test_fraction,
                ..SplitConfig::default()
            };
            match stratified_split(&y, &config) {
                Err(FeatureError::InvalidSetting { key, message }) => {
                    assert_eq!(key, "split.test_fraction");
                    assert!(message.contains("strictly between 0 and 1"), "{message}");
                }
                other => panic!("{test_fraction}: {other:?}"),
            }
        }
    }
}
