//! Models of the replay pipeline.
//!
//! - [`logistic`]: L2-regularised logistic regression with scikit-learn's
//!   `class_weight="balanced"` weighting, fitted by Newton's method.
//! - [`tree`]: a decision tree grown by `linfa-trees`, kept as a flat [`tree::Tree`] whose
//!   leaves hold the training share of replayed tracks (a probability, as scikit-learn's
//!   `predict_proba`).
//!
//! Every model is configured by a [`ModelConfig`], fitted with [`fit`] on a matrix of
//! inputs and boolean labels, and saved as a versioned [`SavedModel`] that loads back to
//! identical predictions.

pub mod linalg;
pub mod logistic;
pub mod tree;

mod error;
mod saved;

use ndarray::{Array1, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

pub use error::ModelError;
pub use saved::{SavedModel, MODEL_FORMAT};

/// A model kind and its hyperparameters, as written under `[models.<name>.<kind>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelConfig {
    /// Logistic regression.
    LogisticRegression(logistic::LogisticParams),
    /// A single decision tree grown by linfa-trees.
    DecisionTree(tree::DecisionTreeParams),
}

impl ModelConfig {
    /// The kind's name as written in config files.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::LogisticRegression(_) => "logistic_regression",
            ModelConfig::DecisionTree(_) => "decision_tree",
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
}

impl Model {
    /// Probability of the replayed class for every row of `x`.
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        match self {
            Model::LogisticRegression(m) => m.predict_proba(x),
            Model::DecisionTree(t) => t.predict_proba(x),
        }
    }

    /// Number of inputs the model expects.
    pub fn n_features(&self) -> usize {
        match self {
            Model::LogisticRegression(m) => m.coefficients.len(),
            Model::DecisionTree(t) => t.n_features,
        }
    }
}

/// Fit the model described by `config` on inputs `x` (rows x features) and labels `y`.
pub fn fit(
    config: &ModelConfig,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
) -> Result<Model, ModelError> {
    if x.nrows() != y.len() {
        return Err(ModelError::Shape {
            rows: x.nrows(),
            labels: y.len(),
        });
    }
    if x.nrows() == 0 || y.iter().all(|&v| v) || y.iter().all(|&v| !v) {
        return Err(ModelError::SingleClass);
    }
    match config {
        ModelConfig::LogisticRegression(p) => Ok(Model::LogisticRegression(logistic::fit(p, x, y)?)),
        ModelConfig::DecisionTree(p) => Ok(Model::DecisionTree(tree::fit_linfa(p, x, y)?)),
    }
}
