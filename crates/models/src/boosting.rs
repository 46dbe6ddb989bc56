//! Gradient boosting of histogram trees for binary log-loss, as LightGBM's defaults.
//!
//! Starting from the log-odds of the training base rate, every iteration fits a tree to
//! the log-loss gradients `g = p - y` and Hessians `h = p(1-p)`, grown leaf-wise (the
//! best-gaining leaf is split next) up to `max_leaves`, with Newton leaf values
//! `-G / (H + l2)` shrunk by the learning rate. Histograms of different features are built
//! on a team of helper threads (one per rayon thread beyond the first) and the larger
//! child's histogram is its parent's minus its sibling's. Random draws (row and feature
//! subsampling, the validation split) come from streams seeded by `(seed, iteration)`,
//! and every sum runs in a fixed order, so the model does not depend on the number of
//! threads.

use ndarray::{Array1, ArrayView1, ArrayView2, Axis};
use rand::seq::{index, SliceRandom};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::binning::{Binned, BinnedMatrix};
use crate::hist::{Bin, GradHess, SplitRule};
use crate::learner::{self, FeatureSampling, GrowParams, HistJob, Workspace};
use crate::numeric::{sigmoid, softplus, stream_seed};
use crate::params::{self, check, rule, valid_params};
use crate::team;
use crate::tree::{Criterion, Tree};
use crate::{predict, ModelError};

/// Stop when the validation log-loss has not improved for `patience` iterations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyStopping {
    /// Share of the training rows held out (stratified) to measure the loss.
    #[serde(deserialize_with = "params::open_unit")]
    pub validation_fraction: f64,
    /// Iterations without improvement before stopping.
    #[serde(deserialize_with = "params::at_least_one")]
    pub patience: usize,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            validation_fraction: 0.1,
            patience: 10,
        }
    }
}

/// Hyperparameters of gradient boosting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoostingParams {
    /// Boosting iterations (trees).
    #[serde(deserialize_with = "params::at_least_one")]
    pub n_iter: usize,
    /// Shrinkage of every tree.
    #[serde(deserialize_with = "params::positive")]
    pub learning_rate: f64,
    /// Most leaves per tree.
    #[serde(deserialize_with = "params::at_least_two")]
    pub max_leaves: usize,
    /// Deepest level that is split (root = 0); unset: unlimited.
    #[serde(deserialize_with = "params::opt_at_least_one")]
    pub max_depth: Option<usize>,
    /// L2 regularisation of the leaf values (LightGBM's `lambda_l2`).
    #[serde(deserialize_with = "params::non_negative")]
    pub l2: f64,
    /// Smallest Hessian sum in a leaf (LightGBM's `min_sum_hessian_in_leaf`).
    #[serde(deserialize_with = "params::non_negative")]
    pub min_child_weight: f64,
    /// Fewest rows in a leaf (LightGBM's `min_child_samples`).
    #[serde(deserialize_with = "params::at_least_one")]
    pub min_samples_leaf: usize,
    /// Share of the rows drawn (without replacement) for every tree.
    #[serde(deserialize_with = "params::fraction")]
    pub subsample: f64,
    /// Share of the features drawn for every tree.
    #[serde(deserialize_with = "params::fraction")]
    pub colsample: f64,
    /// Early stopping on a held-out share of the training rows; unset: exactly `n_iter`
    /// iterations.
    pub early_stopping: Option<EarlyStopping>,
    /// Seed of all random draws.
    pub seed: u64,
    /// Most value bins per feature (2 to 255).
    #[serde(deserialize_with = "params::bins")]
    pub max_bins: usize,
}

impl Default for BoostingParams {
    fn default() -> Self {
        BoostingParams {
            n_iter: 100,
            learning_rate: 0.1,
            max_leaves: 31,
            max_depth: None,
            l2: 0.0,
            min_child_weight: 1e-3,
            min_samples_leaf: 20,
            subsample: 1.0,
            colsample: 1.0,
            early_stopping: None,
            seed: 0,
            max_bins: 255,
        }
    }
}

