//! Row validation: turns raw cells into typed Arrow columns, or into a [`Rejection`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use replay_core::schema;
use serde::{Deserialize, Serialize};

use crate::dialect::ValueFormat;
use crate::{ColumnMap, Source};

/// One raw value as a source delivers it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    /// Text from a CSV field or a Parquet string column.
    Text(&'a str),
    /// A value from a numeric Parquet column.
    Number(f64),
    /// A null from Parquet.
    Null,
}

/// Why a row was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The row has more or fewer fields than the header.
    FieldCount,
    /// A field is not valid UTF-8.
    InvalidUtf8,
    /// The id is empty.
    MissingId,
    /// The popularity is empty.
    MissingPopularity,
    /// A numeric field does not hold a finite number.
    BadNumber,
    /// The popularity is outside 0..=100.
    PopularityOutOfRange,
    /// The release date is not `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    BadReleaseDate,
}

impl RejectReason {
    /// The reason's name as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FieldCount => "field_count",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::MissingId => "missing_id",
            Self::MissingPopularity => "missing_popularity",
            Self::BadNumber => "bad_number",
            Self::PopularityOutOfRange => "popularity_out_of_range",
            Self::BadReleaseDate => "bad_release_date",
        }
    }
}

/// A row that was not kept, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// Line where the row starts in its CSV file (the header is line 1), or row number
    /// (from 1) in its Parquet file.
    pub line: u64,
    /// The source column at fault (empty when the whole row is at fault).
    pub column: String,
    /// The kind of fault.
    pub reason: RejectReason,
    /// What was found and what was expected.
    pub detail: String,
    /// The file the row is in (one of [`crate::source_files`]).
    #[serde(default)]
    pub file: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            write!(f, "line {}: {}", self.line, self.detail)
        } else {
            write!(f, "line {}, column '{}': {}", self.line, self.column, self.detail)
        }
    }
}

/// What the ingest stage did, written as JSON beside the tracks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// The source file as given.
    pub source: String,
    /// `csv`, `csv.gz` or `parquet`.
    pub format: String,
    /// Data rows read (the header excluded).
    pub rows_read: u64,
    /// Rows written to the tracks file.
    pub rows_kept: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
    /// Rejected rows per reason.
    pub rejected_by_reason: BTreeMap<RejectReason, u64>,
    /// Output columns, in order.
    pub columns: Vec<String>,
    /// Source columns read past (`columns.drop`).
    pub dropped_columns: Vec<String>,
}

/// The role of one output column.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Id,
    Popularity { required: bool },
    ReleaseDate,
    Numeric,
    Categorical,
}

/// One output column: where it comes from and how it is validated.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Name of the column in the source.
    pub source: String,
    /// Name of the column in the output.
    pub output: String,
    role: Role,
}

/// The output columns of a mapping, in output order: id, popularity, release date,
/// numeric features, categorical features.
pub(crate) fn targets(columns: &ColumnMap, require_popularity: bool) -> Vec<Target> {
    let mut out = vec![
        Target {
            source: columns.id.clone(),
            output: schema::ID.into(),
            role: Role::Id,
        },
        Target {
            source: columns.popularity.clone(),
            output: schema::POPULARITY.into(),
            role: Role::Popularity {
                required: require_popularity,
            },
        },
    ];
    if let Some(date) = &columns.release_date {
        out.push(Target {
            source: date.clone(),
            output: schema::RELEASE_DATE.into(),
            role: Role::ReleaseDate,
        });
    }
    out.extend(columns.numeric.iter().map(|c| Target {
        source: c.clone(),
        output: c.clone(),
        role: Role::Numeric,
    }));
    out.extend(columns.categorical.iter().map(|c| Target {
        source: c.clone(),
        output: c.clone(),
        role: Role::Categorical,
    }));
    out
}

impl Target {
    /// Whether the source column holds numbers (as opposed to text).
    pub fn is_numeric(&self) -> bool {
        matches!(self.role, Role::Popularity { .. } | Role::Numeric)
    }

    /// Whether the column may be absent from the source (popularity when scoring).
    pub fn optional(&self) -> bool {
        self.role == Role::Popularity { required: false }
    }
}

/// A cell that passed validation: text (taken again with [`text_of`] when appended) or
/// its number.
enum Value {
    Text,
    Number(Option<f64>),
}

enum Builder {
    Text(StringBuilder),
    Number(Float64Builder),
}

/// What every reader needs to know about its output: the mapping, the output columns it
/// gives and their schema.
#[derive(Clone, Copy)]
pub(crate) struct Layout<'a> {
    /// How the source is written.
    pub source: &'a Source,
    /// The column mapping.
    pub columns: &'a ColumnMap,
    /// The output columns, from [`targets`].
    pub targets: &'a [Target],
    /// Their schema, from [`schema_of`].
    pub schema: &'a SchemaRef,
}

