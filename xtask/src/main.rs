//! `cargo xtask`: run the replay pipeline with caching, rerun single stages, clean,
//! generate synthetic data, benchmark the models and tune their hyperparameters.

#[cfg(feature = "full")]
mod bench;
// Without `full`, only its argument definitions are used.
#[cfg_attr(not(feature = "full"), allow(dead_code))]
mod scale;
#[cfg(feature = "full")]
mod tune;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
#[cfg(feature = "full")]
use replay_pipeline::{run_pipeline, PipelineConfig, RunOptions, StageKind};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Automation for the replay pipeline")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every stage, reusing cached outputs of unchanged stages; outputs land in artifacts/latest/.
    RunPipeline {
        /// Pipeline config.
        #[arg(long, default_value_os_t = workspace_root().join("pipeline.toml"))]
        config: PathBuf,
        /// Data file (CSV, CSV.gz or Parquet) that replaces the config's [source] path.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Recompute every stage.
        #[arg(long)]
        force: bool,
        /// Artifacts directory (holds cache/ and latest/).
        #[arg(long, default_value_os_t = artifacts_dir())]
        artifacts: PathBuf,
    },
    /// Rerun one stage (ingest, features, train, eval, report) from the cached outputs of its inputs.
    RunStage {
        /// The stage.
        name: String,
        /// Pipeline config.
        #[arg(long, default_value_os_t = workspace_root().join("pipeline.toml"))]
        config: PathBuf,
        /// Data file that replaces the config's [source] path.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Artifacts directory (holds cache/ and latest/).
        #[arg(long, default_value_os_t = artifacts_dir())]
        artifacts: PathBuf,
    },
    /// Remove the cache and artifacts/latest/.
    Clean {
        /// Artifacts directory (holds cache/ and latest/).
        #[arg(long, default_value_os_t = artifacts_dir())]
        artifacts: PathBuf,
    },
    /// End-to-end cold runs at several data sizes: one `scale rows=.. stage=.. seconds=..
    /// peak_rss_mb=..` line per stage, the total and the cached rerun, then a table.
    Scale(scale::ScaleOptions),
    /// Time fit and predict of the default models on FILE (seed features, stratified 80/20 split):
    /// one `bench <model> fit_s=.. predict_s=.. roc_auc=.. rows=..` line per model, then a table.
    Bench {
        /// Data file; TidyTuesday files (a `track_popularity` column) use
        /// configs/spotify_songs_seed.toml, others the built-in Kaggle seed mapping.
        #[arg(long)]
        input: PathBuf,
        /// Config whose columns and split are used (overrides the choice above).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Fits and predictions per model; the medians are reported.
        #[arg(long, default_value_t = 3, value_parser = replay_core::config::parse_count)]
        repeats: usize,
        /// Only these models (repeatable): logistic_regression, decision_tree, random_forest, gradient_boosting.
        #[arg(long = "model")]
        models: Vec<String>,
        /// Fit the config's `[models]` (its tuned hyperparameters) instead of the defaults.
        #[arg(long)]
        config_models: bool,
        /// Explain at most this many test rows (the first ones) for the `bench explain_<model>`
        /// lines: a deep forest costs milliseconds a row; 0 skips them.
        #[arg(long, default_value_t = 10_000)]
        explain_rows: usize,
    },
    /// Write a commented pipeline config for a data file (as `replay init`): its format,
    /// delimiter, encoding, number format and each column's role, each guess with why.
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
    /// Choose hyperparameters honestly: split the training tracks of the config's split
    /// again into inner-training and validation parts (the test rows are never read), fit
    /// the features and a small grid of every configured model kind on the inner part, and
    /// print the validation ROC-AUC of each candidate and the best per model.
    Tune {
        /// Pipeline config (columns, features, split and the models to tune).
        #[arg(long, default_value_os_t = workspace_root().join("pipeline.toml"))]
        config: PathBuf,
        /// Data file that replaces the config's [source] path.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Share of the training tracks used for validation (strictly between 0 and 1).
        #[arg(long, default_value_t = 0.25, value_parser = replay_core::config::parse_open_fraction)]
        validation_fraction: f64,
        /// Only these models (repeatable), by their names in the config.
        #[arg(long = "model")]
        models: Vec<String>,
    },
    /// Write synthetic tracks in the Kaggle 1921-2020 schema (gzip when OUT ends in .gz).
    GenData {
        /// Number of tracks.
        #[arg(long, default_value_t = 20_000, value_parser = replay_core::config::parse_count)]
        rows: usize,
        /// Random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

/// The workspace root (the parent of this crate).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn artifacts_dir() -> PathBuf {
    workspace_root().join("artifacts")
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
    match cli.command {
        Command::Clean { artifacts } => {
            replay_core::lock::clean(&artifacts, replay_core::lock::say_waiting(&artifacts))?;
            println!("removed {0}/cache and {0}/latest", artifacts.display());
        }
        Command::GenData { rows, seed, out } => {
            replay_synth::generate_file(&out, rows, seed)?;
            println!("wrote {rows} synthetic tracks (seed {seed}) to {}", out.display());
        }
        command => run_full(command)?,
    }
    Ok(())
}