valid_params!(
    /// [`BoostingParams`] that passed [`BoostingParams::check`]: what [`fit`] takes.
    ValidBoostingParams,
    BoostingParams
);

impl BoostingParams {
    /// Check every value (the rules a config file is read with), as linfa's
    /// `ParamGuard::check`: only the result can fit.
    pub fn check(&self) -> Result<ValidBoostingParams, ModelError> {
        check("n_iter", rule::at_least(self.n_iter, 1))?;
        check("learning_rate", rule::positive(self.learning_rate))?;
        check("max_leaves", rule::at_least(self.max_leaves, 2))?;
        check("max_depth", rule::at_least(self.max_depth.unwrap_or(1), 1))?;
        check("l2", rule::non_negative(self.l2))?;
        check("min_child_weight", rule::non_negative(self.min_child_weight))?;
        check("min_samples_leaf", rule::at_least(self.min_samples_leaf, 1))?;
        check("subsample", rule::fraction(self.subsample))?;
        check("colsample", rule::fraction(self.colsample))?;
        check("max_bins", rule::bins(self.max_bins))?;
        if let Some(es) = &self.early_stopping {
            check(
                "early_stopping.validation_fraction",
                rule::open_unit(es.validation_fraction),
            )?;
            check("early_stopping.patience", rule::at_least(es.patience, 1))?;
        }
        Ok(ValidBoostingParams::checked(self))
    }
}

/// A fitted gradient boosting model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradientBoosting {
    /// Number of inputs.
    pub n_features: usize,
    /// Raw score before any tree: the log-odds of the training base rate.
    pub init_score: f64,
    /// The trees; leaves hold raw score contributions (learning rate applied).
    pub trees: Vec<Tree>,
    /// Total split gain per feature, normalised to sum 1.
    pub feature_importances: Vec<f64>,
    /// Best validation log-loss, with early stopping.
    pub validation_loss: Option<f64>,
}

impl GradientBoosting {
    /// Raw scores (log-odds) of every row of `x`; an error unless `x` has `n_features`
    /// columns.
    pub fn decision_function(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        crate::check_inputs(self.n_features, x)?;
        Ok(predict::par_sum_trees(x, &self.trees, self.init_score))
    }

    /// Probability of the positive class for every row of `x`; an error unless `x` has
    /// `n_features` columns.
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        Ok(self.decision_function(x)?.mapv(sigmoid))
    }
}

/// Fit gradient boosting on inputs `x` and labels `y`.
pub fn fit(
    params: &ValidBoostingParams,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
) -> Result<GradientBoosting, ModelError> {
    fit_binned(params, x, y, None)
}

/// [`fit`], with `binned` (when given, `x` binned with `params.max_bins`) instead of
/// binning `x` again; with early stopping, the rows left for training are binned anew.
pub fn fit_binned(
    params: &ValidBoostingParams,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
    binned: Option<&Binned>,
) -> Result<GradientBoosting, ModelError> {
    params.check()?;
    crate::check_training_data(x, y)?;
    // Fit on one of rayon's threads: the parallel steps of every iteration (gradients)
    // then hand work to the other workers directly instead of blocking this thread.
    rayon::scope(|_| fit_checked(params, x, y, binned))
}

fn fit_checked(
    params: &BoostingParams,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
    binned: Option<&Binned>,
) -> Result<GradientBoosting, ModelError> {
    match &params.early_stopping {
        None => fit_on(params, x, y, None, binned),
        Some(es) => {
            let (train, valid) = stratified_split(y, es.validation_fraction, params.seed);
            let (xt, yt) = (x.select(Axis(0), &train), y.select(Axis(0), &train));
            let (xv, yv) = (x.select(Axis(0), &valid), y.select(Axis(0), &valid));
            crate::check_training_data(xt.view(), yt.view())?;
            fit_on(
                params,
                xt.view(),
                yt.view(),
                Some((xv.view(), yv.view(), es.patience)),
                None,
            )
        }
    }
}

