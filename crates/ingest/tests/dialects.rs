//! One small song table written the ways real exports write it: every layout, read with
//! its `[source]` settings, gives exactly the batches of the plain comma-separated file.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use indicatif::ProgressBar;
use replay_ingest::{read_tracks, ColumnMap, Encoding, IdColumns, IngestError, IngestOptions, Source};

/// id, name, artists, popularity, year, duration_s, energy; `None` is a missing value.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    u32,
    u32,
    u32,
    Option<f64>,
);

const ROWS: [Row; 6] = [
    ("s1", "Halo", "Beyoncé", 81, 2008, 261, Some(0.53)),
    (
        "s2",
        "Say \"Hello\"; then, go",
        "Adele",
        77,
        2015,
        1412,
        Some(0.45),
    ),
    ("s3", "Two\nlines", "Sigur Rós", 40, 1999, 2048, None),
    ("s4", "Plain", "Queen", 12, 1975, 354, Some(0.4)),
    ("s5", "Pipe | and\ttab", "Mötley Crüe", 55, 1987, 1000, Some(0.91)),
    ("s6", "Quiet", "Nils Frahm", 30, 2013, 999, Some(0.07)),
];

const HEADER: [&str; 7] = [
    "id",
    "name",
    "artists",
    "popularity",
    "year",
    "duration_s",
    "energy",
];

fn mapping() -> ColumnMap {
    ColumnMap {
        id: replay_ingest::IdColumns::one("id"),
        popularity: "popularity".into(),
        label: None,
        release_date: None,
        numeric: vec!["year".into(), "duration_s".into(), "energy".into()],
        categorical: vec!["artists".into()],
        drop: vec!["name".into()],
    }
}

#[path = "../../../testing/layouts.rs"]
mod layouts;
use layouts::{variants as all_layouts, Cell, Layout, PLAIN};

/// The table as `layout` writes it, at `dir/<layout name>.csv`.
fn write(dir: &Path, layout: &Layout) -> PathBuf {
    let rows: Vec<Vec<Cell>> = ROWS
        .iter()
        .map(|&(id, name, artists, popularity, year, duration, energy)| {
            vec![
                Cell::Text(id.into()),
                Cell::Text(name.into()),
                Cell::Text(artists.into()),
                Cell::Integer(popularity.into()),
                Cell::Integer(year.into()),
                Cell::Count(duration.into()),
                Cell::Number(energy),
            ]
        })
        .collect();
    layouts::write(dir, layout, &HEADER, &rows)
}

fn source_for(path: &Path, layout: &Layout) -> Source {
    Source {
        delimiter: layout.delimiter,
        quote: layout.quote,
        encoding: if layout.latin1 {
            Encoding::Latin1
        } else {
            Encoding::Utf8
        },
        thousands_separator: layout.thousands,
        decimal_separator: layout.decimal,
        null_values: if layout.null.is_empty() {
            vec![]
        } else {
            vec![layout.null.to_string()]
        },
        skip_rows: layout.preamble.len(),
        ..Source::new(path)
    }
}

fn read(source: &Source) -> Result<RecordBatch, IngestError> {
    let tracks = read_tracks(
        source,
        &mapping(),
        &IngestOptions::default(),
        &ProgressBar::hidden(),
    )?;
    assert_eq!(tracks.report.rows_rejected, 0, "{:?}", tracks.rejections);
    Ok(concat_batches(&tracks.schema, &tracks.batches).unwrap())
}

#[test]
fn every_layout_reads_as_the_plain_csv() {
    let dir = tempfile::tempdir().unwrap();
    let want = read(&source_for(&write(dir.path(), &PLAIN), &PLAIN)).unwrap();
    assert_eq!(want.num_rows(), ROWS.len());
    let layouts = all_layouts();
    for layout in &layouts {
        let path = write(dir.path(), layout);
        let got = read(&source_for(&path, layout)).unwrap_or_else(|e| panic!("{}: {e}", layout.name));
        assert_eq!(got, want, "{}", layout.name);
    }
}

#[test]
fn default_settings_on_other_layouts_fail_clearly_or_reject_rows() {
    let dir = tempfile::tempdir().unwrap();
    // A ';' file read with the default ',' delimiter: the header is one column.
    let layout = Layout {
        name: "semicolon",
        delimiter: ';',
        ..PLAIN
    };
    let path = write(dir.path(), &layout);
    let err = read(&Source::new(&path)).unwrap_err().to_string();
    assert!(
        err.contains("line 1: source.delimiter \",\" splits nothing in the header")
            && err.contains("set delimiter = \";\""),
        "{err}"
    );
    // Thousands separators without the setting are bad numbers, named with their line.
    let layout = Layout {
        name: "thousands_unset",
        thousands: Some(','),
        ..PLAIN
    };
    let path = write(dir.path(), &layout);
    let options = IngestOptions {
        max_rejected_fraction: 1.0,
        ..Default::default()
    };
    let tracks = read_tracks(&Source::new(&path), &mapping(), &options, &ProgressBar::hidden()).unwrap();
    let lines: Vec<(u64, &str)> = tracks
        .rejections
        .iter()
        .map(|r| (r.line, r.column.as_str()))
        .collect();
    // s2 starts on line 3, s3 (with its quoted newline) on 4, s5 on 7.
    assert_eq!(lines, [(3, "duration_s"), (4, "duration_s"), (7, "duration_s")]);
}

