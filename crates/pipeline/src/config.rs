//! `pipeline.toml`: the typed configuration of a whole pipeline run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use indicatif::ProgressBar;
use replay_eval::EvalConfig;
use replay_features::{FeatureOptions, FeaturesConfig, LabelConfig, SplitConfig};
use replay_ingest::{ColumnMap, IngestError, IngestOptions, Source, Tracks};
use replay_models::refine::{CalibrationMethod, Refinement};
use replay_models::ModelConfig;
use serde::{Deserialize, Serialize};

use crate::graph::{StageDecl, StageGraph};
use crate::PipelineError;

/// A model name: letters, digits, `_` and `-` (it names the model's file and its column of
/// predictions.parquet, so it is neither `id` nor `replayed`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct ModelName(String);

impl TryFrom<String> for ModelName {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        if [replay_core::schema::ID, replay_core::schema::LABEL].contains(&name.as_str()) {
            return Err(format!(
                "model name '{name}' is taken by a column of predictions.parquet; choose another"
            ));
        }
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            Ok(ModelName(name))
        } else {
            Err(format!("model name '{name}' must be letters, digits, '_' or '-'"))
        }
    }
}

impl ModelName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `[calibration]`: which models get a calibration map, fitted on out-of-fold predictions
/// of the training rows (the folds also serve `[eval] operating_point`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalibrationConfig {
    /// Folds of the training rows; each refined model is fitted this many more times.
    /// Default: the target encoding's folds and seed, so that a held-out row's target
    /// means come from the rows its model is fitted on, as a test row's do.
    #[serde(default, deserialize_with = "replay_core::config::opt_at_least_two")]
    pub folds: Option<usize>,
    /// Seed of the shuffle into folds (default: the target encoding's).
    pub seed: Option<u64>,
    /// Model name = `"isotonic"` or `"sigmoid"`; other models are not calibrated.
    pub models: BTreeMap<ModelName, CalibrationMethod>,
}

/// The whole configuration; every section but `source` and `columns` has defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// The data source (may be overridden by `--input`).
    #[serde(default)]
    pub source: Option<Source>,
    /// The column mapping.
    #[serde(default = "ColumnMap::kaggle")]
    pub columns: ColumnMap,
    /// Ingest options.
    #[serde(default)]
    pub ingest: IngestOptions,
    /// The label rule.
    #[serde(default)]
    pub label: LabelConfig,
    /// The train/test split.
    #[serde(default)]
    pub split: SplitConfig,
    /// Derived inputs and scaling.
    #[serde(default)]
    pub features: FeatureOptions,
    /// Models to train, by name.
    #[serde(default = "default_models")]
    pub models: BTreeMap<ModelName, ModelConfig>,
    /// Calibration of the models' probabilities.
    #[serde(default)]
    pub calibration: CalibrationConfig,
    /// Evaluation settings.
    #[serde(default)]
    pub eval: EvalConfig,
    /// The stage graph: each stage's inputs and outputs.
    #[serde(default = "StageGraph::default_decls")]
    pub stages: BTreeMap<String, StageDecl>,
}

fn default_models() -> BTreeMap<ModelName, ModelConfig> {
    BTreeMap::from([
        (
            ModelName("logistic_regression".into()),
            ModelConfig::LogisticRegression(Default::default()),
        ),
        (
            ModelName("decision_tree".into()),
            ModelConfig::DecisionTree(Default::default()),
        ),
        (
            ModelName("random_forest".into()),
            ModelConfig::RandomForest(Default::default()),
        ),
        (
            ModelName("gradient_boosting".into()),
            ModelConfig::GradientBoosting(Default::default()),
        ),
    ])
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            source: None,
            columns: ColumnMap::kaggle(),
            ingest: IngestOptions::default(),
            label: LabelConfig::default(),
            split: SplitConfig::default(),
            features: FeatureOptions::default(),
            models: default_models(),
            calibration: CalibrationConfig::default(),
            eval: EvalConfig::default(),
            stages: StageGraph::default_decls(),
        }
    }
}

impl PipelineConfig {
    /// Read and check a config file. Syntax errors, unknown keys, wrong types and
    /// impossible values name the key and its line and column.
    pub fn load(path: &Path) -> Result<Self, PipelineError> {
        let text = std::fs::read_to_string(path).map_err(|e| PipelineError::Config {
            path: path.into(),
            message: e.to_string(),
        })?;
        let mut config = Self::parse(&text).map_err(|message| PipelineError::Config {
            path: path.into(),
            message,
        })?;
        if let Some(source) = &mut config.source {
            if source.path.is_relative() {
                let base = path.parent().unwrap_or(Path::new(""));
                source.path = base.join(&source.path);
            }
        }
        Ok(config)
    }