/// Row indices of (training, validation), each class split in the given share at random.
fn stratified_split(y: ArrayView1<'_, bool>, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX - 1));
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for class in [false, true] {
        let mut rows: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        rows.shuffle(&mut rng);
        let k = ((rows.len() as f64 * fraction).round() as usize).min(rows.len().saturating_sub(1));
        valid.extend_from_slice(&rows[..k]);
        train.extend_from_slice(&rows[k..]);
    }
    train.sort_unstable();
    valid.sort_unstable();
    (train, valid)
}

type Validation<'a> = (ArrayView2<'a, f64>, ArrayView1<'a, bool>, usize);

fn fit_on(
    params: &BoostingParams,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
    valid: Option<Validation<'_>>,
    binned: Option<&Binned>,
) -> Result<GradientBoosting, ModelError> {
    let (n, p) = x.dim();
    let binned = Binned::reuse_or_fit(binned, x, params.max_bins)?;
    let Binned { mapper, data, .. } = &*binned;
    let labels: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v))).collect();
    let n_pos = y.iter().filter(|&&v| v).count() as f64;
    let init_score = (n_pos / (n as f64 - n_pos)).ln();
    let mut raw = vec![init_score; n];
    let mut gh = vec![GradHess::default(); n];
    let mut valid_raw = valid.map(|(xv, _, _)| vec![init_score; xv.nrows()]);
    let (mut best_loss, mut best_iter) = (f64::INFINITY, 0);
    let mut trees: Vec<Tree> = Vec::with_capacity(params.n_iter.min(1024));
    let mut gains_per_tree: Vec<Vec<f64>> = Vec::with_capacity(params.n_iter.min(1024));
    let mut ws = Workspace::default();
    let lr = params.learning_rate;
    let l2 = params.l2;
    let leaf_value = move |s: Bin| -s.g / (s.h + l2) * lr;
    // One feature group per thread: more helpers than features would have nothing to do.
    let helpers = rayon::current_num_threads().min(p).saturating_sub(1);
    let base = GrowParams {
        rule: SplitRule {
            min_samples_leaf: u32::try_from(params.min_samples_leaf).unwrap_or(u32::MAX),
            min_child_weight: params.min_child_weight,
            lambda: params.l2,
            criterion: Criterion::Gini,
        },
        max_depth: params.max_depth,
        max_leaves: Some(params.max_leaves),
        min_samples_split: 2,
        min_gain: 0.0,
        stop_when_pure: false,
        sampling: FeatureSampling::PerTree(Vec::new()),
    };
    team::with_team(
        helpers,
        |job: HistJob| job.run(data),
        |team| {
            for it in 0..params.n_iter {
                let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(params.seed, it as u64));
                set_gradients(&mut gh, &raw, &labels);
                let (mut rows, features) = draw_rows_and_features(params, n, p, &mut rng);
                let grow = GrowParams {
                    sampling: FeatureSampling::PerTree(features),
                    ..base.clone()
                };
                let grown = learner::grow(data, &gh, &mut rows, &grow, &mut rng, &mut ws, Some(team));
                if grown.nodes.len() == 1 {
                    // No split gains anything any more: further trees would be the same stump.
                    break;
                }
                add_leaf_values(&mut raw, &grown, &rows, data, leaf_value);
                let mut gains = vec![0.0; p];
                grown.add_gains(&mut gains);
                gains_per_tree.push(gains);
                let tree = grown.to_tree(mapper, leaf_value, |s| f64::from(s.n));
                if let (Some((xv, yv, patience)), Some(vr)) = (valid, valid_raw.as_mut()) {
                    let values = predict::par_sum_trees(xv, std::slice::from_ref(&tree), 0.0);
                    vr.iter_mut().zip(values).for_each(|(z, v)| *z += v);
                    let loss = log_loss(vr, yv);
                    trees.push(tree);
                    if loss < best_loss {
                        (best_loss, best_iter) = (loss, trees.len());
                    } else if trees.len() - best_iter >= patience {
                        break;
                    }
                } else {
                    trees.push(tree);
                }
            }
        },
    );
    if valid.is_some() {
        trees.truncate(best_iter);
        gains_per_tree.truncate(best_iter);
    }
    let mut importances = vec![0.0; p];
    for g in &gains_per_tree {
        importances.iter_mut().zip(g).for_each(|(i, g)| *i += g);
    }
    let total: f64 = importances.iter().sum();
    if total > 0.0 {
        importances.iter_mut().for_each(|i| *i /= total);
    }
    Ok(GradientBoosting {
        n_features: p,
        init_score,
        trees,
        feature_importances: importances,
        validation_loss: valid.map(|_| best_loss),
    })
}

