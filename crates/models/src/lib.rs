//! Models of the replay pipeline.
//!
//! - [`logistic`]: L2-regularised logistic regression with scikit-learn's
//!   `class_weight="balanced"` weighting, fitted by Newton's method.
//! - [`tree`]: the compact [`tree::Tree`] every tree model is stored and predicts as
//!   (16-byte nodes, breadth-first, adjacent children, checked structure), and a decision
//!   tree grown by `linfa-trees` converted into it, whose leaves hold the training share
//!   of replayed tracks (a probability, as scikit-learn's `predict_proba`).
//! - [`forest`]: a random forest and [`boosting`]: gradient boosting, both grown by one
//!   histogram tree learner on quantile-binned inputs ([`binning`]) and stored as
//!   [`tree::Tree`]s on raw values. Both are deterministic for a given seed whatever the
//!   number of rayon threads, and plug into linfa (`Fit`, `PredictInplace`).
//!
//! Every model is configured by a [`ModelConfig`], fitted with [`fit`] on a matrix of
//! inputs and boolean labels, and saved as a versioned [`SavedModel`]: a binary
//! `<name>.model.bin` file (format 2: JSON header, little-endian node arrays, BLAKE3
//! hashes; see [`SavedModel::save`]) that loads back, fully checked, to bit-identical
//! predictions. [`SavedModel::read_summary`] reads only the header. Tree models predict
//! blocks of rows on all of rayon's threads, several rows walking a tree in lockstep;
//! results do not depend on the number of threads.
//!
//! The crate needs no Arrow or Parquet: inputs are `ndarray` matrices. The optional
//! `stage` feature adds the `stage` module: the train stage's work on the feature
//! stage's Parquet files.
//!
//! ```
//! use ndarray::{array, Array1};
//! use replay_models::{fit, ForestParams, ModelConfig};
//! let x = array![[0.1, 5.0], [0.2, 3.0], [0.8, 4.0], [0.9, 1.0], [0.7, 2.0], [0.3, 6.0]];
//! let y: Array1<bool> = x.column(0).mapv(|v| v > 0.5);
//! let config = ModelConfig::RandomForest(ForestParams { n_trees: 20, seed: 1, ..Default::default() });
//! let model = fit(&config, x.view(), y.view())?;
//! let p = model.predict_proba(array![[0.95, 3.0], [0.05, 3.0]].view())?;
//! assert!(p[0] > 0.5 && p[1] < 0.5);
//! # Ok::<(), replay_models::ModelError>(())
//! ```

pub mod binning;
pub mod boosting;
pub mod explain;
pub mod forest;
pub mod linalg;
pub mod logistic;
pub mod refine;
#[cfg(feature = "stage")]
pub mod stage;
pub mod tree;

mod error;
mod hist;
mod learner;
mod linfa_impls;
mod numeric;
mod params;
mod predict;
mod sample;
mod saved;
mod team;

use ndarray::{Array1, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

pub use binning::Binned;
pub use boosting::{BoostingParams, EarlyStopping, GradientBoosting, ValidBoostingParams};
pub use error::ModelError;
pub use explain::OutputSpace;
pub use forest::{ForestParams, RandomForest, ValidForestParams};
pub use logistic::{LogisticParams, ValidLogisticParams};
pub use params::MaxFeatures;
pub use replay_core::schema::ModelFamily;
pub use saved::{ModelSummary, SavedModel, MAX_HEADER_BYTES, MODEL_EXTENSION, MODEL_FORMAT, MODEL_MAGIC};
pub use tree::{DecisionTreeParams, ValidDecisionTreeParams};

/// A model kind and its hyperparameters, as written under `[models.<name>.<kind>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelConfig {
    /// Logistic regression.
    LogisticRegression(logistic::LogisticParams),
    /// A single decision tree grown by linfa-trees.
    DecisionTree(tree::DecisionTreeParams),
    /// A random forest of histogram trees.
    RandomForest(forest::ForestParams),
    /// Gradient boosting of histogram trees.
    GradientBoosting(boosting::BoostingParams),
}

