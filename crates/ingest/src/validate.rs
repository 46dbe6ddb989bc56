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
    /// The label column holds something other than 0/1, true/false or yes/no.
    BadLabel,
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
            Self::BadLabel => "bad_label",
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

/// The role of one column.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    /// The id, from one source column.
    Id,
    /// The id, made of the [`Role::IdPart`] columns: a JSON array of their values.
    CompositeId,
    /// One of the columns of a composite id; not an output column itself.
    IdPart,
    /// The id, the row's line (its row number in a Parquet file).
    LineId,
    Popularity {
        required: bool,
    },
    /// The label column, read as popularity 100 (replayed) or 0.
    Label {
        required: bool,
    },
    ReleaseDate,
    Numeric,
    Categorical,
}

/// One column read: where it comes from, how it is validated and the output column it
/// makes (all but the parts of a composite id make one).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Name of the column in the source (the id's columns, comma-separated, for a
    /// composite id; empty for a line id).
    pub source: String,
    /// Name of the column in the output.
    pub output: String,
    role: Role,
}

/// The columns of a mapping, in output order: id, popularity, release date, numeric
/// features, categorical features; then the parts of a composite id.
pub(crate) fn targets(columns: &ColumnMap, require_popularity: bool) -> Vec<Target> {
    let id = |source: String, role| Target {
        source,
        output: schema::ID.into(),
        role,
    };
    let mut out = vec![
        match columns.id.0.as_slice() {
            [] => id(String::new(), Role::LineId),
            [one] => id(one.clone(), Role::Id),
            many => id(many.join(", "), Role::CompositeId),
        },
        match &columns.label {
            Some(label) => Target {
                source: label.clone(),
                output: schema::POPULARITY.into(),
                role: Role::Label {
                    required: require_popularity,
                },
            },
            None => Target {
                source: columns.popularity.clone(),
                output: schema::POPULARITY.into(),
                role: Role::Popularity {
                    required: require_popularity,
                },
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
    if columns.id.0.len() > 1 {
        out.extend(columns.id.0.iter().map(|c| Target {
            source: c.clone(),
            output: String::new(),
            role: Role::IdPart,
        }));
    }
    out
}

/// What a line id of a row of `file` starts with: nothing for a single file, the file's
/// name and a colon among several.
pub(crate) fn line_prefix(file: &std::path::Path, layout: &Layout<'_>) -> String {
    match file.file_name() {
        Some(name) if layout.several_files => format!("{}:", name.to_string_lossy()),
        _ => String::new(),
    }
}

impl Target {
    /// Whether the source column holds numbers (as opposed to text).
    pub fn is_numeric(&self) -> bool {
        matches!(
            self.role,
            Role::Popularity { .. } | Role::Label { .. } | Role::Numeric
        )
    }

    /// Whether no source column is read for it: popularity when scoring may be absent,
    /// and an id made of other columns or of the line is no column of the source.
    pub fn optional(&self) -> bool {
        matches!(
            self.role,
            Role::Popularity { required: false }
                | Role::Label { required: false }
                | Role::CompositeId
                | Role::LineId
        )
    }

    /// Whether it makes an output column (the parts of a composite id do not).
    pub fn is_output(&self) -> bool {
        self.role != Role::IdPart
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
    /// A column that makes no output column of its own.
    None,
}

/// What every reader needs to know about its output: the mapping, the output columns it
/// gives and their schema.
#[derive(Clone, Copy)]
pub(crate) struct Layout<'a> {
    /// How the source is written.
    pub source: &'a Source,
    /// Whether the source has several files (a line id then starts with the file's name).
    pub several_files: bool,
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
        .filter(|t| t.is_output())
        .map(|t| {
            let data_type = if t.is_numeric() {
                DataType::Float64
            } else {
                DataType::Utf8
            };
            let nullable = !matches!(
                t.role,
                Role::Id
                    | Role::CompositeId
                    | Role::LineId
                    | Role::Popularity { required: true }
                    | Role::Label { required: true }
            );
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
    /// Written before the line of a line id (the file's name when a source has several).
    line_prefix: String,
    values: ValueFormat,
    schema: SchemaRef,
    builders: Vec<Builder>,
    numbers: Vec<Option<f64>>,
}

impl RowBuilder {
    /// An empty batch of `schema` (made by [`schema_of`] from `targets`), with room for
    /// `capacity` rows; text fields write numbers and missing values as `values` says.
    pub fn new(
        targets: &[Target],
        schema: SchemaRef,
        values: ValueFormat,
        line_prefix: String,
        capacity: usize,
    ) -> Self {
        let builders = targets
            .iter()
            .map(|t| {
                if !t.is_output() {
                    Builder::None
                } else if t.is_numeric() {
                    Builder::Number(Float64Builder::with_capacity(capacity))
                } else {
                    Builder::Text(StringBuilder::with_capacity(capacity, capacity * 16))
                }
            })
            .collect();
        RowBuilder {
            line_prefix,
            values,
            schema,
            builders,
            numbers: Vec::with_capacity(targets.len()),
        }
    }

    /// Validate one row, given its cells in target order and its `line`; append it, or
    /// report the first cell at fault (in target order) and append nothing.
    pub fn push_row(&mut self, targets: &[Target], cells: &[Cell<'_>], line: u64) -> Result<(), RowFault> {
        let made_id = self.made_id(targets, cells, line);
        let cell = |i: usize| match (&made_id, targets[i].role) {
            (Some(id), Role::CompositeId | Role::LineId) => Cell::Text(id),
            (None, Role::CompositeId) => Cell::Null,
            _ => cells[i],
        };
        self.numbers.clear();
        for (i, target) in targets.iter().enumerate() {
            match validate(target, cell(i), &self.values) {
                Ok(Value::Number(x)) => self.numbers.push(x),
                Ok(Value::Text) => self.numbers.push(None),
                Err((reason, detail)) => return Err((i, reason, detail)),
            }
        }
        for (i, (builder, number)) in self.builders.iter_mut().zip(&self.numbers).enumerate() {
            match builder {
                Builder::Text(b) => b.append_option(text_of(cell(i), &self.values)),
                Builder::Number(b) => b.append_option(*number),
                Builder::None => {}
            }
        }
        Ok(())
    }

    /// The id text of a row whose id is made, not read: a JSON array of the composite
    /// id's values (`None` when they are all missing), or the line.
    fn made_id(&self, targets: &[Target], cells: &[Cell<'_>], line: u64) -> Option<String> {
        match targets.first().map(|t| t.role) {
            Some(Role::LineId) => Some(format!("{}{line}", self.line_prefix)),
            Some(Role::CompositeId) => {
                let parts: Vec<Option<Cow<'_, str>>> = targets
                    .iter()
                    .zip(cells)
                    .filter(|(t, _)| t.role == Role::IdPart)
                    .map(|(_, c)| text_of(*c, &self.values))
                    .collect();
                if parts.iter().all(Option::is_none) {
                    None
                } else {
                    serde_json::to_string(&parts).ok()
                }
            }
            _ => None,
        }
    }

    /// The rows kept so far as one record batch; the builder starts empty again.
    pub fn finish(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .filter_map(|b| match b {
                Builder::Text(b) => Some(Arc::new(b.finish()) as ArrayRef),
                Builder::Number(b) => Some(Arc::new(b.finish()) as ArrayRef),
                Builder::None => None,
            })
            .collect();
        RecordBatch::try_new(Arc::clone(&self.schema), arrays)
            .unwrap_or_else(|e| unreachable!("validated columns always match the schema: {e}"))
    }
}

type Fault = (RejectReason, String);

fn validate(target: &Target, cell: Cell<'_>, values: &ValueFormat) -> Result<Value, Fault> {
    match target.role {
        Role::Id | Role::CompositeId | Role::LineId => match text_of(cell, values) {
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
        Role::Label { required } => match label_of(cell, values)? {
            Some(replayed) => Ok(Value::Number(Some(if replayed { 100.0 } else { 0.0 }))),
            None if required => Err((RejectReason::MissingPopularity, "empty label".into())),
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
        Role::Categorical | Role::IdPart => Ok(Value::Text),
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

/// The label of a cell: 1/true/yes (any case) replayed, 0/false/no not; empty text, the
/// source's null values and nulls are `None`.
fn label_of(cell: Cell<'_>, values: &ValueFormat) -> Result<Option<bool>, Fault> {
    let bad = |found: String| {
        let detail = format!("expected 0/1, true/false or yes/no for [label] column, got {found}");
        Err((RejectReason::BadLabel, detail))
    };
    match cell {
        Cell::Null => Ok(None),
        Cell::Number(1.0) => Ok(Some(true)),
        Cell::Number(0.0) => Ok(Some(false)),
        Cell::Number(x) => bad(x.to_string()),
        Cell::Text(s) if values.is_null(trim(s)) => Ok(None),
        Cell::Text(s) => match trim(s).to_ascii_lowercase().as_str() {
            "1" | "1.0" | "true" | "t" | "yes" | "y" => Ok(Some(true)),
            "0" | "0.0" | "false" | "f" | "no" | "n" => Ok(Some(false)),
            _ => bad(format!("'{s}'")),
        },
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
