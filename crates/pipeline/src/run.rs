//! The runner: walks the stage graph, reuses verified cache entries, runs the rest, and
//! publishes the outputs of a complete run to `<artifacts>/latest/`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use replay_core::{io, ArtifactError};
use replay_eval::MetricsReport;
use serde::Serialize;

use crate::cache::{cache_key, hash_file, link_or_copy, Cache, Lookup, Manifest};
use crate::graph::{InputRef, Stage, StageGraph, StageKind};
use crate::stages::{config_section, execute, ModelReuse};
use crate::{PipelineConfig, PipelineError};
use replay_core::lock::{say_waiting, sweep_temporaries, ProjectLock};

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The artifacts directory (holds `cache/` and `latest/`).
    pub artifacts: PathBuf,
    /// Data file that replaces the config's `[source] path`.
    pub input: Option<PathBuf>,
    /// Recompute every stage even when its cache entry is valid.
    pub force: bool,
    /// Rerun only this stage from the cached outputs of its upstream stages.
    pub only: Option<StageKind>,
    /// Draw progress bars on standard error.
    pub progress: bool,
}

/// What happened to a stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// Its outputs were computed.
    Ran,
    /// Valid cached outputs were reused.
    Cached,
    /// A damaged cache entry was found and recomputed; the reason says what was wrong.
    Recomputed(String),
}

/// One stage of a run.
#[derive(Debug, Clone, Serialize)]
pub struct StageRun {
    /// The stage name.
    pub stage: &'static str,
    /// What happened.
    pub status: StageStatus,
    /// Wall time, including verification of cached outputs.
    pub seconds: f64,
    /// The process's peak resident memory during the stage, in MiB (Linux only: see
    /// [`crate::memory`]).
    pub peak_rss_mib: Option<f64>,
    /// The cache key.
    pub key: String,
    /// Where its outputs are.
    pub dir: PathBuf,
    /// What it did (empty when cached).
    pub summary: String,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The data file used.
    pub source: PathBuf,
    /// Every stage that was visited, in order.
    pub stages: Vec<StageRun>,
    /// Metrics, when the eval stage was part of the run.
    pub metrics: Option<MetricsReport>,
    /// The `latest/` directory, when a complete run was published.
    pub latest: Option<PathBuf>,
    /// Temporaries of killed runs removed before this one started.
    pub swept_temporaries: usize,
}

/// The summary both binaries print: the source, one line per stage (status, time, peak
/// memory, what it did), the metrics table and where the outputs are.
impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "source: {}", self.source.display())?;
        if self.swept_temporaries > 0 {
            writeln!(
                f,
                "removed {} temporary entries left by an interrupted run",
                self.swept_temporaries
            )?;
        }
        for stage in &self.stages {
            let status = match &stage.status {
                StageStatus::Ran => "ran".to_string(),
                StageStatus::Cached => "cached".to_string(),
                StageStatus::Recomputed(reason) => format!("ran (cache entry damaged: {reason})"),
            };
            let peak = stage
                .peak_rss_mib
                .map_or(String::new(), |m| format!("{m:.0} MiB"));
            writeln!(
                f,
                "{:<9} {:<7} {:>8.2}s {:>9}  {}",
                stage.stage, status, stage.seconds, peak, stage.summary
            )?;
        }
        if let Some(metrics) = &self.metrics {
            writeln!(f, "\n{}", metrics.summary_table())?;
        }
        if let Some(latest) = &self.latest {
            writeln!(f, "outputs: {}", latest.display())?;
        } else if let Some(last) = self.stages.last() {
            writeln!(f, "outputs: {}", last.dir.display())?;
        }
        Ok(())
    }
}

