//! The stage graph declared under `[stages]`: which files each stage reads and writes.

use std::collections::{BTreeMap, BTreeSet};

use replay_eval::stage::PREDICTIONS_FILE;
use replay_models::stage::MODELS_DIR;
use serde::{Deserialize, Serialize};

/// What a stage declares in pipeline.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageDecl {
    /// `"source"` (the data file) or `"<stage>/<output>"`.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Files (or directories) the stage writes.
    pub outputs: Vec<String>,
}

/// The stages the pipeline knows how to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StageKind {
    /// Validate the source into Parquet.
    Ingest,
    /// Labels, split and fitted transformations.
    Features,
    /// Fit every configured model.
    Train,
    /// Metrics of every model on the test rows.
    Eval,
    /// Charts and the HTML and Markdown reports.
    Report,
}

/// The name under which `report` writes its charts.
pub const PLOTS_DIR: &str = replay_eval::report::PLOTS_DIR;
/// The input name of the data file.
pub const SOURCE: &str = "source";

impl StageKind {
    /// All stages, in their natural order.
    pub const ALL: [StageKind; 5] = [
        StageKind::Ingest,
        StageKind::Features,
        StageKind::Train,
        StageKind::Eval,
        StageKind::Report,
    ];

    /// The stage's name in config files and commands.
    pub fn name(self) -> &'static str {
        match self {
            StageKind::Ingest => "ingest",
            StageKind::Features => "features",
            StageKind::Train => "train",
            StageKind::Eval => "eval",
            StageKind::Report => "report",
        }
    }

    /// The stage called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// File names the stage reads (the last part of each input reference).
    pub fn inputs(self) -> &'static [&'static str] {
        match self {
            StageKind::Ingest => &[SOURCE],
            StageKind::Features => &[replay_ingest::TRACKS_FILE],
            StageKind::Train => &[replay_features::TRAIN_FILE],
            StageKind::Eval => &[replay_features::TEST_FILE, MODELS_DIR],
            StageKind::Report => &[
                replay_ingest::REPORT_FILE,
                replay_features::SPLIT_REPORT_FILE,
                MODELS_DIR,
                replay_eval::METRICS_FILE,
                PREDICTIONS_FILE,
            ],
        }
    }

    /// File names the stage may also read: without them it does less (the report's
    /// explanation section needs the test rows).
    pub fn optional_inputs(self) -> &'static [&'static str] {
        match self {
            StageKind::Report => &[replay_features::TEST_FILE],
            _ => &[],
        }
    }

    /// Files the stage writes.
    pub fn outputs(self) -> &'static [&'static str] {
        match self {
            StageKind::Ingest => &[
                replay_ingest::TRACKS_FILE,
                replay_ingest::REPORT_FILE,
                replay_ingest::REJECTED_FILE,
            ],
            StageKind::Features => &[
                replay_features::TRAIN_FILE,
                replay_features::TEST_FILE,
                replay_features::SPEC_FILE,
                replay_features::SPLIT_REPORT_FILE,
            ],
            StageKind::Train => &[MODELS_DIR],
            StageKind::Eval => &[replay_eval::METRICS_FILE, PREDICTIONS_FILE],
            StageKind::Report => &[
                replay_eval::report::HTML_FILE,
                replay_eval::report::MARKDOWN_FILE,
                PLOTS_DIR,
            ],
        }
    }

    /// Version of the stage's code, part of its cache key: hashes of the sources of every
    /// crate the stage runs (computed by the build script), so editing a stage's code
    /// invalidates its cached outputs and nothing else.
    pub fn code_version(self) -> String {
        const CORE: &str = concat!(env!("REPLAY_SRC_CORE"), "-", env!("REPLAY_SRC_PARQUET"));
        const FEATURES: &str = env!("REPLAY_SRC_FEATURES");
        const MODELS: &str = env!("REPLAY_SRC_MODELS");
        const PIPELINE: &str = env!("REPLAY_SRC_PIPELINE");
        let parts: &[&str] = match self {
            StageKind::Ingest => &[CORE, env!("REPLAY_SRC_INGEST")],
            StageKind::Features => &[CORE, FEATURES],
            StageKind::Train => &[CORE, FEATURES, MODELS, PIPELINE],
            StageKind::Eval | StageKind::Report => {
                &[CORE, FEATURES, MODELS, env!("REPLAY_SRC_EVAL"), PIPELINE]
            }
        };
        parts.join("-")
    }
}

/// The names of all stages, comma-separated, for messages.
pub fn stage_names() -> String {
    StageKind::ALL.map(StageKind::name).join(", ")
}

impl std::str::FromStr for StageKind {
    type Err = crate::PipelineError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name).ok_or_else(|| crate::PipelineError::UnknownStage(name.to_string()))
    }
}

/// One input of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputRef {
    /// The data source file.
    Source,
    /// An output of an upstream stage.
    Output {
        /// The upstream stage.
        stage: StageKind,
        /// Its output.
        output: String,
    },
}

impl InputRef {
    /// The file name the stage reads this input as.
    pub fn file_name(&self) -> &str {
        match self {
            InputRef::Source => SOURCE,
            InputRef::Output { output, .. } => output,
        }
    }
}

/// A checked stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// What it runs.
    pub kind: StageKind,
    /// What it reads.
    pub inputs: Vec<InputRef>,
    /// What it writes.
    pub outputs: Vec<String>,
}

/// The checked stages in an order where every stage comes after its inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct StageGraph {
    /// Stages in execution order.
    pub stages: Vec<Stage>,
}

