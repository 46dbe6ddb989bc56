//! Running one stage: the same code serves the pipeline and the `replay` command line.
//! Each stage's work lives in its crate (`replay_ingest::run`, `replay_features::run`,
//! `replay_models::stage`, `replay_eval::stage`); [`execute`] calls it, and the modules
//! here wire in what only the pipeline knows: the per-model cache entries of train and
//! eval, and the run's details that the report shows.

mod eval;
mod explain;
mod report;
mod score;
mod train;

pub use eval::evaluate;
pub use explain::{explain, ColumnContribution, ExplainedSong, Explanation, InputContribution};
pub use score::{decision_threshold, score, Scored};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;

use crate::cache::Cache;

use replay_models::stage::MODELS_DIR;

use crate::graph::{StageKind, SOURCE};
use crate::{PipelineConfig, PipelineError};

/// The part of the config a stage depends on (hashed into its cache key). The report
/// shows the whole config and the cache keys of the stages before it (`run_keys`).
pub fn config_section(
    kind: StageKind,
    config: &PipelineConfig,
    run_keys: &[(String, String)],
) -> serde_json::Value {
    match kind {
        StageKind::Ingest => serde_json::json!({
            "columns": config.column_map(),
            "ingest": config.ingest,
            // How the source is written; its path is not hashed, its content is.
            "format": config.source_at(Path::new("")),
        }),
        StageKind::Features => serde_json::json!(config.features_config()),
        StageKind::Train => serde_json::json!({
            "models": config.models,
            "calibration": config.calibration,
            "operating_point": config.eval.operating_point,
        }),
        StageKind::Eval => {
            serde_json::json!({ "eval": config.eval, "models": config.models.keys().collect::<Vec<_>>() })
        }
        StageKind::Report => serde_json::json!({ "config": config, "run_keys": run_keys }),
    }
}

/// Per-model reuse inside the train and eval stages: a model whose hyperparameters, code
/// and training rows are unchanged is not fitted again, and its test-set scores and
/// metrics are not computed again, even when another model of the config changed.
/// Entries live in the cache beside the stages' (`cache/model/`, `cache/model-eval/`).
pub struct ModelReuse<'a> {
    /// The cache.
    pub cache: &'a Cache,
    /// Content hashes of the stage's inputs, by input reference (`features/train.parquet`).
    pub inputs: &'a [(String, String)],
    /// Recompute every model and store it afresh, ignoring valid entries (`--force`).
    pub recompute: bool,
}

impl ModelReuse<'_> {
    /// The valid entry of `key` under `namespace`, unless every model is recomputed.
    fn reusable(&self, namespace: &str, key: &str) -> Option<PathBuf> {
        if self.recompute {
            None
        } else {
            self.cache.valid_entry(namespace, key)
        }
    }

    /// The hashes of the stage inputs named `names`.
    fn input_hashes(&self, names: &[&str]) -> Vec<(String, String)> {
        self.inputs
            .iter()
            .filter(|(name, _)| names.contains(&name.as_str()))
            .cloned()
            .collect()
    }
}

/// Look up an input by file name.
fn input<'a>(inputs: &'a BTreeMap<String, PathBuf>, name: &str) -> Result<&'a Path, PipelineError> {
    inputs
        .get(name)
        .map(PathBuf::as_path)
        .ok_or_else(|| PipelineError::MissingInput(name.to_string()))
}

/// Run stage `kind` on `inputs` (file name → path), writing its outputs into `out_dir`.
/// `run_keys` are the cache keys of the stages already run (shown by the report).
/// Returns a one-line summary of what it did.
pub fn execute(
    kind: StageKind,
    config: &PipelineConfig,
    inputs: &BTreeMap<String, PathBuf>,
    out_dir: &Path,
    progress: &ProgressBar,
    run_keys: &[(String, String)],
    reuse: Option<&ModelReuse<'_>>,
) -> Result<String, PipelineError> {
    match kind {
        StageKind::Ingest => {
            let source = config.source_at(input(inputs, SOURCE)?);
            let r = replay_ingest::run(&source, &config.column_map(), &config.ingest, out_dir, progress)?;
            Ok(format!(
                "{} rows read, {} kept, {} rejected",
                r.rows_read, r.rows_kept, r.rows_rejected
            ))
        }
        StageKind::Features => {
            let tracks = input(inputs, replay_ingest::TRACKS_FILE)?;
            let r = replay_features::run(tracks, &config.features_config(), out_dir)?;
            Ok(format!(
                "{} tracks ({} repeated ids dropped): {} train / {} test, {} features, {:.1}% replayed",
                r.train_rows + r.test_rows,
                r.duplicate_ids_dropped,
                r.train_rows,
                r.test_rows,
                r.features.len(),
                100.0 * r.positive_rate
            ))
        }
        StageKind::Train => train::train(
            config,
            input(inputs, replay_features::TRAIN_FILE)?,
            out_dir,
            progress,
            reuse,
        ),
        StageKind::Eval => {
            let test = input(inputs, replay_features::TEST_FILE)?;
            let report = evaluate(config, test, input(inputs, MODELS_DIR)?, out_dir, reuse)?;
            let best = report
                .models
                .iter()
                .max_by(|a, b| a.1.roc_auc.total_cmp(&b.1.roc_auc));
            Ok(match best {
                Some((name, m)) => format!(
                    "{} models on {} rows; best {name} ROC-AUC {:.4}",
                    report.models.len(),
                    report.test_set.rows,
                    m.roc_auc
                ),
                None => "no models".into(),
            })
        }
        StageKind::Report => report::report(config, inputs, out_dir, run_keys),
    }
}
