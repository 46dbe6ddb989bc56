//! Random forest of histogram trees, as scikit-learn's `RandomForestClassifier`.
//!
//! Every tree is grown on a bootstrap sample (kept as integer row weights, so each unique
//! row is visited once) to full depth by default, drawing `max_features` features at every
//! split; a leaf holds the weighted share of positives of its training rows and the forest
//! averages the trees. Trees are grown in parallel, one rayon task per tree, each from its
//! own random stream seeded by `(seed, tree index)`, so the forest does not depend on the
//! number of threads.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use ndarray::{Array1, ArrayView1, ArrayView2, Axis, CowArray, Ix1, Ix2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::binning::{BinMapper, Binned, BinnedMatrix};
use crate::hist::{Bin, GradHess, Packed, SplitRule};
use crate::learner::{self, FeatureSampling, GrowParams, Workspace};
use crate::numeric::{stream_seed, ClassWeight};
use crate::params::{self, check, invalid, rule, valid_params, MaxFeatures};
use crate::sample::sorted_rows;
use crate::tree::{Criterion, Tree};
use crate::{predict, ModelError};

/// Hyperparameters of the random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForestParams {
    /// Number of trees.
    #[serde(deserialize_with = "params::at_least_one")]
    pub n_trees: usize,
    /// Deepest level that is split (root = 0); unset grows until leaves are pure or too
    /// small to split.
    #[serde(deserialize_with = "params::opt_at_least_one")]
    pub max_depth: Option<usize>,
    /// Fewest rows in a leaf.
    #[serde(deserialize_with = "params::at_least_one")]
    pub min_samples_leaf: usize,
    /// Fewest rows in a node for it to be split.
    #[serde(deserialize_with = "params::at_least_two")]
    pub min_samples_split: usize,
    /// Features drawn at every split.
    pub max_features: MaxFeatures,
    /// Split criterion.
    pub criterion: Criterion,
    /// Grow every tree on a bootstrap sample (else on all rows).
    pub bootstrap: bool,
    /// Row weighting by class.
    pub class_weight: ClassWeight,
    /// Train on a random subsample of this many rows (all rows when unset or larger).
    #[serde(deserialize_with = "params::opt_at_least_one")]
    pub sample_rows: Option<usize>,
    /// Rows drawn (with replacement) for each tree's bootstrap sample, as scikit-learn's
    /// `max_samples`: all `n` rows when unset or larger. Bounds the fit time and the size
    /// of every tree at any data size (a full-depth tree has about `max_samples /
    /// min_samples_leaf` leaves).
    #[serde(deserialize_with = "params::opt_at_least_one")]
    pub max_samples: Option<usize>,
    /// Compute the out-of-bag ROC-AUC (needs `bootstrap`), on at most [`OOB_ROWS`]
    /// training rows.
    pub oob_score: bool,
    /// Seed of all random draws.
    pub seed: u64,
    /// Most value bins per feature (2 to 255).
    #[serde(deserialize_with = "params::bins")]
    pub max_bins: usize,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 100,
            max_depth: None,
            min_samples_leaf: 1,
            min_samples_split: 2,
            max_features: MaxFeatures::Sqrt,
            criterion: Criterion::Gini,
            bootstrap: true,
            class_weight: ClassWeight::None,
            sample_rows: None,
            max_samples: None,
            oob_score: false,
            seed: 0,
            max_bins: 255,
        }
    }
}

valid_params!(
    /// [`ForestParams`] that passed [`ForestParams::check`]: what [`fit`] takes.
    ValidForestParams,
    ForestParams
);

impl ForestParams {
    /// Check every value (the rules a config file is read with, and those between
    /// fields), as linfa's `ParamGuard::check`: only the result can fit.
    pub fn check(&self) -> Result<ValidForestParams, ModelError> {
        check("n_trees", rule::at_least(self.n_trees, 1))?;
        check("max_depth", rule::at_least(self.max_depth.unwrap_or(1), 1))?;
        check("min_samples_leaf", rule::at_least(self.min_samples_leaf, 1))?;
        check("min_samples_split", rule::at_least(self.min_samples_split, 2))?;
        check("sample_rows", rule::at_least(self.sample_rows.unwrap_or(1), 1))?;
        check("max_samples", rule::at_least(self.max_samples.unwrap_or(1), 1))?;
        check("max_bins", rule::bins(self.max_bins))?;
        self.max_features.check()?;
        if self.max_samples.is_some() && !self.bootstrap {
            return Err(invalid("max_samples", "needs bootstrap = true"));
        }
        if self.oob_score && !self.bootstrap {
            return Err(invalid("oob_score", "needs bootstrap = true"));
        }
        Ok(ValidForestParams::checked(self))
    }
}