    /// Parse and check config text; the error is a readable message.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: PipelineConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        // `[label] column` is where the tracks' label is read from ([`Self::column_map`]).
        if let (Some(a), Some(b)) = (&config.label.column, &config.columns.label) {
            if a != b {
                return Err(format!(
                    "[label] column '{a}' and [columns] label '{b}' disagree; set [label] column only"
                ));
            }
        }
        config.column_map().check()?;
        config.graph()?;
        if config.models.is_empty() {
            return Err("[models] must declare at least one model".into());
        }
        // Each value was checked as it was read; this adds the rules between fields.
        for (name, model) in &config.models {
            model
                .check()
                .map_err(|e| format!("[models.{name}.{}]: {e}", model.kind()))?;
        }
        if let Some(name) = config
            .calibration
            .models
            .keys()
            .find(|n| !config.models.contains_key(*n))
        {
            return Err(format!(
                "[calibration.models] names '{name}', which is not a model of [models]"
            ));
        }
        config.features_config().check().map_err(|e| e.to_string())?;
        if let Some(source) = &config.source {
            source.check()?;
        }
        Ok(config)
    }

    /// The source at `path` (a `--input`, the stage graph's resolved source), read as
    /// `[source]` says (the defaults without one).
    pub fn source_at(&self, path: &Path) -> Source {
        match &self.source {
            Some(source) => source.at(path),
            None => Source::new(path),
        }
    }

    /// What the train stage fits on out-of-fold predictions after model `name`: its
    /// `[calibration.models]` method and the `[eval] operating_point` rule.
    pub fn refinement(&self, name: &ModelName) -> Refinement {
        let encoding = &self.features.target_encoding;
        Refinement {
            calibration: self.calibration.models.get(name).copied(),
            operating_point: self.eval.operating_point,
            folds: self.calibration.folds.unwrap_or(encoding.folds),
            seed: self.calibration.seed.unwrap_or(encoding.seed),
        }
    }

    /// The stage graph, checked.
    pub fn graph(&self) -> Result<StageGraph, String> {
        StageGraph::new(&self.stages)
    }

    /// The column mapping the tracks are read with: `[columns]`, whose label column is
    /// `[label] column` when that is set.
    pub fn column_map(&self) -> ColumnMap {
        ColumnMap {
            label: self.label.column.clone().or_else(|| self.columns.label.clone()),
            ..self.columns.clone()
        }
    }

    /// Read `input` (in memory) as this config reads its source: its `[source]` settings
    /// and [`Self::column_map`].
    pub fn read_tracks(
        &self,
        input: &Path,
        options: &IngestOptions,
        progress: &ProgressBar,
    ) -> Result<Tracks, IngestError> {
        replay_ingest::read_tracks(&self.source_at(input), &self.column_map(), options, progress)
    }

    /// Configuration of the feature stage.
    pub fn features_config(&self) -> FeaturesConfig {
        let read_as = ReadAs {
            source: self.source_at(Path::new("")),
            columns: self.column_map(),
        };
        FeaturesConfig {
            label: self.label.clone(),
            split: self.split.clone(),
            features: self.features.clone(),
            read_as: serde_json::to_value(read_as).ok(),
        }
    }

    /// This config reading new songs the way `spec` says the training songs were read
    /// (its `[source]` settings and `[columns]` mapping), when the spec records it.
    pub fn reading_as(&self, spec: &replay_features::FeatureSpec) -> Result<Self, String> {
        let Some(value) = &spec.read_as else {
            return Ok(self.clone());
        };
        let read_as: ReadAs = serde_json::from_value(value.clone())
            .map_err(|e| format!("the feature spec's read_as is not a [source] and [columns] pair: {e}"))?;
        Ok(PipelineConfig {
            source: Some(read_as.source),
            columns: read_as.columns,
            ..self.clone()
        })
    }
}

