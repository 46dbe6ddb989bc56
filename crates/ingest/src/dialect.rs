//! How a source file is written: `[source]` in pipeline.toml. Real exports differ in
//! delimiter, quoting, text encoding, number format and missing-value markers; the
//! defaults are those of an RFC 4180 UTF-8 CSV.

use std::borrow::Cow;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

/// A data source and how its CSV files are written (Parquet files carry their own types;
/// of these settings, the missing values and the number format apply to their text
/// columns).
///
/// A leading UTF-8 byte-order mark and CRLF line ends are always accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A CSV, CSV.gz or Parquet file, a directory of part files or a `*` pattern; a
    /// relative path is relative to the config file.
    pub path: PathBuf,
    /// The field delimiter: one ASCII character, e.g. `","`, `";"`, `"\t"`, `"|"`.
    #[serde(default = "comma", deserialize_with = "ascii_char")]
    pub delimiter: char,
    /// The quote character around fields that hold delimiters, quotes or line ends
    /// (doubled inside a quoted field).
    #[serde(default = "double_quote", deserialize_with = "ascii_char")]
    pub quote: char,
    /// The text encoding.
    #[serde(default)]
    pub encoding: Encoding,
    /// A digit-group separator in numbers ("1,412" with `","`), removed before parsing.
    /// Only groups of three digits are accepted, so "1,5" stays a bad number.
    #[serde(default)]
    pub thousands_separator: Option<char>,
    /// The decimal separator of numbers: `"."` or `","` ("0,53").
    #[serde(default = "dot")]
    pub decimal_separator: char,
    /// Field values that mean "missing", besides an empty field (which always does),
    /// e.g. `["NA", "null", "?"]`; compared after trimming spaces.
    #[serde(default)]
    pub null_values: Vec<String>,
    /// Lines before the header to skip (titles, notes).
    #[serde(default)]
    pub skip_rows: usize,
}

/// A text encoding of CSV sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Encoding {
    /// UTF-8 (the default; a byte-order mark is skipped).
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    /// ISO-8859-1: every byte is the character of the same number.
    #[serde(
        rename = "latin-1",
        alias = "latin1",
        alias = "iso-8859-1",
        alias = "ISO-8859-1"
    )]
    Latin1,
    /// Windows-1252: Latin-1 with printable characters (€, curly quotes, dashes) in
    /// 0x80-0x9F, as Excel writes on Western Windows systems.
    #[serde(rename = "windows-1252", alias = "cp1252")]
    Windows1252,
}

fn comma() -> char {
    ','
}

fn double_quote() -> char {
    '"'
}

fn dot() -> char {
    '.'
}

/// One printable ASCII character or a tab (a delimiter or quote).
fn ascii_char<'de, D: Deserializer<'de>>(d: D) -> Result<char, D::Error> {
    let c = char::deserialize(d)?;
    if c == '\t' || c.is_ascii_graphic() || c == ' ' {
        Ok(c)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected one printable ASCII character or \"\\t\", got {c:?}"
        )))
    }
}

impl Source {
    /// `path` with the defaults: a UTF-8, comma-separated CSV with `"` quotes.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Source {
            path: path.into(),
            delimiter: comma(),
            quote: double_quote(),
            encoding: Encoding::Utf8,
            thousands_separator: None,
            decimal_separator: dot(),
            null_values: Vec::new(),
            skip_rows: 0,
        }
    }

    /// The same way of writing files, at another path (a `--input` override, new songs
    /// to score in the training file's conventions).
    pub fn at(&self, path: impl Into<PathBuf>) -> Self {
        Source {
            path: path.into(),
            ..self.clone()
        }
    }

    /// Check the rules between settings, naming the `source.*` key at fault.
    pub fn check(&self) -> Result<(), String> {
        for (key, c) in [("delimiter", self.delimiter), ("quote", self.quote)] {
            if !(c == '\t' || c == ' ' || c.is_ascii_graphic()) {
                return Err(format!(
                    "source.{key}: expected one printable ASCII character or \"\\t\", got {c:?}"
                ));
            }
        }
        if self.delimiter == self.quote {
            return Err(format!(
                "source.quote: the quote {:?} is also the delimiter",
                self.quote
            ));
        }
        if !matches!(self.decimal_separator, '.' | ',') {
            return Err(format!(
                "source.decimal_separator: expected \".\" or \",\", got {:?}",
                self.decimal_separator
            ));
        }
        if let Some(t) = self.thousands_separator {
            if !matches!(t, ',' | '.' | ' ' | '\'' | '_' | '\u{a0}' | '\u{202f}') {
                return Err(format!(
                    "source.thousands_separator: expected one of \",\", \".\", \" \", \"'\", \"_\", got {t:?}"
                ));
            }
            if t == self.decimal_separator {
                return Err(format!(
                    "source.thousands_separator: {t:?} is also the decimal separator"
                ));
            }
        }
        Ok(())
    }

    /// How numbers and missing values are written in this source's text fields.
    pub(crate) fn values(&self) -> ValueFormat {
        ValueFormat {
            thousands: self.thousands_separator,
            decimal: self.decimal_separator,
            nulls: self.null_values.iter().map(|v| v.trim().to_string()).collect(),
        }
    }
}

