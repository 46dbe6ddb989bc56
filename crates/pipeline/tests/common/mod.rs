//! Shared helpers of the pipeline's integration tests.
#![allow(dead_code)]

use std::path::Path;

use replay_ingest::Source;
use replay_pipeline::{run_pipeline, PipelineConfig, RunOptions, RunSummary, StageStatus};

/// A config with the default settings reading `source`.
pub fn config_for(source: &Path) -> PipelineConfig {
    PipelineConfig {
        source: Some(Source::new(source)),
        ..Default::default()
    }
}

/// Run the whole pipeline with artifacts under `artifacts`.
pub fn run(config: &PipelineConfig, artifacts: &Path) -> RunSummary {
    let options = RunOptions {
        artifacts: artifacts.to_path_buf(),
        ..Default::default()
    };
    run_pipeline(config, &options).unwrap()
}

/// The status of every stage, in order.
pub fn statuses(summary: &RunSummary) -> Vec<(&'static str, StageStatus)> {
    summary
        .stages
        .iter()
        .map(|s| (s.stage, s.status.clone()))
        .collect()
}

#[path = "../../../../testing/shared_data.rs"]
mod shared;
#[allow(unused_imports)] // not every test target reads the real data
pub use shared::shared_data;

/// A config file of the project (`configs/...` or `pipeline.toml`) reading `source`.
pub fn project_config(relative: &str, source: &Path) -> PipelineConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative);
    let mut config = PipelineConfig::load(&path).unwrap();
    config.source = Some(Source::new(source));
    config
}

/// For every model of `config` in the run under `latest`: the saved model applied to its
/// columns of test.parquet (selected by name), and `stages::score` of the raw `source` with
/// the saved feature spec, both reproduce predictions.parquet exactly.
pub fn assert_rescoring_reproduces(config: &PipelineConfig, latest: &Path, source: &Path) {
    use arrow::array::Float64Array;
    use replay_features::FeatureMatrix;
    use replay_models::SavedModel;

    let test = FeatureMatrix::read(&latest.join("test.parquet")).unwrap();
    let (schema, batches) = replay_parquet::read(&latest.join("predictions.parquet")).unwrap();
    let predictions = arrow::compute::concat_batches(&schema, &batches).unwrap();
    let spec_path = latest.join("feature_spec.json");
    for (name, model_config) in &config.models {
        let model_path = latest.join("models").join(SavedModel::file_name(name.as_str()));
        let model = SavedModel::load(&model_path).unwrap();
        assert_eq!(
            model.feature_names,
            test.names_for(model_config.family()),
            "{name} reads the inputs of its family"
        );
        let x = test.select(&model.feature_names).unwrap();
        let reloaded = model.predict_proba(x.view()).unwrap();
        let evaluated = predictions
            .column_by_name(name.as_str())
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(reloaded.to_vec(), evaluated.values().to_vec(), "{name}");

        let score_with = |config| {
            let progress = indicatif::ProgressBar::hidden();
            replay_pipeline::stages::score(config, &spec_path, &model_path, source, &progress).unwrap()
        };
        let scored = score_with(Some(config));
        // Without the config, the spec says how the training songs were read.
        assert_eq!(score_with(None), scored, "{name}: scored without the config");
        // An id listed several times (a track in several playlists) is scored once per
        // row; the test row is one of them (the first, kept by the features stage).
        let mut by_id: std::collections::HashMap<&str, Vec<f64>> = std::collections::HashMap::new();
        for s in &scored {
            by_id.entry(s.id.as_str()).or_default().push(s.probability);
        }
        for (id, p) in test.ids.iter().zip(reloaded.iter()) {
            assert!(
                by_id[id.as_str()].contains(p),
                "{name} {id}: {p} not in {:?}",
                by_id[id.as_str()]
            );
        }
        assert!(
            scored.windows(2).all(|w| w[0].probability >= w[1].probability),
            "scores are ranked"
        );
    }
}
