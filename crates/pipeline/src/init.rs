//! `replay init`: a commented `pipeline.toml` proposed for an unknown source, from what a
//! sample of it holds ([`replay_ingest::sniff`]).

use std::fmt::Write as _;
use std::path::Path;

use replay_ingest::{ColumnSample, Encoding, Sniffed};

use crate::{PipelineConfig, PipelineError};

/// `replay init`: sample `input`, propose a config and write it to `out` (atomically;
/// an existing file only with `force`). Returns what was found and proposed, to print.
pub fn run(input: &Path, out: &Path, force: bool) -> Result<String, PipelineError> {
    let refuse = |message: String| PipelineError::Config {
        path: out.into(),
        message,
    };
    if out.exists() && !force {
        return Err(refuse("exists; pass --force to replace it".into()));
    }
    let mut sniffed = replay_ingest::sniff(input)?;
    // [source] paths are relative to the config file: absolute unless both are here.
    let beside = out.parent().is_none_or(|p| p.as_os_str().is_empty());
    if !beside {
        sniffed.source.path =
            std::path::absolute(input).map_err(|e| replay_core::ArtifactError::io(input, e))?;
    }
    let proposal = propose(&sniffed);
    let text = config_text(&sniffed, &proposal);
    PipelineConfig::parse(&text).map_err(|e| {
        PipelineError::Internal(format!("replay init wrote a config that does not parse: {e}"))
    })?;
    replay_core::atomic::write_bytes(out, text.as_bytes())?;
    let mut summary = format!(
        "{} ({} sampled rows, {}):\n",
        input.display(),
        sniffed.rows,
        sniffed.format
    );
    for note in &sniffed.notes {
        let _ = writeln!(summary, "  found: {note}");
    }
    for r in &proposal.roles {
        let role = match r.encoding {
            Some(e) => format!("{} ({e})", r.role),
            None => r.role.to_string(),
        };
        let _ = writeln!(summary, "  {:<28} {:<24} {}", r.column, role, r.why);
    }
    for item in &proposal.undecided {
        let _ = writeln!(summary, "  undecided: {item}");
    }
    let _ = writeln!(
        summary,
        "wrote {}; check it, then run the pipeline with --config {0}",
        out.display()
    );
    Ok(summary)
}

/// What a column is proposed to be, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// The column.
    pub column: String,
    /// `id`, `popularity`, `label`, `release_date`, `numeric`, `categorical` or `drop`.
    pub role: &'static str,
    /// For a categorical column, its encoding: `category`, `target` or `target_list`.
    pub encoding: Option<&'static str>,
    /// Why, in a few words.
    pub why: String,
}

/// A proposed configuration for a sampled source.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// Every column's role, in file order; a part of a composite id that is also an
    /// input comes twice (as `id`, then as `categorical`).
    pub roles: Vec<Role>,
    /// The popularity's scale: 100, or 1 for a 0-1 share.
    pub scale: f64,
    /// What could not be decided; each item says what to change.
    pub undecided: Vec<String>,
}

/// Names of id columns, as exports spell them (lower case).
const ID_NAMES: [&str; 7] = [
    "id",
    "track_id",
    "song_id",
    "trackid",
    "spotify_id",
    "uri",
    "track_uri",
];
/// Names of title columns (lower case), for a title + artist key.
const TITLE_NAMES: [&str; 6] = ["title", "name", "track_name", "track", "song", "song_name"];
/// Names of row-number columns (lower case) that carry no information.
const ROW_NUMBER_NAMES: [&str; 6] = ["", "index", "#", "unnamed: 0", "row", "no"];
/// Whether a column named `lower` (lower case) holds song titles.
fn is_title(lower: &str) -> bool {
    TITLE_NAMES.contains(&lower) || lower.contains("title")
}
/// Text columns with at most this many distinct values are one-hot categories.
const MAX_CATEGORIES: usize = 30;

