//! Guessing how an unknown source is written and what its columns hold, from a sample
//! of its first rows (for `replay init`).

use std::io::Read;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use replay_core::ArtifactError;

use crate::csv_read::{csv_reader, Bytes};
use crate::dialect::ValueFormat;
use crate::source::{detect, source_files, Format};
use crate::{Encoding, IngestError, Source};

/// Bytes of a CSV source read for the guess (files are often sorted: the sample's rows
/// are spread over all of these bytes, not only the first rows).
const SAMPLE_BYTES: u64 = 16 << 20;
/// Rows of the sample looked at.
const SAMPLE_ROWS: usize = 2000;
/// Records read to guess the delimiter and the lines before the header.
const LAYOUT_ROWS: usize = 200;
/// Texts read as missing values when they fill a whole field.
const NULL_MARKERS: [&str; 8] = ["NA", "N/A", "n/a", "null", "NULL", "None", "NaN", "?"];

/// What a sample of a source says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sniffed {
    /// How the source is written (its path as given).
    pub source: Source,
    /// `csv`, `csv.gz` or `parquet`.
    pub format: &'static str,
    /// Every column, in file order.
    pub columns: Vec<ColumnSample>,
    /// Data rows in the sample.
    pub rows: usize,
    /// What was found and handled (a byte-order mark, CRLF line ends, an encoding).
    pub notes: Vec<String>,
}

/// What the sampled values of one column look like.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColumnSample {
    /// The column's name.
    pub name: String,
    /// Values present (not missing).
    pub present: usize,
    /// Distinct present values.
    pub distinct: usize,
    /// Whether every present value is a number (as the source writes numbers).
    pub numeric: bool,
    /// Smallest and largest number, when numeric.
    pub range: Option<(f64, f64)>,
    /// Whether every present number is a whole number.
    pub integers: bool,
    /// Whether every present value is a date `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub dates: bool,
    /// Whether every present value is a Python list literal (`['a', 'b']`).
    pub lists: bool,
    /// A few values, for comments.
    pub examples: Vec<String>,
}

/// Sample the first rows of `path` (its first file for a directory or pattern) and
/// guess how it is written and what each column holds.
pub fn sniff(path: &Path) -> Result<Sniffed, IngestError> {
    let files = source_files(path)?;
    let Some(first) = files.first() else {
        return Err(IngestError::NoSourceFiles { path: path.into() });
    };
    match detect(first)? {
        Format::Parquet => sniff_parquet(path, first),
        format => {
            let mut raw = Vec::new();
            let file = std::fs::File::open(first).map_err(|e| ArtifactError::io(first, e))?;
            let reader: Box<dyn Read> = if format == Format::CsvGz {
                Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file)))
            } else {
                Box::new(file)
            };
            reader
                .take(SAMPLE_BYTES)
                .read_to_end(&mut raw)
                .map_err(|e| ArtifactError::io(first, e))?;
            sniff_csv(path, format, &raw)
        }
    }
}

fn sniff_parquet(path: &Path, file: &Path) -> Result<Sniffed, IngestError> {
    let (_, mut batches) = replay_parquet::batches(file, None, SAMPLE_ROWS)?;
    let batch = match batches.next() {
        Some(batch) => batch?,
        None => return Err(IngestError::NoRows { path: path.into() }),
    };
    let mut columns = Vec::new();
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let numeric = field.data_type().is_numeric() || *field.data_type() == DataType::Boolean;
        let text = cast(array, &DataType::Utf8).map_err(|e| ArtifactError::parquet(file, e))?;
        let text = text.as_string::<i32>();
        let values: Vec<Option<&str>> = (0..text.len())
            .map(|i| (!text.is_null(i)).then(|| text.value(i)))
            .collect();
        let mut sample = describe(field.name(), &values, &ValueFormat::default());
        sample.numeric = numeric && sample.present > 0;
        columns.push(sample);
    }
    Ok(Sniffed {
        source: Source::new(path),
        format: "parquet",
        columns,
        rows: batch.num_rows(),
        notes: Vec::new(),
    })
}

fn sniff_csv(path: &Path, format: Format, raw: &[u8]) -> Result<Sniffed, IngestError> {
    let mut notes = Vec::new();
    let mut source = Source::new(path);
    // A sample cut inside a character is still UTF-8 up to the cut.
    let valid_utf8 = match std::str::from_utf8(raw) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    let text: String = if valid_utf8 {
        String::from_utf8_lossy(raw).into_owned()
    } else {
        source.encoding = Encoding::Windows1252;
        notes.push("not UTF-8: read as Windows-1252 (Latin-1 with €, curly quotes and dashes)".into());
        raw.iter()
            .map(|&b| crate::encoding::decode_byte(b, Encoding::Windows1252))
            .collect()
    };
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            notes.push("starts with a UTF-8 byte-order mark (skipped)".into());
            rest.to_string()
        }
        None => text,
    };
    if text.contains("\r\n") {
        notes.push("CRLF line ends".into());
    }
    // The sample may end inside a record: drop its last line.
    let text = match text.rfind('\n') {
        Some(end) if raw.len() as u64 >= SAMPLE_BYTES => &text[..=end],
        _ => &text[..],
    };
    let (delimiter, quote, skip_rows) = guess_layout(text);
    source.delimiter = delimiter;
    source.quote = quote;
    source.skip_rows = skip_rows;
    let records = parse(text, delimiter, quote, skip_rows, usize::MAX);
    let Some((header, rows)) = records.split_first() else {
        return Err(IngestError::NoRows { path: path.into() });
    };
    let width = header.len();
    let stride = rows.len().div_ceil(SAMPLE_ROWS).max(1);
    let rows: Vec<&Vec<String>> = rows.iter().step_by(stride).filter(|r| r.len() == width).collect();
    let cells = |j: usize| -> Vec<&str> { rows.iter().map(|r| r[j].trim()).collect() };
    // Missing-value markers, and the number format, from every column's cells.
    let mut nulls: Vec<String> = Vec::new();
    for marker in NULL_MARKERS {
        if (0..width).any(|j| cells(j).contains(&marker)) {
            nulls.push(marker.to_string());
        }
    }
    source.null_values = nulls;
    let (decimal, thousands) = guess_numbers(&(0..width).flat_map(cells).collect::<Vec<_>>(), &source);
    source.decimal_separator = decimal;
    source.thousands_separator = thousands;
    let values = source.values();
    let columns = header
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let column: Vec<Option<&str>> = cells(j).into_iter().map(Some).collect();
            describe(name, &column, &values)
        })
        .collect();
    Ok(Sniffed {
        source,
        format: if format == Format::CsvGz { "csv.gz" } else { "csv" },
        columns,
        rows: rows.len(),
        notes,
    })
}

