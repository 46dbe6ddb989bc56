//! Versioned model files.

use std::path::Path;

use ndarray::{Array1, ArrayView2};
use replay_core::{io, ArtifactError};
use serde::{Deserialize, Serialize};

use crate::{Model, ModelConfig, ModelError};

/// Format version of [`SavedModel`] files; loading any other version is an error.
pub const MODEL_FORMAT: u32 = 1;

/// A fitted model with what is needed to use it safely later: its name, its config and
/// the names of the inputs it was fitted on, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    /// File format version ([`MODEL_FORMAT`]).
    pub format_version: u32,
    /// The model's name in the pipeline config.
    pub name: String,
    /// The hyperparameters it was fitted with.
    pub config: ModelConfig,
    /// Input names, in column order.
    pub feature_names: Vec<String>,
    /// The fitted model.
    pub model: Model,
}

impl SavedModel {
    /// Wrap a fitted model.
    pub fn new(name: &str, config: ModelConfig, feature_names: Vec<String>, model: Model) -> Self {
        SavedModel {
            format_version: MODEL_FORMAT,
            name: name.to_string(),
            config,
            feature_names,
            model,
        }
    }

    /// Write as JSON, atomically (floats are written so they read back bit-identical).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        Ok(io::write_json(path, self)?)
    }

    /// Read a model file, checking its format version.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        #[derive(Deserialize)]
        struct Header {
            format_version: u32,
        }
        let header: Header = io::read_json(path)?;
        if header.format_version != MODEL_FORMAT {
            return Err(ArtifactError::Invalid {
                path: path.into(),
                message: format!(
                    "model format version {} is not supported (expected {MODEL_FORMAT}); retrain the model",
                    header.format_version
                ),
            }
            .into());
        }
        Ok(io::read_json(path)?)
    }

    /// Probability of the replayed class, after checking the number of inputs.
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        if x.ncols() != self.feature_names.len() || x.ncols() != self.model.n_features() {
            return Err(ModelError::Features {
                expected: self.feature_names.len(),
                found: x.ncols(),
            });
        }
        Ok(self.model.predict_proba(x))
    }
}