/// How text fields write numbers and missing values.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ValueFormat {
    thousands: Option<char>,
    decimal: char,
    nulls: Vec<String>,
}

impl ValueFormat {
    /// Whether trimmed text `s` marks a missing value.
    pub fn is_null(&self, s: &str) -> bool {
        s.is_empty() || self.nulls.iter().any(|n| n == s)
    }

    /// Trimmed text `s` rewritten as Rust's `f64` parser reads numbers: digit groups
    /// joined, the decimal separator a `.`; `None` when its digit groups are malformed.
    pub fn normalize<'a>(&self, s: &'a str) -> Option<Cow<'a, str>> {
        let mut text = Cow::Borrowed(s);
        if let Some(sep) = self.thousands.filter(|&t| s.contains(t)) {
            text = Cow::Owned(join_groups(s, sep, self.decimal)?);
        }
        if self.decimal != '.' && text.contains(self.decimal) {
            if text.contains('.') {
                return None;
            }
            text = Cow::Owned(text.replace(self.decimal, "."));
        }
        Some(text)
    }
}

/// `s` without its digit-group separators `sep`, which must split the integer part into
/// groups of three digits after a first group of one to three ("12,345,678"); `None`
/// otherwise.
fn join_groups(s: &str, sep: char, decimal: char) -> Option<String> {
    let (integer, rest) = match s.find(decimal) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    if rest.contains(sep) {
        return None;
    }
    let unsigned = integer.trim_start_matches(['-', '+']);
    let sign = &integer[..integer.len() - unsigned.len()];
    let mut groups = unsigned.split(sep);
    let first = groups.next().unwrap_or_default();
    let digits = |g: &str| g.bytes().all(|b| b.is_ascii_digit());
    if first.is_empty() || first.len() > 3 || !digits(first) {
        return None;
    }
    let mut out = format!("{sign}{first}");
    for group in groups {
        if group.len() != 3 || !digits(group) {
            return None;
        }
        out.push_str(group);
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(thousands: Option<char>, decimal: char) -> ValueFormat {
        ValueFormat {
            thousands,
            decimal,
            nulls: vec!["NA".into()],
        }
    }

    #[test]
    fn numbers_with_separators() {
        let us = format(Some(','), '.');
        assert_eq!(us.normalize("1,412").as_deref(), Some("1412"));
        assert_eq!(us.normalize("-12,345,678.5").as_deref(), Some("-12345678.5"));
        assert_eq!(us.normalize("1,5"), None);
        assert_eq!(us.normalize("1,2345"), None);
        assert_eq!(us.normalize("1.5,000"), None);
        assert_eq!(us.normalize("3.25").as_deref(), Some("3.25"));
        let eu = format(Some('.'), ',');
        assert_eq!(eu.normalize("0,53").as_deref(), Some("0.53"));
        assert_eq!(eu.normalize("1.412,5").as_deref(), Some("1412.5"));
        let comma_only = format(None, ',');
        assert_eq!(comma_only.normalize("0,53").as_deref(), Some("0.53"));
        assert_eq!(comma_only.normalize("0.53"), Some(Cow::Borrowed("0.53")));
        assert_eq!(comma_only.normalize("1.0,5"), None);
    }

    #[test]
    fn nulls_are_empty_or_listed() {
        let f = format(None, '.');
        assert!(f.is_null("") && f.is_null("NA"));
        assert!(!f.is_null("na") && !f.is_null("0"));
    }

    #[test]
    fn settings_that_contradict_each_other_are_errors() {
        let mut s = Source::new("a.csv");
        s.check().unwrap();
        s.quote = ',';
        assert!(s.check().unwrap_err().starts_with("source.quote"));
        let mut s = Source::new("a.csv");
        s.decimal_separator = ',';
        s.thousands_separator = Some(',');
        assert!(s.check().unwrap_err().starts_with("source.thousands_separator"));
        let mut s = Source::new("a.csv");
        s.decimal_separator = ';';
        assert!(s.check().unwrap_err().starts_with("source.decimal_separator"));
    }
}