/// A fitted random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForest {
    /// Number of inputs.
    pub n_features: usize,
    /// The trees; leaves hold probabilities.
    pub trees: Vec<Tree>,
    /// ROC-AUC of the out-of-bag predictions on the training rows, if computed.
    pub oob_score: Option<f64>,
    /// Mean decrease in impurity per feature, normalised to sum 1 (scikit-learn's
    /// `feature_importances_`).
    pub feature_importances: Vec<f64>,
}

impl RandomForest {
    /// Mean of the trees' probabilities for every row of `x`; an error unless `x` has
    /// `n_features` columns.
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        crate::check_inputs(self.n_features, x)?;
        let n = self.trees.len().max(1) as f64;
        Ok(predict::par_sum_trees(x, &self.trees, 0.0).mapv(|s| s / n))
    }
}

/// Fit a random forest on inputs `x` and labels `y`.
pub fn fit(
    params: &ValidForestParams,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
) -> Result<RandomForest, ModelError> {
    fit_binned(params, x, y, None)
}

/// [`fit`], with `binned` (when given, `x` binned with `params.max_bins`) instead of
/// binning `x` again; a forest on a subsample (`sample_rows`) bins the subsample.
pub fn fit_binned(
    params: &ValidForestParams,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
    binned: Option<&Binned>,
) -> Result<RandomForest, ModelError> {
    crate::check_training_data(x, y)?;
    let n_all = x.nrows();
    // A subsample is a new matrix; otherwise the caller's matrix is used as it is.
    let (x, y): (CowArray<'_, f64, Ix2>, CowArray<'_, bool, Ix1>) = match params.sample_rows {
        Some(m) if m < n_all => {
            let rows = sorted_rows(n_all, m, stream_seed(params.seed, u64::MAX));
            (x.select(Axis(0), &rows).into(), y.select(Axis(0), &rows).into())
        }
        _ => (x.into(), y.into()),
    };
    crate::check_training_data(x.view(), y.view())?;
    let binned = Binned::reuse_or_fit(binned, x.view(), params.max_bins)?;
    let Binned { mapper, data, .. } = &*binned;
    let weights = params.class_weight.weights(y.view());
    let grow = GrowParams {
        rule: SplitRule {
            min_samples_leaf: u32::try_from(params.min_samples_leaf).unwrap_or(u32::MAX),
            min_child_weight: 0.0,
            lambda: 0.0,
            criterion: params.criterion,
        },
        max_depth: params.max_depth,
        max_leaves: None,
        min_samples_split: params.min_samples_split,
        min_gain: f64::NEG_INFINITY,
        stop_when_pure: true,
        sampling: FeatureSampling::PerSplit(params.max_features.resolve(x.ncols())),
    };
    let oob = params
        .oob_score
        .then(|| OobSums::new(data.n_rows, OOB_ROWS, params.seed));
    let grown: Vec<(Tree, Vec<f64>)> = (0..params.n_trees)
        .into_par_iter()
        .map(|t| {
            grow_tree(
                params,
                &grow,
                data,
                mapper,
                y.view(),
                weights.view(),
                oob.as_ref(),
                t,
            )
        })
        .collect();
    let n_features = x.ncols();
    let mut importances = vec![0.0; n_features];
    for (_, gains) in &grown {
        let total: f64 = gains.iter().sum();
        if total > 0.0 {
            importances
                .iter_mut()
                .zip(gains)
                .for_each(|(i, g)| *i += g / total);
        }
    }
    let total: f64 = importances.iter().sum();
    if total > 0.0 {
        importances.iter_mut().for_each(|i| *i /= total);
    }
    let oob_score = oob.and_then(|o| o.auc(y.view()));
    Ok(RandomForest {
        n_features,
        trees: grown.into_iter().map(|(t, _)| t).collect(),
        oob_score,
        feature_importances: importances,
    })
}

