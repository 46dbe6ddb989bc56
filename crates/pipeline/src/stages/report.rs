//! The report stage: charts, report.html and report.md from the other stages' outputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{BooleanArray, Float64Array};
use replay_core::{io, schema};
use replay_eval::MetricsReport;
use replay_models::SavedModel;

use super::eval::ModelProbabilities;
use super::input;
use crate::graph::{MODELS_DIR, PREDICTIONS_FILE};
use crate::{PipelineConfig, PipelineError};

/// Draw the charts and write report.html and report.md.
pub(super) fn report(
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