#[test]
fn contradicting_settings_name_their_key() {
    let source = Source {
        thousands_separator: Some(','),
        decimal_separator: ',',
        ..Source::new("x.csv")
    };
    let err = read(&source).unwrap_err().to_string();
    assert!(err.starts_with("source.thousands_separator"), "{err}");
}

fn ids(batch: &RecordBatch) -> Vec<String> {
    let column = batch.column_by_name("id").unwrap();
    let ids = column
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    ids.iter().map(|v| v.unwrap().to_string()).collect()
}

#[test]
fn ids_may_be_several_columns_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &PLAIN);
    let options = IngestOptions::default();
    let read_with = |id: IdColumns, drop: &[&str]| {
        let columns = ColumnMap {
            id,
            drop: drop.iter().map(|c| c.to_string()).collect(),
            ..mapping()
        };
        read_tracks(&Source::new(&path), &columns, &options, &ProgressBar::hidden())
    };
    // Title and artist together: a JSON array of the values; the artist is still a feature.
    let tracks = read_with(IdColumns(vec!["name".into(), "artists".into()]), &["id"]).unwrap();
    let batch = concat_batches(&tracks.schema, &tracks.batches).unwrap();
    assert_eq!(ids(&batch)[0], r#"["Halo","Beyoncé"]"#);
    assert_eq!(ids(&batch)[1], r#"["Say \"Hello\"; then, go","Adele"]"#);
    assert!(batch.column_by_name("artists").is_some() && batch.column_by_name("name").is_none());
    // No id: the line where the row starts (s3's quoted newline moves s4 to line 6).
    let tracks = read_with(IdColumns::none(), &["id", "name"]).unwrap();
    let batch = concat_batches(&tracks.schema, &tracks.batches).unwrap();
    assert_eq!(ids(&batch), ["2", "3", "4", "6", "7", "8"]);
    // A part that is not in the file is named with its key.
    let err = read_with(IdColumns(vec!["name".into(), "artist".into()]), &["id"]);
    let err = err.unwrap_err().to_string();
    assert!(
        err.contains("column 'artist' (columns.id) is not in the header"),
        "{err}"
    );
}

#[test]
fn sniffing_finds_how_each_layout_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let want = read(&source_for(&write(dir.path(), &PLAIN), &PLAIN)).unwrap();
    for layout in &all_layouts() {
        let path = write(dir.path(), layout);
        let sniffed = replay_ingest::sniff(&path).unwrap();
        let s = &sniffed.source;
        let what = layout.name;
        assert_eq!(
            (s.delimiter, s.quote, s.skip_rows),
            (layout.delimiter, layout.quote, layout.preamble.len()),
            "{what}"
        );
        assert_eq!(s.decimal_separator, layout.decimal, "{what}");
        // A thousands separator is found where the sample shows one.
        assert_eq!(s.thousands_separator, layout.thousands, "{what}");
        assert_eq!(s.encoding == Encoding::Utf8, !layout.latin1, "{what}");
        assert_eq!(
            s.null_values.contains(&"NA".to_string()),
            layout.null == "NA",
            "{what}"
        );
        let names: Vec<&str> = sniffed.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, HEADER, "{what}");
        // Read as sniffed, every layout gives the plain file's rows.
        assert_eq!(read(s).unwrap(), want, "{what}");
    }
}

#[test]
fn a_label_column_is_read_as_popularity_100_or_0_and_other_values_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hits.csv");
    std::fs::write(
        &path,
        "id,hit,energy\na,yes,0.5\nb,0,0.7\nc,TRUE,0.1\nd,maybe,0.2\ne,,0.3\n",
    )
    .unwrap();
    let columns = ColumnMap {
        id: IdColumns::one("id"),
        popularity: String::new(),
        label: Some("hit".into()),
        release_date: None,
        numeric: vec!["energy".into()],
        categorical: vec![],
        drop: vec![],
    };
    let options = IngestOptions {
        max_rejected_fraction: 1.0,
        ..Default::default()
    };
    let tracks = read_tracks(&Source::new(&path), &columns, &options, &ProgressBar::hidden()).unwrap();
    let batch = concat_batches(&tracks.schema, &tracks.batches).unwrap();
    let popularity = batch.column_by_name("popularity").unwrap();
    let popularity = popularity
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap();
    assert_eq!(popularity.values().to_vec(), [100.0, 0.0, 100.0]);
    let rejected: Vec<String> = tracks.rejections.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        rejected,
        [
            "line 5, column 'hit': expected 0/1, true/false or yes/no for [label] column, got 'maybe'",
            "line 6, column 'hit': empty label",
        ]
    );
    // Neither a popularity nor a label column: the error says what to set.
    let neither = ColumnMap {
        label: None,
        ..columns
    };
    let err = read_tracks(&Source::new(&path), &neither, &options, &ProgressBar::hidden()).unwrap_err();
    assert!(err.to_string().contains("columns.popularity: missing"), "{err}");
}