/// Propose a role for every column of `sniffed`.
pub fn propose(sniffed: &Sniffed) -> Proposal {
    let columns = &sniffed.columns;
    let lower = |c: &ColumnSample| c.name.trim().to_lowercase();
    let mut roles: Vec<Option<Role>> = vec![None; columns.len()];
    let mut undecided = Vec::new();
    let set = |roles: &mut Vec<Option<Role>>, j: usize, role, encoding, why: String| {
        roles[j] = Some(Role {
            column: columns[j].name.clone(),
            role,
            encoding,
            why,
        });
    };

    // Popularity: a number between 0 and 100 named like it.
    let popular: Vec<usize> = (0..columns.len())
        .filter(|&j| {
            let c = &columns[j];
            lower(c).contains("popular") && c.range.is_some_and(|(lo, hi)| lo >= 0.0 && hi <= 100.0)
        })
        .collect();
    let mut scale = 100.0;
    // Without one, a column of two label values (0/1, true/false, yes/no) is the label.
    let label = (0..columns.len()).find(|&j| {
        let c = &columns[j];
        let values: Vec<String> = c.examples.iter().map(|v| v.to_lowercase()).collect();
        c.distinct == 2
            && c.examples.len() == 2
            && [
                ["0", "1"],
                ["false", "true"],
                ["no", "yes"],
                ["f", "t"],
                ["n", "y"],
            ]
            .iter()
            .any(|pair| values.iter().all(|v| pair.contains(&v.as_str())))
    });
    match (popular.as_slice(), label) {
        ([], Some(j)) => {
            let why = format!(
                "the label: {} and {} only",
                columns[j].examples[0], columns[j].examples[1]
            );
            set(&mut roles, j, "label", None, why);
            undecided.push(format!(
                "no popularity column: '{}' is read as the label ([label] column); check it",
                columns[j].name
            ));
        }
        ([], None) => undecided.push(
            "no column looks like the popularity (numbers 0-100 named like 'popularity') or \
             a label (two values such as 0/1 or yes/no): set [columns] popularity"
                .to_string(),
        ),
        ([j, rest @ ..], _) => {
            let (lo, hi) = columns[*j].range.unwrap_or((0.0, 100.0));
            if hi <= 1.0 {
                scale = 1.0;
            }
            let why = format!("numbers from {lo} to {hi} named like a popularity");
            set(&mut roles, *j, "popularity", None, why);
            for k in rest {
                undecided.push(format!(
                    "'{}' could also be the popularity; '{}' was chosen: change [columns] popularity if needed",
                    columns[*k].name, columns[*j].name
                ));
            }
        }
    }

    // The id: a column named like one, else title and artist together, else the line.
    let mostly_unique = |c: &ColumnSample| c.present > 0 && c.distinct * 10 >= c.present * 9;
    let named_id = (0..columns.len()).find(|&j| {
        roles[j].is_none() && ID_NAMES.contains(&lower(&columns[j]).as_str()) && mostly_unique(&columns[j])
    });
    let title = (0..columns.len()).find(|&j| {
        let name = lower(&columns[j]);
        roles[j].is_none() && !columns[j].numeric && is_title(&name)
    });
    let artist = (0..columns.len())
        .find(|&j| roles[j].is_none() && !columns[j].numeric && lower(&columns[j]).contains("artist"));
    match (named_id, title, artist) {
        (Some(j), _, _) => {
            let why = format!(
                "named like an id, {} distinct of {} sampled",
                columns[j].distinct, columns[j].present
            );
            set(&mut roles, j, "id", None, why);
        }
        (None, Some(t), Some(a)) => {
            for j in [t, a] {
                let why = "with the other id column: titles repeat across artists".to_string();
                set(&mut roles, j, "id", None, why);
            }
        }
        _ => undecided.push(
            "no id column: each row is identified by its line; set [columns] id to a column \
             (or a list of columns) that identifies a song to drop repeated songs"
                .to_string(),
        ),
    }

    // Release date: date-like text named like one.
    if let Some(j) = (0..columns.len()).find(|&j| {
        let name = lower(&columns[j]);
        roles[j].is_none() && columns[j].dates && (name.contains("date") || name.contains("release"))
    }) {
        set(
            &mut roles,
            j,
            "release_date",
            None,
            "dates named like a release date".to_string(),
        );
    }

    // Everything else: numbers are inputs, text is encoded by its cardinality or dropped.
    // A part of a composite id that repeats (the artist of a title + artist key) is also
    // an input: the same artist's songs say much about a new one.
    let mut also = vec![None; columns.len()];
    let composite = roles.iter().flatten().filter(|r| r.role == "id").count() > 1;
    for (j, c) in columns.iter().enumerate() {
        let part = roles[j].as_ref().is_some_and(|r| r.role == "id") && composite;
        if roles[j].is_some() && !part {
            continue;
        }
        let (role, encoding, why) = role_of(c);
        let proposed = Some(Role {
            column: c.name.clone(),
            role,
            encoding,
            why,
        });
        match part {
            false => roles[j] = proposed,
            true if role == "categorical" => also[j] = proposed,
            true => {}
        }
    }
    Proposal {
        roles: roles
            .into_iter()
            .zip(also)
            .flat_map(|(r, a)| r.into_iter().chain(a))
            .collect(),
        scale,
        undecided,
    }
}

