//! The eval stage (feature `stage`): every model file scored on a feature stage's
//! `test.parquet`, its metrics in `metrics.json` and the per-row probabilities in
//! `predictions.parquet`. A [`ResultStore`] (the pipeline's per-model cache, or
//! [`NoStore`]) can provide a model's scores and metrics that need no computing.
//!
//! ```no_run
//! use replay_eval::{stage, EvalConfig};
//! let models = [("random_forest".to_string(), "out/train/models/random_forest.model.bin".into())];
//! let report = stage::run(
//!     &EvalConfig::default(),
//!     "out/features/test.parquet".as_ref(),
//!     &models,
//!     "out/eval".as_ref(),
//!     &stage::NoStore,
//! )?;
//! print!("{}", report.summary_table());
//! # Ok::<(), stage::EvalError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use replay_core::{io, schema, ArtifactError};
use replay_features::{FeatureError, FeatureMatrix, Ids, InputColumns};
use replay_models::{ModelError, SavedModel};
use serde::{Deserialize, Serialize};

use crate::{
    CalibrationMethod, EvalConfig, MetricError, MetricsReport, ModelMetrics, Scores, ThresholdRule,
    METRICS_FILE,
};

/// File name of the per-row predictions written by the eval stage.
pub const PREDICTIONS_FILE: &str = "predictions.parquet";

/// Test-set probabilities of every model, by name.
pub type Probabilities = Vec<(String, Vec<f64>)>;

/// Why the eval stage failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The test file could not be read as a feature stage's output.
    #[error(transparent)]
    Data(#[from] FeatureError),
    /// A model file could not be loaded or applied.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The metrics could not be computed.
    #[error(transparent)]
    Metric(#[from] MetricError),
    /// An output could not be written, or an input file is not what the stage writes.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// A chart or the report could not be drawn or written.
    #[cfg(feature = "report")]
    #[error(transparent)]
    Plot(#[from] crate::plots::PlotError),
}

/// One model's results on the test rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// Its metrics.
    pub metrics: ModelMetrics,
    /// Its probabilities, in test-row order.
    pub scores: Vec<f64>,
}

/// Where results that need no computing come from: the pipeline keeps each model's
/// results in its cache, by model file, test rows and eval settings.
pub trait ResultStore {
    /// What the store's own failures are.
    type Error: From<EvalError>;
    /// What [`ResultStore::find`] hands back for a result it lacks, to store it under.
    type Ticket;

    /// The stored result of model `name` (file `model`), or the ticket to keep one.
    fn find(&self, name: &str, model: &Path) -> Result<Found<Self::Ticket>, Self::Error>;

    /// Keep `result` under `ticket`.
    fn keep(&self, ticket: Self::Ticket, result: &ModelResult) -> Result<(), Self::Error>;
}

/// What a [`ResultStore`] holds for a model.
#[derive(Debug)]
pub enum Found<T> {
    /// Its stored result.
    Stored(Box<ModelResult>),
    /// Nothing: compute it, and keep it with this ticket.
    Missing(T),
}

/// No store: every model is scored and evaluated.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStore;

impl ResultStore for NoStore {
    type Error = EvalError;
    type Ticket = ();

    fn find(&self, _name: &str, _model: &Path) -> Result<Found<()>, EvalError> {
        Ok(Found::Missing(()))
    }

    fn keep(&self, _ticket: (), _result: &ModelResult) -> Result<(), EvalError> {
        Ok(())
    }
}

/// The eval stage: score `test` with each model file of `models` (name, path), compute
/// every metric, and write `metrics.json` and `predictions.parquet` (models in name
/// order) into `out_dir`. Models the store lacks are evaluated together: one draw of the
/// bootstrap resamples serves them all.
pub fn run<S: ResultStore>(
    config: &EvalConfig,
    test: &Path,
    models: &[(String, PathBuf)],
    out_dir: &Path,
    store: &S,
) -> Result<MetricsReport, S::Error> {
    // Ids and labels once; each model to score reads only its own columns.
    let rows = FeatureMatrix::read_columns(test, &[], Ids::Read).map_err(EvalError::from)?;
    let available = InputColumns::read(test).map_err(EvalError::from)?.names;
    let y = rows.y.to_vec();
    let mut report = MetricsReport::compute(&y, std::iter::empty(), config).map_err(EvalError::from)?;
    let mut predictions: Probabilities = Vec::new();
    let mut fresh: Vec<(&str, FilePredictions, S::Ticket)> = Vec::new();
    for (name, path) in models {
        match store.find(name, path)? {
            Found::Stored(result) => {
                if result.scores.len() != y.len() {
                    return Err(EvalError::Artifact(ArtifactError::Invalid {
                        path: path.clone(),
                        message: format!(
                            "stored results hold {} scores for {} test rows",
                            result.scores.len(),
                            y.len()
                        ),
                    })
                    .into());
                }
                let ModelResult { metrics, scores } = *result;
                report.models.insert(name.clone(), metrics);
                predictions.push((name.clone(), scores));
            }
            Found::Missing(ticket) => fresh.push((name, predict_file(path, test, &available)?, ticket)),
        }
    }
    let scores: Vec<Scores<'_>> = fresh.iter().map(|(_, p, _)| p.scores()).collect();
    let metrics = crate::evaluate_scores(&y, &scores, config).map_err(EvalError::from)?;
    for ((name, predicted, ticket), metrics) in fresh.into_iter().zip(metrics) {
        let result = ModelResult {
            metrics,
            scores: predicted.p,
        };
        store.keep(ticket, &result)?;
        report.models.insert(name.to_string(), result.metrics);
        predictions.push((name.to_string(), result.scores));
    }
    predictions.sort_by(|a, b| a.0.cmp(&b.0));
    io::write_json(&out_dir.join(METRICS_FILE), &report).map_err(EvalError::from)?;
    write_predictions(&out_dir.join(PREDICTIONS_FILE), &rows, &predictions)?;
    Ok(report)
}

/// What a model file predicts for a data file.
#[derive(Debug, Clone, PartialEq)]
pub struct FilePredictions {
    /// The probabilities, calibrated when the model has a calibration map.
    pub p: Vec<f64>,
    /// The model's decision threshold and its rule, when it was chosen in training.
    pub operating_point: Option<(ThresholdRule, f64)>,
    /// The calibration method and the probabilities before calibration.
    pub uncalibrated: Option<(CalibrationMethod, Vec<f64>)>,
}

impl FilePredictions {
    /// As the metrics take them.
    pub fn scores(&self) -> Scores<'_> {
        Scores {
            p: &self.p,
            operating_point: self.operating_point,
            uncalibrated: self.uncalibrated.as_ref().map(|(m, raw)| (*m, raw.as_slice())),
        }
    }
}