impl ModelConfig {
    /// The kind's name as written in config files.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::LogisticRegression(_) => "logistic_regression",
            ModelConfig::DecisionTree(_) => "decision_tree",
            ModelConfig::RandomForest(_) => "random_forest",
            ModelConfig::GradientBoosting(_) => "gradient_boosting",
        }
    }

    /// The `max_bins` with which fitting bins the whole training matrix as it is (what
    /// a [`Binned`] given to [`fit_binned`] must have been fitted with to serve), or
    /// `None` for models that read raw values or bin other rows (a forest's
    /// `sample_rows`, boosting's early stopping).
    pub fn bins_inputs(&self) -> Option<usize> {
        match self {
            ModelConfig::LogisticRegression(_) => None,
            ModelConfig::DecisionTree(p) => {
                (p.engine == tree::TreeEngine::Histogram).then_some(tree::HISTOGRAM_BINS)
            }
            ModelConfig::RandomForest(p) => p.sample_rows.is_none().then_some(p.max_bins),
            ModelConfig::GradientBoosting(p) => p.early_stopping.is_none().then_some(p.max_bins),
        }
    }

    /// Check the hyperparameters (see each kind's `check`): what [`fit`] does first, and
    /// what a config loader calls to report every bad value before anything runs.
    pub fn check(&self) -> Result<(), ModelError> {
        match self {
            ModelConfig::LogisticRegression(p) => p.check().map(drop),
            ModelConfig::DecisionTree(p) => p.check().map(drop),
            ModelConfig::RandomForest(p) => p.check().map(drop),
            ModelConfig::GradientBoosting(p) => p.check().map(drop),
        }
    }

    /// The family of the model, which decides the inputs it reads: logistic regression
    /// is linear (one-hot indicators of categories); the decision tree, the random forest
    /// and gradient boosting are trees (ordinal category codes).
    pub fn family(&self) -> ModelFamily {
        match self {
            ModelConfig::LogisticRegression(_) => ModelFamily::Linear,
            ModelConfig::DecisionTree(_)
            | ModelConfig::RandomForest(_)
            | ModelConfig::GradientBoosting(_) => ModelFamily::Trees,
        }
    }
}

/// A fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Model {
    /// A fitted logistic regression.
    LogisticRegression(logistic::LogisticModel),
    /// A fitted tree.
    DecisionTree(tree::Tree),
    /// A fitted random forest.
    RandomForest(forest::RandomForest),
    /// A fitted gradient boosting model.
    GradientBoosting(boosting::GradientBoosting),
}

impl Model {
    /// Probability of the replayed class for every row of `x`; an error unless `x` has
    /// [`Model::n_features`] columns.
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        match self {
            Model::LogisticRegression(m) => m.predict_proba(x),
            Model::DecisionTree(t) => t.predict_proba(x),
            Model::RandomForest(m) => m.predict_proba(x),
            Model::GradientBoosting(m) => m.predict_proba(x),
        }
    }

    /// The model's output for every row of `x`, in its [`OutputSpace`]: log-odds for
    /// logistic regression and gradient boosting, the probability for the trees (what
    /// contributions explain and calibration maps start from).
    pub fn predict_output(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        match self {
            Model::LogisticRegression(m) => m.decision_function(x),
            Model::DecisionTree(t) => t.predict_proba(x),
            Model::RandomForest(m) => m.predict_proba(x),
            Model::GradientBoosting(m) => m.decision_function(x),
        }
    }

    /// What [`Model::predict_output`] and contributions are in.
    pub fn output_space(&self) -> OutputSpace {
        match self {
            Model::LogisticRegression(_) | Model::GradientBoosting(_) => OutputSpace::LogOdds,
            Model::DecisionTree(_) | Model::RandomForest(_) => OutputSpace::Probability,
        }
    }

    /// The model kind, as in config files (the same as [`ModelConfig::kind`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Model::LogisticRegression(_) => "logistic_regression",
            Model::DecisionTree(_) => "decision_tree",
            Model::RandomForest(_) => "random_forest",
            Model::GradientBoosting(_) => "gradient_boosting",
        }
    }

    /// Number of inputs the model expects.
    pub fn n_features(&self) -> usize {
        match self {
            Model::LogisticRegression(m) => m.coefficients.len(),
            Model::DecisionTree(t) => t.n_features(),
            Model::RandomForest(m) => m.n_features,
            Model::GradientBoosting(m) => m.n_features,
        }
    }

    /// What a user should know about how the fit went: for logistic regression, that
    /// Newton's method stopped at `max_iter` before converging; `None` otherwise.
    pub fn fit_warning(&self) -> Option<String> {
        match self {
            Model::LogisticRegression(m) if !m.converged => {
                Some(format!("did not converge in {} iterations", m.iterations))
            }
            _ => None,
        }
    }

    /// Nodes of the model's trees (0 for logistic regression): what explaining or
    /// predicting a row costs.
    pub fn tree_nodes(&self) -> usize {
        saved::trees_of(self).iter().map(tree::Tree::n_nodes).sum()
    }

    /// How many of `wanted` rows to explain within a budget of `node_rows` tree nodes ×
    /// rows: models with many tree nodes explain fewer, but at least `at_least` (and never
    /// more than `wanted`).
    pub fn affordable_rows(&self, wanted: usize, node_rows: u64, at_least: usize) -> usize {
        let nodes = u64::try_from(self.tree_nodes()).unwrap_or(u64::MAX).max(1);
        let affordable = usize::try_from(node_rows / nodes).unwrap_or(usize::MAX);
        wanted.min(affordable.max(at_least))
    }

    /// Importance of every input, summing to 1, for the tree ensembles (impurity decrease
    /// for the forest, split gain for boosting); `None` for the other models.
    pub fn feature_importances(&self) -> Option<Vec<f64>> {
        match self {
            Model::RandomForest(m) => Some(m.feature_importances.clone()),
            Model::GradientBoosting(m) => Some(m.feature_importances.clone()),
            Model::LogisticRegression(_) | Model::DecisionTree(_) => None,
        }
    }
}

