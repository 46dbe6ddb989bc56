//! Reading a source file (CSV, CSV.gz or Parquet) row by row into the validator.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use indicatif::ProgressBar;
use replay_core::{io, ArtifactError};

use crate::validate::{targets, Cell, RejectReason, TableBuilder, Target};
use crate::{ColumnMap, IngestError, IngestOptions, IngestReport, Tracks};

const PROGRESS_EVERY: u64 = 8192;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Csv,
    CsvGz,
    Parquet,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::CsvGz => "csv.gz",
            Format::Parquet => "parquet",
        }
    }
}

/// Recognise the format by the file's first bytes: gzip magic, Parquet magic, else CSV.
fn detect(path: &Path) -> Result<Format, IngestError> {
    let mut magic = [0u8; 4];
    let mut file = File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    let n = file.read(&mut magic).map_err(|e| ArtifactError::io(path, e))?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Format::CsvGz,
        b"PAR1" => Format::Parquet,
        _ => Format::Csv,
    })
}

pub(crate) fn read(
    path: &Path,
    columns: &ColumnMap,
    options: &IngestOptions,
    progress: &ProgressBar,
) -> Result<Tracks, IngestError> {
    let format = detect(path)?;
    let report = IngestReport {
        source: path.display().to_string(),
        format: format.name().into(),
        dropped_columns: columns.drop.clone(),
        ..Default::default()
    };
    let targets = targets(columns, options.require_popularity);
    let table = TableBuilder::new(targets, options.batch_rows, report);
    let table = match format {
        Format::Parquet => read_parquet(path, columns, table, progress)?,
        Format::Csv | Format::CsvGz => read_csv(path, format, columns, table, progress)?,
    };
    progress.set_position(table.report.rows_read);
    let (schema, batches, report, rejections) = table.finish();
    Ok(Tracks {
        schema,
        batches,
        report,
        rejections,
    })
}

/// Find each target in the header. Columns the mapping does not name are an error, and so
/// are missing mapped columns (except an optional popularity) and repeated header names.
fn resolve(
    path: &Path,
    header: &[String],
    columns: &ColumnMap,
    targets: &[Target],
) -> Result<Vec<Option<usize>>, IngestError> {
    let mut index = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if index.insert(name.as_str(), i).is_some() {
            return Err(IngestError::DuplicateColumn {
                path: path.into(),
                column: name.clone(),
            });
        }
    }
    let named: HashSet<&str> = columns.named_columns().into_iter().map(|(c, _)| c).collect();
    let unmapped: Vec<&str> = header
        .iter()
        .map(String::as_str)
        .filter(|c| !named.contains(c))
        .collect();
    if !unmapped.is_empty() {
        let columns = unmapped
            .iter()
            .map(|c| format!("'{c}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(IngestError::UnmappedColumns {
            path: path.into(),
            columns,
        });
    }
    let roles: HashMap<&str, &'static str> = columns.named_columns().into_iter().collect();
    targets
        .iter()
        .map(|t| match index.get(t.source.as_str()) {
            Some(&i) => Ok(Some(i)),
            None if t.optional() => Ok(None),
            None => Err(IngestError::MissingColumn {
                path: path.into(),
                column: t.source.clone(),
                role: roles.get(t.source.as_str()).copied().unwrap_or("?"),
                available: header.join(", "),
            }),
        })
        .collect()
}

/// The column names of the source file `path` (CSV, CSV.gz or Parquet), as [`read`] sees
/// them.
pub(crate) fn read_header(path: &Path) -> Result<Vec<String>, IngestError> {
    match detect(path)? {
        Format::Parquet => {
            let schema = io::read_parquet_schema(path)?;
            Ok(schema.fields().iter().map(|f| f.name().clone()).collect())
        }
        format => csv_header(path, &mut csv_reader(path, format)?),
    }
}

type CsvReader = csv::Reader<Box<dyn Read>>;

fn csv_reader(path: &Path, format: Format) -> Result<CsvReader, IngestError> {
    let file = File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    let input: Box<dyn Read> = match format {
        Format::CsvGz => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))),
        _ => Box::new(BufReader::new(file)),
    };
    Ok(csv::ReaderBuilder::new().flexible(true).from_reader(input))
}

/// A CSV error of `path` as an [`IngestError`] with its line.
fn csv_error(path: &Path, e: csv::Error) -> IngestError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.into_kind() {
        csv::ErrorKind::Io(source) => IngestError::Artifact(ArtifactError::io(path, source)),
        kind => IngestError::Csv {
            path: path.into(),
            line,
            message: format!("{kind:?}"),
        },
    }
}

