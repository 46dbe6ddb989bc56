//! Running one stage: the same code serves the pipeline and the `replay` command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use indicatif::ProgressBar;
use replay_core::{io, schema};
use replay_eval::MetricsReport;
use replay_features::{FeatureMatrix, Ids, InputColumns};
use replay_models::{Model, ModelConfig, SavedModel};

use crate::cache::{cache_key, hash_file, link_or_copy, Cache};

use crate::config::ModelName;
use crate::graph::{StageKind, MODELS_DIR, PREDICTIONS_FILE, SOURCE};
use crate::{PipelineConfig, PipelineError};

/// The part of the config a stage depends on (hashed into its cache key). The report
/// shows the whole config and the cache keys of the stages before it (`run_keys`).
pub fn config_section(
    kind: StageKind,
    config: &PipelineConfig,
    run_keys: &[(String, String)],
) -> serde_json::Value {
    match kind {
        StageKind::Ingest => serde_json::json!({ "columns": config.columns, "ingest": config.ingest }),
        StageKind::Features => serde_json::json!(config.features_config()),
        StageKind::Train => serde_json::json!({ "models": config.models }),
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
    /// The hashes of the stage inputs named `names`.
    fn input_hashes(&self, names: &[&str]) -> Vec<(String, String)> {
        self.inputs
            .iter()
            .filter(|(name, _)| names.contains(&name.as_str()))
            .cloned()
            .collect()
    }
}

/// Cache namespace of single fitted models.
const MODEL_ENTRIES: &str = "model";
/// Cache namespace of one model's test-set scores and metrics.
const MODEL_EVAL_ENTRIES: &str = "model-eval";
/// In a model-eval entry: the model's metrics.
const MODEL_METRICS_FILE: &str = "metrics.json";
/// In a model-eval entry: the model's test-set probabilities, in test-row order.
const MODEL_SCORES_FILE: &str = "scores.parquet";

/// Test-set probabilities of every model, by name.
type ModelProbabilities = Vec<(String, Vec<f64>)>;

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
            let source = input(inputs, SOURCE)?;
            let r = replay_ingest::run(source, &config.columns, &config.ingest, out_dir, progress)?;
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
        StageKind::Train => train(
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
        StageKind::Report => report(config, inputs, out_dir, run_keys),
    }
}

/// Draw the charts and write report.html and report.md.
fn report(
    config: &PipelineConfig,
    inputs: &BTreeMap<String, PathBuf>,
    out_dir: &Path,
    run_keys: &[(String, String)],
) -> Result<String, PipelineError> {
    let ingest: replay_ingest::IngestReport = io::read_json(input(inputs, replay_ingest::REPORT_FILE)?)?;
    let split: replay_features::SplitReport =
        io::read_json(input(inputs, replay_features::SPLIT_REPORT_FILE)?)?;
    let metrics: MetricsReport = io::read_json(input(inputs, replay_eval::METRICS_FILE)?)?;
    let (labels, predictions) = read_predictions(input(inputs, PREDICTIONS_FILE)?)?;
    let models_dir = input(inputs, MODELS_DIR)?;
    let mut importances = Vec::new();
    for name in metrics.models.keys() {
        // The header alone holds the importances; the trees are not loaded.
        let summary = SavedModel::read_summary(&models_dir.join(SavedModel::file_name(name)))?;
        if let Some(values) = summary.feature_importances {
            importances.push((
                name.clone(),
                summary.feature_names.into_iter().zip(values).collect(),
            ));
        }
    }
    let dataset = replay_eval::report::DatasetSummary {
        source: ingest.source.clone(),
        rows_read: ingest.rows_read,
        rows_rejected: ingest.rows_rejected,
        rejected_by_reason: ingest
            .rejected_by_reason
            .iter()
            .map(|(r, n)| (r.as_str().to_string(), *n))
            .collect(),
        duplicate_ids_dropped: split.duplicate_ids_dropped,
        train_rows: split.train_rows,
        test_rows: split.test_rows,
        positive_rate: split.positive_rate,
        label_rule: format!("replayed = popularity >= {}", config.label.threshold),
        features: split.features.clone(),
    };
    let config_text = toml::to_string_pretty(config).unwrap_or_else(|_| format!("{config:#?}"));
    let input = replay_eval::report::ReportInput {
        title: "replay: which songs will listeners replay?",
        dataset: &dataset,
        metrics: &metrics,
        labels: &labels,
        predictions: &predictions,
        importances: &importances,
        calibration_bins: config.eval.calibration_bins,
        config: &config_text,
        cache_keys: run_keys,
    };
    let charts = replay_eval::report::write_report(&input, out_dir)?;
    Ok(format!("{} charts, report.html and report.md", charts.len()))
}

