//! Wiring of the eval stage ([`replay_eval::stage::run`]): each model's scores and
//! metrics are reused from its own cache entry when its file, the test rows and the eval
//! settings are unchanged.

use std::path::{Path, PathBuf};

use replay_core::io;
use replay_eval::stage::{self, Found, ModelResult, ResultStore};
use replay_eval::MetricsReport;
use replay_models::SavedModel;

use super::ModelReuse;
use crate::cache::{cache_key, hash_file};
use crate::graph::StageKind;
use crate::{PipelineConfig, PipelineError};

/// Cache namespace of one model's test-set scores and metrics.
const MODEL_EVAL_ENTRIES: &str = "model-eval";
/// In a model-eval entry: the model's metrics.
const MODEL_METRICS_FILE: &str = "metrics.json";
/// In a model-eval entry: the model's test-set probabilities, in test-row order.
const MODEL_SCORES_FILE: &str = "scores.parquet";

/// Score the test rows with every configured model; write metrics and predictions.
pub fn evaluate(
    config: &PipelineConfig,
    test: &Path,
    models_dir: &Path,
    out_dir: &Path,
    reuse: Option<&ModelReuse<'_>>,
) -> Result<MetricsReport, PipelineError> {
    let models: Vec<(String, PathBuf)> = config
        .models
        .keys()
        .map(|name| {
            (
                name.to_string(),
                models_dir.join(SavedModel::file_name(name.as_str())),
            )
        })
        .collect();
    match reuse {
        Some(reuse) => {
            let store = CachedResults { reuse, config };
            stage::run(&config.eval, test, &models, out_dir, &store)
        }
        None => Ok(stage::run(&config.eval, test, &models, out_dir, &stage::NoStore)?),
    }
}

/// The per-model cache as the eval stage's store: an entry per model, keyed by its name,
/// the eval settings, the eval stage's code, the test rows and the model file's content.
struct CachedResults<'a> {
    reuse: &'a ModelReuse<'a>,
    config: &'a PipelineConfig,
}

impl ResultStore for CachedResults<'_> {
    type Error = PipelineError;
    /// The cache key.
    type Ticket = String;

    fn find(&self, name: &str, model: &Path) -> Result<Found<String>, PipelineError> {
        let mut inputs = self.reuse.input_hashes(&["features/test.parquet"]);
        inputs.push(("model".into(), hash_file(model)?.blake3));
        let settings = serde_json::json!({ "name": name, "eval": self.config.eval });
        let key = cache_key(
            MODEL_EVAL_ENTRIES,
            &StageKind::Eval.code_version(),
            &settings,
            &inputs,
        );
        Ok(match self.reuse.reusable(MODEL_EVAL_ENTRIES, &key) {
            Some(dir) => Found::Stored(Box::new(ModelResult {
                metrics: io::read_json(&dir.join(MODEL_METRICS_FILE))?,
                scores: stage::read_scores(&dir.join(MODEL_SCORES_FILE))?,
            })),
            None => Found::Missing(key),
        })
    }

    fn keep(&self, key: String, result: &ModelResult) -> Result<(), PipelineError> {
        self.reuse.cache.store(MODEL_EVAL_ENTRIES, &key, |dir| {
            io::write_json(&dir.join(MODEL_METRICS_FILE), &result.metrics)?;
            Ok::<_, PipelineError>(stage::write_scores(&dir.join(MODEL_SCORES_FILE), &result.scores)?)
        })?;
        Ok(())
    }
}
