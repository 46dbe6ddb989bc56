//! The encoders behind the fitted feature columns, as plain functions and small
//! serializable tables: category lists (one-hot indicators and ordinal codes), key
//! statistics of high-cardinality columns (smoothed target means and counts, fitted on the
//! training rows, out of fold for the training rows themselves) and the parsing of
//! Python list literals such as the Kaggle schema's `artists`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The categories of a categorical column seen in the training rows, sorted.
///
/// Linear models read one indicator per category (an unseen or missing value has all
/// indicators 0); tree models read the code [`Categories::code`]: the index in the sorted
/// list, and `len()` for an unseen or missing value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Categories(Vec<String>);

impl Categories {
    /// The distinct present values, sorted.
    pub fn fit<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        let mut categories: Vec<String> = values.into_iter().flatten().map(str::to_string).collect();
        categories.sort_unstable();
        categories.dedup();
        Categories(categories)
    }

    /// The categories, sorted.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Index of `value` in the sorted categories; `len()` (the "unseen" code) for a value
    /// not seen in training or a missing one.
    pub fn code(&self, value: Option<&str>) -> f64 {
        let index = value
            .and_then(|v| self.0.binary_search_by(|c| c.as_str().cmp(v)).ok())
            .unwrap_or(self.0.len());
        index as f64
    }
}

/// How the key of a high-cardinality column is read from a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyParse {
    /// The cell is the key.
    Plain,
    /// The cell is a Python list literal of names (`['A', "B'C"]`): the key is the first
    /// name, and the list's length is an input of its own.
    PythonList,
}

impl KeyParse {
    /// The key of a cell (`None` for a missing cell or an empty list).
    pub fn key(self, cell: Option<&str>) -> Option<String> {
        let cell = cell?;
        match self {
            KeyParse::Plain => Some(cell.to_string()),
            KeyParse::PythonList => python_list_names(cell).next().map(Cow::into_owned),
        }
    }

    /// Number of names in a list cell (0 for a missing cell); 1 for a plain cell.
    pub fn length(self, cell: Option<&str>) -> usize {
        match (self, cell) {
            (_, None) => 0,
            (KeyParse::Plain, Some(_)) => 1,
            (KeyParse::PythonList, Some(text)) => python_list_names(text).count(),
        }
    }
}

/// The names in a Python list literal of strings such as `['A', "B'C", 'D\'E']`.
///
/// Elements are quoted with `'` or `"`; a backslash escapes the next character (`\\`,
/// `\'`, `\"`; any other escape is kept as written). Text that is not a bracketed list is
/// one name (trimmed; empty text is no name), and a list that ends early keeps the names
/// read so far.
pub fn parse_python_list(text: &str) -> Vec<String> {
    python_list_names(text).map(Cow::into_owned).collect()
}

/// The names of [`parse_python_list`], one at a time, borrowed from `text` unless they
/// hold escapes: reading a list's first name or counting its names allocates nothing.
pub fn python_list_names(text: &str) -> impl Iterator<Item = Cow<'_, str>> {
    let text = text.trim();
    let (rest, whole) = match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(inner) => (inner, None),
        None => ("", (!text.is_empty()).then_some(Cow::Borrowed(text))),
    };
    let mut names = ListNames { rest };
    whole
        .into_iter()
        .chain(std::iter::from_fn(move || names.next_name()))
}

/// The unread part of a list literal's inside.
struct ListNames<'a> {
    rest: &'a str,
}

impl<'a> ListNames<'a> {
    fn next_name(&mut self) -> Option<Cow<'a, str>> {
        let text = self
            .rest
            .trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        let quote = text.chars().next()?;
        if quote != '\'' && quote != '"' {
            // An unquoted element: up to the next comma.
            let end = text.find(',').unwrap_or(text.len());
            self.rest = &text[end..];
            return Some(Cow::Borrowed(text[..end].trim()));
        }
        let body = &text[1..];
        let mut owned: Option<String> = None;
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.rest = &body[i + 1..];
                return Some(owned.map_or(Cow::Borrowed(&body[..i]), Cow::Owned));
            }
            if c == '\\' {
                // The first escape: the name so far becomes owned text.
                let name = owned.get_or_insert_with(|| body[..i].to_string());
                match chars.next() {
                    Some((_, e @ ('\\' | '\'' | '"'))) => name.push(e),
                    Some((_, e)) => {
                        name.push('\\');
                        name.push(e);
                    }
                    None => name.push('\\'),
                }
            } else if let Some(name) = owned.as_mut() {
                name.push(c);
            }
        }
        // Not closed: the rest is the last name.
        self.rest = "";
        Some(owned.map_or(Cow::Borrowed(body), Cow::Owned))
    }
}