/// Labels and per-model probabilities from predictions.parquet.
fn read_predictions(path: &Path) -> Result<(Vec<bool>, ModelProbabilities), PipelineError> {
    let (schema, batches) = replay_parquet::read(path)?;
    let batch = arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| PipelineError::Internal(e.to_string()))?;
    let invalid = |message: &str| replay_core::ArtifactError::Invalid {
        path: path.into(),
        message: message.into(),
    };
    let labels = batch
        .column_by_name(schema::LABEL)
        .and_then(|c| c.as_any().downcast_ref::<BooleanArray>())
        .ok_or_else(|| invalid("no Boolean 'replayed' column"))?;
    let labels: Vec<bool> = labels.iter().map(|v| v.unwrap_or(false)).collect();
    let mut predictions = Vec::new();
    let models = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(field, _)| ![schema::ID, schema::LABEL].contains(&field.name().as_str()));
    for (field, column) in models {
        let values = column
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| invalid(&format!("model column '{}' is not Float64", field.name())))?;
        predictions.push((field.name().clone(), values.values().to_vec()));
    }
    Ok((labels, predictions))
}

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

fn train<'a>(
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
            let (dir, hit) = if r.recompute {
                (r.cache.store(MODEL_ENTRIES, &key, fit_into)?.0, false)
            } else {
                r.cache.reuse_or_store(MODEL_ENTRIES, &key, fit_into)?
            };
            reused = hit;
            link_or_copy(&dir.join(&file), &target)?;
        }
        None => fit_into(&out_dir.join(MODELS_DIR))?,
    }
    // A fitted or reused logistic regression (a small file) says whether it converged.
    let mut note = None;
    if let ModelConfig::LogisticRegression(_) = model_config {
        if let Model::LogisticRegression(m) = SavedModel::load(&target)?.model {
            if !m.converged {
                note = Some(format!("{name} did not converge in {} iterations", m.iterations));
            }
        }
    }
    Ok(Fitted {
        seconds: started.elapsed().as_secs_f64(),
        reused,
        note,
    })
}

/// Score the test rows with every configured model; write metrics and predictions. With
/// `reuse`, a model whose file and test rows are unchanged gets its scores and metrics
/// from the cache; the others are scored, evaluated together (one draw of the bootstrap
/// resamples serves them all) and stored for next time.
pub fn evaluate(
    config: &PipelineConfig,
    test: &Path,
    models_dir: &Path,
    out_dir: &Path,
    reuse: Option<&ModelReuse<'_>>,
) -> Result<MetricsReport, PipelineError> {
    // Ids and labels once; each model to score reads only its own columns.
    let data = FeatureMatrix::read_columns(test, &[], Ids::Read)?;
    let available = InputColumns::read(test)?.names;
    let y = data.y.to_vec();
    let mut report = MetricsReport::compute(&y, std::iter::empty(), &config.eval)?;
    let mut predictions: Vec<(String, Vec<f64>)> = Vec::new();
    // Models without a valid cache entry: name, probabilities, and their entry's key.
    let mut fresh: Vec<(String, Vec<f64>, Option<String>)> = Vec::new();
    for name in config.models.keys() {
        let path = models_dir.join(SavedModel::file_name(name.as_str()));
        let key = match reuse {
            Some(r) => {
                let mut inputs = r.input_hashes(&["features/test.parquet"]);
                inputs.push(("model".into(), hash_file(&path)?.blake3));
                let config = serde_json::json!({ "name": name, "eval": config.eval });
                let key = cache_key(
                    MODEL_EVAL_ENTRIES,
                    &StageKind::Eval.code_version(),
                    &config,
                    &inputs,
                );
                let cached = (!r.recompute)
                    .then(|| r.cache.valid_entry(MODEL_EVAL_ENTRIES, &key))
                    .flatten();
                if let Some(dir) = cached {
                    let metrics = io::read_json(&dir.join(MODEL_METRICS_FILE))?;
                    report.models.insert(name.to_string(), metrics);
                    let scores = read_scores(&dir.join(MODEL_SCORES_FILE), y.len())?;
                    predictions.push((name.to_string(), scores));
                    continue;
                }
                Some(key)
            }
            None => None,
        };
        let saved = SavedModel::load(&path)?;
        check_inputs(&path, &saved, &available)?;
        let x = FeatureMatrix::read_columns(test, &saved.feature_names, Ids::Skip)?.x;
        fresh.push((name.to_string(), saved.predict_proba(x.view())?.to_vec(), key));
    }
    let scores: Vec<&[f64]> = fresh.iter().map(|(_, p, _)| p.as_slice()).collect();
    let metrics = replay_eval::evaluate_models(&y, &scores, &config.eval)?;
    for ((name, p, key), metrics) in fresh.into_iter().zip(metrics) {
        if let (Some(r), Some(key)) = (reuse, key) {
            r.cache.store(MODEL_EVAL_ENTRIES, &key, |dir| {
                io::write_json(&dir.join(MODEL_METRICS_FILE), &metrics)?;
                write_scores(&dir.join(MODEL_SCORES_FILE), &p)
            })?;
        }
        report.models.insert(name.clone(), metrics);
        predictions.push((name, p));
    }
    // predictions.parquet lists the models in config order.
    predictions.sort_by(|a, b| a.0.cmp(&b.0));
    io::write_json(&out_dir.join(replay_eval::METRICS_FILE), &report)?;
    write_predictions(&out_dir.join(PREDICTIONS_FILE), &data, &predictions)?;
    Ok(report)
}