/// The output schema of `targets`: id and required popularity non-null, the rest nullable.
pub(crate) fn schema_of(targets: &[Target]) -> SchemaRef {
    let fields: Vec<Field> = targets
        .iter()
        .map(|t| {
            let data_type = if t.is_numeric() {
                DataType::Float64
            } else {
                DataType::Utf8
            };
            let nullable = !matches!(t.role, Role::Id | Role::Popularity { required: true });
            Field::new(&t.output, data_type, nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Why one row is rejected: the index of the target at fault, the reason and the detail.
pub(crate) type RowFault = (usize, RejectReason, String);

/// Validates rows and accumulates the kept ones into the columns of one record batch.
/// A row is kept or rejected whole: nothing of a rejected row reaches the columns.
pub(crate) struct RowBuilder {
    values: ValueFormat,
    schema: SchemaRef,
    builders: Vec<Builder>,
    numbers: Vec<Option<f64>>,
}

impl RowBuilder {
    /// An empty batch of `schema` (made by [`schema_of`] from `targets`), with room for
    /// `capacity` rows; text fields write numbers and missing values as `values` says.
    pub fn new(targets: &[Target], schema: SchemaRef, values: ValueFormat, capacity: usize) -> Self {
        let builders = targets
            .iter()
            .map(|t| {
                if t.is_numeric() {
                    Builder::Number(Float64Builder::with_capacity(capacity))
                } else {
                    Builder::Text(StringBuilder::with_capacity(capacity, capacity * 16))
                }
            })
            .collect();
        RowBuilder {
            values,
            schema,
            builders,
            numbers: Vec::with_capacity(targets.len()),
        }
    }

    /// Validate one row, given its cells in target order; append it, or report the first
    /// cell at fault (in target order) and append nothing.
    pub fn push_row(&mut self, targets: &[Target], cells: &[Cell<'_>]) -> Result<(), RowFault> {
        self.numbers.clear();
        for (i, (target, cell)) in targets.iter().zip(cells).enumerate() {
            match validate(target, *cell, &self.values) {
                Ok(Value::Number(x)) => self.numbers.push(x),
                Ok(Value::Text) => self.numbers.push(None),
                Err((reason, detail)) => return Err((i, reason, detail)),
            }
        }
        for ((builder, cell), number) in self.builders.iter_mut().zip(cells).zip(&self.numbers) {
            match builder {
                Builder::Text(b) => b.append_option(text_of(*cell, &self.values)),
                Builder::Number(b) => b.append_option(*number),
            }
        }
        Ok(())
    }

    /// The rows kept so far as one record batch; the builder starts empty again.
    pub fn finish(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| match b {
                Builder::Text(b) => Arc::new(b.finish()) as ArrayRef,
                Builder::Number(b) => Arc::new(b.finish()) as ArrayRef,
            })
            .collect();
        RecordBatch::try_new(Arc::clone(&self.schema), arrays)
            .unwrap_or_else(|e| unreachable!("validated columns always match the schema: {e}"))
    }
}

type Fault = (RejectReason, String);

fn validate(target: &Target, cell: Cell<'_>, values: &ValueFormat) -> Result<Value, Fault> {
    match target.role {
        Role::Id => match text_of(cell, values) {
            Some(_) => Ok(Value::Text),
            None => Err((RejectReason::MissingId, "empty id".into())),
        },
        Role::Popularity { required } => match number_of(cell, values)? {
            Some(p) if (0.0..=100.0).contains(&p) => Ok(Value::Number(Some(p))),
            Some(p) => Err((
                RejectReason::PopularityOutOfRange,
                format!("popularity {p} is outside 0..=100"),
            )),
            None if required => Err((RejectReason::MissingPopularity, "empty popularity".into())),
            None => Ok(Value::Number(None)),
        },
        Role::ReleaseDate => match text_of(cell, values) {
            None => Ok(Value::Text),
            Some(date) if schema::parse_release_date(&date).is_some() => Ok(Value::Text),
            Some(date) => Err((
                RejectReason::BadReleaseDate,
                format!("expected a date as YYYY, YYYY-MM or YYYY-MM-DD, got '{date}'"),
            )),
        },
        Role::Numeric => Ok(Value::Number(number_of(cell, values)?)),
        Role::Categorical => Ok(Value::Text),
    }
}

/// `s.trim()`, without its Unicode scan when `s` starts and ends with visible ASCII.
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// Text of a cell; empty text, the source's null values and nulls are `None`; numbers
/// are written in full.
fn text_of<'a>(cell: Cell<'a>, values: &ValueFormat) -> Option<Cow<'a, str>> {
    match cell {
        Cell::Text(s) if values.is_null(trim(s)) => None,
        Cell::Text(s) => Some(Cow::Borrowed(s)),
        Cell::Number(x) if x.fract() == 0.0 && x.abs() < 1e15 => Some(Cow::Owned(format!("{}", x as i64))),
        Cell::Number(x) => Some(Cow::Owned(x.to_string())),
        Cell::Null => None,
    }
}

/// Number of a cell; empty text, the source's null values and nulls are `None`;
/// anything else must be a finite number as the source writes them.
fn number_of(cell: Cell<'_>, values: &ValueFormat) -> Result<Option<f64>, Fault> {
    let x = match cell {
        Cell::Null => return Ok(None),
        Cell::Text(s) => match trim(s) {
            text if values.is_null(text) => return Ok(None),
            text => values
                .normalize(text)
                .and_then(|t| t.parse::<f64>().ok())
                .ok_or_else(|| (RejectReason::BadNumber, format!("expected a number, got '{s}'")))?,
        },
        Cell::Number(x) => x,
    };
    if x.is_finite() {
        Ok(Some(x))
    } else {
        Err((
            RejectReason::BadNumber,
            format!("expected a finite number, got {x}"),
        ))
    }
}