/// Run the pipeline of `config` (or one stage of it, see [`RunOptions::only`]).
pub fn run_pipeline(config: &PipelineConfig, options: &RunOptions) -> Result<RunSummary, PipelineError> {
    let graph = config.graph().map_err(|message| PipelineError::Config {
        path: "[stages]".into(),
        message,
    })?;
    let source = options
        .input
        .clone()
        .or_else(|| config.source.as_ref().map(|s| s.path.clone()))
        .ok_or(PipelineError::NoSource)?;
    // Fails clearly when the source (file, part directory or pattern) has no files.
    let source_hash = hash_source(&source)?;
    let wanted = match options.only {
        Some(kind) => ancestors_and_self(&graph, kind)?,
        None => graph.stages.iter().map(|s| s.kind).collect(),
    };
    let say = say_waiting(&options.artifacts);
    let _lock = ProjectLock::acquire(&options.artifacts, |holder| {
        if options.progress {
            say(holder);
        }
    })?;
    let swept_temporaries = sweep_temporaries(&options.artifacts)?;
    let cache = Cache::new(&options.artifacts);
    let mut done: BTreeMap<StageKind, (PathBuf, Manifest)> = BTreeMap::new();
    let mut runs = Vec::new();
    let mut run_keys: Vec<(String, String)> = Vec::new();
    for stage in graph.stages.iter().filter(|s| wanted.contains(&s.kind)) {
        let measured = crate::memory::reset_peak();
        let started = Instant::now();
        let (inputs, paths) = resolve_inputs(stage, &source, &source_hash, &done)?;
        let name = stage.kind.name();
        let key = cache_key(
            name,
            &stage.kind.code_version(),
            &config_section(stage.kind, config, &run_keys),
            &inputs,
        );
        let rerun_this = options.force || options.only == Some(stage.kind);
        let lookup = cache.lookup(name, &key);
        let (status, dir, manifest, summary) = match lookup {
            Lookup::Hit(manifest) if !rerun_this => (
                StageStatus::Cached,
                cache.entry_dir(name, &key),
                manifest,
                String::new(),
            ),
            _ if options.only.is_some() && !rerun_this => return Err(PipelineError::NotCached(name.into())),
            lookup => {
                let progress = stage_progress(name, options.progress);
                let mut summary = String::new();
                let (dir, manifest) = cache.store(name, &key, |out| {
                    let reuse = ModelReuse {
                        cache: &cache,
                        inputs: &inputs,
                        recompute: options.force,
                    };
                    summary = execute(
                        stage.kind,
                        config,
                        &paths,
                        out,
                        &progress,
                        &run_keys,
                        Some(&reuse),
                    )?;
                    Ok::<(), PipelineError>(())
                })?;
                progress.finish_and_clear();
                let status = match lookup {
                    Lookup::Invalid(reason) => StageStatus::Recomputed(reason),
                    _ => StageStatus::Ran,
                };
                (status, dir, manifest, summary)
            }
        };
        run_keys.push((name.to_string(), key.clone()));
        runs.push(StageRun {
            stage: name,
            status,
            seconds: started.elapsed().as_secs_f64(),
            peak_rss_mib: crate::memory::peak_mib().filter(|_| measured),
            key,
            dir: dir.clone(),
            summary,
        });
        done.insert(stage.kind, (dir, manifest));
    }
    cache.record_run()?;
    let metrics = match done.get(&StageKind::Eval) {
        Some((dir, _)) => Some(io::read_json(&dir.join(replay_eval::METRICS_FILE))?),
        None => None,
    };
    let latest = match options.only {
        None => Some(publish_latest(
            &options.artifacts,
            &graph,
            &done,
            config,
            &source,
            &runs,
        )?),
        Some(_) => None,
    };
    Ok(RunSummary {
        source,
        stages: runs,
        metrics,
        latest,
        swept_temporaries,
    })
}