/// Fit the model described by `config` on inputs `x` (rows x features) and labels `y`.
pub fn fit(
    config: &ModelConfig,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
) -> Result<Model, ModelError> {
    fit_binned(config, x, y, None)
}

/// [`fit`], reusing `binned` where the model would bin `x` itself with the same number of
/// bins ([`ModelConfig::bins_inputs`]): several histogram models fitted on one matrix
/// then bin it once. `binned` must be [`Binned::fit`] of this `x`; the model is the same
/// as [`fit`]'s.
pub fn fit_binned(
    config: &ModelConfig,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
    binned: Option<&Binned>,
) -> Result<Model, ModelError> {
    check_training_data(x, y)?;
    match config {
        ModelConfig::LogisticRegression(p) => {
            Ok(Model::LogisticRegression(logistic::fit(&p.check()?, x, y)?))
        }
        ModelConfig::DecisionTree(p) => Ok(Model::DecisionTree(tree::fit_binned(&p.check()?, x, y, binned)?)),
        ModelConfig::RandomForest(p) => Ok(Model::RandomForest(forest::fit_binned(
            &p.check()?,
            x,
            y,
            binned,
        )?)),
        ModelConfig::GradientBoosting(p) => Ok(Model::GradientBoosting(boosting::fit_binned(
            &p.check()?,
            x,
            y,
            binned,
        )?)),
    }
}

/// `x` must have the `expected` number of columns a model was fitted on.
pub(crate) fn check_inputs(expected: usize, x: ArrayView2<'_, f64>) -> Result<(), ModelError> {
    if x.ncols() == expected {
        Ok(())
    } else {
        Err(ModelError::Features {
            expected,
            found: x.ncols(),
        })
    }
}

/// Inputs and labels must agree in length and the labels hold both classes.
pub(crate) fn check_training_data(x: ArrayView2<'_, f64>, y: ArrayView1<'_, bool>) -> Result<(), ModelError> {
    if x.nrows() != y.len() {
        return Err(ModelError::Shape {
            rows: x.nrows(),
            labels: y.len(),
        });
    }
    if x.nrows() == 0 || y.iter().all(|&v| v) || y.iter().all(|&v| !v) {
        return Err(ModelError::SingleClass);
    }
    if x.ncols() == 0 {
        return Err(ModelError::InvalidParam {
            name: "features",
            message: "at least one input column is needed".into(),
        });
    }
    if x.nrows() > u32::MAX as usize {
        return Err(ModelError::InvalidParam {
            name: "rows",
            message: format!(
                "at most {} training rows are supported, got {}",
                u32::MAX,
                x.nrows()
            ),
        });
    }
    Ok(())
}
