//! Wiring of the train stage ([`replay_models::stage::run`]): each model is reused from
//! its own cache entry when its settings and the training rows are unchanged.

use std::path::Path;

use indicatif::ProgressBar;
use replay_models::stage::{self, ModelJob, ModelStore, TrainError, TrainEvent};
use replay_models::SavedModel;

use super::ModelReuse;
use crate::cache::{cache_key, link_or_copy};
use crate::graph::StageKind;
use crate::{PipelineConfig, PipelineError};

/// Cache namespace of single fitted models.
const MODEL_ENTRIES: &str = "model";

pub(super) fn train(
    config: &PipelineConfig,
    train: &Path,
    out_dir: &Path,
    progress: &ProgressBar,
    reuse: Option<&ModelReuse<'_>>,
) -> Result<String, PipelineError> {
    progress.set_length(config.models.len() as u64);
    let models: Vec<ModelJob<'_>> = config
        .models
        .iter()
        .map(|(name, model)| ModelJob {
            name: name.as_str(),
            config: model,
            refinement: config.refinement(name),
        })
        .collect();
    let report = |event: TrainEvent<'_>| match event {
        TrainEvent::Started(name) => progress.set_message(format!("fitting {name}")),
        TrainEvent::Finished(_) => progress.inc(1),
    };
    let fitted = match reuse {
        Some(reuse) => stage::run(&models, train, out_dir, &CachedModels { reuse }, &report)?,
        None => stage::run(&models, train, out_dir, &stage::NoStore, &report)?,
    };
    let times: Vec<String> = fitted
        .iter()
        .map(|f| format!("{} {:.2}s", f.name, f.seconds))
        .collect();
    let noun = if fitted.len() == 1 { "model" } else { "models" };
    let mut summary = format!("{} {noun} fitted ({})", fitted.len(), times.join(", "));
    let reused = fitted.iter().filter(|f| f.reused).count();
    if reused > 0 {
        summary.push_str(&format!(" ({reused} unchanged, reused)"));
    }
    for warning in fitted.iter().filter_map(|f| f.warning.as_ref()) {
        summary.push_str("; warning: ");
        summary.push_str(warning);
    }
    Ok(summary)
}

/// The per-model cache as the train stage's store: an entry per model, keyed by its
/// name, its config and refinement, the train stage's code and the training rows.
struct CachedModels<'a> {
    reuse: &'a ModelReuse<'a>,
}

impl CachedModels<'_> {
    /// The cache key of `job`'s entry.
    fn key(&self, job: &ModelJob<'_>) -> String {
        let ModelJob {
            name,
            config,
            refinement,
        } = job;
        // Folds and seed matter only to a refined model: changing them refits no other.
        let settings = match refinement.is_needed() {
            true => serde_json::json!({ "name": name, "model": config, "refinement": refinement }),
            false => serde_json::json!({ "name": name, "model": config }),
        };
        cache_key(
            MODEL_ENTRIES,
            &StageKind::Train.code_version(),
            &settings,
            &self.reuse.input_hashes(&["features/train.parquet"]),
        )
    }
}

impl ModelStore for CachedModels<'_> {
    type Error = PipelineError;

    fn provide(
        &self,
        job: &ModelJob<'_>,
        target: &Path,
        fit: &(dyn Fn(&Path) -> Result<(), TrainError> + Sync),
    ) -> Result<bool, PipelineError> {
        let r = self.reuse;
        let key = self.key(job);
        let name = job.name;
        let (dir, hit) = match r.reusable(MODEL_ENTRIES, &key) {
            Some(dir) => (dir, true),
            None => {
                let produce = |dir: &Path| fit(dir).map_err(PipelineError::from);
                (r.cache.store(MODEL_ENTRIES, &key, produce)?.0, false)
            }
        };
        link_or_copy(&dir.join(SavedModel::file_name(name)), target)?;
        Ok(hit)
    }

    /// An entry exists (`provide` still verifies it before use).
    fn is_stored(&self, job: &ModelJob<'_>) -> bool {
        !self.reuse.recompute && self.reuse.cache.entry_dir(MODEL_ENTRIES, &self.key(job)).exists()
    }
}