/// The role of a column that is neither id, popularity, label nor release date: numbers
/// are inputs, text is encoded by its cardinality or dropped.
fn role_of(c: &ColumnSample) -> (&'static str, Option<&'static str>, String) {
    let name = c.name.trim().to_lowercase();
    if c.present == 0 {
        ("drop", None, "empty in the sample".to_string())
    } else if c.numeric && c.integers && c.distinct == c.present && ROW_NUMBER_NAMES.contains(&name.as_str())
    {
        ("drop", None, "a row number".to_string())
    } else if c.numeric {
        let (lo, hi) = c.range.unwrap_or_default();
        ("numeric", None, format!("numbers from {lo} to {hi}"))
    } else if is_title(&name) {
        ("drop", None, "a title: free text".to_string())
    } else if c.lists {
        let why = "lists of names (Python literals): encoded by the first name".to_string();
        ("categorical", Some("target_list"), why)
    } else if c.distinct <= MAX_CATEGORIES && c.distinct * 2 <= c.present {
        let why = format!("{} distinct values: one indicator each", c.distinct);
        ("categorical", Some("category"), why)
    } else if c.distinct * 2 <= c.present {
        let why = format!(
            "{} distinct of {} sampled: encoded by the replay rate of each value",
            c.distinct, c.present
        );
        ("categorical", Some("target"), why)
    } else {
        let why = format!(
            "free text ({} distinct of {} sampled, e.g. titles)",
            c.distinct, c.present
        );
        ("drop", None, why)
    }
}

