//! Row validation: turns raw cells into typed Arrow columns, or into a [`Rejection`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use replay_core::schema;
use serde::{Deserialize, Serialize};

use crate::ColumnMap;

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
    /// Line of the row in a CSV file (the header is line 1), or row number (from 1) in Parquet.
    pub line: u64,
    /// The source column at fault (empty when the whole row is at fault).
    pub column: String,
    /// The kind of fault.
    pub reason: RejectReason,
    /// What was found and what was expected.
    pub detail: String,
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

enum Value<'a> {
    Text(Option<Cow<'a, str>>),
    Number(Option<f64>),
}

enum Builder {
    Text(StringBuilder),
    Number(Float64Builder),
}

/// Accumulates validated rows into record batches and rejected rows into a list.
pub(crate) struct TableBuilder {
    targets: Vec<Target>,
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows_in_batch: usize,
    batch_rows: usize,
    pub batches: Vec<RecordBatch>,
    pub report: IngestReport,
    pub rejections: Vec<Rejection>,
}

impl TableBuilder {
    pub fn new(targets: Vec<Target>, batch_rows: usize, report: IngestReport) -> Self {
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
        let schema = Arc::new(Schema::new(fields));
        let mut table = TableBuilder {
            builders: Vec::new(),
            targets,
            schema,
            rows_in_batch: 0,
            batch_rows,
            batches: Vec::new(),
            report: IngestReport {
                columns: vec![],
                ..report
            },
            rejections: Vec::new(),
        };
        table.report.columns = table.targets.iter().map(|t| t.output.clone()).collect();
        table.builders = table.new_builders();
        table
    }

    fn new_builders(&self) -> Vec<Builder> {
        let n = self.batch_rows.min(1 << 16);
        self.targets
            .iter()
            .map(|t| {
                if t.is_numeric() {
                    Builder::Number(Float64Builder::with_capacity(n))
                } else {
                    Builder::Text(StringBuilder::with_capacity(n, n * 16))
                }
            })
            .collect()
    }

    /// The output columns, in order.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Count a row that was rejected before its cells could be read.
    pub fn reject(&mut self, line: u64, column: &str, reason: RejectReason, detail: String) {
        self.report.rows_read += 1;
        self.report.rows_rejected += 1;
        *self.report.rejected_by_reason.entry(reason).or_default() += 1;
        self.rejections.push(Rejection {
            line,
            column: column.to_string(),
            reason,
            detail,
        });
    }

    /// Validate one row, given its cells in target order; keep it or reject it whole.
    pub fn push_row(&mut self, line: u64, cells: &[Cell<'_>]) {
        let validated: Result<Vec<Value<'_>>, (String, Fault)> = self
            .targets
            .iter()
            .zip(cells)
            .map(|(target, cell)| validate(target, *cell).map_err(|fault| (target.source.clone(), fault)))
            .collect();
        let values = match validated {
            Ok(values) => values,
            Err((column, (reason, detail))) => return self.reject(line, &column, reason, detail),
        };
        for (builder, value) in self.builders.iter_mut().zip(values) {
            match (builder, value) {
                (Builder::Text(b), Value::Text(v)) => b.append_option(v),
                (Builder::Number(b), Value::Number(v)) => b.append_option(v),
                _ => unreachable!("builders and values are made from the same targets"),
            }
        }
        self.report.rows_read += 1;
        self.report.rows_kept += 1;
        self.rows_in_batch += 1;
        if self.rows_in_batch == self.batch_rows {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.rows_in_batch == 0 {
            return;
        }
        let fresh = self.new_builders();
        let builders = std::mem::replace(&mut self.builders, fresh);
        let arrays: Vec<ArrayRef> = builders
            .into_iter()
            .map(|b| match b {
                Builder::Text(mut b) => Arc::new(b.finish()) as ArrayRef,
                Builder::Number(mut b) => Arc::new(b.finish()) as ArrayRef,
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema(), arrays)
            .unwrap_or_else(|e| unreachable!("validated columns always match the schema: {e}"));
        self.batches.push(batch);
        self.rows_in_batch = 0;
    }

    /// Flush the last partial batch and hand back the results.
    pub fn finish(mut self) -> (SchemaRef, Vec<RecordBatch>, IngestReport, Vec<Rejection>) {
        self.flush();
        (self.schema, self.batches, self.report, self.rejections)
    }
}

type Fault = (RejectReason, String);

fn validate<'a>(target: &Target, cell: Cell<'a>) -> Result<Value<'a>, Fault> {
    match target.role {
        Role::Id => match text_of(cell) {
            Some(id) => Ok(Value::Text(Some(id))),
            None => Err((RejectReason::MissingId, "empty id".into())),
        },
        Role::Popularity { required } => match number_of(cell)? {
            Some(p) if (0.0..=100.0).contains(&p) => Ok(Value::Number(Some(p))),
            Some(p) => Err((
                RejectReason::PopularityOutOfRange,
                format!("popularity {p} is outside 0..=100"),
            )),
            None if required => Err((RejectReason::MissingPopularity, "empty popularity".into())),
            None => Ok(Value::Number(None)),
        },
        Role::ReleaseDate => match text_of(cell) {
            None => Ok(Value::Text(None)),
            Some(date) if schema::parse_release_date(&date).is_some() => Ok(Value::Text(Some(date))),
            Some(date) => Err((
                RejectReason::BadReleaseDate,
                format!("expected a date as YYYY, YYYY-MM or YYYY-MM-DD, got '{date}'"),
            )),
        },
        Role::Numeric => Ok(Value::Number(number_of(cell)?)),
        Role::Categorical => Ok(Value::Text(text_of(cell))),
    }
}

/// Text of a cell; empty text and nulls are `None`; numbers are written in full.
fn text_of(cell: Cell<'_>) -> Option<Cow<'_, str>> {
    match cell {
        Cell::Text(s) if s.trim().is_empty() => None,
        Cell::Text(s) => Some(Cow::Borrowed(s)),
        Cell::Number(x) if x.fract() == 0.0 && x.abs() < 1e15 => Some(Cow::Owned(format!("{}", x as i64))),
        Cell::Number(x) => Some(Cow::Owned(x.to_string())),
        Cell::Null => None,
    }
}

/// Number of a cell; empty text and nulls are `None`; anything else must be finite.
fn number_of(cell: Cell<'_>) -> Result<Option<f64>, Fault> {
    let x = match cell {
        Cell::Null => return Ok(None),
        Cell::Text(s) if s.trim().is_empty() => return Ok(None),
        Cell::Text(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| (RejectReason::BadNumber, format!("expected a number, got '{s}'")))?,
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
