//! Shared helpers of the pipeline's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use replay_pipeline::config::SourceConfig;
use replay_pipeline::{run_pipeline, PipelineConfig, RunOptions, RunSummary, StageStatus};

/// A config with the default settings reading `source`.
pub fn config_for(source: &Path) -> PipelineConfig {
    PipelineConfig {
        source: Some(SourceConfig {
            path: source.to_path_buf(),
        }),
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

/// `../shared/data/<name>` beside the project, if present. In CI (`CI` set) it must be.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is required in CI",
        path.display()
    );
    eprintln!(
        "skipping: {} not found (see README: real datasets)",
        path.display()
    );
    None
}