/// A commented `pipeline.toml` for `sniffed` as `proposal` sees it; every other section
/// takes its defaults.
pub fn config_text(sniffed: &Sniffed, proposal: &Proposal) -> String {
    let s = &sniffed.source;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# replay pipeline config written by `replay init` from {} sampled rows of {} ({}).\n\
         # Every guess says why; change what is wrong, then run\n\
         #   cargo xtask run-pipeline --config <this file>\n\
         # Sections left out take their defaults (see the project's pipeline.toml).",
        sniffed.rows,
        s.path.display(),
        sniffed.format
    );
    for note in &sniffed.notes {
        let _ = writeln!(out, "# Found: {note}.");
    }
    for item in &proposal.undecided {
        let _ = writeln!(out, "# UNDECIDED: {item}.");
    }
    let _ = writeln!(
        out,
        "\n[source]\npath = {}",
        toml_string(&s.path.display().to_string())
    );
    if sniffed.format != "parquet" {
        let _ = writeln!(out, "delimiter = {}", toml_string(&s.delimiter.to_string()));
        let _ = writeln!(out, "quote = {}", toml_string(&s.quote.to_string()));
        let encoding = match s.encoding {
            Encoding::Utf8 => "utf-8",
            Encoding::Latin1 => "latin-1",
            Encoding::Windows1252 => "windows-1252",
        };
        let _ = writeln!(out, "encoding = \"{encoding}\"");
        match s.thousands_separator {
            Some(t) => {
                let _ = writeln!(out, "thousands_separator = {}", toml_string(&t.to_string()));
            }
            None => out.push_str("# thousands_separator = \",\"   # none seen in the sample\n"),
        }
        let _ = writeln!(
            out,
            "decimal_separator = {}",
            toml_string(&s.decimal_separator.to_string())
        );
        let nulls: Vec<String> = s.null_values.iter().map(|v| toml_string(v)).collect();
        let _ = writeln!(
            out,
            "null_values = [{}]           # besides empty fields",
            nulls.join(", ")
        );
        let _ = writeln!(out, "skip_rows = {}", s.skip_rows);
    }
    out.push_str("\n[columns]\n");
    let of = |role: &'static str| proposal.roles.iter().filter(move |r| r.role == role);
    let ids: Vec<&Role> = of("id").collect();
    match ids.as_slice() {
        [] => out.push_str("# id: none; each row is identified by its line\n"),
        [one] => {
            let _ = writeln!(out, "id = {}    # {}", toml_string(&one.column), one.why);
        }
        many => {
            let names: Vec<String> = many.iter().map(|r| toml_string(&r.column)).collect();
            let _ = writeln!(out, "id = [{}]    # {}", names.join(", "), many[0].why);
        }
    }
    for role in ["popularity", "release_date"] {
        if let Some(r) = of(role).next() {
            let _ = writeln!(out, "{role} = {}    # {}", toml_string(&r.column), r.why);
        }
    }
    let label = of("label").next();
    if of("popularity").next().is_none() && label.is_none() {
        out.push_str("popularity = \"SET ME\"    # no column looked like the popularity\n");
    }
    for role in ["numeric", "categorical", "drop"] {
        let _ = writeln!(out, "{role} = [");
        for r in of(role) {
            let _ = writeln!(out, "    {},    # {}", toml_string(&r.column), r.why);
        }
        out.push_str("]\n");
    }
    match label {
        Some(r) => {
            let _ = writeln!(
                out,
                "\n[label]\ncolumn = {}    # {}",
                toml_string(&r.column),
                r.why
            );
        }
        None => {
            out.push_str(
                "\n[label]\nthreshold = 50.0               # replayed = popularity >= threshold (0-100 scale)\n",
            );
            let _ = writeln!(
                out,
                "scale = {:.1}                    # the popularity's maximum: 100, or 1 for a 0-1 share",
                proposal.scale
            );
            out.push_str(
                "# quantile = 0.8               # or label by rank: about the top 20% of the training rows
",
            );
        }
    }
    let encoded: Vec<&Role> = of("categorical").collect();
    if !encoded.is_empty() {
        out.push_str(
            "\n# Each categorical column's encoding: \"category\" (one indicator per value, for few\n\
             # values), \"target\" (out-of-fold replay rate of the value, for many), \"target_list\"\n\
             # (as \"target\" on the first name of a list literal).\n[features.encode]\n",
        );
        for r in encoded {
            let _ = writeln!(
                out,
                "{} = \"{}\"",
                toml_key(&r.column),
                r.encoding.unwrap_or("target")
            );
        }
    }
    out
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

/// `name` as a TOML key: bare when it can be, quoted otherwise.
fn toml_key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_string()
    } else {
        toml_string(name)
    }
}
