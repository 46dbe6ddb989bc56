//! `cargo xtask scale`: what a user waits for at several data sizes. For every row count
//! it generates synthetic tracks (or reuses the file made earlier for the same rows and
//! seed), runs the whole pipeline cold in a child process with a fresh artifacts
//! directory, then once more to time the cached rerun, and prints one line per stage
//! and one for the run:
//!
//! `scale rows=<N> stage=<name|total|rerun> seconds=<s> peak_rss_mb=<mb>`
//!
//! Stage peaks are the child's resident-set high-water mark during that stage (the
//! runner resets it between stages, see `replay_pipeline::memory`); the total's peak is
//! the largest stage peak, its seconds the child's wall time from start to exit. With
//! `--peer-python`, the peer script (`peers.py --pipeline`) runs on the same file right
//! after, and its line is printed with the ratio.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::workspace_root;

/// What to run.
#[derive(clap::Args)]
pub struct ScaleOptions {
    /// Rows of synthetic data (repeatable), e.g. --rows 170000 --rows 1700000.
    #[arg(long = "rows", required = true, value_parser = replay_core::config::parse_count)]
    pub rows: Vec<usize>,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Pipeline config of the runs.
    #[arg(long, default_value_os_t = workspace_root().join("pipeline.toml"))]
    pub config: PathBuf,
    /// Where the data files (reused between calls) and artifacts go.
    #[arg(long, default_value_os_t = workspace_root().join("target").join("scale"))]
    pub scratch: PathBuf,
    /// A Python with scikit-learn and LightGBM: also run `peers.py --pipeline` on each file.
    #[arg(long)]
    pub peer_python: Option<PathBuf>,
    /// The peer script.
    #[arg(long, default_value_os_t = workspace_root().join("../shared/reference/peers.py"))]
    pub peer_script: PathBuf,
}

/// The measurements of one data size: its lines and the peer's (seconds, MB).
type SizeResult = (usize, Vec<Line>, Option<(f64, f64)>);

/// One measured line.
struct Line {
    rows: usize,
    stage: String,
    seconds: f64,
    peak_rss_mb: Option<f64>,
}

impl Line {
    fn print(&self) {
        let peak = self.peak_rss_mb.map_or("na".to_string(), |m| format!("{m:.0}"));
        println!(
            "scale rows={} stage={} seconds={:.3} peak_rss_mb={peak}",
            self.rows, self.stage, self.seconds
        );
    }
}

/// Run the scale measurement.
pub fn run(options: &ScaleOptions) -> Result<()> {
    if options.rows.is_empty() {
        bail!("give at least one --rows");
    }
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let mut table = Vec::new();
    for &rows in &options.rows {
        let data = data_file(&options.scratch, rows, options.seed)?;
        let artifacts = options.scratch.join(format!("artifacts-{rows}"));
        if artifacts.exists() {
            std::fs::remove_dir_all(&artifacts)
                .with_context(|| format!("removing {}", artifacts.display()))?;
        }
        let cold = run_child(&exe, &options.config, &data, &artifacts)?;
        let mut lines = stage_lines(rows, &artifacts)?;
        let peak = lines.iter().filter_map(|l| l.peak_rss_mb).reduce(f64::max);
        lines.push(Line {
            rows,
            stage: "total".into(),
            seconds: cold,
            peak_rss_mb: peak,
        });
        let warm = run_child(&exe, &options.config, &data, &artifacts)?;
        let rerun_peak = stage_lines(rows, &artifacts)?
            .iter()
            .filter_map(|l| l.peak_rss_mb)
            .reduce(f64::max);
        lines.push(Line {
            rows,
            stage: "rerun".into(),
            seconds: warm,
            peak_rss_mb: rerun_peak,
        });
        for line in &lines {
            line.print();
        }
        let peer = match &options.peer_python {
            Some(python) => Some(run_peer(python, &options.peer_script, &data)?),
            None => None,
        };
        table.push((rows, lines, peer));
    }
    print_table(&table);
    Ok(())
}

