//! Explaining the predictions of a saved model for new songs.

use std::collections::BTreeMap;
use std::path::Path;

use indicatif::ProgressBar;
use ndarray::Array2;
use replay_core::schema;
use replay_models::explain::OutputSpace;
use replay_models::refine::CalibrationMethod;

use super::score::{ids, NewSongs};
use crate::{PipelineConfig, PipelineError};

/// Songs explained between two progress updates (a deep forest takes about 25 ms a song).
const SONGS_PER_STEP: usize = 256;

/// Every song's explanation by one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// What the contributions add up to: log-odds or probability.
    pub space: OutputSpace,
    /// The model's expected output over its training data (every song's base value).
    pub expected: f64,
    /// The calibration map between the output and the probability, if the model has one
    /// (the contributions explain the output; the probability is calibrated).
    pub calibration: Option<CalibrationMethod>,
    /// The songs, in input order.
    pub songs: Vec<ExplainedSong>,
}

/// One song: its probability and the contribution of each source column.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainedSong {
    /// Track id.
    pub id: String,
    /// Probability that the song is replayed (calibrated, for a calibrated model).
    pub probability: f64,
    /// The output the contributions add up to ([`Explanation::expected`] plus their sum).
    pub output: f64,
    /// Contributions by source column, largest in absolute value first.
    pub columns: Vec<ColumnContribution>,
}

/// The contribution of one source column: the sum of its inputs' (one-hot indicators,
/// target mean and count of a key, year, month and age of a release date).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnContribution {
    /// The source column.
    pub column: String,
    /// The sum of its inputs' contributions.
    pub value: f64,
    /// Each of its inputs, in the model's input order.
    pub inputs: Vec<InputContribution>,
}

/// One model input of a song: its value and contribution.
#[derive(Debug, Clone, PartialEq)]
pub struct InputContribution {
    /// The input's name.
    pub name: String,
    /// The song's value of it, as the model reads it (standardized, encoded; NaN when
    /// missing and left to the model).
    pub value: f64,
    /// Its contribution.
    pub contribution: f64,
}

/// Explain the model's prediction for every song of `input`, read as [`super::score`]
/// reads them.
pub fn explain(
    config: Option<&PipelineConfig>,
    spec_path: &Path,
    model_path: &Path,
    input: &Path,
    progress: &ProgressBar,
) -> Result<Explanation, PipelineError> {
    let songs = NewSongs::read(config, spec_path, model_path, input, progress)?;
    let names = &songs.model.feature_names;
    // Columns by their names in the songs' file (the release date is renamed on reading).
    let release_date = songs.config.columns.release_date.as_deref();
    let column_of: Vec<String> = names
        .iter()
        .map(|n| match songs.spec.source_column(n) {
            Some(schema::RELEASE_DATE) => release_date.unwrap_or(schema::RELEASE_DATE).to_string(),
            Some(column) => column.to_string(),
            None => n.clone(),
        })
        .collect();
    let base = songs
        .model
        .model
        .contributions(Array2::zeros((0, names.len())).view())?;
    let total: usize = songs.tracks.batches.iter().map(|b| b.num_rows()).sum();
    progress.set_length(total as u64);
    progress.set_message(format!("explaining {total} songs"));
    let chunks = songs.tracks.batches.iter().flat_map(|b| {
        (0..b.num_rows())
            .step_by(SONGS_PER_STEP)
            .map(move |at| b.slice(at, SONGS_PER_STEP.min(b.num_rows() - at)))
    });
    let mut explained = Vec::new();
    for batch in chunks {
        let x = songs.spec.transform_named(&batch, names)?;
        let p = songs.model.predict_proba(x.view())?;
        let c = songs.model.model.contributions(x.view())?;
        let outputs = c.outputs();
        for (i, id) in ids(&batch)?.iter().enumerate() {
            let mut columns: BTreeMap<&str, ColumnContribution> = BTreeMap::new();
            for (j, name) in names.iter().enumerate() {
                let entry = columns
                    .entry(&column_of[j])
                    .or_insert_with(|| ColumnContribution {
                        column: column_of[j].clone(),
                        value: 0.0,
                        inputs: Vec::new(),
                    });
                entry.value += c.values[(i, j)];
                entry.inputs.push(InputContribution {
                    name: name.clone(),
                    value: x[(i, j)],
                    contribution: c.values[(i, j)],
                });
            }
            let mut columns: Vec<ColumnContribution> = columns.into_values().collect();
            columns.sort_by(|a, b| b.value.abs().total_cmp(&a.value.abs()));
            explained.push(ExplainedSong {
                id: id.unwrap_or_default().to_string(),
                probability: p[i],
                output: outputs[i],
                columns,
            });
        }
        progress.inc(batch.num_rows() as u64);
    }
    Ok(Explanation {
        space: base.space,
        expected: base.expected,
        calibration: songs.model.calibrator.as_ref().map(|c| c.method()),
        songs: explained,
    })
}