/// Label statistics of every key of a high-cardinality column in a set of rows, and the
/// encodings computed from them: the smoothed target mean
/// `(sum + prior * smoothing) / (count + smoothing)` (the prior for an unseen or missing
/// key) and the count of rows with the key (0 when unseen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyStats {
    /// Share of replayed tracks in the training rows.
    pub prior: f64,
    /// Pseudo-count pulling rare keys towards the prior (`m`).
    pub smoothing: f64,
    /// Key → `[replayed rows, rows]`.
    pub keys: BTreeMap<String, [f64; 2]>,
}

impl KeyStats {
    /// Statistics of `(key, label)` rows; rows without a key are skipped.
    pub fn fit<'a>(
        rows: impl IntoIterator<Item = (Option<&'a str>, bool)>,
        prior: f64,
        smoothing: f64,
    ) -> Self {
        let mut keys: BTreeMap<String, [f64; 2]> = BTreeMap::new();
        for (key, label) in rows {
            if let Some(key) = key {
                let entry = keys.entry(key.to_string()).or_insert([0.0, 0.0]);
                entry[0] += f64::from(u8::from(label));
                entry[1] += 1.0;
            }
        }
        KeyStats {
            prior,
            smoothing,
            keys,
        }
    }

    /// The smoothed target mean of `key`; the prior when it is unseen or missing.
    pub fn target_mean(&self, key: Option<&str>) -> f64 {
        match key.and_then(|k| self.keys.get(k)) {
            Some([sum, count]) => (sum + self.prior * self.smoothing) / (count + self.smoothing),
            None => self.prior,
        }
    }

    /// Rows with `key`; 0 when it is unseen or missing.
    pub fn count(&self, key: Option<&str>) -> f64 {
        key.and_then(|k| self.keys.get(k))
            .map_or(0.0, |[_, count]| *count)
    }
}

/// ChaCha8 stream of the fold assignment.
const FOLDS_STREAM: u64 = 2;

/// The fold (0..folds) of each of `n` rows: the rows are shuffled with `seed` and cut into
/// `folds` consecutive parts whose sizes differ by at most one (the first `n % folds`
/// parts are one row larger), as scikit-learn's shuffled `KFold`.
pub fn fold_of_rows(n: usize, folds: usize, seed: u64) -> Vec<usize> {
    let folds = folds.max(1);
    let mut order: Vec<usize> = (0..n).collect();
    // Its own ChaCha8 stream, so that the same seed as the split's does not give a
    // shuffle correlated with it.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(FOLDS_STREAM);
    order.shuffle(&mut rng);
    let mut fold = vec![0; n];
    let mut start = 0;
    for f in 0..folds {
        let size = n / folds + usize::from(f < n % folds);
        for &row in &order[start..start + size] {
            fold[row] = f;
        }
        start += size;
    }
    fold
}

/// [`fold_of_rows`] with 4-byte folds and row indices (the shuffle draws the same numbers
/// whatever the index type): the same folds for at most `u32::MAX` rows.
pub(crate) fn fold_of_rows_compact(n: usize, folds: usize, seed: u64) -> Vec<u32> {
    let folds = folds.max(1);
    let rows = u32::try_from(n).unwrap_or(u32::MAX);
    let mut order: Vec<u32> = (0..rows).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(FOLDS_STREAM);
    order.shuffle(&mut rng);
    let mut fold = vec![0; order.len()];
    let mut start = 0;
    // Folds past the n-th get no rows.
    for f in 0..folds.min(order.len()) {
        let size = n / folds + usize::from(f < n % folds);
        for &row in &order[start..start + size] {
            fold[row as usize] = f as u32;
        }
        start += size;
    }
    fold
}

