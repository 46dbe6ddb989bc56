//! One table written the ways real exports write it: delimiters, quotes, byte-order marks,
//! line ends, encodings, number formats, missing-value markers and preambles. Shared by
//! the tests of the ingest crate (every layout reads as the plain file) and of the pipeline
//! (`replay init` on every layout trains the plain file's models).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A cell of the table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text, quoted where the layout needs it.
    Text(String),
    /// An integer written with plain digits (a year, a popularity).
    Integer(i64),
    /// An integer written with the layout's thousands separator (a duration).
    Count(i64),
    /// A decimal number with the layout's decimal separator; `None` is missing.
    Number(Option<f64>),
}

/// How one layout writes a table.
#[derive(Debug, Clone)]
pub struct Layout {
    /// File name (without extension) and label in messages.
    pub name: &'static str,
    pub delimiter: char,
    pub quote: char,
    /// Starts with a UTF-8 byte-order mark.
    pub bom: bool,
    /// Ends lines with CR LF.
    pub crlf: bool,
    /// Encodes the text as Latin-1.
    pub latin1: bool,
    /// Groups the digits of counts by three with this separator.
    pub thousands: Option<char>,
    pub decimal: char,
    /// The marker of every other missing number (the others are empty); "" for empty only.
    pub null: &'static str,
    /// Lines before the header.
    pub preamble: &'static [&'static str],
}

/// The plain comma-separated layout every other one is compared with.
pub const PLAIN: Layout = Layout {
    name: "plain",
    delimiter: ',',
    quote: '"',
    bom: false,
    crlf: false,
    latin1: false,
    thousands: None,
    decimal: '.',
    null: "",
    preamble: &[],
};

/// Every layout but the plain one.
pub fn variants() -> [Layout; 8] {
    [
        Layout {
            name: "semicolon_decimal_comma",
            delimiter: ';',
            decimal: ',',
            thousands: Some('.'),
            ..PLAIN
        },
        Layout {
            name: "tsv",
            delimiter: '\t',
            ..PLAIN
        },
        Layout {
            name: "pipe",
            delimiter: '|',
            ..PLAIN
        },
        Layout {
            name: "bom_crlf",
            bom: true,
            crlf: true,
            ..PLAIN
        },
        Layout {
            name: "latin1",
            latin1: true,
            ..PLAIN
        },
        Layout {
            name: "thousands",
            thousands: Some(','),
            ..PLAIN
        },
        Layout {
            name: "single_quotes_na",
            quote: '\'',
            null: "NA",
            ..PLAIN
        },
        Layout {
            name: "preamble",
            preamble: &["Exported 2024-01-01", "source: a playlist"],
            crlf: true,
            ..PLAIN
        },
    ]
}

/// A field as `layout` writes it: quoted when it holds the delimiter, the quote or a
/// line end, with doubled quotes inside.
fn field(text: &str, layout: &Layout) -> String {
    let q = layout.quote;
    if text.contains([layout.delimiter, q, '\n', '\r']) {
        format!("{q}{}{q}", text.replace(q, &format!("{q}{q}")))
    } else {
        text.to_string()
    }
}

/// Digits grouped by three with `separator`.
fn grouped(n: i64, separator: char) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(d);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// Write `header` and `rows` as `layout` at `dir/<name>.csv`.
pub fn write(dir: &Path, layout: &Layout, header: &[&str], rows: &[Vec<Cell>]) -> PathBuf {
    let eol = if layout.crlf { "\r\n" } else { "\n" };
    let mut text = String::new();
    for line in layout.preamble {
        text.push_str(line);
        text.push_str(eol);
    }
    let d = layout.delimiter.to_string();
    let header: Vec<String> = header.iter().map(|h| field(h, layout)).collect();
    text.push_str(&header.join(&d));
    text.push_str(eol);
    let mut missing = 0usize;
    for row in rows {
        let fields: Vec<String> = row
            .iter()
            .map(|cell| {
                let text = match cell {
                    Cell::Text(t) => t.clone(),
                    Cell::Integer(n) => n.to_string(),
                    Cell::Count(n) => match layout.thousands {
                        Some(sep) => grouped(*n, sep),
                        None => n.to_string(),
                    },
                    Cell::Number(Some(x)) => x.to_string().replace('.', &layout.decimal.to_string()),
                    Cell::Number(None) => {
                        missing += 1;
                        if !missing.is_multiple_of(2) {
                            layout.null.to_string()
                        } else {
                            String::new()
                        }
                    }
                };
                field(&text, layout)
            })
            .collect();
        text.push_str(&fields.join(&d));
        text.push_str(eol);
    }
    let mut bytes = Vec::new();
    if layout.bom {
        bytes.extend_from_slice(b"\xEF\xBB\xBF");
    }
    if layout.latin1 {
        bytes.extend(
            text.chars()
                .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character")),
        );
    } else {
        bytes.extend_from_slice(text.as_bytes());
    }
    let path = dir.join(format!("{}.csv", layout.name));
    std::fs::write(&path, bytes).unwrap();
    path
}
