//! Orchestration of the replay pipeline: the typed `pipeline.toml` ([`PipelineConfig`]),
//! the declared stage graph ([`graph`]), the content-addressed cache ([`cache`]) and the
//! runner that ties them together ([`run`]). The `replay` command line and `cargo xtask`
//! both call into this crate, so there is one implementation of each stage's wiring.

#![warn(missing_docs)]

pub mod cache;
pub mod config;
pub mod graph;
pub mod init;
pub mod memory;
pub mod run;
pub mod stages;

use std::path::PathBuf;

pub use config::PipelineConfig;
pub use graph::{StageGraph, StageKind};
pub use run::{run_pipeline, RunOptions, RunSummary, StageRun, StageStatus};

/// Why a pipeline run failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The config file is unreadable or invalid.
    #[error("{path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// No data source was given.
    #[error("no data source: set [source] path in the config or pass --input")]
    NoSource,
    /// A stage needs an input that was not given.
    #[error("missing stage input '{0}'")]
    MissingInput(String),
    /// A stage that `run-stage` needs has no cached outputs for the current config.
    #[error("stage '{0}' has no cached outputs for this config and data; run the pipeline first")]
    NotCached(String),
    /// An unknown stage name.
    #[error("unknown stage '{0}'; the stages are {names}", names = graph::stage_names())]
    UnknownStage(String),
    /// An artifact could not be read or written.
    #[error(transparent)]
    Artifact(#[from] replay_core::ArtifactError),
    /// The ingest stage failed.
    #[error("ingest: {0}")]
    Ingest(#[from] replay_ingest::IngestError),
    /// The feature stage failed (an unreadable file is an [`PipelineError::Artifact`]).
    #[error("features: {0}")]
    Features(replay_features::FeatureError),
    /// A model could not be fitted, loaded or applied (an unreadable file is an
    /// [`PipelineError::Artifact`]).
    #[error("model: {0}")]
    Model(replay_models::ModelError),
    /// Evaluation failed.
    #[error("eval: {0}")]
    Eval(#[from] replay_eval::MetricError),
    /// A chart or the report could not be drawn or written.
    #[error("report: {0}")]
    Report(#[from] replay_eval::plots::PlotError),
    /// A bug: an invariant did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

// A file that cannot be read or written is reported as such, whichever stage met it: the
// file's path leads the message, not the stage's name.
impl From<replay_features::FeatureError> for PipelineError {
    fn from(e: replay_features::FeatureError) -> Self {
        match e {
            replay_features::FeatureError::Artifact(a) => PipelineError::Artifact(a),
            e => PipelineError::Features(e),
        }
    }
}

impl From<replay_models::stage::TrainError> for PipelineError {
    fn from(e: replay_models::stage::TrainError) -> Self {
        match e {
            replay_models::stage::TrainError::Data(e) => e.into(),
            replay_models::stage::TrainError::Model(e) => e.into(),
        }
    }
}

impl From<replay_eval::stage::EvalError> for PipelineError {
    fn from(e: replay_eval::stage::EvalError) -> Self {
        use replay_eval::stage::EvalError;
        match e {
            EvalError::Data(e) => e.into(),
            EvalError::Model(e) => e.into(),
            EvalError::Metric(e) => e.into(),
            EvalError::Artifact(e) => e.into(),
            EvalError::Plot(e) => e.into(),
        }
    }
}

impl From<replay_models::ModelError> for PipelineError {
    fn from(e: replay_models::ModelError) -> Self {
        match e {
            replay_models::ModelError::Artifact(a) => PipelineError::Artifact(a),
            e => PipelineError::Model(e),
        }
    }
}
