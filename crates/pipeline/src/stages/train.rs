//! The train stage: every configured model fitted on train.parquet (each one reused from
//! its own cache entry when its settings and the training rows are unchanged).

use std::path::Path;

use indicatif::ProgressBar;
use replay_features::{FeatureMatrix, Ids, InputColumns};
use replay_models::{ModelConfig, SavedModel};

use super::ModelReuse;
use crate::cache::{cache_key, link_or_copy};
use crate::config::ModelName;
use crate::graph::{StageKind, MODELS_DIR};
use crate::{PipelineConfig, PipelineError};

/// Cache namespace of single fitted models.
const MODEL_ENTRIES: &str = "model";

/// Training matrices up to this many cells (rows x inputs) fit their random forests
/// beside the other models: on small data a single model cannot keep every core busy
/// (boosting's short parallel steps, the tree's single thread), and a forest's trees fill
/// the gaps. Larger data fits one model at a time, so that only one model's matrix is in
/// memory.
pub const CONCURRENT_FIT_CELLS: usize = 8_000_000;

/// What fitting (or reusing) one model reports.
struct Fitted {
    seconds: f64,
    reused: bool,
    note: Option<String>,
}

pub(super) fn train<'a>(
    config: &'a PipelineConfig,
    train: &Path,
    out_dir: &Path,
    progress: &ProgressBar,
    reuse: Option<&ModelReuse<'_>>,
) -> Result<String, PipelineError> {
    // Each model reads only its own columns, so one dense copy of its inputs is in memory.
    let inputs = InputColumns::read(train)?;
    progress.set_length(config.models.len() as u64);
    let models: Vec<(&ModelName, &ModelConfig)> = config.models.iter().collect();
    let fit =
        |(name, model_config): (&'a ModelName, &'a ModelConfig)| -> Result<(&'a str, Fitted), PipelineError> {
            progress.set_message(format!("fitting {name}"));
            let fitted = fit_model(name.as_str(), model_config, &inputs, train, out_dir, reuse);
            progress.inc(1);
            fitted.map(|f| (name.as_str(), f))
        };
    let cells = replay_parquet::rows(train)?.saturating_mul(inputs.names.len());
    let (forests, others): (Vec<_>, Vec<_>) = models
        .into_iter()
        .partition(|(_, c)| matches!(c, ModelConfig::RandomForest(_)));
    let concurrent = cells <= CONCURRENT_FIT_CELLS && !forests.is_empty() && !others.is_empty();
    let results: Vec<Result<(&str, Fitted), PipelineError>> = if concurrent {
        // The other models run one after the other on a thread of their own (boosting
        // then has no helper threads), the forests' trees on every core.
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build();
        let (mut done, forests_done) = rayon::join(
            || match &single {
                Ok(pool) => pool.install(|| others.into_iter().map(fit).collect::<Vec<_>>()),
                Err(_) => others.into_iter().map(fit).collect(),
            },
            || forests.into_iter().map(fit).collect::<Vec<_>>(),
        );
        done.extend(forests_done);
        done
    } else {
        others.into_iter().chain(forests).map(fit).collect()
    };
    let mut fitted = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    fitted.sort_by_key(|(name, _)| *name);
    let times: Vec<String> = fitted
        .iter()
        .map(|(name, f)| format!("{name} {:.2}s", f.seconds))
        .collect();
    let noun = if fitted.len() == 1 { "model" } else { "models" };
    let mut summary = format!("{} {noun} fitted ({})", fitted.len(), times.join(", "));
    let reused = fitted.iter().filter(|(_, f)| f.reused).count();
    if reused > 0 {
        summary.push_str(&format!(" ({reused} unchanged, reused)"));
    }
    for note in fitted.iter().filter_map(|(_, f)| f.note.as_ref()) {
        summary.push_str("; warning: ");
        summary.push_str(note);
    }
    Ok(summary)
}

/// Fit model `name` on the training rows (or reuse its cached file) into `out_dir`.
fn fit_model(
    name: &str,
    model_config: &ModelConfig,
    inputs: &InputColumns,
    train: &Path,
    out_dir: &Path,
    reuse: Option<&ModelReuse<'_>>,
) -> Result<Fitted, PipelineError> {
    let started = std::time::Instant::now();
    let file = SavedModel::file_name(name);
    let fit_into = |dir: &Path| -> Result<(), PipelineError> {
        let names = inputs.names_for(model_config.family());
        let data = FeatureMatrix::read_columns(train, &names, Ids::Skip)?;
        let model = replay_models::fit(model_config, data.x.view(), data.y.view())?;
        drop(data);
        SavedModel::new(name, model_config.clone(), names, model).save(&dir.join(&file))?;
        Ok(())
    };
    let target = out_dir.join(MODELS_DIR).join(&file);
    let mut reused = false;
    match reuse {
        Some(r) => {
            let key = cache_key(
                MODEL_ENTRIES,
                &StageKind::Train.code_version(),
                &serde_json::json!({ "name": name, "model": model_config }),
                &r.input_hashes(&["features/train.parquet"]),
            );
            let (dir, hit) = match r.reusable(MODEL_ENTRIES, &key) {
                Some(dir) => (dir, true),
                None => (r.cache.store(MODEL_ENTRIES, &key, fit_into)?.0, false),
            };
            reused = hit;
            link_or_copy(&dir.join(&file), &target)?;
        }
        None => fit_into(&out_dir.join(MODELS_DIR))?,
    }
    // Only a logistic regression has a fit warning, and its file is small to load.
    let mut note = None;
    if let ModelConfig::LogisticRegression(_) = model_config {
        note = SavedModel::load(&target)?
            .model
            .fit_warning()
            .map(|w| format!("{name} {w}"));
    }
    Ok(Fitted {
        seconds: started.elapsed().as_secs_f64(),
        reused,
        note,
    })
}