impl StageGraph {
    /// The standard wiring: ingest → features → train → eval.
    pub fn default_decls() -> BTreeMap<String, StageDecl> {
        StageKind::ALL
            .into_iter()
            .map(|kind| {
                let inputs = kind
                    .inputs()
                    .iter()
                    .chain(kind.optional_inputs())
                    .map(|&input| {
                        let producer = StageKind::ALL.into_iter().find(|k| k.outputs().contains(&input));
                        match producer {
                            Some(p) => format!("{}/{input}", p.name()),
                            None => input.to_string(),
                        }
                    })
                    .collect();
                let outputs = kind.outputs().iter().map(|s| s.to_string()).collect();
                (kind.name().to_string(), StageDecl { inputs, outputs })
            })
            .collect()
    }

    /// Check declarations: known stages, inputs that exist upstream, the inputs and
    /// outputs each stage needs, no cycle.
    pub fn new(decls: &BTreeMap<String, StageDecl>) -> Result<Self, String> {
        let mut stages = Vec::new();
        for (name, decl) in decls {
            let kind = StageKind::from_name(name)
                .ok_or_else(|| format!("[stages.{name}]: unknown stage; the stages are {}", stage_names()))?;
            let outputs: BTreeSet<&str> = decl.outputs.iter().map(String::as_str).collect();
            let expected: BTreeSet<&str> = kind.outputs().iter().copied().collect();
            if outputs != expected || outputs.len() != decl.outputs.len() {
                return Err(format!("[stages.{name}]: outputs must be {:?}", kind.outputs()));
            }
            let inputs = decl
                .inputs
                .iter()
                .map(|i| parse_input(name, i, decls))
                .collect::<Result<Vec<_>, _>>()?;
            let names: BTreeSet<&str> = inputs.iter().map(InputRef::file_name).collect();
            let needed: BTreeSet<&str> = kind.inputs().iter().copied().collect();
            let allowed = |n: &&str| needed.contains(n) || kind.optional_inputs().contains(n);
            if !needed.is_subset(&names) || !names.iter().all(allowed) || names.len() != inputs.len() {
                let optional = match kind.optional_inputs() {
                    [] => String::new(),
                    o => format!(" (and may provide {o:?})"),
                };
                return Err(format!(
                    "[stages.{name}]: inputs must provide {:?}{optional}",
                    kind.inputs()
                ));
            }
            stages.push(Stage {
                kind,
                inputs,
                outputs: decl.outputs.clone(),
            });
        }
        // Kahn's algorithm; among ready stages the natural order wins, so the order is stable.
        let mut ordered: Vec<Stage> = Vec::new();
        while !stages.is_empty() {
            let ready = stages
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    s.inputs.iter().all(|i| match i {
                        InputRef::Source => true,
                        InputRef::Output { stage, .. } => ordered.iter().any(|o| o.kind == *stage),
                    })
                })
                .min_by_key(|(_, s)| s.kind)
                .map(|(i, _)| i);
            match ready {
                Some(i) => ordered.push(stages.remove(i)),
                None => {
                    let names: Vec<_> = stages.iter().map(|s| s.kind.name()).collect();
                    return Err(format!(
                        "[stages]: the inputs of {} form a cycle",
                        names.join(", ")
                    ));
                }
            }
        }
        Ok(StageGraph { stages: ordered })
    }

    /// The stage of kind `kind`, if declared.
    pub fn stage(&self, kind: StageKind) -> Option<&Stage> {
        self.stages.iter().find(|s| s.kind == kind)
    }
}

fn parse_input(stage: &str, input: &str, decls: &BTreeMap<String, StageDecl>) -> Result<InputRef, String> {
    if input == SOURCE {
        return Ok(InputRef::Source);
    }
    let unknown = || {
        format!("[stages.{stage}]: input '{input}' is neither \"source\" nor a declared \"<stage>/<output>\"")
    };
    let (upstream, output) = input.split_once('/').ok_or_else(unknown)?;
    let declared = decls
        .get(upstream)
        .is_some_and(|d| d.outputs.iter().any(|o| o == output));
    match StageKind::from_name(upstream) {
        Some(kind) if declared => Ok(InputRef::Output {
            stage: kind,
            output: output.to_string(),
        }),
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_wiring_runs_in_natural_order() {
        let graph = StageGraph::new(&StageGraph::default_decls()).unwrap();
        let order: Vec<_> = graph.stages.iter().map(|s| s.kind).collect();
        assert_eq!(order, StageKind::ALL);
        let eval = graph.stage(StageKind::Eval).unwrap();
        assert!(eval.inputs.contains(&InputRef::Output {
            stage: StageKind::Train,
            output: MODELS_DIR.into()
        }));
    }

    #[test]
    fn missing_upstream_outputs_and_wrong_outputs_are_errors() {
        let mut decls = StageGraph::default_decls();
        decls.get_mut("features").unwrap().inputs = vec!["ingest/nope.parquet".into()];
        assert!(StageGraph::new(&decls)
            .unwrap_err()
            .contains("ingest/nope.parquet"));
        let mut decls = StageGraph::default_decls();
        decls.get_mut("eval").unwrap().outputs.pop();
        assert!(StageGraph::new(&decls).unwrap_err().contains("outputs must be"));
        let mut decls = StageGraph::default_decls();
        decls.remove("ingest");
        assert!(StageGraph::new(&decls)
            .unwrap_err()
            .contains("ingest/tracks.parquet"));
    }
}
