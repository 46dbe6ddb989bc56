//! The column mapping: which source column plays which role.

use serde::{Deserialize, Serialize};

use replay_core::schema;

/// Which columns of a source file are the id, the popularity, the release date and the
/// features, and which are dropped. Every column of the file must be named here.
///
/// Deserializing checks that no column is named twice and that feature names do not
/// clash with the canonical names of the other roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawColumnMap")]
pub struct ColumnMap {
    /// The columns whose values identify a track (written as [`schema::ID`]): one column
    /// (`id = "track_id"`), several whose values together do (`id = ["Title", "Artist"]`,
    /// written as a JSON array of the values), or none (`id` absent: the row's line in
    /// the source is its id, and no row is dropped as a repeat).
    pub id: IdColumns,
    /// Popularity 0..=100 column (written as [`schema::POPULARITY`]); empty when `label`
    /// is set.
    pub popularity: String,
    /// A column holding the label itself (0/1, true/false, yes/no), read in place of a
    /// popularity as popularity 100 (replayed) or 0. A pipeline config sets it with
    /// `[label] column`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Release date column, `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (written as [`schema::RELEASE_DATE`]).
    pub release_date: Option<String>,
    /// Numeric feature columns, read as 64-bit floats; an empty field is a missing value.
    pub numeric: Vec<String>,
    /// Categorical (text) feature columns; an empty field is a missing value.
    pub categorical: Vec<String>,
    /// Columns of the file that are read past and not kept.
    pub drop: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumnMap {
    #[serde(default)]
    id: IdColumns,
    #[serde(default)]
    popularity: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    release_date: Option<String>,
    numeric: Vec<String>,
    #[serde(default)]
    categorical: Vec<String>,
    #[serde(default)]
    drop: Vec<String>,
}

impl TryFrom<RawColumnMap> for ColumnMap {
    type Error = String;

    fn try_from(raw: RawColumnMap) -> Result<Self, String> {
        let map = ColumnMap {
            id: raw.id,
            popularity: raw.popularity,
            label: raw.label,
            release_date: raw.release_date,
            numeric: raw.numeric,
            categorical: raw.categorical,
            drop: raw.drop,
        };
        // A popularity may be left out for `[label] column`: the caller checks the pair.
        map.check_names()?;
        Ok(map)
    }
}

impl ColumnMap {
    /// The mapping of the Kaggle "Spotify 1921-2020" `data.csv` used by the seed notebook:
    /// 12 audio features, year and explicit; name and artists are dropped.
    pub fn kaggle() -> Self {
        let numeric = [
            "valence",
            "year",
            "acousticness",
            "danceability",
            "duration_ms",
            "energy",
            "explicit",
            "instrumentalness",
            "key",
            "liveness",
            "loudness",
            "mode",
            "speechiness",
            "tempo",
        ];
        ColumnMap {
            id: IdColumns::one("id"),
            popularity: "popularity".into(),
            label: None,
            release_date: Some("release_date".into()),
            numeric: numeric.iter().map(|s| s.to_string()).collect(),
            categorical: vec![],
            drop: vec!["name".into(), "artists".into()],
        }
    }

    /// Every source column this mapping names, with the key that names it.
    pub fn named_columns(&self) -> Vec<(&str, &'static str)> {
        let mut out: Vec<(&str, &'static str)> = self.id.0.iter().map(|c| (c.as_str(), "id")).collect();
        match &self.label {
            Some(label) => out.push((label.as_str(), "label")),
            None => out.push((self.popularity.as_str(), "popularity")),
        }
        out.extend(self.release_date.as_deref().map(|c| (c, "release_date")));
        out.extend(self.numeric.iter().map(|c| (c.as_str(), "numeric")));
        out.extend(self.categorical.iter().map(|c| (c.as_str(), "categorical")));
        out.extend(self.drop.iter().map(|c| (c.as_str(), "drop")));
        out
    }

    /// Check that no column is named twice and no feature takes a canonical name, and
    /// that there is a popularity or a label column (not both).
    pub fn check(&self) -> Result<(), String> {
        match (&self.label, self.popularity.is_empty()) {
            (None, true) => {
                return Err("columns.popularity: missing; name the popularity column, or set \
                            [label] column to a column holding the label"
                    .into())
            }
            (Some(label), false) => {
                return Err(format!(
                    "[label] column '{label}' replaces columns.popularity ('{}'): set only one",
                    self.popularity
                ))
            }
            _ => {}
        }
        self.check_names()
    }

    /// Check that no column is named twice (a column of a composite id may also be a
    /// feature: an artist identifies a song with its title and predicts as well) and no
    /// feature takes a canonical name.
    fn check_names(&self) -> Result<(), String> {
        let mut seen = std::collections::HashMap::new();
        let composite = self.id.0.len() > 1;
        for (column, key) in self.named_columns() {
            if column.is_empty() && key == "popularity" {
                continue; // checked with the label column by `check`
            }
            if column.is_empty() {
                return Err(format!("columns.{key}: empty column name"));
            }
            let feature = |k: &str| k == "numeric" || k == "categorical";
            if let Some(&first) = seen.get(column) {
                if composite && first == "id" && feature(key) {
                    continue;
                }
            }
            if let Some(first) = seen.insert(column, key) {
                return Err(format!(
                    "column '{column}' is named twice (columns.{first} and columns.{key})"
                ));
            }
        }
        let canonical = [
            schema::ID,
            schema::POPULARITY,
            schema::RELEASE_DATE,
            schema::LABEL,
        ];
        for column in self.numeric.iter().chain(&self.categorical) {
            if canonical.contains(&column.as_str()) {
                return Err(format!(
                    "feature column '{column}' clashes with the canonical column name '{column}'; \
                     map it with the matching role instead"
                ));
            }
        }
        Ok(())
    }
}

/// The id columns of a [`ColumnMap`]: none, one, or several that together identify a
/// track. A config writes one as a string and several as a list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdColumns(pub Vec<String>);

impl IdColumns {
    /// The single column `name`.
    pub fn one(name: &str) -> Self {
        IdColumns(vec![name.to_string()])
    }

    /// No id column: rows are identified by their line.
    pub fn none() -> Self {
        IdColumns(Vec::new())
    }

    /// Whether rows are identified by their line.
    pub fn is_none(&self) -> bool {
        self.0.is_empty()
    }

    /// What identifies a song, and so which rows are dropped as repeats, in words.
    pub fn describe(&self) -> String {
        match self.0.as_slice() {
            [] => "the row's line in the source (no row is dropped as a repeat)".into(),
            [one] => format!("column '{one}' (a row whose id repeats an earlier row's is dropped)"),
            many => {
                format!(
                "columns {} together (a row whose values of all of them repeat an earlier row's is dropped)",
                many.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ")
            )
            }
        }
    }
}

impl Serialize for IdColumns {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for IdColumns {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = IdColumns;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a column name or a list of column names")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IdColumns, E> {
                Ok(IdColumns::one(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<IdColumns, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                if names.is_empty() {
                    return Err(serde::de::Error::custom(
                        "an empty list; leave `id` out to identify rows by their line",
                    ));
                }
                Ok(IdColumns(names))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_named_twice_is_an_error() {
        let mut map = ColumnMap::kaggle();
        map.drop.push("year".into());
        assert!(map.check().unwrap_err().contains("'year' is named twice"));
    }

    #[test]
    fn kaggle_mapping_is_valid() {
        ColumnMap::kaggle().check().unwrap();
    }
}
