//! Errors of the models crate.

use replay_core::ArtifactError;

/// Why a model could not be fitted, saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A hyperparameter is out of its range.
    #[error("invalid hyperparameter {name}: {message}")]
    InvalidParam {
        /// The hyperparameter.
        name: &'static str,
        /// What is allowed.
        message: String,
    },
    /// Inputs and labels disagree in length.
    #[error("{rows} input rows but {labels} labels")]
    Shape {
        /// Input rows.
        rows: usize,
        /// Labels.
        labels: usize,
    },
    /// The inputs do not have the number of columns the model was fitted on.
    #[error("the model expects {expected} inputs, got {found}")]
    Features {
        /// Inputs the model was fitted on.
        expected: usize,
        /// Inputs given.
        found: usize,
    },
    /// A saved model reads inputs by name that the data does not have.
    #[error("{model}: fitted on inputs {expected:?}, but the data has {found:?}")]
    MissingInputs {
        /// The model file.
        model: std::path::PathBuf,
        /// The model's inputs.
        expected: Vec<String>,
        /// The data's inputs.
        found: Vec<String>,
    },
    /// Training needs both classes.
    #[error("training data must contain both classes")]
    SingleClass,
    /// Nodes given to [`crate::tree::Tree::from_nodes`] do not form a valid tree.
    #[error("invalid tree: {0}")]
    InvalidTree(String),
    /// linfa refused to fit.
    #[error("linfa: {0}")]
    Linfa(String),
    /// Reading or writing the model file failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
}

impl From<linfa::Error> for ModelError {
    fn from(e: linfa::Error) -> Self {
        ModelError::Linfa(e.to_string())
    }
}
