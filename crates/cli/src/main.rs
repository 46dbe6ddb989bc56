//! `replay`: run the replay pipeline with its cache (`run`, `run-stage`, `clean`), run
//! each stage on explicit paths, and score new songs with a saved model.
//!
//! Every subcommand calls the same library code as `cargo xtask run-pipeline`; `--config`
//! reads the column mapping and settings from a pipeline config (`run` and `run-stage`
//! default to `pipeline.toml` in the current directory when it exists; the stage
//! subcommands to built-in defaults for the Kaggle 1921-2020 schema).
//! `replay model inspect FILE` describes a saved model from its file header.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod explain;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::ProgressBar;
use replay_eval::stage::PREDICTIONS_FILE;
use replay_models::stage::MODELS_DIR;
use replay_pipeline::graph::SOURCE;
use replay_pipeline::stages::{execute, score};
use replay_pipeline::{run_pipeline, PipelineConfig, RunOptions, StageKind};

#[derive(Parser)]
#[command(name = "replay", version, about = "Predict which songs listeners replay")]
struct Cli {
    /// Pipeline config to read the column mapping and stage settings from (default: for
    /// run and run-stage, ./pipeline.toml when it exists; otherwise built-in defaults for
    /// the Kaggle 1921-2020 schema).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented pipeline config for a data file: its format, delimiter, encoding,
    /// number format and each column's role, guessed from a sample, each guess with why.
    Init {
        /// The data file (CSV, CSV.gz or Parquet; a directory or pattern: its first file).
        #[arg(long)]
        input: PathBuf,
        /// Where to write the config.
        #[arg(long, default_value = "pipeline.toml")]
        out: PathBuf,
        /// Replace the config if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Run every stage, reusing cached outputs of unchanged stages; outputs land in ARTIFACTS/latest/.
    Run {
        /// Data file, directory of part files or pattern that replaces the config's [source] path.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Recompute every stage.
        #[arg(long)]
        force: bool,
        /// Artifacts directory (holds cache/ and latest/).
        #[arg(long, default_value = "artifacts")]
        artifacts: PathBuf,
    },
    /// Rerun one stage (ingest, features, train, eval, report) from the cached outputs of its inputs.
    RunStage {
        /// The stage.
        name: String,
        /// Data file that replaces the config's [source] path.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Artifacts directory (holds cache/ and latest/).
        #[arg(long, default_value = "artifacts")]
        artifacts: PathBuf,
    },
    /// Remove ARTIFACTS/cache and ARTIFACTS/latest (after a run in progress finishes).
    Clean {
        /// Artifacts directory.
        #[arg(long, default_value = "artifacts")]
        artifacts: PathBuf,
    },
    /// Look at or prune the cache of an artifacts directory.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    #[command(flatten)]
    OnPaths(PathCommand),
}

#[derive(Subcommand)]
enum CacheCommand {
    /// List every cache entry: its size and the last run that used it.
    Ls {
        /// Artifacts directory.
        #[arg(long, default_value = "artifacts")]
        artifacts: PathBuf,
    },
    /// Remove the entries that none of the most recent runs used.
    Gc {
        /// Runs whose entries are kept (the most recent ones).
        #[arg(long, default_value_t = 1, value_parser = replay_core::config::parse_count)]
        keep_runs: usize,
        /// Artifacts directory.
        #[arg(long, default_value = "artifacts")]
        artifacts: PathBuf,
    },
}

/// New songs and the saved spec and model to read them with (`score`, `explain`).
#[derive(clap::Args)]
struct SongsArgs {
    /// Songs (same columns as training; popularity may be absent).
    #[arg(long)]
    input: PathBuf,
    /// feature_spec.json from `replay features`.
    #[arg(long)]
    spec: PathBuf,
    /// A model file from `replay train`.
    #[arg(long)]
    model: PathBuf,
}

/// The subcommands on explicit paths: one stage each, `score` and `model`.
#[derive(Subcommand)]
enum PathCommand {
    /// Validate a CSV, CSV.gz or Parquet file of tracks into tracks.parquet.
    Ingest {
        /// Source file.
        #[arg(long)]
        input: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Label, split and transform ingested tracks into train/test Parquet and a feature spec.
    Features {
        /// tracks.parquet from `replay ingest`.
        #[arg(long)]
        tracks: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fit every configured model on train.parquet; writes OUT/models/<name>.model.bin.
    Train {
        /// train.parquet from `replay features`.
        #[arg(long)]
        train: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Evaluate saved models on test.parquet; writes metrics.json and predictions.parquet.
    Eval {
        /// test.parquet from `replay features`.
        #[arg(long)]
        test: PathBuf,
        /// Directory of model files (OUT/models of `replay train`).
        #[arg(long)]
        models: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Draw the charts and write report.html and report.md from the outputs of the other stages.
    Report {
        /// ingest_report.json from `replay ingest`.
        #[arg(long)]
        ingest_report: PathBuf,
        /// split_report.json from `replay features`.
        #[arg(long)]
        split_report: PathBuf,
        /// Directory of model files (OUT/models of `replay train`).
        #[arg(long)]
        models: PathBuf,
        /// metrics.json from `replay eval`.
        #[arg(long)]
        metrics: PathBuf,
        /// predictions.parquet from `replay eval`.
        #[arg(long)]
        predictions: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Score new songs: write id, probability and rank as CSV, most likely replayed first.
    Score {
        #[command(flatten)]
        songs: SongsArgs,
        /// Output CSV (standard output if absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Explain a model's predictions for songs: per song, its probability and the largest
    /// contributions of its source columns (exact SHAP values: log-odds for logistic
    /// regression and boosting, probability for trees and forests). A terminal table, or
    /// CSV (JSON for a .json file) with --out.
    Explain {
        #[command(flatten)]
        songs: SongsArgs,
        /// Source columns shown per song (the others are summed).
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Output file: JSON if it ends in .json, else CSV.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Look at saved model files.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Print a model file's kind, name, tree totals, size, inputs and config (from its
    /// header; the trees are not loaded).
    Inspect {
        /// A model file (`<name>.model.bin`, or an older `<name>.model.json.gz`).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", replay_core::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    // The pipeline runner: the same calls as `cargo xtask run-pipeline` and `run-stage`.
    let (only, input, force, artifacts) = match cli.command {
        Command::Run {
            input,
            force,
            artifacts,
        } => (None, input, force, artifacts),
        Command::RunStage {
            name,
            input,
            artifacts,
        } => (Some(name.parse::<StageKind>()?), input, false, artifacts),
        Command::Clean { artifacts } => {
            replay_core::lock::clean(&artifacts, replay_core::lock::say_waiting(&artifacts))?;
            println!("removed {0}/cache and {0}/latest", artifacts.display());
            return Ok(());
        }
        Command::Init { input, out, force } => return init(&input, &out, force),
        Command::Cache { command } => return cache_command(command),
        Command::OnPaths(command) => return run_on_paths(cli.config.as_deref(), command),
    };
    let config = match cli.config {
        Some(path) => PipelineConfig::load(&path)?,
        None if Path::new(PROJECT_CONFIG).is_file() => PipelineConfig::load(Path::new(PROJECT_CONFIG))?,
        None => PipelineConfig::default(),
    };
    let options = RunOptions {
        artifacts,
        input,
        force,
        only,
        progress: true,
    };
    print!("{}", run_pipeline(&config, &options)?);
    Ok(())
}

/// `replay init`: sample `input`, propose a config, write it to `out`.
fn init(input: &Path, out: &Path, force: bool) -> Result<()> {
    print!("{}", replay_pipeline::init::run(input, out, force)?);
    Ok(())
}

fn cache_command(command: CacheCommand) -> Result<()> {
    match command {
        CacheCommand::Ls { artifacts } => {
            let entries = replay_pipeline::cache::list_entries(&artifacts)?;
            println!("{:<36} {:>12}  last used by run", "entry", "bytes");
            for e in &entries {
                let run = e.last_run.map_or("none recorded".to_string(), |r| r.to_string());
                println!("{:<36} {:>12}  {run}", e.name, e.bytes);
            }
            let total: u64 = entries.iter().map(|e| e.bytes).sum();
            println!("{} entries, {total} bytes", entries.len());
        }
        CacheCommand::Gc { keep_runs, artifacts } => {
            let c = replay_pipeline::cache::collect_garbage(&artifacts, keep_runs)?;
            println!(
                "removed {} entries ({} bytes) that the last {keep_runs} run(s) did not use; kept {}",
                c.removed, c.bytes, c.kept
            );
        }
    }
    Ok(())
}

/// The config `run` and `run-stage` read when `--config` is not given, if it exists.
const PROJECT_CONFIG: &str = "pipeline.toml";

/// The subcommands on explicit paths: one stage, `score` or `model inspect`.
fn run_on_paths(config: Option<&Path>, command: PathCommand) -> Result<()> {
    let given = config.map(PipelineConfig::load).transpose()?;
    let config = given.clone().unwrap_or_default();
    let progress = ProgressBar::new_spinner();
    // Every path is keyed by the name of the input it stands for.
    let (kind, inputs, out) = match command {
        PathCommand::Ingest { input, out } => (StageKind::Ingest, named([(SOURCE, input)]), out),
        PathCommand::Features { tracks, out } => (
            StageKind::Features,
            named([(replay_ingest::TRACKS_FILE, tracks)]),
            out,
        ),
        PathCommand::Train { train, out } => (
            StageKind::Train,
            named([(replay_features::TRAIN_FILE, train)]),
            out,
        ),
        PathCommand::Eval { test, models, out } => (
            StageKind::Eval,
            named([(replay_features::TEST_FILE, test), (MODELS_DIR, models)]),
            out,
        ),
        PathCommand::Report {
            ingest_report,
            split_report,
            models,
            metrics,
            predictions,
            out,
        } => (
            StageKind::Report,
            named([
                (replay_ingest::REPORT_FILE, ingest_report),
                (replay_features::SPLIT_REPORT_FILE, split_report),
                (MODELS_DIR, models),
                (replay_eval::METRICS_FILE, metrics),
                (PREDICTIONS_FILE, predictions),
            ]),
            out,
        ),
        PathCommand::Score { songs, out } => {
            let scored = score(given.as_ref(), &songs.spec, &songs.model, &songs.input, &progress)?;
            progress.finish_and_clear();
            return write_scores(&scored, out.as_deref());
        }
        PathCommand::Explain { songs, top, out } => {
            let (spec, model, input) = (&songs.spec, &songs.model, &songs.input);
            let explained = replay_pipeline::stages::explain(given.as_ref(), spec, model, input, &progress)?;
            progress.finish_and_clear();
            return explain::write(&explained, top, out.as_deref());
        }
        PathCommand::Model {
            command: ModelCommand::Inspect { file },
        } => {
            let summary = replay_models::SavedModel::read_summary(&file)?;
            print!("{}", describe(&file, &summary)?);
            return Ok(());
        }
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let summary = execute(kind, &config, &inputs, &out, &progress, &[], None)?;
    progress.finish_and_clear();
    println!("{}: {summary}", kind.name());
    println!("outputs: {}", out.display());
    Ok(())
}

/// A stage's inputs, input name → path.
fn named<const N: usize>(inputs: [(&str, PathBuf); N]) -> BTreeMap<String, PathBuf> {
    inputs
        .into_iter()
        .map(|(name, path)| (name.to_string(), path))
        .collect()
}

fn write_scores(scored: &[replay_pipeline::stages::Scored], out: Option<&Path>) -> Result<()> {
    let mut text = String::from("rank,id,probability,replayed\n");
    for (rank, s) in scored.iter().enumerate() {
        text.push_str(&format!(
            "{},{},{:.6},{}\n",
            rank + 1,
            explain::csv_field(&s.id),
            s.probability,
            s.replayed
        ));
    }
    match out {
        Some(path) => replay_core::atomic::write_bytes(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(())
}

/// A human-readable description of a model file.
fn describe(file: &Path, s: &replay_models::ModelSummary) -> Result<String> {
    let mut out = String::new();
    let mut line = |key: &str, value: String| out.push_str(&format!("{key:<11} {value}\n"));
    line("file:", file.display().to_string());
    line("format:", s.format_version.to_string());
    line("kind:", s.kind.to_string());
    line("name:", s.name.clone());
    line("trees:", s.trees.to_string());
    line("nodes:", s.nodes.to_string());
    line("leaves:", s.leaves.to_string());
    line("max depth:", s.max_depth.to_string());
    if s.trees > 0 {
        let explainable = if s.covered == s.nodes {
            "yes (every node's training cover is stored)"
        } else {
            "no (no node covers: re-train to explain)"
        };
        line("explain:", explainable.to_string());
    }
    if let Some(auc) = s.oob_roc_auc {
        line(
            "oob:",
            format!("ROC-AUC {auc:.4} on the out-of-bag training rows"),
        );
    }
    if let Some(method) = s.calibration {
        let text = format!("{} (fitted on out-of-fold training outputs)", method.name());
        line("calibrated:", text);
    }
    if let Some(point) = s.operating_point {
        let text = format!(
            "{} ({} on out-of-fold training predictions)",
            point.threshold,
            point.rule.describe()
        );
        line("threshold:", text);
    }
    line(
        "bytes:",
        format!("{} ({:.1} MiB)", s.bytes, s.bytes as f64 / (1 << 20) as f64),
    );
    out.push_str(&format!("features ({}):\n", s.feature_names.len()));
    let width = s.feature_names.iter().map(|n| n.len()).max().unwrap_or(0);
    for (i, name) in s.feature_names.iter().enumerate() {
        match s.feature_importances.as_ref().and_then(|imp| imp.get(i)) {
            Some(v) => out.push_str(&format!("  {name:<width$}  importance {v:.4}\n")),
            None => out.push_str(&format!("  {name}\n")),
        }
    }
    out.push_str("config:\n");
    let config = toml::to_string(&s.config).context("formatting the config")?;
    for l in config.lines() {
        out.push_str(&format!("  {l}\n"));
    }
    Ok(out)
}