/// What model file `model` predicts for the rows of `data`, a feature stage's Parquet
/// file whose inputs are `available`. The model reads its inputs by name: one that `data`
/// lacks is [`ModelError::MissingInputs`].
pub fn predict_file(model: &Path, data: &Path, available: &[String]) -> Result<FilePredictions, EvalError> {
    let saved = SavedModel::load(model)?;
    saved.require_inputs(model, available)?;
    let x = FeatureMatrix::read_columns(data, &saved.feature_names, Ids::Skip)?.x;
    let output = saved.predict_output(x.view())?;
    let p = output.iter().map(|&o| saved.probability_of_output(o)).collect();
    let space = saved.model.output_space();
    Ok(FilePredictions {
        p,
        operating_point: saved.operating_point.map(|o| (o.rule, o.threshold)),
        uncalibrated: saved
            .calibrator
            .as_ref()
            .map(|c| (c.method(), output.iter().map(|&o| space.probability(o)).collect())),
    })
}

/// Per-row predictions: id, label, then one probability column per model.
fn write_predictions(
    path: &Path,
    rows: &FeatureMatrix,
    predictions: &[(String, Vec<f64>)],
) -> Result<(), EvalError> {
    let mut fields = vec![
        Field::new(schema::ID, DataType::Utf8, false),
        Field::new(schema::LABEL, DataType::Boolean, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(&rows.ids)),
        Arc::new(BooleanArray::from(rows.y.to_vec())),
    ];
    for (name, p) in predictions {
        fields.push(Field::new(name, DataType::Float64, false));
        columns.push(Arc::new(Float64Array::from(p.clone())));
    }
    write_batch(path, fields, columns)
}

