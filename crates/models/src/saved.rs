//! Versioned model files.

use std::path::Path;

use ndarray::{Array1, ArrayView2};
use std::io::Read;

use replay_core::{atomic, ArtifactError};
use serde::{Deserialize, Serialize};

use crate::{Model, ModelConfig, ModelError};

/// Format version of [`SavedModel`] files; loading any other version is an error.
pub const MODEL_FORMAT: u32 = 1;

/// Extension of model files.
pub const MODEL_EXTENSION: &str = "model.json.gz";

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

    /// The file name of the model called `name`: `<name>.model.json.gz`.
    pub fn file_name(name: &str) -> String {
        format!("{name}.{MODEL_EXTENSION}")
    }

    /// Write as gzip-compressed compact JSON, atomically. Floats are written so that they
    /// read back bit-identical; tree ensembles hold millions of nodes, hence the compression.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let json_error = |e: serde_json::Error| ArtifactError::Json {
            path: path.into(),
            source: e,
        };
        atomic::write_with(path, |out| {
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            serde_json::to_writer(&mut gz, self).map_err(json_error)?;
            gz.finish().map_err(|e| ArtifactError::io(path, e))?;
            Ok::<(), ArtifactError>(())
        })?;
        Ok(())
    }

    /// Read a model file (gzip-compressed or plain JSON), checking its format version.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ArtifactError::io(path, e))?;
        let json = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut text = Vec::new();
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut text)
                .map_err(|e| ArtifactError::io(path, e))?;
            text
        } else {
            bytes
        };
        serde_json::from_slice::<SavedModel>(&json).map_err(|source| {
            #[derive(Deserialize)]
            struct Header {
                format_version: u32,
            }
            match serde_json::from_slice::<Header>(&json) {
                Ok(h) if h.format_version != MODEL_FORMAT => ArtifactError::Invalid {
                    path: path.into(),
                    message: format!(
                        "model format version {} is not supported (expected {MODEL_FORMAT}); retrain the model",
                        h.format_version
                    ),
                }
                .into(),
                _ => ArtifactError::Json { path: path.into(), source }.into(),
            }
        })
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
