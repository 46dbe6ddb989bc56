//! Column names that stages hand to each other.
//!
//! Ingest renames the mapped id, popularity and release-date columns of any source to
//! these canonical names, so later stages never need the source's column mapping.

/// Unique track identifier (Utf8, never null).
pub const ID: &str = "id";
/// Popularity score 0..=100 (Float64). Null only when scoring songs without a known popularity.
pub const POPULARITY: &str = "popularity";
/// Release date as `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (Utf8, nullable).
pub const RELEASE_DATE: &str = "release_date";
/// Binary label `replayed` (Boolean) written by the features stage.
pub const LABEL: &str = "replayed";
/// The columns of a train or test file that are not model inputs: every other column is
/// one. No model input may take one of these names.
pub const RECORD_COLUMNS: [&str; 3] = [ID, POPULARITY, LABEL];
/// Release year, read from the source or derived from [`RELEASE_DATE`].
pub const YEAR: &str = "year";
/// Release month (1-12), derived from [`RELEASE_DATE`] when the date has one.
pub const MONTH: &str = "month";
/// Age of the release: the newest release year of the training rows minus the year.
pub const AGE: &str = "age";
/// Arrow field metadata key on every model input of train/test Parquet: the model
/// families that use the input, comma-separated ([`ModelFamily::as_str`]).
pub const USED_BY_METADATA: &str = "replay.used_by";

/// A family of models, which decides how categorical inputs are encoded for it:
/// linear models read one-hot indicators, tree models read ordinal codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFamily {
    /// Models of a weighted sum of the inputs (logistic regression).
    Linear,
    /// Models of thresholds on single inputs (decision trees and their ensembles).
    Trees,
}

impl ModelFamily {
    /// Both families.
    pub const ALL: [ModelFamily; 2] = [ModelFamily::Linear, ModelFamily::Trees];

    /// The family's name in files: `linear` or `trees`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelFamily::Linear => "linear",
            ModelFamily::Trees => "trees",
        }
    }

    /// The family called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// Parse a release date written as `YYYY`, `YYYY-MM` or `YYYY-MM-DD` into
/// `(year, month)`; month is `None` for a bare year. Returns `None` for anything else,
/// including impossible months or days.
pub fn parse_release_date(text: &str) -> Option<(i32, Option<u32>)> {
    let mut parts = text.split('-');
    let year = parse_digits(parts.next()?, 4)?;
    let month = match parts.next() {
        None => return Some((year as i32, None)),
        Some(m) => parse_digits(m, 2).filter(|m| (1..=12).contains(m))?,
    };
    if let Some(day) = parts.next() {
        parse_digits(day, 2).filter(|d| (1..=31).contains(d))?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some((year as i32, Some(month)))
}

fn parse_digits(s: &str, len: usize) -> Option<u32> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::parse_release_date;

    #[test]
    fn release_dates_in_all_three_forms() {
        assert_eq!(parse_release_date("1999"), Some((1999, None)));
        assert_eq!(parse_release_date("2019-06"), Some((2019, Some(6))));
        assert_eq!(parse_release_date("2019-06-14"), Some((2019, Some(6))));
    }

    #[test]
    fn malformed_release_dates_are_rejected() {
        for bad in [
            "",
            "99",
            "2019-13",
            "2019-6-14",
            "2019-06-32",
            "2019-06-14-1",
            "abcd",
            "2019/06",
        ] {
            assert_eq!(parse_release_date(bad), None, "{bad:?}");
        }
    }
}
