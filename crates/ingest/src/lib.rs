//! Ingest stage of the replay pipeline.
//!
//! Reads a table of tracks (CSV, gzip-compressed CSV or Parquet, recognised by content),
//! validates every row against a [`ColumnMap`], and produces Arrow record batches with
//! canonical column names (see [`replay_core::schema`]). Rows that fail validation are
//! never coerced: they are returned as [`Rejection`]s with their line and reason.
//!
//! ```no_run
//! use replay_ingest::{read_tracks, ColumnMap, IngestOptions};
//! let tracks = read_tracks("data.csv.gz".as_ref(), &ColumnMap::kaggle(), &IngestOptions::default(),
//!                          &indicatif::ProgressBar::hidden())?;
//! println!("{} rows kept", tracks.report.rows_kept);
//! # Ok::<(), replay_ingest::IngestError>(())
//! ```

#![warn(missing_docs)]

mod columns;
mod error;
mod source;
mod validate;

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use indicatif::ProgressBar;
use replay_core::{atomic, io};
use serde::{Deserialize, Serialize};

pub use columns::ColumnMap;
pub use error::IngestError;
pub use validate::{IngestReport, RejectReason, Rejection};

/// File name of the validated tracks written by [`run`].
pub const TRACKS_FILE: &str = "tracks.parquet";
/// File name of the JSON ingest report written by [`run`].
pub const REPORT_FILE: &str = "ingest_report.json";
/// File name of the rejected rows (CSV: line, column, reason, detail) written by [`run`].
pub const REJECTED_FILE: &str = "rejected_rows.csv";

/// Options of the ingest stage besides the column mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestOptions {
    /// The stage fails when more than this share of the rows is rejected.
    #[serde(deserialize_with = "replay_core::config::unit_interval")]
    pub max_rejected_fraction: f64,
    /// Rows per Arrow record batch.
    #[serde(deserialize_with = "replay_core::config::at_least_one")]
    pub batch_rows: usize,
    /// Whether the popularity column must be present (false when scoring new songs).
    pub require_popularity: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            max_rejected_fraction: 0.05,
            batch_rows: 64 * 1024,
            require_popularity: true,
        }
    }
}

/// Validated tracks and what happened to every row read.
#[derive(Debug)]
pub struct Tracks {
    /// Schema of `batches`: id, popularity, release date (if mapped), numeric, categorical.
    pub schema: SchemaRef,
    /// The rows kept.
    pub batches: Vec<RecordBatch>,
    /// Counts of rows read, kept and rejected.
    pub report: IngestReport,
    /// Every rejected row, in file order.
    pub rejections: Vec<Rejection>,
}

/// The column names of the file `path` (CSV, CSV.gz or Parquet, recognised by content),
/// without reading its rows; for choosing a [`ColumnMap`] before [`read_tracks`].
pub fn read_header(path: &Path) -> Result<Vec<String>, IngestError> {
    source::read_header(path)
}

/// Read and validate the tracks in `path` (CSV, CSV.gz or Parquet).
///
/// Fails when the file cannot be read, a mapped column is missing, a column is neither
/// mapped nor dropped, no data row is present, or more than
/// [`IngestOptions::max_rejected_fraction`] of the rows are rejected.
pub fn read_tracks(
    path: &Path,
    columns: &ColumnMap,
    options: &IngestOptions,
    progress: &ProgressBar,
) -> Result<Tracks, IngestError> {
    let tracks = source::read(path, columns, options, progress)?;
    let report = &tracks.report;
    if report.rows_read == 0 {
        return Err(IngestError::NoRows {
            path: path.to_path_buf(),
        });
    }
    let share = report.rows_rejected as f64 / report.rows_read as f64;
    if share > options.max_rejected_fraction {
        return Err(IngestError::TooManyRejected {
            path: path.to_path_buf(),
            rejected: report.rows_rejected,
            read: report.rows_read,
            max_fraction: options.max_rejected_fraction,
            first: tracks
                .rejections
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
        });
    }
    Ok(tracks)
}

/// Run the stage: read `source` and write [`TRACKS_FILE`], [`REPORT_FILE`] and
/// [`REJECTED_FILE`] into `out_dir`, each atomically.
pub fn run(
    source: &Path,
    columns: &ColumnMap,
    options: &IngestOptions,
    out_dir: &Path,
    progress: &ProgressBar,
) -> Result<IngestReport, IngestError> {
    let tracks = read_tracks(source, columns, options, progress)?;
    io::write_parquet(&out_dir.join(TRACKS_FILE), tracks.schema.clone(), &tracks.batches)?;
    write_rejections(&out_dir.join(REJECTED_FILE), &tracks.rejections)?;
    io::write_json(&out_dir.join(REPORT_FILE), &tracks.report)?;
    Ok(tracks.report)
}

/// Write rejected rows as CSV with the columns `line,column,reason,detail`.
pub fn write_rejections(path: &Path, rejections: &[Rejection]) -> Result<(), IngestError> {
    let csv_error = |e: csv::Error| IngestError::Artifact(replay_core::ArtifactError::io(path, e.into()));
    atomic::write_with(path, |out| {
        let mut writer = csv::Writer::from_writer(out);
        writer
            .write_record(["line", "column", "reason", "detail"])
            .map_err(csv_error)?;
        for r in rejections {
            let line = r.line.to_string();
            writer
                .write_record([
                    line.as_str(),
                    r.column.as_str(),
                    r.reason.as_str(),
                    r.detail.as_str(),
                ])
                .map_err(csv_error)?;
        }
        writer
            .flush()
            .map_err(|e| replay_core::ArtifactError::io(path, e))?;
        Ok(())
    })
}