/// The header of a CSV file: UTF-8 names, a leading byte-order mark removed; an empty
/// header is an error.
fn csv_header(path: &Path, reader: &mut CsvReader) -> Result<Vec<String>, IngestError> {
    let header = reader.byte_headers().map_err(|e| csv_error(path, e))?.clone();
    let header: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let name = std::str::from_utf8(field).map_err(|_| IngestError::Csv {
                path: path.into(),
                line: 1,
                message: format!("header field {} is not valid UTF-8", i + 1),
            })?;
            Ok(name.trim_start_matches('\u{feff}').to_string())
        })
        .collect::<Result<_, IngestError>>()?;
    if header.iter().all(|h| h.is_empty()) {
        return Err(IngestError::Csv {
            path: path.into(),
            line: 1,
            message: "empty header".into(),
        });
    }
    Ok(header)
}

fn read_csv(
    path: &Path,
    format: Format,
    columns: &ColumnMap,
    mut table: TableBuilder,
    progress: &ProgressBar,
) -> Result<TableBuilder, IngestError> {
    let mut reader = csv_reader(path, format)?;
    let csv_error = |e: csv::Error| csv_error(path, e);
    let header = csv_header(path, &mut reader)?;
    let targets = table.targets().to_vec();
    let indices = resolve(path, &header, columns, &targets)?;
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(csv_error)? {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() != header.len() {
            let detail = format!(
                "expected {} fields as in the header, found {}",
                header.len(),
                record.len()
            );
            table.reject(line, "", RejectReason::FieldCount, detail);
            continue;
        }
        let mut cells = Vec::with_capacity(indices.len());
        let mut bad_utf8 = None;
        for index in &indices {
            cells.push(match index {
                None => Cell::Null,
                Some(i) => match std::str::from_utf8(&record[*i]) {
                    Ok(text) => Cell::Text(text),
                    Err(_) => {
                        bad_utf8 = Some(*i);
                        break;
                    }
                },
            });
        }
        match bad_utf8 {
            Some(i) => table.reject(
                line,
                &header[i],
                RejectReason::InvalidUtf8,
                "field is not valid UTF-8".into(),
            ),
            None => table.push_row(line, &cells),
        }
        if table.report.rows_read % PROGRESS_EVERY == 0 {
            progress.set_position(table.report.rows_read);
        }
    }
    Ok(table)
}

fn read_parquet(
    path: &Path,
    columns: &ColumnMap,
    mut table: TableBuilder,
    progress: &ProgressBar,
) -> Result<TableBuilder, IngestError> {
    let (schema, batches) = io::read_parquet(path)?;
    let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let targets = table.targets().to_vec();
    let indices = resolve(path, &header, columns, &targets)?;
    let mut row_number = 0u64;
    for batch in &batches {
        let arrays = targets
            .iter()
            .zip(&indices)
            .map(|(target, index)| match index {
                None => Ok(None),
                Some(i) => typed_column(path, &header[*i], batch.column(*i), target.is_numeric()).map(Some),
            })
            .collect::<Result<Vec<_>, IngestError>>()?;
        let mut cells = Vec::with_capacity(arrays.len());
        for row in 0..batch.num_rows() {
            row_number += 1;
            cells.clear();
            cells.extend(arrays.iter().map(|array| match array {
                None => Cell::Null,
                Some(a) if a.is_null(row) => Cell::Null,
                Some(a) => match a.data_type() {
                    DataType::Float64 => Cell::Number(a.as_primitive::<Float64Type>().value(row)),
                    _ => Cell::Text(a.as_string::<i32>().value(row)),
                },
            }));
            table.push_row(row_number, &cells);
            if row_number % PROGRESS_EVERY == 0 {
                progress.set_position(row_number);
            }
        }
    }
    Ok(table)
}

/// Cast a Parquet column to Float64 (numbers and booleans for a numeric role) or to Utf8
/// (everything else; text in a numeric role is then parsed and rejected row by row).
fn typed_column(
    path: &Path,
    name: &str,
    array: &dyn Array,
    numeric: bool,
) -> Result<arrow::array::ArrayRef, IngestError> {
    let data_type = array.data_type();
    let target = if numeric && (data_type.is_numeric() || *data_type == DataType::Boolean) {
        DataType::Float64
    } else {
        DataType::Utf8
    };
    cast(array, &target).map_err(|_| IngestError::ColumnType {
        path: path.into(),
        column: name.into(),
        found: data_type.to_string(),
        expected: if numeric { "numbers or text" } else { "text" },
    })
}
