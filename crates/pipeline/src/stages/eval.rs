//! The eval stage: every model scored on test.parquet, metrics.json and
//! predictions.parquet (each model's scores reused from its own cache entry).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use replay_core::{io, schema};
use replay_eval::MetricsReport;
use replay_features::{FeatureMatrix, Ids, InputColumns};
use replay_models::SavedModel;

use super::{check_inputs, ModelReuse};
use crate::cache::{cache_key, hash_file};
use crate::graph::{StageKind, PREDICTIONS_FILE};
use crate::{PipelineConfig, PipelineError};

/// Cache namespace of one model's test-set scores and metrics.
const MODEL_EVAL_ENTRIES: &str = "model-eval";
/// In a model-eval entry: the model's metrics.
const MODEL_METRICS_FILE: &str = "metrics.json";
/// In a model-eval entry: the model's test-set probabilities, in test-row order.
const MODEL_SCORES_FILE: &str = "scores.parquet";

/// Test-set probabilities of every model, by name.
pub(super) type ModelProbabilities = Vec<(String, Vec<f64>)>;

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
    let mut predictions: ModelProbabilities = Vec::new();
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
                if let Some(dir) = r.reusable(MODEL_EVAL_ENTRIES, &key) {
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
