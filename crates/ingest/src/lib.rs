//! Ingest stage of the replay pipeline.
//!
//! Reads a table of tracks (CSV, gzip-compressed CSV or Parquet, recognised by content; a
//! single file, a directory of part files or a `*`/`?` pattern, see [`source_files`]),
//! validates every row against a [`ColumnMap`], and produces Arrow record batches with
//! canonical column names (see [`replay_core::schema`]). Rows that fail validation are
//! never coerced: they are returned as [`Rejection`]s with their file, line and reason.
//!
//! Everything streams: [`visit_tracks`] hands batches and rejections to a
//! [`TracksVisitor`] while the source is read, so memory does not grow with the source.
//! [`run`] (the stage) streams them into its files; [`read_tracks`] collects them.
//! CSV is cut into blocks of whole records that rayon tasks parse in parallel, while a
//! reader thread reads (and decompresses) the next blocks; results keep file order and
//! exact line numbers.
//!
//! ```no_run
//! use replay_ingest::{read_tracks, ColumnMap, IngestOptions};
//! let source = replay_ingest::Source::new("data.csv.gz");
//! let tracks = read_tracks(&source, &ColumnMap::kaggle(), &IngestOptions::default(),
//!                          &indicatif::ProgressBar::hidden())?;
//! println!("{} rows kept", tracks.report.rows_kept);
//! # Ok::<(), replay_ingest::IngestError>(())
//! ```

#![warn(missing_docs)]

mod blocks;
mod columns;
mod csv_read;
mod dialect;
mod emit;
mod encoding;
mod error;
mod ordered;
mod parquet_read;
mod rejections;
mod sniff;
mod source;
mod validate;

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use indicatif::ProgressBar;
use replay_core::io;
use serde::{Deserialize, Serialize};

pub use columns::{ColumnMap, IdColumns};
pub use dialect::{Encoding, Source};
pub use error::IngestError;
pub use sniff::{sniff, ColumnSample, Sniffed};
pub use validate::{IngestReport, RejectReason, Rejection};

use rejections::RejectionFile;

/// File name of the validated tracks written by [`run`].
pub const TRACKS_FILE: &str = "tracks.parquet";
/// File name of the JSON ingest report written by [`run`].
pub const REPORT_FILE: &str = "ingest_report.json";
/// File name of the rejected rows (CSV: line, column, reason, detail, file) written by [`run`].
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

/// Receives what a source holds, in source order: batches of kept rows and rejected rows.
/// [`visit_tracks`] drives it; [`read_tracks`] collects into memory; [`run`] streams to
/// files.
pub trait TracksVisitor {
    /// Kept rows: [`IngestOptions::batch_rows`] rows (the last batch fewer), with the
    /// schema of [`tracks_schema`].
    fn batch(&mut self, batch: RecordBatch) -> Result<(), IngestError>;
    /// One rejected row.
    fn rejection(&mut self, rejection: Rejection) -> Result<(), IngestError>;
}

/// The column names of `source` (CSV, CSV.gz or Parquet, recognised by content; for a
/// directory or pattern, of its first file), without reading its rows; for choosing a
/// [`ColumnMap`] before [`read_tracks`].
pub fn read_header(source: &Source) -> Result<Vec<String>, IngestError> {
    source::read_header(source)
}

/// The files of `source` in the order they are read:
/// - a file: itself;
/// - a directory (Parquet part files as Spark, DataFusion or Polars write them): its
///   files, skipping hidden and `_`-prefixed ones such as `_SUCCESS`; a subdirectory is an
///   error;
/// - a path whose file name holds `*` or `?` and which does not exist as such (e.g.
///   `data/*.parquet`): the matching files of its directory, with the same skips.
///
/// Sorted by path; an empty directory or a pattern matching nothing is an error.
pub fn source_files(source: &Path) -> Result<Vec<PathBuf>, IngestError> {
    source::source_files(source)
}

/// The schema of the batches ingest produces for `columns`: id, popularity, release date
/// (if mapped), numeric features (Float64), categorical features (Utf8).
pub fn tracks_schema(columns: &ColumnMap, options: &IngestOptions) -> SchemaRef {
    validate::schema_of(&validate::targets(columns, options.require_popularity))
}