/// One model's test-set probabilities as a one-column Parquet file.
fn write_scores(path: &Path, p: &[f64]) -> Result<(), PipelineError> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "probability",
        DataType::Float64,
        false,
    )]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(Float64Array::from(p.to_vec()))],
    )
    .map_err(|e| PipelineError::Internal(e.to_string()))?;
    Ok(replay_parquet::write(path, schema, &[batch])?)
}

/// Read back [`write_scores`]'s file, which must hold `rows` values.
fn read_scores(path: &Path, rows: usize) -> Result<Vec<f64>, PipelineError> {
    let (_, batches) = replay_parquet::batches(path, Some(&["probability"]), 64 * 1024)?;
    let mut values = Vec::with_capacity(rows);
    for batch in batches {
        let batch = batch?;
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| replay_core::ArtifactError::Invalid {
                path: path.into(),
                message: "'probability' is not a Float64 column".into(),
            })?;
        values.extend_from_slice(column.values());
    }
    if values.len() != rows {
        return Err(replay_core::ArtifactError::Invalid {
            path: path.into(),
            message: format!("{} scores for {rows} test rows", values.len()),
        }
        .into());
    }
    Ok(values)
}

/// Every input of the model at `path` must be among `available` (it reads them by name).
fn check_inputs(path: &Path, model: &SavedModel, available: &[String]) -> Result<(), PipelineError> {
    if model.feature_names.iter().all(|n| available.contains(n)) {
        Ok(())
    } else {
        Err(PipelineError::FeatureMismatch {
            model: path.into(),
            expected: model.feature_names.clone(),
            found: available.to_vec(),
        })
    }
}

/// Per-row predictions: id, label, then one probability column per model.
fn write_predictions(
    path: &Path,
    data: &FeatureMatrix,
    predictions: &[(String, Vec<f64>)],
) -> Result<(), PipelineError> {
    let mut fields = vec![
        Field::new(schema::ID, DataType::Utf8, false),
        Field::new(schema::LABEL, DataType::Boolean, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(&data.ids)),
        Arc::new(BooleanArray::from(data.y.to_vec())),
    ];
    for (name, p) in predictions {
        fields.push(Field::new(name, DataType::Float64, false));
        columns.push(Arc::new(Float64Array::from(p.clone())));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
        .map_err(|e| PipelineError::Internal(e.to_string()))?;
    Ok(replay_parquet::write(path, schema, &[batch])?)
}

/// A scored song.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Track id.
    pub id: String,
    /// Probability that the song is replayed.
    pub probability: f64,
}

/// Score new songs in `input` (same column mapping as training; popularity may be absent)
/// with a saved feature spec and model; best first.
pub fn score(
    config: &PipelineConfig,
    spec_path: &Path,
    model_path: &Path,
    input: &Path,
    progress: &ProgressBar,
) -> Result<Vec<Scored>, PipelineError> {
    let spec: replay_features::FeatureSpec = io::read_json(spec_path)?;
    let model = SavedModel::load(model_path)?;
    let names: Vec<String> = spec.names().map(str::to_string).collect();
    check_inputs(model_path, &model, &names)?;
    let options = replay_ingest::IngestOptions {
        require_popularity: false,
        ..config.ingest.clone()
    };
    let tracks = replay_ingest::read_tracks(input, &config.columns, &options, progress)?;
    let mut scored = Vec::new();
    for batch in &tracks.batches {
        let x = spec.transform_named(batch, &model.feature_names)?;
        let p = model.predict_proba(x.view())?;
        let ids = batch
            .column_by_name(schema::ID)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| replay_features::FeatureError::MissingColumn(schema::ID.into()))?;
        scored.extend(ids.iter().zip(p).map(|(id, probability)| Scored {
            id: id.unwrap_or_default().to_string(),
            probability,
        }));
    }
    scored.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    Ok(scored)
}