/// The log-loss gradient and Hessian of every row, from its raw score and label.
fn set_gradients(gh: &mut [GradHess], raw: &[f64], labels: &[f64]) {
    gh.par_iter_mut().zip(raw).zip(labels).for_each(|((s, &z), &t)| {
        let prob = sigmoid(z);
        *s = GradHess {
            g: (prob - t) as f32,
            h: (prob * (1.0 - prob)).max(1e-16) as f32,
        };
    });
}

/// The rows (sorted) and features (sorted) one tree is grown on, drawn as `subsample` and
/// `colsample` say, rows first.
fn draw_rows_and_features(
    params: &BoostingParams,
    n: usize,
    p: usize,
    rng: &mut ChaCha8Rng,
) -> (Vec<u32>, Vec<usize>) {
    let rows: Vec<u32> = if params.subsample < 1.0 {
        let m = ((params.subsample * n as f64).round() as usize).clamp(1, n);
        let mut r: Vec<u32> = index::sample(rng, n, m).into_iter().map(|i| i as u32).collect();
        r.sort_unstable();
        r
    } else {
        (0..n as u32).collect()
    };
    let features: Vec<usize> = if params.colsample < 1.0 {
        let k = ((params.colsample * p as f64).round() as usize).clamp(1, p);
        let mut f = index::sample(rng, p, k).into_vec();
        f.sort_unstable();
        f
    } else {
        (0..p).collect()
    };
    (rows, features)
}

/// Add a grown tree's leaf values to the raw scores of every training row. When the tree
/// was grown on all rows, each leaf's rows are known from `rows` (as `grow` left them);
/// otherwise every row is routed down the tree (each row gets one addition, so the order
/// does not matter).
fn add_leaf_values(
    raw: &mut [f64],
    grown: &learner::GrownTree,
    rows: &[u32],
    data: &BinnedMatrix,
    leaf_value: impl Fn(Bin) -> f64 + Sync,
) {
    if rows.len() == raw.len() {
        for (_, sums, range) in grown.leaves() {
            let v = leaf_value(sums);
            for &r in &rows[range] {
                raw[r as usize] += v;
            }
        }
    } else {
        let mut all: Vec<u32> = (0..raw.len() as u32).collect();
        grown.route(data, &mut all, |_, sums, leaf_rows| {
            let v = leaf_value(sums);
            for &r in leaf_rows {
                raw[r as usize] += v;
            }
        });
    }
}

/// Mean log-loss of raw scores `z` for labels `y`, summed in row order.
fn log_loss(z: &[f64], y: ArrayView1<'_, bool>) -> f64 {
    let total: f64 = z
        .iter()
        .zip(y)
        .map(|(&z, &t)| softplus(z) - if t { z } else { 0.0 })
        .sum();
    total / z.len().max(1) as f64
}