/// How training tracks were read from their source, recorded in the feature spec
/// ([`FeaturesConfig::read_as`]) so that `replay score` reads new songs in the same
/// conventions without the config. The source's path is left empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadAs {
    /// Delimiter, quote, encoding, number format, null values, skipped lines.
    pub source: Source,
    /// The column mapping.
    pub columns: ColumnMap,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        PipelineConfig::parse(text).unwrap_err()
    }

    #[test]
    fn an_empty_file_is_the_default_config() {
        assert_eq!(PipelineConfig::parse("").unwrap(), PipelineConfig::default());
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let e = error_of("[split]\ntest_fraction = 0.2\nseeed = 3\n");
        assert!(e.contains("line 3") && e.contains("seeed"), "{e}");
    }

    #[test]
    fn model_names_that_would_collide_with_prediction_columns_are_refused() {
        for name in ["id", "replayed"] {
            let e = error_of(&format!("[models.{name}.logistic_regression]\n"));
            assert!(e.contains("taken by a column of predictions.parquet"), "{e}");
        }
        assert!(PipelineConfig::parse("[models.ids.logistic_regression]\n").is_ok());
    }

    #[test]
    fn impossible_values_name_the_line() {
        let e = error_of("[split]\n\ntest_fraction = 1.5\n");
        assert!(
            e.contains("line 3") && e.contains("strictly between 0 and 1"),
            "{e}"
        );
        let e = error_of("[label]\nthreshold = 150\n");
        assert!(e.contains("line 2") && e.contains("between 0 and 100"), "{e}");
        let e = error_of("[models.lr.logistic_regression]\nc = -1.0\n");
        assert!(e.contains("line 2") && e.contains("greater than 0"), "{e}");
    }

    #[test]
    fn source_settings_are_read_and_checked_with_their_line() {
        let text = "[source]\npath = \"a.csv\"\ndelimiter = \";\"\ndecimal_separator = \",\"\n\
                    thousands_separator = \".\"\nencoding = \"latin-1\"\nnull_values = [\"NA\"]\nskip_rows = 2\n";
        let source = PipelineConfig::parse(text).unwrap().source.unwrap();
        assert_eq!((source.delimiter, source.decimal_separator), (';', ','));
        assert_eq!(source.encoding, replay_ingest::Encoding::Latin1);
        assert_eq!((source.null_values.len(), source.skip_rows), (1, 2));
        let e = error_of("[source]\npath = \"a.csv\"\ndelimiter = \";;\"\n");
        assert!(e.contains("line 3"), "{e}");
        let e = error_of("[source]\npath = \"a.csv\"\n\ndelimter = \";\"\n");
        assert!(e.contains("line 4") && e.contains("delimter"), "{e}");
        let e = error_of("[source]\npath = \"a.csv\"\nencoding = \"ebcdic\"\n");
        assert!(e.contains("line 3") && e.contains("latin-1"), "{e}");
        let e = error_of("[source]\npath = \"a.csv\"\ndelimiter = \";\"\nquote = \";\"\n");
        assert!(e.contains("source.quote"), "{e}");
    }

    #[test]
    fn a_label_column_replaces_the_popularity() {
        let text = "[columns]\nid = \"id\"\nnumeric = [\"energy\"]\n[label]\ncolumn = \"hit\"\n";
        let config = PipelineConfig::parse(text).unwrap();
        assert_eq!(config.column_map().label.as_deref(), Some("hit"));
        let e = error_of("[columns]\nid = \"id\"\nnumeric = [\"energy\"]\n");
        assert!(e.contains("columns.popularity: missing"), "{e}");
        let e = error_of("[columns]\npopularity = \"p\"\nnumeric = []\n[label]\ncolumn = \"hit\"\n");
        assert!(e.contains("replaces columns.popularity"), "{e}");
    }

    #[test]
    fn a_quantile_label_is_read_and_checked() {
        let config = PipelineConfig::parse("[label]\nquantile = 0.8\n").unwrap();
        assert_eq!(config.label.quantile, Some(0.8));
        let e = error_of("[label]\n\nquantile = 1.0\n");
        assert!(
            e.contains("line 3") && e.contains("strictly between 0 and 1"),
            "{e}"
        );
        let text =
            "[columns]\nid = \"id\"\nnumeric = [\"energy\"]\n[label]\ncolumn = \"hit\"\nquantile = 0.5\n";
        let e = error_of(text);
        assert!(e.contains("label.quantile") && e.contains("'hit'"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_line() {
        let e = error_of("[models.tree.decision_tree]\nmax_depth = \"deep\"\n");
        assert!(
            e.contains("line 2") && e.contains("invalid type: string \"deep\""),
            "{e}"
        );
    }

    #[test]
    fn feature_encodings_are_checked_while_reading() {
        let e = error_of("[features.encode]\nartist = \"hash\"\n");
        assert!(
            e.contains("line 2") && e.contains("unknown variant `hash`"),
            "{e}"
        );
        let e = error_of("[features.target_encoding]\nfolds = 1\n");
        assert!(e.contains("line 2") && e.contains("at least 2 folds"), "{e}");
        let e = error_of("[features.target_encoding]\nsmoothing = -1.0\n");
        assert!(e.contains("line 2") && e.contains(">= 0"), "{e}");
        let e = error_of("[features.target_encoding]\nfold = 3\n");
        assert!(e.contains("line 2") && e.contains("fold"), "{e}");
        let ok = PipelineConfig::parse(
            "[features]\nderive_month = true\n[features.encode]\ngenre = \"category\"\nartists = \"target_list\"\n",
        )
        .unwrap();
        assert_eq!(ok.features.encode.len(), 2);
        assert!(ok.features.derive_month && !ok.features.derive_age);
    }

    #[test]
    fn the_project_configs_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for file in [
            "pipeline.toml",
            "configs/spotify_songs.toml",
            "configs/spotify_songs_seed.toml",
        ] {
            PipelineConfig::load(&root.join(file)).unwrap();
        }
    }

    #[test]
    fn unknown_model_kinds_and_bad_names_are_errors() {
        assert!(error_of("[models.x.neural_net]\n").contains("neural_net"));
        assert!(error_of("[models.\"a b\".decision_tree]\n").contains("letters, digits"));
    }
}