/// Labels and per-model probabilities from the eval stage's `predictions.parquet`.
pub fn read_predictions(path: &Path) -> Result<(Vec<bool>, Probabilities), EvalError> {
    let (schema, batches) = replay_parquet::read(path)?;
    let invalid = |message: String| ArtifactError::Invalid {
        path: path.into(),
        message,
    };
    let mut labels = Vec::new();
    let mut predictions: Probabilities = schema
        .fields()
        .iter()
        .filter(|f| !schema::RECORD_COLUMNS.contains(&f.name().as_str()))
        .map(|f| (f.name().clone(), Vec::new()))
        .collect();
    for batch in &batches {
        let column = batch
            .column_by_name(schema::LABEL)
            .and_then(|c| c.as_any().downcast_ref::<BooleanArray>())
            .ok_or_else(|| invalid(format!("no Boolean '{}' column", schema::LABEL)))?;
        if column.null_count() > 0 {
            return Err(invalid(format!("the '{}' column has empty values", schema::LABEL)).into());
        }
        labels.extend(column.values().iter());
        for (name, values) in &mut predictions {
            values.extend_from_slice(float_column(batch, name, path)?.values());
        }
    }
    Ok((labels, predictions))
}

/// What the report stage reads besides the data summary: the eval stage's outputs and
/// the train stage's model directory.
#[cfg(feature = "report")]
#[derive(Debug, Clone, Copy)]
pub struct ReportFiles<'a> {
    /// `metrics.json`.
    pub metrics: &'a Path,
    /// `predictions.parquet`.
    pub predictions: &'a Path,
    /// The directory of the models' files (only their headers are read, unless `test`
    /// is given).
    pub models: &'a Path,
    /// The feature stage's `test.parquet`: when given, every model explains a sample of
    /// the test songs (see [`explain_test_songs`]).
    pub test: Option<&'a Path>,
}

/// The report stage: the charts, `report.html` and `report.md` in `out_dir`, from the
/// eval stage's files and each model's importances (read from its file's header; the
/// trees are not loaded). `page` carries the title, the data summary and the run's details.
#[cfg(feature = "report")]
pub fn report(
    files: ReportFiles<'_>,
    page: &crate::report::ReportPage<'_>,
    out_dir: &Path,
) -> Result<Vec<crate::report::ChartRef>, EvalError> {
    let metrics: MetricsReport = io::read_json(files.metrics)?;
    let (labels, predictions) = read_predictions(files.predictions)?;
    let mut importances = Vec::new();
    for name in metrics.models.keys() {
        let summary = SavedModel::read_summary(&files.models.join(SavedModel::file_name(name)))?;
        if let Some(values) = summary.feature_importances {
            importances.push((
                name.clone(),
                summary.feature_names.into_iter().zip(values).collect(),
            ));
        }
    }
    let input = crate::report::ReportInput {
        page,
        metrics: &metrics,
        labels: &labels,
        predictions: &predictions,
        importances: &importances,
        explanations: &[],
    };
    // The results' charts are drawn while the models explain their songs.
    let (explanations, results) = rayon::join(
        || match files.test {
            Some(test) if page.explain_songs > 0 => {
                explain_test_songs(&metrics, &predictions, files.models, test, page.explain_songs)
            }
            _ => Ok(Vec::new()),
        },
        || crate::report::draw_results(&input, out_dir),
    );
    let explanations = explanations?;
    let input = crate::report::ReportInput {
        explanations: &explanations,
        ..input
    };
    Ok(crate::report::finish_report(&input, results?, out_dir)?)
}

/// How many of the best model's highest- and lowest-scored test songs get a waterfall.
#[cfg(feature = "report")]
pub const EXTREME_SONGS: usize = 5;

/// Tree nodes × songs a model's sample may cost: models with more nodes than
/// `EXPLAIN_BUDGET / songs` explain proportionally fewer songs (at least
/// [`MIN_EXPLAINED_SONGS`]), so a huge forest does not dominate the report's time.
#[cfg(feature = "report")]
pub const EXPLAIN_BUDGET: u64 = 10_000_000;

/// The fewest songs a model's sample holds (when the test rows have them).
#[cfg(feature = "report")]
pub const MIN_EXPLAINED_SONGS: usize = 10;

