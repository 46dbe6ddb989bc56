//! Wiring of the report stage ([`replay_eval::stage::report`]): the data summary from
//! the ingest and feature reports, and the run's config and cache keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use replay_core::io;
use replay_eval::report::{DatasetSummary, ReportPage};
use replay_eval::stage::{ReportFiles, PREDICTIONS_FILE};
use replay_models::stage::MODELS_DIR;

use super::input;
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
    let dataset = DatasetSummary {
        source: ingest.source.clone(),
        rows_read: ingest.rows_read,
        rows_rejected: ingest.rows_rejected,
        rejected_by_reason: ingest
            .rejected_by_reason
            .iter()
            .map(|(r, n)| (r.as_str().to_string(), *n))
            .collect(),
        duplicate_ids_dropped: split.duplicate_ids_dropped,
        id_rule: config.columns.id.describe(),
        train_rows: split.train_rows,
        test_rows: split.test_rows,
        positive_rate: split.positive_rate,
        label_rule: match &config.column_map().label {
            Some(column) => format!("replayed = column '{column}' (1, true or yes)"),
            None => match config.label.quantile {
                Some(q) => format!(
                    "replayed = popularity >= {} (the {q} quantile of the training rows, [label] quantile)",
                    split.label_cut
                ),
                None => format!("replayed = popularity >= {}", split.label_cut),
            },
        },
        features: split.features.clone(),
    };
    let config_text = toml::to_string_pretty(config).unwrap_or_else(|_| format!("{config:#?}"));
    let page = ReportPage {
        title: "replay: which songs will listeners replay?",
        dataset: &dataset,
        calibration_bins: config.eval.calibration_bins,
        explain_songs: config.eval.explain_songs,
        config: &config_text,
        cache_keys: run_keys,
    };
    let files = ReportFiles {
        metrics: input(inputs, replay_eval::METRICS_FILE)?,
        predictions: input(inputs, PREDICTIONS_FILE)?,
        models: input(inputs, MODELS_DIR)?,
        test: inputs.get(replay_features::TEST_FILE).map(PathBuf::as_path),
    };
    let charts = replay_eval::stage::report(files, &page, out_dir)?;
    Ok(format!("{} charts, report.html and report.md", charts.len()))
}