/// Most training rows the out-of-bag score is measured on: all rows up to this many, else
/// a fixed random sample, so that its cost (every tree routes every out-of-bag row of the
/// sample down to its leaf, a fifth of the fit when all rows are scored) stays bounded.
/// The ROC-AUC of 50,000 rows has a standard error of about 0.001.
pub const OOB_ROWS: usize = 50_000;

/// Out-of-bag prediction sums of the scored training rows, in fixed point (`2^-32` units)
/// so that adding them in any order (trees finish in any order) gives the same result.
struct OobSums {
    /// The scored rows, increasing.
    rows: Vec<u32>,
    /// Per training row, its position in `rows` ([`OobSums::UNSCORED`] if none); empty
    /// when every row is scored.
    slot_of: Vec<u32>,
    sums: Vec<AtomicU64>,
    counts: Vec<AtomicU32>,
}

impl OobSums {
    const ONE: f64 = 4_294_967_296.0;
    const UNSCORED: u32 = u32::MAX;

    /// Sums of all `n` training rows, or of a fixed sample of `limit` of them.
    fn new(n: usize, limit: usize, seed: u64) -> Self {
        let (rows, slot_of) = if n > limit {
            let rows: Vec<u32> = sorted_rows(n, limit, stream_seed(seed, u64::MAX - 1))
                .into_iter()
                .map(|r| r as u32)
                .collect();
            let mut slot_of = vec![Self::UNSCORED; n];
            for (i, &r) in rows.iter().enumerate() {
                slot_of[r as usize] = i as u32;
            }
            (rows, slot_of)
        } else {
            ((0..n as u32).collect(), Vec::new())
        };
        OobSums {
            sums: rows.iter().map(|_| AtomicU64::new(0)).collect(),
            counts: rows.iter().map(|_| AtomicU32::new(0)).collect(),
            rows,
            slot_of,
        }
    }

    /// Add a tree's probability of every scored row its bootstrap left out (`counts` are
    /// the bootstrap counts by row); `predict(rows, add)` calls `add(row, p)` with the
    /// probability `p` of every row of `rows`, which it may reorder.
    fn add_out_of_bag(&self, counts: &[u32], predict: impl FnOnce(&mut [u32], &mut dyn FnMut(u32, f64))) {
        let mut rows: Vec<u32> = self
            .rows
            .iter()
            .copied()
            .filter(|&r| counts[r as usize] == 0)
            .collect();
        predict(&mut rows, &mut |row, p| {
            let i = match self.slot_of.is_empty() {
                true => row as usize,
                false => self.slot_of[row as usize] as usize,
            };
            self.sums[i].fetch_add((p.clamp(0.0, 1.0) * Self::ONE).round() as u64, Relaxed);
            self.counts[i].fetch_add(1, Relaxed);
        });
    }

    /// ROC-AUC of the mean out-of-bag prediction of every scored row that is out of bag
    /// somewhere.
    fn auc(&self, y: ArrayView1<'_, bool>) -> Option<f64> {
        let (scores, labels): (Vec<f64>, Vec<bool>) = self
            .rows
            .iter()
            .zip(self.sums.iter().zip(&self.counts))
            .filter(|(_, (_, k))| k.load(Relaxed) > 0)
            .map(|(&r, (s, k))| {
                let mean = s.load(Relaxed) as f64 / Self::ONE / f64::from(k.load(Relaxed));
                (mean, y[r as usize])
            })
            .unzip();
        replay_metrics::roc_auc(&labels, &scores).ok()
    }
}

/// The rows' statistics (weight `w`, and `w` again as `g` for positive rows) packed for
/// faster histograms when every weight is a whole number and their total fits the
/// packed fields: always for bootstrap counts without class weights, unless a tree draws
/// more than two million rows. Trees grown from either form are identical.
fn packed_stats(w: &[f32], y: ArrayView1<'_, bool>) -> Option<Vec<Packed>> {
    let mut total = 0u64;
    for &x in w {
        if x.fract() != 0.0 || !(0.0..Packed::LIMIT as f32).contains(&x) {
            return None;
        }
        total += x as u64;
    }
    Packed::fits(total).then(|| {
        w.iter()
            .zip(y)
            .map(|(&x, &positive)| {
                let h = x as u32;
                Packed::new(if positive { h } else { 0 }, h)
            })
            .collect()
    })
}