/// Out-of-fold smoothed target means of the training rows: each row is encoded with the
/// statistics of the rows of the other folds (`fold[i]` from [`fold_of_rows`]), so no row
/// sees its own label. `prior` and `smoothing` are those of the full training set.
pub fn out_of_fold_target_means(
    keys: &[Option<String>],
    labels: &[bool],
    fold: &[usize],
    prior: f64,
    smoothing: f64,
) -> Vec<f64> {
    let folds = fold.iter().max().map_or(0, |f| f + 1);
    let mut encoded = vec![prior; keys.len()];
    for f in 0..folds {
        let others = KeyStats::fit(
            (0..keys.len())
                .filter(|&i| fold[i] != f)
                .map(|i| (keys[i].as_deref(), labels[i])),
            prior,
            smoothing,
        );
        for i in (0..keys.len()).filter(|&i| fold[i] == f) {
            encoded[i] = others.target_mean(keys[i].as_deref());
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_lists_with_quotes_and_apostrophes() {
        assert_eq!(parse_python_list(r#"['A', "B'C"]"#), ["A", "B'C"]);
        assert_eq!(
            parse_python_list("['Rosa Annitor', 'Daan Belmarni']"),
            ["Rosa Annitor", "Daan Belmarni"]
        );
        assert_eq!(
            parse_python_list(r"['It\'s', 'back\\slash', 'a, b']"),
            ["It's", r"back\slash", "a, b"]
        );
        assert_eq!(parse_python_list(r#"["Say \"hi\"", 'x']"#), [r#"Say "hi""#, "x"]);
        assert_eq!(parse_python_list("[]"), Vec::<String>::new());
        assert_eq!(parse_python_list("  "), Vec::<String>::new());
        assert_eq!(parse_python_list("Solo Artist"), ["Solo Artist"]);
        assert_eq!(parse_python_list("['A', 'unterminated]"), ["A", "unterminated"]);
        assert_eq!(parse_python_list("['no bracket"), ["['no bracket"]);
        assert_eq!(
            KeyParse::PythonList.key(Some(r#"["B'C", 'A']"#)).as_deref(),
            Some("B'C")
        );
        assert_eq!(KeyParse::PythonList.length(Some(r#"['A', "B'C", 'D']"#)), 3);
        assert_eq!(KeyParse::PythonList.key(Some("[]")), None);
        assert_eq!(KeyParse::PythonList.length(None), 0);
        assert_eq!(KeyParse::Plain.key(Some("['A']")).as_deref(), Some("['A']"));
    }

    #[test]
    fn category_codes_are_sorted_indices_and_unseen_or_missing_get_the_last_code() {
        let c = Categories::fit([Some("rock"), Some("pop"), None, Some("rock"), Some("edm")]);
        assert_eq!(c.as_slice(), ["edm", "pop", "rock"]);
        assert_eq!(c.code(Some("edm")), 0.0);
        assert_eq!(c.code(Some("rock")), 2.0);
        assert_eq!(c.code(Some("jazz")), 3.0);
        assert_eq!(c.code(None), 3.0);
    }

    #[test]
    fn key_stats_smooth_towards_the_prior_and_count() {
        // Keys a, a, b; labels 1, 0, 1; prior 0.5, m = 2.
        let s = KeyStats::fit(
            [
                (Some("a"), true),
                (Some("a"), false),
                (Some("b"), true),
                (None, true),
            ],
            0.5,
            2.0,
        );
        assert_eq!(s.target_mean(Some("a")), (1.0 + 1.0) / (2.0 + 2.0));
        assert_eq!(s.target_mean(Some("b")), (1.0 + 1.0) / (1.0 + 2.0));
        assert_eq!(s.target_mean(Some("zzz")), 0.5);
        assert_eq!(s.target_mean(None), 0.5);
        assert_eq!(
            (s.count(Some("a")), s.count(Some("b")), s.count(Some("c"))),
            (2.0, 1.0, 0.0)
        );
    }

    #[test]
    fn folds_partition_the_rows_evenly_and_depend_on_the_seed() {
        let fold = fold_of_rows(11, 5, 7);
        let mut sizes = [0; 5];
        for &f in &fold {
            sizes[f] += 1;
        }
        assert_eq!(sizes, [3, 2, 2, 2, 2]);
        assert_eq!(fold, fold_of_rows(11, 5, 7));
        assert_ne!(fold, fold_of_rows(11, 5, 8));
    }

    #[test]
    fn compact_folds_are_the_same_folds() {
        for (n, folds, seed) in [(11, 5, 7), (1000, 5, 42), (3, 10, 1), (0, 5, 2), (1, 2, 9)] {
            let compact: Vec<usize> = fold_of_rows_compact(n, folds, seed)
                .into_iter()
                .map(|f| f as usize)
                .collect();
            assert_eq!(compact, fold_of_rows(n, folds, seed), "{n} {folds}");
        }
    }

    #[test]
    fn out_of_fold_target_means_by_hand() {
        // Six rows in three folds of two. prior = 3/6 = 0.5, m = 1.
        let keys: Vec<Option<String>> = ["a", "a", "a", "b", "b", "c"]
            .iter()
            .map(|k| Some(k.to_string()))
            .collect();
        let labels = [true, true, false, false, true, false];
        let fold = [0, 1, 2, 0, 1, 2];
        let te = out_of_fold_target_means(&keys, &labels, &fold, 0.5, 1.0);
        // Row 0 (a, fold 0): other folds hold a:1 (row 1), a:0 (row 2) -> (1 + 0.5) / (2 + 1) = 0.5.
        // Row 1 (a, fold 1): a:1, a:0 (rows 0, 2) -> 0.5.
        // Row 2 (a, fold 2): a:1, a:1 (rows 0, 1) -> (2 + 0.5) / 3.
        // Row 3 (b, fold 0): b:1 (row 4) -> (1 + 0.5) / 2 = 0.75.
        // Row 4 (b, fold 1): b:0 (row 3) -> 0.5 / 2 = 0.25.
        // Row 5 (c, fold 2): c unseen in the other folds -> prior 0.5.
        assert_eq!(te, [0.5, 0.5, 2.5 / 3.0, 0.75, 0.25, 0.5]);
    }
}
