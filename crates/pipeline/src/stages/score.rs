//! Scoring new songs with a saved feature spec and model.

use std::path::Path;

use arrow::array::{RecordBatch, StringArray};
use indicatif::ProgressBar;
use replay_core::{io, schema};
use replay_features::FeatureSpec;
use replay_models::SavedModel;

use crate::{PipelineConfig, PipelineError};

/// A scored song.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Track id.
    pub id: String,
    /// Probability that the song is replayed (calibrated, for a calibrated model).
    pub probability: f64,
    /// The decision: `probability >= threshold` ([`decision_threshold`]).
    pub replayed: bool,
}

/// The threshold a model's decisions are taken at: the one chosen on out-of-fold training
/// predictions and saved with the model, else `[eval] threshold` of `config`.
pub fn decision_threshold(model: &SavedModel, config: &PipelineConfig) -> f64 {
    model
        .operating_point
        .map_or(config.eval.threshold, |point| point.threshold)
}

/// Score new songs in `input` (popularity may be absent) with a saved feature spec and
/// model; best first, each with its decision ([`decision_threshold`]). The songs are read with `config`'s `[source]` settings and
/// `[columns]` mapping when one is given, else as the spec records that the training
/// songs were read (the built-in defaults for a spec that does not).
pub fn score(
    config: Option<&PipelineConfig>,
    spec_path: &Path,
    model_path: &Path,
    input: &Path,
    progress: &ProgressBar,
) -> Result<Vec<Scored>, PipelineError> {
    let songs = NewSongs::read(config, spec_path, model_path, input, progress)?;
    let threshold = decision_threshold(&songs.model, &songs.config);
    let mut scored = Vec::new();
    for batch in &songs.tracks.batches {
        let x = songs.spec.transform_named(batch, &songs.model.feature_names)?;
        let p = songs.model.predict_proba(x.view())?;
        scored.extend(ids(batch)?.iter().zip(p).map(|(id, probability)| Scored {
            id: id.unwrap_or_default().to_string(),
            probability,
            replayed: probability >= threshold,
        }));
    }
    scored.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    Ok(scored)
}

/// New songs read for a saved model, with its feature spec.
pub(crate) struct NewSongs {
    /// The feature spec the model's inputs come from.
    pub spec: FeatureSpec,
    /// The model.
    pub model: SavedModel,
    /// The songs, read as the config or the spec says.
    pub tracks: replay_ingest::Tracks,
    /// The config they were read with.
    pub config: PipelineConfig,
}

impl NewSongs {
    /// Read the spec and the model, check the model's inputs are the spec's, and read
    /// `input` as [`score`] describes.
    pub fn read(
        config: Option<&PipelineConfig>,
        spec_path: &Path,
        model_path: &Path,
        input: &Path,
        progress: &ProgressBar,
    ) -> Result<Self, PipelineError> {
        let spec: FeatureSpec = io::read_json(spec_path)?;
        let config = match config {
            Some(config) => config.clone(),
            None => PipelineConfig::default()
                .reading_as(&spec)
                .map_err(|message| PipelineError::Config {
                    path: spec_path.into(),
                    message,
                })?,
        };
        let model = SavedModel::load(model_path)?;
        let names: Vec<String> = spec.names().map(str::to_string).collect();
        model.require_inputs(model_path, &names)?;
        let options = replay_ingest::IngestOptions {
            require_popularity: false,
            ..config.ingest.clone()
        };
        let tracks = config.read_tracks(input, &options, progress)?;
        Ok(NewSongs {
            spec,
            model,
            tracks,
            config,
        })
    }
}

/// The id column of a batch of tracks.
pub(crate) fn ids(batch: &RecordBatch) -> Result<&StringArray, PipelineError> {
    Ok(batch
        .column_by_name(schema::ID)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| replay_features::FeatureError::MissingColumn(schema::ID.into()))?)
}
