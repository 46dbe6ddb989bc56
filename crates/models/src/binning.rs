//! Per-feature quantile binning of the inputs for the histogram tree learner.
//!
//! Each feature's values are cut into at most [`MAX_VALUE_BINS`] bins holding about the
//! same number of training rows (every distinct value gets its own bin when there are few
//! enough). The edges are placed from at most [`BIN_SAMPLE_ROWS`] rows (a fixed random
//! sample beyond that, as LightGBM does), then every row is binned in one pass. Bin `b` of feature `f` holds the values `v` with `edge[b-1] < v <= edge[b]`;
//! the edges are midpoints between neighbouring training values, as scikit-learn's split
//! thresholds, and the last value bin is unbounded above. Missing values (NaN) get their
//! own bin, numbered right after the value bins. So for every value `v` (training or not)
//! and every value bin `b`: `bin(v) <= b` exactly when `v <= threshold(b)`, which lets
//! fitted trees test raw values.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::ModelError;

/// Most value bins a feature can have (the missing-value bin comes on top, so every bin
/// index fits in a `u8`).
pub const MAX_VALUE_BINS: usize = 255;

/// Bin edges of every feature, fitted on a training matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct BinMapper {
    /// Per feature, the upper edges of all value bins but the last (strictly increasing).
    edges: Vec<Vec<f64>>,
}

/// A matrix of bin indices stored column by column.
#[derive(Debug, Clone, PartialEq)]
pub struct BinnedMatrix {
    /// One bin index per row, for every feature.
    pub columns: Vec<Vec<u8>>,
    /// Bins of every feature, the missing-value bin included (its index is `n_bins - 1`).
    pub n_bins: Vec<usize>,
    /// Number of rows.
    pub n_rows: usize,
}

impl BinMapper {
    /// Fit at most `max_bins` value bins per column of `x` (NaN values are ignored here).
    pub fn fit(x: ArrayView2<'_, f64>, max_bins: usize) -> Result<Self, ModelError> {
        if !(2..=MAX_VALUE_BINS).contains(&max_bins) {
            return Err(ModelError::InvalidParam {
                name: "max_bins",
                message: format!("must be between 2 and {MAX_VALUE_BINS}, got {max_bins}"),
            });
        }
        let rows = sample_rows(x.nrows());
        let edges = (0..x.ncols())
            .into_par_iter()
            .map(|f| {
                let column = x.column(f);
                let mut values: Vec<f64> = match &rows {
                    Some(rows) => rows.iter().map(|&r| column[r]).filter(|v| !v.is_nan()).collect(),
                    None => column.iter().copied().filter(|v| !v.is_nan()).collect(),
                };
                values.sort_unstable_by(f64::total_cmp);
                feature_edges(&values, max_bins)
            })
            .collect();
        Ok(BinMapper { edges })
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.edges.len()
    }

    /// Number of value bins of feature `f` (the missing-value bin not included); this is
    /// also the index of its missing-value bin.
    pub fn n_value_bins(&self, f: usize) -> usize {
        self.edges[f].len() + 1
    }

    /// The bin of value `v` of feature `f`.
    pub fn bin(&self, f: usize, v: f64) -> u8 {
        let edges = &self.edges[f];
        let b = if v.is_nan() {
            edges.len() + 1
        } else {
            edges.partition_point(|&e| e < v)
        };
        // At most MAX_VALUE_BINS value bins, so the missing bin index is at most 255.
        b as u8
    }

    /// The raw split value of "bin <= `b`" for feature `f`: the upper edge of value bin
    /// `b`, or `f64::MAX` for the last value bin (every finite value is below it).
    pub fn threshold(&self, f: usize, b: u8) -> f64 {
        self.edges[f].get(usize::from(b)).copied().unwrap_or(f64::MAX)
    }

    /// Bin every value of `x`, one column per rayon task.
    pub fn transform(&self, x: ArrayView2<'_, f64>) -> BinnedMatrix {
        let columns = (0..self.n_features())
            .into_par_iter()
            .map(|f| x.column(f).iter().map(|&v| self.bin(f, v)).collect())
            .collect();
        BinnedMatrix {
            columns,
            n_bins: (0..self.n_features()).map(|f| self.n_value_bins(f) + 1).collect(),
            n_rows: x.nrows(),
        }
    }
}