/// The synthetic data file for `rows` and `seed`, generated once and reused.
fn data_file(scratch: &Path, rows: usize, seed: u64) -> Result<PathBuf> {
    let dir = scratch.join("data");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("synth-{rows}-seed{seed}.csv"));
    if !path.is_file() {
        let started = Instant::now();
        eprintln!("generating {rows} synthetic tracks into {}", path.display());
        replay_synth::generate_file(&path, rows, seed)?;
        eprintln!("  done in {:.1}s", started.elapsed().as_secs_f64());
    }
    Ok(path)
}

/// Run the pipeline in a child process; its wall time in seconds.
fn run_child(exe: &Path, config: &Path, data: &Path, artifacts: &Path) -> Result<f64> {
    let started = Instant::now();
    let output = Command::new(exe)
        .arg("run-pipeline")
        .arg("--config")
        .arg(config)
        .arg("--input")
        .arg(data)
        .arg("--artifacts")
        .arg(artifacts)
        .output()
        .context("starting the pipeline")?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "the pipeline failed on {}:\n{}",
            data.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(seconds)
}

/// The stage lines of the run recorded in `<artifacts>/latest/run.json`.
fn stage_lines(rows: usize, artifacts: &Path) -> Result<Vec<Line>> {
    let path = artifacts.join("latest").join("run.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let record: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let stages = record["stages"]
        .as_array()
        .with_context(|| format!("{}: no stages", path.display()))?;
    Ok(stages
        .iter()
        .map(|s| Line {
            rows,
            stage: s["stage"].as_str().unwrap_or("?").to_string(),
            seconds: s["seconds"].as_f64().unwrap_or(f64::NAN),
            peak_rss_mb: s["peak_rss_mib"].as_f64(),
        })
        .collect())
}

/// The peer pipeline on the same file: its total seconds and peak RSS.
fn run_peer(python: &Path, script: &Path, data: &Path) -> Result<(f64, f64)> {
    let output = Command::new(python)
        .arg(script)
        .arg(data)
        .arg("--pipeline")
        .output()
        .with_context(|| format!("starting {}", python.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("peer_pipeline "))
        .with_context(|| {
            format!(
                "the peer script printed no peer_pipeline line:\n{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    println!("{line}");
    let field = |name: &str| -> Option<f64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
    };
    match (field("total_s="), field("peak_rss_mb=")) {
        (Some(total), Some(peak)) => Ok((total, peak)),
        _ => bail!("cannot read the peer line: {line}"),
    }
}

/// One row per data size: stage seconds, the total, the rerun, the peak and the peer.
fn print_table(table: &[SizeResult]) {
    let Some((_, first, _)) = table.first() else {
        return;
    };
    let stages: Vec<&str> = first.iter().map(|l| l.stage.as_str()).collect();
    print!("\n{:>11}", "rows");
    for stage in &stages {
        print!(" {stage:>9}");
    }
    println!(
        " {:>9} {:>9} {:>9} {:>9}",
        "peak MB", "peer s", "peer MB", "speedup"
    );
    for (rows, lines, peer) in table {
        print!("{rows:>11}");
        for line in lines {
            print!(" {:>9.2}", line.seconds);
        }
        let total = lines.iter().find(|l| l.stage == "total");
        let peak = total
            .and_then(|l| l.peak_rss_mb)
            .map_or("na".into(), |m| format!("{m:.0}"));
        print!(" {peak:>9}");
        match (peer, total) {
            (Some((seconds, mb)), Some(t)) => {
                println!(" {seconds:>9.2} {mb:>9.0} {:>8.1}x", seconds / t.seconds)
            }
            _ => println!(" {:>9} {:>9} {:>9}", "-", "-", "-"),
        }
    }
    println!(
        "(seconds; total = cold run wall time of the child process, rerun = the same run again, all cached)"
    );
}