/// The content hash of a source: of its one file, or of the names and contents of all its
/// part files in the order ingest reads them (`replay_ingest::source_files`).
fn hash_source(source: &Path) -> Result<String, PipelineError> {
    let files = replay_ingest::source_files(source)?;
    if let [file] = files.as_slice() {
        if file == source {
            return Ok(hash_file(file)?.blake3);
        }
    }
    let mut hasher = blake3::Hasher::new();
    for file in &files {
        let name = file.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
        hasher.update(hash_file(file)?.blake3.as_bytes());
        hasher.update(b"\n");
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// `kind` and every stage it reads from, directly or not.
fn ancestors_and_self(graph: &StageGraph, kind: StageKind) -> Result<BTreeSet<StageKind>, PipelineError> {
    let mut wanted = BTreeSet::new();
    let mut pending = vec![kind];
    while let Some(k) = pending.pop() {
        let stage = graph
            .stage(k)
            .ok_or_else(|| PipelineError::UnknownStage(k.name().into()))?;
        if wanted.insert(k) {
            pending.extend(stage.inputs.iter().filter_map(|i| match i {
                InputRef::Output { stage, .. } => Some(*stage),
                InputRef::Source => None,
            }));
        }
    }
    Ok(wanted)
}

/// Input hashes (for the key) and paths (for the stage) of `stage`.
type ResolvedInputs = (Vec<(String, String)>, BTreeMap<String, PathBuf>);

fn resolve_inputs(
    stage: &Stage,
    source: &Path,
    source_hash: &str,
    done: &BTreeMap<StageKind, (PathBuf, Manifest)>,
) -> Result<ResolvedInputs, PipelineError> {
    let mut hashes = Vec::new();
    let mut paths = BTreeMap::new();
    for input in &stage.inputs {
        match input {
            InputRef::Source => {
                hashes.push((crate::graph::SOURCE.to_string(), source_hash.to_string()));
                paths.insert(crate::graph::SOURCE.to_string(), source.to_path_buf());
            }
            InputRef::Output {
                stage: upstream,
                output,
            } => {
                let (dir, manifest) = done
                    .get(upstream)
                    .ok_or_else(|| PipelineError::NotCached(upstream.name().into()))?;
                hashes.push((
                    format!("{}/{output}", upstream.name()),
                    manifest.output_hash(output),
                ));
                paths.insert(output.clone(), dir.join(output));
            }
        }
    }
    Ok((hashes, paths))
}

fn stage_progress(name: &str, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{spinner:.green} {prefix:<9} [{elapsed_precise}] {pos} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar = ProgressBar::new_spinner()
        .with_style(style)
        .with_prefix(name.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// What `latest/run.json` records about a run.
#[derive(Serialize)]
struct RunRecord<'a> {
    source: &'a Path,
    config: &'a PipelineConfig,
    stages: &'a [StageRun],
}

/// Copy every stage's outputs into a fresh directory and swap it in as `latest/`.
fn publish_latest(
    artifacts: &Path,
    graph: &StageGraph,
    done: &BTreeMap<StageKind, (PathBuf, Manifest)>,
    config: &PipelineConfig,
    source: &Path,
    runs: &[StageRun],
) -> Result<PathBuf, PipelineError> {
    let latest = artifacts.join("latest");
    let tmp = replay_core::atomic::temp_path_for(&latest);
    let result = (|| {
        fs::create_dir_all(&tmp).map_err(|e| ArtifactError::io(&tmp, e))?;
        for stage in &graph.stages {
            let (dir, _) = &done[&stage.kind];
            for output in &stage.outputs {
                link_or_copy(&dir.join(output), &tmp.join(output))?;
            }
        }
        io::write_json(
            &tmp.join("run.json"),
            &RunRecord {
                source,
                config,
                stages: runs,
            },
        )?;
        let old = replay_core::atomic::temp_path_for(&latest);
        if latest.exists() {
            fs::rename(&latest, &old).map_err(|e| ArtifactError::io(&latest, e))?;
        }
        fs::rename(&tmp, &latest).map_err(|e| ArtifactError::io(&latest, e))?;
        let _ = fs::remove_dir_all(&old);
        Ok::<(), PipelineError>(())
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result.map(|()| latest)
}