/// Read and validate `source` (see [`source_files`]) file by file, one batch at a time,
/// handing kept rows and rejected rows to `visitor` in source order; memory stays bounded
/// whatever the size of the source.
///
/// Fails when a file cannot be read, a mapped column is missing, a column is neither
/// mapped nor dropped, the files are not all of one format, no data row is present, or
/// more than [`IngestOptions::max_rejected_fraction`] of the rows are rejected. The last
/// two checks come after every row was visited.
pub fn visit_tracks(
    source: &Source,
    columns: &ColumnMap,
    options: &IngestOptions,
    progress: &ProgressBar,
    visitor: &mut dyn TracksVisitor,
) -> Result<IngestReport, IngestError> {
    let (report, first_rejection) = source::read(source, columns, options, progress, visitor)?;
    let source = source.path.as_path();
    if report.rows_read == 0 {
        return Err(IngestError::NoRows {
            path: source.to_path_buf(),
        });
    }
    let share = report.rows_rejected as f64 / report.rows_read as f64;
    if share > options.max_rejected_fraction {
        return Err(IngestError::TooManyRejected {
            path: source.to_path_buf(),
            rejected: report.rows_rejected,
            read: report.rows_read,
            max_fraction: options.max_rejected_fraction,
            first: first_rejection.map(|r| describe(source, &r)).unwrap_or_default(),
        });
    }
    Ok(report)
}

/// A rejection for a message about `source`: with its file when that is another one.
fn describe(source: &Path, rejection: &Rejection) -> String {
    if rejection.file == source.display().to_string() {
        rejection.to_string()
    } else {
        format!("{}: {rejection}", rejection.file)
    }
}

/// Read and validate the tracks of `source` into memory (for small files: scoring,
/// benchmarks); [`run`] streams instead. Same checks as [`visit_tracks`].
pub fn read_tracks(
    source: &Source,
    columns: &ColumnMap,
    options: &IngestOptions,
    progress: &ProgressBar,
) -> Result<Tracks, IngestError> {
    let mut collect = Collect::default();
    let report = visit_tracks(source, columns, options, progress, &mut collect)?;
    Ok(Tracks {
        schema: tracks_schema(columns, options),
        batches: collect.batches,
        report,
        rejections: collect.rejections,
    })
}

/// A visitor that keeps every batch and rejection (for [`read_tracks`] and the block
/// reader's tests).
#[derive(Default)]
struct Collect {
    batches: Vec<RecordBatch>,
    rejections: Vec<Rejection>,
}

impl TracksVisitor for Collect {
    fn batch(&mut self, batch: RecordBatch) -> Result<(), IngestError> {
        self.batches.push(batch);
        Ok(())
    }

    fn rejection(&mut self, rejection: Rejection) -> Result<(), IngestError> {
        self.rejections.push(rejection);
        Ok(())
    }
}

/// Run the stage: read `source` and write [`TRACKS_FILE`], [`REPORT_FILE`] and
/// [`REJECTED_FILE`] into `out_dir`, each atomically. Rows stream from the source to the
/// files batch by batch; when the stage fails, no file is left behind.
pub fn run(
    source: &Source,
    columns: &ColumnMap,
    options: &IngestOptions,
    out_dir: &Path,
    progress: &ProgressBar,
) -> Result<IngestReport, IngestError> {
    let tracks = replay_parquet::Sink::create(&out_dir.join(TRACKS_FILE), tracks_schema(columns, options))?;
    let rejected = RejectionFile::create(&out_dir.join(REJECTED_FILE))?;
    let mut files = StageFiles { tracks, rejected };
    let report = visit_tracks(source, columns, options, progress, &mut files)?;
    files.tracks.finish()?;
    files.rejected.finish()?;
    io::write_json(&out_dir.join(REPORT_FILE), &report)?;
    Ok(report)
}

/// The files [`run`] streams into.
struct StageFiles {
    tracks: replay_parquet::Sink,
    rejected: RejectionFile,
}

impl TracksVisitor for StageFiles {
    fn batch(&mut self, batch: RecordBatch) -> Result<(), IngestError> {
        Ok(self.tracks.write(&batch)?)
    }

    fn rejection(&mut self, rejection: Rejection) -> Result<(), IngestError> {
        self.rejected.write(&rejection)
    }
}

/// Write rejected rows as CSV with the columns `line,column,reason,detail,file`.
pub fn write_rejections(path: &Path, rejections: &[Rejection]) -> Result<(), IngestError> {
    let mut file = RejectionFile::create(path)?;
    for rejection in rejections {
        file.write(rejection)?;
    }
    file.finish()
}
