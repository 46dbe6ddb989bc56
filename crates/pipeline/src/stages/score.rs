//! Scoring new songs with a saved feature spec and model.

use std::path::Path;

use arrow::array::StringArray;
use indicatif::ProgressBar;
use replay_core::{io, schema};
use replay_models::SavedModel;

use crate::{PipelineConfig, PipelineError};

/// A scored song.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Track id.
    pub id: String,
    /// Probability that the song is replayed.
    pub probability: f64,
}

/// Score new songs in `input` (same column mapping as training; popularity may be absent)
/// with a saved feature spec and model; best first.
pub fn score(
    config: &PipelineConfig,
    spec_path: &Path,
    model_path: &Path,
    input: &Path,
    progress: &ProgressBar,
) -> Result<Vec<Scored>, PipelineError> {
    let spec: replay_features::FeatureSpec = io::read_json(spec_path)?;
    let model = SavedModel::load(model_path)?;
    let names: Vec<String> = spec.names().map(str::to_string).collect();
    model.require_inputs(model_path, &names)?;
    let options = replay_ingest::IngestOptions {
        require_popularity: false,
        ..config.ingest.clone()
    };
    let tracks = replay_ingest::read_tracks(&config.source_at(input), &config.columns, &options, progress)?;
    let mut scored = Vec::new();
    for batch in &tracks.batches {
        let x = spec.transform_named(batch, &model.feature_names)?;
        let p = model.predict_proba(x.view())?;
        let ids = batch
            .column_by_name(schema::ID)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| replay_features::FeatureError::MissingColumn(schema::ID.into()))?;
        scored.extend(ids.iter().zip(p).map(|(id, probability)| Scored {
            id: id.unwrap_or_default().to_string(),
            probability,
        }));
    }
    scored.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    Ok(scored)
}