/// A training matrix binned once: what every histogram model fitted on that matrix with
/// the same `max_bins` reads from it (the forest, gradient boosting and the histogram
/// decision tree need nothing else of the raw values), so models fitted together bin
/// their common inputs once ([`crate::fit_binned`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Binned {
    /// The bin edges.
    pub mapper: BinMapper,
    /// Every row's bins.
    pub data: BinnedMatrix,
    /// The most value bins per feature the edges were fitted with.
    pub max_bins: usize,
}

impl Binned {
    /// Fit at most `max_bins` value bins per column of `x` and bin every row.
    pub fn fit(x: ArrayView2<'_, f64>, max_bins: usize) -> Result<Self, ModelError> {
        let mapper = BinMapper::fit(x, max_bins)?;
        let data = mapper.transform(x);
        Ok(Binned {
            mapper,
            data,
            max_bins,
        })
    }

    /// `given` when it bins a matrix of the shape of `x` with `max_bins` (it must then
    /// be `x` binned, as the caller of [`crate::fit_binned`] promises), else `x` binned
    /// anew.
    pub(crate) fn reuse_or_fit<'a>(
        given: Option<&'a Binned>,
        x: ArrayView2<'_, f64>,
        max_bins: usize,
    ) -> Result<std::borrow::Cow<'a, Binned>, ModelError> {
        match given {
            Some(b)
                if b.max_bins == max_bins
                    && b.data.n_rows == x.nrows()
                    && b.mapper.n_features() == x.ncols() =>
            {
                Ok(std::borrow::Cow::Borrowed(b))
            }
            _ => Ok(std::borrow::Cow::Owned(Binned::fit(x, max_bins)?)),
        }
    }
}

/// Rows whose values place the bin edges, as LightGBM's `bin_construct_sample_cnt`: all
/// rows up to this many, else a fixed random sample of this many.
pub const BIN_SAMPLE_ROWS: usize = 200_000;

/// The rows [`BinMapper::fit`] reads (sorted), or `None` for all of them. The sample is
/// drawn with a fixed seed, so the bins depend on the data only.
fn sample_rows(n: usize) -> Option<Vec<usize>> {
    (n > BIN_SAMPLE_ROWS).then(|| crate::sample::sorted_rows(n, BIN_SAMPLE_ROWS, 0x6269_6e73))
}

impl BinnedMatrix {
    /// The bin of `feature` that holds its missing values (its last bin).
    pub fn missing_bin(&self, feature: usize) -> u8 {
        // At most 255 value bins, so the missing bin index fits in a u8.
        (self.n_bins[feature] - 1) as u8
    }
}

/// Upper edges of the value bins of one feature, from its sorted non-missing values.
fn feature_edges(sorted: &[f64], max_bins: usize) -> Vec<f64> {
    // Distinct values and their counts.
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for &v in sorted {
        match distinct.last_mut() {
            Some((last, count)) if *last == v => *count += 1,
            _ => distinct.push((v, 1)),
        }
    }
    if distinct.len() <= max_bins {
        return distinct.windows(2).map(|w| midpoint(w[0].0, w[1].0)).collect();
    }
    // Greedy equal-frequency cuts: close a bin once it holds (about) its share of the rows
    // not yet binned, so heavily repeated values do not waste bins.
    let mut edges = Vec::with_capacity(max_bins - 1);
    let mut remaining = sorted.len() as f64;
    let mut acc = 0usize;
    for i in 0..distinct.len() - 1 {
        acc += distinct[i].1;
        let bins_left = (max_bins - edges.len()) as f64;
        let target = remaining / bins_left;
        if acc as f64 + distinct[i + 1].1 as f64 / 2.0 > target {
            edges.push(midpoint(distinct[i].0, distinct[i + 1].0));
            remaining -= acc as f64;
            acc = 0;
            if edges.len() == max_bins - 1 {
                break;
            }
        }
    }
    edges
}