/// The first `limit` records of `text` read with `delimiter` and `quote` after `skip`
/// lines.
fn parse(text: &str, delimiter: char, quote: char, skip: usize, limit: usize) -> Vec<Vec<String>> {
    let mut rest = text.as_bytes();
    // Reading a slice cannot fail.
    let _ = crate::encoding::skip_lines(&mut rest, skip);
    let bytes = Bytes::of(&Source {
        delimiter,
        quote,
        ..Source::new("")
    });
    csv_reader(rest, false, bytes)
        .records()
        .map_while(Result::ok)
        .take(limit)
        .map(|r| r.iter().map(str::to_string).collect())
        .collect()
}

/// The delimiter and quote that split the records into the most fields, every record
/// alike (or nearly), and the lines before the header (titles, notes: lines of at most
/// half the header's fields, so a header is never skipped for splitting into one field
/// fewer than rows read with the wrong quote). `"` is preferred to `'` when both do.
fn guess_layout(text: &str) -> (char, char, usize) {
    let mut best = ((',', '"', 0), (0usize, 0usize, 0usize));
    for quote in ['"', '\''] {
        for delimiter in [',', ';', '\t', '|'] {
            for skip in 0..=5 {
                let records = parse(text, delimiter, quote, skip, LAYOUT_ROWS);
                let Some(width) = records.first().map(Vec::len) else {
                    continue;
                };
                let preamble = parse(text, delimiter, quote, 0, skip);
                if preamble.iter().any(|r| r.len() * 2 > width) {
                    continue;
                }
                let consistent = records.iter().filter(|r| r.len() == width).count();
                // Every record alike beats nearly; then more fields; then more records
                // alike (a needless skip leaves fewer).
                let score = (usize::from(consistent == records.len()), width, consistent);
                if width > 1 && consistent * 10 >= records.len() * 9 && score > best.1 {
                    best = ((delimiter, quote, skip), score);
                }
                if width > 1 && consistent == records.len() {
                    break;
                }
            }
        }
    }
    best.0
}

/// The decimal and thousands separators that read the most cells as numbers.
fn guess_numbers(cells: &[&str], source: &Source) -> (char, Option<char>) {
    // With a decimal comma, a '.' between digit groups is a thousands separator ("1.412").
    let candidates: [(char, Option<char>); 4] =
        [('.', None), ('.', Some(',')), (',', Some('.')), (',', None)];
    let mut best = (('.', None), 0usize);
    for (decimal, thousands) in candidates {
        let values = Source {
            decimal_separator: decimal,
            thousands_separator: thousands,
            ..source.clone()
        }
        .values();
        let read = cells
            .iter()
            .filter(|c| {
                !values.is_null(c) && values.normalize(c).and_then(|t| t.parse::<f64>().ok()).is_some()
            })
            .count();
        // A separator must read strictly more cells than the plainer reading before it.
        if read > best.1 {
            best = ((decimal, thousands), read);
        }
    }
    best.0
}

/// The sample of one column.
fn describe(name: &str, values: &[Option<&str>], format: &ValueFormat) -> ColumnSample {
    let present: Vec<&str> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| !format.is_null(v))
        .collect();
    let numbers: Vec<f64> = present
        .iter()
        .filter_map(|v| format.normalize(v).and_then(|t| t.parse::<f64>().ok()))
        .filter(|x| x.is_finite())
        .collect();
    let numeric = !present.is_empty() && numbers.len() == present.len();
    let mut distinct: Vec<&str> = present.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let range = numeric.then(|| {
        numbers
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            })
    });
    ColumnSample {
        name: name.to_string(),
        present: present.len(),
        distinct: distinct.len(),
        numeric,
        range,
        integers: numeric && numbers.iter().all(|x| x.fract() == 0.0),
        dates: !present.is_empty()
            && !numeric
            && present
                .iter()
                .all(|v| replay_core::schema::parse_release_date(v).is_some()),
        lists: !present.is_empty() && present.iter().all(|v| v.starts_with('[') && v.ends_with(']')),
        examples: distinct.iter().take(3).map(|v| v.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::guess_layout;

    /// Every row quotes a field holding the delimiter: read with the other quote, the rows
    /// split into one field more than the header, which must not pass for a preamble.
    #[test]
    fn a_quoted_delimiter_in_every_row_keeps_the_header() {
        let rows: String = (0..40).map(|i| format!("t{i};\"Halo; {i}\";0,{i}\n")).collect();
        let text = format!("id;title;energy\n{rows}");
        assert_eq!(guess_layout(&text), (';', '"', 0));
        // Lines of fewer fields before the header are a preamble.
        let text = format!("Exported 2024-01-01\nby: someone\nid;title;energy\n{rows}");
        assert_eq!(guess_layout(&text), (';', '"', 2));
    }
}
