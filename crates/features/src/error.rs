//! Errors of the feature stage.

use replay_core::ArtifactError;

/// Why features could not be built or applied.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// Reading tracks or writing outputs failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// Arrow refused an operation on the tracks.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A setting is out of its range.
    #[error("invalid setting {key}: {message}")]
    InvalidSetting {
        /// The setting, as written in pipeline.toml.
        key: &'static str,
        /// What is allowed.
        message: String,
    },
    /// A column the stage needs is absent.
    #[error("column '{0}' is missing from the tracks")]
    MissingColumn(String),
    /// A column has the wrong type.
    #[error("column '{column}' must be {expected}")]
    ColumnType {
        /// The column.
        column: String,
        /// Its expected Arrow type.
        expected: &'static str,
    },
    /// A row has no popularity, so it has no label.
    #[error("row {row} has no popularity; labels need one for every training track")]
    MissingPopularity {
        /// Row index (from 0) in the tracks.
        row: usize,
    },
    /// The training rows have a single class.
    #[error(
        "all {rows} training rows have the same label at popularity {threshold}; choose another \
         label.threshold (a popularity on a 0-1 scale needs [label] scale = 1)"
    )]
    SingleClass {
        /// The popularity cut ([`crate::LabelConfig::cut`]).
        threshold: f64,
        /// Training rows.
        rows: usize,
    },
    /// There are no features to learn from.
    #[error("the tracks have no feature columns")]
    NoFeatures,
    /// `[features.encode]` and the categorical columns of the tracks disagree.
    #[error("features.encode: column '{column}': {message}")]
    Encoding {
        /// The column.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// Two model inputs would have the same name, or an input the name of a column the
    /// train and test files hold besides the inputs (`id`, `popularity`, `replayed`).
    #[error("two model inputs, or a model input and a column of the train and test files, are named '{0}'; rename a source column")]
    DuplicateFeature(String),
    /// Inputs asked for by name are not among the features.
    #[error("no model input named '{0}' among the features")]
    UnknownFeature(String),
    /// The tracks have more rows than the streaming stage indexes (row numbers are `u32`).
    #[error("the tracks have {rows} rows; the feature stage handles at most {max}")]
    TooManyRows {
        /// Rows in the tracks.
        rows: usize,
        /// The most rows the stage handles.
        max: usize,
    },
}