/// A value in `[a, b)` halfway between `a < b` where representable.
fn midpoint(a: f64, b: f64) -> f64 {
    let m = a + (b - a) / 2.0;
    if m >= a && m < b {
        m
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn at_most_255_bins_and_nan_has_its_own_bin() {
        let n = 10_000;
        let mut x = Array2::<f64>::zeros((n, 2));
        for i in 0..n {
            x[(i, 0)] = (i as f64 * 0.7919).sin() * 1000.0;
            x[(i, 1)] = if i % 7 == 0 { f64::NAN } else { (i % 5) as f64 };
        }
        let m = BinMapper::fit(x.view(), 255).unwrap();
        assert_eq!(m.n_value_bins(0), 255);
        assert_eq!(m.n_value_bins(1), 5, "one bin per distinct value");
        let b = m.transform(x.view());
        assert!(b.columns[0].iter().all(|&v| usize::from(v) < 255));
        for i in 0..n {
            let nan = x[(i, 1)].is_nan();
            assert_eq!(b.columns[1][i] == 5, nan, "row {i}");
        }
        // Equal-frequency: no value bin of feature 0 holds more than twice its share.
        let mut counts = [0usize; 256];
        b.columns[0].iter().for_each(|&v| counts[usize::from(v)] += 1);
        assert!(counts.iter().all(|&c| c <= 2 * n / 255 + 2), "{counts:?}");
    }

    #[test]
    fn thresholds_map_back_to_raw_values() {
        let n = 3000;
        let mut x = Array2::<f64>::zeros((n, 1));
        for i in 0..n {
            // Many ties at zero and a spread tail, as instrumentalness.
            x[(i, 0)] = if i % 3 == 0 {
                0.0
            } else {
                ((i * 37) % 1001) as f64 / 7.0
            };
        }
        let m = BinMapper::fit(x.view(), 64).unwrap();
        let probes: Vec<f64> = x
            .column(0)
            .iter()
            .copied()
            .chain([-5.0, 0.01, 1e9, 71.43])
            .collect();
        for b in 0..m.n_value_bins(0) as u8 {
            let t = m.threshold(0, b);
            for &v in &probes {
                assert_eq!(m.bin(0, v) <= b, v <= t, "value {v}, bin {b}, threshold {t}");
            }
        }
    }

    #[test]
    fn edges_from_a_sample_still_balance_the_bins_and_map_back_to_raw_values() {
        // More rows than the sample: skewed values so that quantiles matter.
        let n = BIN_SAMPLE_ROWS + 50_000;
        let x = Array2::from_shape_fn((n, 1), |(i, _)| ((i * 7919) % n) as f64 / n as f64);
        let x = x.mapv(|v: f64| v.powi(3));
        let mapper = BinMapper::fit(x.view(), 255).unwrap();
        assert_eq!(
            mapper,
            BinMapper::fit(x.view(), 255).unwrap(),
            "the sample is fixed"
        );
        let binned = mapper.transform(x.view());
        let mut counts = vec![0usize; binned.n_bins[0]];
        for (&b, &v) in binned.columns[0].iter().zip(x.column(0)) {
            counts[usize::from(b)] += 1;
            // Every row, sampled or not, is in the bin its raw value says.
            assert!(v <= mapper.threshold(0, b));
            assert!(b == 0 || v > mapper.threshold(0, b - 1));
        }
        let expected = n / 255;
        for &c in &counts[..255] {
            assert!(
                c > expected / 2 && c < expected * 2,
                "{c} rows in a bin, expected ~{expected}"
            );
        }
    }

    #[test]
    fn max_bins_out_of_range_is_invalid() {
        let x = Array2::<f64>::zeros((3, 1));
        assert!(matches!(
            BinMapper::fit(x.view(), 1),
            Err(ModelError::InvalidParam { .. })
        ));
        assert!(matches!(
            BinMapper::fit(x.view(), 256),
            Err(ModelError::InvalidParam { .. })
        ));
    }
}
