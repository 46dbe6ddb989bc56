//! Errors of the ingest stage.

use std::path::PathBuf;

use replay_core::ArtifactError;

/// Why the ingest stage failed as a whole (single bad rows are [`crate::Rejection`]s).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Reading the source or writing an artifact failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The CSV could not be parsed at all.
    #[error("{path}: line {line}: {message}")]
    Csv {
        /// The source file.
        path: PathBuf,
        /// The line where parsing stopped.
        line: u64,
        /// What went wrong.
        message: String,
    },
    /// The `[source]` settings contradict each other.
    #[error("{0}")]
    InvalidSource(String),
    /// The delimiter does not split the header, which holds another common delimiter.
    #[error(
        "{path}: line {line}: source.delimiter {} splits nothing in the header, which holds {}; \
         set delimiter = {} under [source]",
        toml_char(*delimiter), toml_char(*found), toml_char(*found)
    )]
    Delimiter {
        /// The source file.
        path: PathBuf,
        /// The header's line.
        line: u64,
        /// The configured delimiter.
        delimiter: char,
        /// A delimiter the header holds.
        found: char,
    },
    /// A column named by the column mapping is not in the file.
    #[error("{path}: column '{column}' (columns.{role}) is not in the header; the file has: {available}")]
    MissingColumn {
        /// The source file.
        path: PathBuf,
        /// The missing column.
        column: String,
        /// The mapping key that names it.
        role: &'static str,
        /// The columns the file has, comma-separated.
        available: String,
    },
    /// Columns of the file are neither mapped nor listed in `columns.drop`.
    #[error("{path}: column(s) {columns} are not mapped; list them in columns.numeric, columns.categorical or columns.drop")]
    UnmappedColumns {
        /// The source file.
        path: PathBuf,
        /// The unmapped columns, comma-separated.
        columns: String,
    },
    /// A column name appears twice in the header.
    #[error("{path}: column '{column}' appears more than once in the header")]
    DuplicateColumn {
        /// The source file.
        path: PathBuf,
        /// The repeated column.
        column: String,
    },
    /// A Parquet column has a type that cannot hold the mapped role.
    #[error("{path}: column '{column}' has type {found}, expected {expected}")]
    ColumnType {
        /// The source file.
        path: PathBuf,
        /// The column.
        column: String,
        /// Its Arrow type.
        found: String,
        /// What the mapping needs.
        expected: &'static str,
    },
    /// The file has a header but no data rows.
    #[error("{path}: no data rows")]
    NoRows {
        /// The source file.
        path: PathBuf,
    },
    /// Too many rows were rejected to trust the file.
    #[error("{path}: {rejected} of {read} rows rejected, more than the allowed share {max_fraction} (ingest.max_rejected_fraction); first: {first}")]
    TooManyRejected {
        /// The source file.
        path: PathBuf,
        /// Rows rejected.
        rejected: u64,
        /// Rows read.
        read: u64,
        /// The configured limit.
        max_fraction: f64,
        /// The first rejection, for orientation.
        first: String,
    },
    /// A directory or wildcard source holds no data file.
    #[error("{path}: no data files (hidden and '_'-prefixed files such as _SUCCESS are skipped)")]
    NoSourceFiles {
        /// The directory or pattern.
        path: PathBuf,
    },
    /// A source directory holds a directory (partitioned datasets are not read).
    #[error(
        "{path}: is a directory inside the source directory; nested (partitioned) datasets are not supported"
    )]
    NestedDirectory {
        /// The nested directory.
        path: PathBuf,
    },
    /// A wildcard source pattern cannot be used.
    #[error("{path}: {message}")]
    BadPattern {
        /// The pattern.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The files of one source are not all of the same format.
    #[error("{path}: is {found} but the first file of the source is {expected}; all files of a source must have one format")]
    MixedFormats {
        /// The file of another format.
        path: PathBuf,
        /// Its format.
        found: &'static str,
        /// The format of the first file.
        expected: &'static str,
    },
}

/// `c` as a TOML string.
fn toml_char(c: char) -> String {
    match c {
        '\t' => "\"\\t\"".into(),
        c => format!("\"{c}\""),
    }
}