/// Grow tree `t`; returns it with its per-feature gains, and adds its predictions for
/// its out-of-bag rows to `oob`.
#[allow(clippy::too_many_arguments)]
fn grow_tree(
    params: &ForestParams,
    grow: &GrowParams,
    data: &BinnedMatrix,
    mapper: &BinMapper,
    y: ArrayView1<'_, bool>,
    weights: ArrayView1<'_, f64>,
    oob: Option<&OobSums>,
    t: usize,
) -> (Tree, Vec<f64>) {
    let n = data.n_rows;
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(params.seed, t as u64));
    let mut counts = vec![u32::from(!params.bootstrap); n];
    if params.bootstrap {
        for _ in 0..params.max_samples.map_or(n, |m| m.min(n)) {
            counts[rng.random_range(0..n)] += 1;
        }
    }
    let w: Vec<f32> = (0..n)
        .map(|r| (f64::from(counts[r]) * weights[r]) as f32)
        .collect();
    let mut rows: Vec<u32> = (0..n as u32).filter(|&r| counts[r as usize] > 0).collect();
    let grown = if let Some(packed) = packed_stats(&w, y) {
        learner::grow(
            data,
            &packed,
            &mut rows,
            grow,
            &mut rng,
            &mut Workspace::default(),
            None,
        )
    } else {
        let gh: Vec<GradHess> = (0..n)
            .map(|r| GradHess {
                g: if y[r] { w[r] } else { 0.0 },
                h: w[r],
            })
            .collect();
        learner::grow(
            data,
            &gh,
            &mut rows,
            grow,
            &mut rng,
            &mut Workspace::default(),
            None,
        )
    };
    let mut gains = vec![0.0; data.n_bins.len()];
    grown.add_gains(&mut gains);
    let share = |s: Bin| {
        if s.h > 0.0 {
            (s.g / s.h).clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    if let Some(oob) = oob {
        oob.add_out_of_bag(&counts, |rows, add| {
            grown.route(data, rows, |_, sums, leaf_rows| {
                let p = share(sums);
                leaf_rows.iter().for_each(|&r| add(r, p));
            });
        });
    }
    let tree = grown.to_tree(mapper, share, |s| s.h);
    (tree, gains)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_bag_auc_of_all_rows_or_a_sample_equals_the_mean_predictions_recomputed() {
        let n = 1000;
        let y: Vec<bool> = (0..n).map(|r| (r * 7) % 10 < 3).collect();
        // Three "trees": each leaves out its own rows and predicts a noisy score of them.
        let counts: Vec<Vec<u32>> = (0..3)
            .map(|t| (0..n).map(|r| u32::from((r + t) % 3 != 0)).collect())
            .collect();
        let p = |t: usize, r: u32| {
            let noise = ((r as usize * 2_654_435_761 + t * 97) % 1000) as f64 / 1000.0;
            0.3 * f64::from(u8::from(y[r as usize])) + 0.7 * noise
        };
        for limit in [n, 300] {
            let oob = OobSums::new(n, limit, 5);
            for (t, c) in counts.iter().enumerate() {
                oob.add_out_of_bag(c, |rows, add| rows.iter().rev().for_each(|&r| add(r, p(t, r))));
            }
            // By hand: every scored row's mean over the trees that left it out.
            let scored = if limit < n {
                oob.rows.clone()
            } else {
                (0..n as u32).collect()
            };
            assert_eq!(scored.len(), limit);
            let (mut scores, mut labels) = (Vec::new(), Vec::new());
            for &r in &scored {
                let out: Vec<f64> = (0..3)
                    .filter(|&t| counts[t][r as usize] == 0)
                    .map(|t| p(t, r))
                    .collect();
                if !out.is_empty() {
                    let fixed: u64 = out.iter().map(|v| (v * OobSums::ONE).round() as u64).sum();
                    scores.push(fixed as f64 / OobSums::ONE / out.len() as f64);
                    labels.push(y[r as usize]);
                }
            }
            let expected = replay_metrics::roc_auc(&labels, &scores).unwrap();
            let y = ndarray::Array1::from(y.clone());
            assert_eq!(oob.auc(y.view()), Some(expected), "limit {limit}");
        }
    }
}