/// Without the `full` feature (as `cargo xtask` builds): run this command through a build
/// of xtask with it, passing the arguments on and exiting with its exit code.
#[cfg(not(feature = "full"))]
fn run_full(_: Command) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = workspace_root().join("Cargo.toml");
    let status = std::process::Command::new(cargo)
        .args([
            "run",
            "--release",
            "--quiet",
            "--package",
            "xtask",
            "--manifest-path",
        ])
        .arg(manifest)
        .arg("--")
        .args(std::env::args_os().skip(1))
        .status()?;
    std::process::exit(status.code().unwrap_or(1));
}

/// The commands that run the pipeline or the models.
#[cfg(feature = "full")]
fn run_full(command: Command) -> Result<()> {
    match command {
        Command::RunPipeline {
            config,
            input,
            force,
            artifacts,
        } => {
            let options = RunOptions {
                artifacts,
                input,
                force,
                only: None,
                progress: true,
            };
            let summary = run_pipeline(&PipelineConfig::load(&config)?, &options)?;
            print!("{summary}");
        }
        Command::RunStage {
            name,
            config,
            input,
            artifacts,
        } => {
            let kind: StageKind = name.parse()?;
            let options = RunOptions {
                artifacts,
                input,
                force: false,
                only: Some(kind),
                progress: true,
            };
            let summary = run_pipeline(&PipelineConfig::load(&config)?, &options)?;
            print!("{summary}");
        }
        Command::Scale(options) => scale::run(&options)?,
        Command::Bench {
            input,
            config,
            repeats,
            models,
            config_models,
            explain_rows,
        } => {
            // The seed's features, as `peers.py --features seed`: the TidyTuesday seed config,
            // or the built-in Kaggle mapping (12 audio features, year, explicit).
            let config = match config {
                Some(path) => PipelineConfig::load(&path)?,
                None if is_tidytuesday(&input)? => {
                    PipelineConfig::load(&workspace_root().join("configs/spotify_songs_seed.toml"))?
                }
                None => PipelineConfig::default(),
            };
            bench::run(&config, &input, repeats, &models, config_models, explain_rows)?;
        }
        Command::Init { input, out, force } => {
            print!("{}", replay_pipeline::init::run(&input, &out, force)?);
        }
        Command::Tune {
            config,
            input,
            validation_fraction,
            models,
        } => {
            let config = PipelineConfig::load(&config)?;
            let input = match (input, &config.source) {
                (Some(path), _) => path,
                (None, Some(source)) => source.path.clone(),
                (None, None) => {
                    anyhow::bail!("no data source: set [source] path in the config or pass --input")
                }
            };
            tune::run(&config, &input, validation_fraction, &models)?;
        }
        Command::Clean { .. } | Command::GenData { .. } => unreachable!("handled by run"),
    }
    Ok(())
}

/// Whether the file's header has the TidyTuesday `track_popularity` column.
#[cfg(feature = "full")]
fn is_tidytuesday(path: &Path) -> Result<bool> {
    let header = replay_ingest::read_header(&replay_ingest::Source::new(path))?;
    Ok(header.iter().any(|c| c == "track_popularity"))
}