/// Every model's contributions on up to `songs` test songs spread evenly over `test` (all
/// of them when there are fewer; fewer for models with many tree nodes, see
/// [`EXPLAIN_BUDGET`]), ranked as `metrics` ranks the models; the best model also
/// explains its [`EXTREME_SONGS`] highest- and lowest-scored songs (by `predictions`),
/// listed after the sample.
#[cfg(feature = "report")]
pub fn explain_test_songs(
    metrics: &MetricsReport,
    predictions: &Probabilities,
    models: &Path,
    test: &Path,
    songs: usize,
) -> Result<Vec<crate::report::ModelExplanation>, EvalError> {
    let n = predictions.first().map_or(0, |(_, p)| p.len());
    // Every model's inputs from one read of the test file.
    let all = FeatureMatrix::read(test)?;
    let mut explanations = Vec::new();
    for (rank, (name, _)) in metrics.ranked().into_iter().enumerate() {
        let p = predictions.iter().find(|(m, _)| m == name).map(|(_, p)| p);
        let file = models.join(SavedModel::file_name(name));
        let saved = SavedModel::load(&file)?;
        let songs = saved
            .model
            .affordable_rows(songs, EXPLAIN_BUDGET, MIN_EXPLAINED_SONGS)
            .min(n);
        let sample: Vec<usize> = (0..songs).map(|k| k * n / songs).collect();
        let mut rows = sample.clone();
        if rank == 0 {
            if let Some(p) = p {
                let mut order: Vec<usize> = (0..p.len()).collect();
                order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
                let k = EXTREME_SONGS.min(order.len() / 2);
                rows.extend_from_slice(&order[..k]);
                rows.extend(order[order.len() - k..].iter().rev());
            }
        }
        let x = all.select(&saved.feature_names)?.select(ndarray::Axis(0), &rows);
        let c = saved.model.contributions(x.view())?;
        explanations.push(crate::report::ModelExplanation {
            model: name.to_string(),
            space: c.space.name().to_string(),
            expected: c.expected,
            inputs: saved.feature_names.clone(),
            ids: rows
                .iter()
                .map(|&r| all.ids.get(r).cloned().unwrap_or_default())
                .collect(),
            probabilities: rows.iter().map(|&r| p.map_or(f64::NAN, |p| p[r])).collect(),
            sampled: sample.len(),
            values: x.rows().into_iter().map(|r| r.to_vec()).collect(),
            contributions: c.values.rows().into_iter().map(|r| r.to_vec()).collect(),
        });
    }
    Ok(explanations)
}

/// One model's test-set probabilities as a one-column Parquet file (what a store keeps).
pub fn write_scores(path: &Path, scores: &[f64]) -> Result<(), EvalError> {
    let field = Field::new(SCORES_COLUMN, DataType::Float64, false);
    write_batch(
        path,
        vec![field],
        vec![Arc::new(Float64Array::from(scores.to_vec()))],
    )
}

/// Read back [`write_scores`]'s file.
pub fn read_scores(path: &Path) -> Result<Vec<f64>, EvalError> {
    let (_, batches) = replay_parquet::batches(path, Some(&[SCORES_COLUMN]), 64 * 1024)?;
    let mut values = Vec::new();
    for batch in batches {
        values.extend_from_slice(float_column(&batch?, SCORES_COLUMN, path)?.values());
    }
    Ok(values)
}

/// The column of [`write_scores`]'s files.
const SCORES_COLUMN: &str = "probability";

/// Column `name` of `batch` (from file `path`): Float64 without empty values.
fn float_column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a Float64Array, EvalError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
        .filter(|c| c.null_count() == 0)
        .ok_or_else(|| {
            EvalError::Artifact(ArtifactError::Invalid {
                path: path.into(),
                message: format!("'{name}' is not a Float64 column without empty values"),
            })
        })
}

/// Write one record batch of `columns` as the Parquet file `path`.
fn write_batch(path: &Path, fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<(), EvalError> {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).map_err(|e| ArtifactError::Invalid {
        path: path.into(),
        message: format!("columns do not form a record batch: {e}"),
    })?;
    Ok(replay_parquet::write(path, schema, &[batch])?)
}
