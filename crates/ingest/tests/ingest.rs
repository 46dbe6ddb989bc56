//! Ingest on small hand-written files in the seed's Kaggle schema.

use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::compute::concat_batches;
use arrow::datatypes::Float64Type;
use indicatif::ProgressBar;
use replay_ingest::{
    read_header, read_tracks, run, ColumnMap, IngestError, IngestOptions, RejectReason, Tracks,
};

const HEADER: &str = "valence,year,acousticness,artists,danceability,duration_ms,energy,explicit,id,\
instrumentalness,key,liveness,loudness,mode,name,popularity,release_date,speechiness,tempo";

fn row(id: &str, artists: &str, name: &str, popularity: &str, date: &str) -> String {
    format!(
        "0.5,1999,0.1,{artists},0.6,200000,0.7,0,{id},0.0,5,0.1,-5.5,1,{name},{popularity},{date},0.04,120.0"
    )
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{HEADER}\n{}\n", lines.join("\n"))).unwrap();
    path
}

/// A gzip-compressed copy of `path`, beside it.
fn gzip_copy(path: &Path) -> PathBuf {
    let gz = path.with_extension("csv.gz");
    let mut encoder =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    encoder.write_all(&std::fs::read(path).unwrap()).unwrap();
    encoder.finish().unwrap();
    gz
}

/// The validated Parquet file the ingest stage writes for `path` into `out`.
fn ingest_stage(path: &Path, out: &Path) -> PathBuf {
    run(
        &replay_ingest::Source::new(path),
        &ColumnMap::kaggle(),
        &IngestOptions::default(),
        out,
        &ProgressBar::hidden(),
    )
    .unwrap();
    out.join(replay_ingest::TRACKS_FILE)
}

fn ingest(path: &Path) -> Result<Tracks, IngestError> {
    read_tracks(
        &replay_ingest::Source::new(path),
        &ColumnMap::kaggle(),
        &IngestOptions::default(),
        &ProgressBar::hidden(),
    )
}

#[test]
fn reads_the_kaggle_schema_with_quoted_artist_lists_and_all_date_forms() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "a.csv",
        &[
            row(
                "a1",
                "\"['Sergei Rachmaninoff', 'James Levine']\"",
                "\"Piano Concerto, No. 3\"",
                "4",
                "1921",
            ),
            row("a2", "\"[\"\"Guns N' Roses\"\"]\"", "Plain", "67", "1987-07"),
            row("a3", "['Solo']", "\"Say \"\"hi\"\"\"", "50", "2019-06-14"),
        ],
    );
    let tracks = ingest(&path).unwrap();
    assert_eq!(tracks.report.rows_read, 3);
    assert_eq!(tracks.report.rows_kept, 3);
    assert!(tracks.rejections.is_empty());
    let batch = concat_batches(&tracks.schema, &tracks.batches).unwrap();
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(&names[..3], ["id", "popularity", "release_date"]);
    assert!(!names.contains(&"artists") && !names.contains(&"name"));
    let popularity: Vec<f64> = batch
        .column_by_name("popularity")
        .unwrap()
        .as_primitive::<Float64Type>()
        .values()
        .to_vec();
    assert_eq!(popularity, [4.0, 67.0, 50.0]);
    let dates = batch.column_by_name("release_date").unwrap().as_string::<i32>();
    assert_eq!(dates.value(1), "1987-07");
}

#[test]
fn bad_rows_are_rejected_with_their_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = (0..40)
        .map(|i| row(&format!("ok{i}"), "['A']", "N", "60", "2001"))
        .collect();
    lines[3] = row("b1", "['A']", "N", "abc", "2001"); // line 5
    lines[7] = row("b2", "['A']", "N", "101", "2001"); // line 9
    lines[10] = row("b3", "['A']", "N", "50", "2001-13-01"); // line 12
    lines[12] = row("", "['A']", "N", "50", "2001"); // line 14
    lines[20] = "0.5,1999,0.1".to_string(); // line 22
    lines[25] = row("b6", "['A']", "\"two\nlines\"", "50", "2001").replace("0.04", "x"); // lines 27-28
    let path = write(dir.path(), "bad.csv", &lines);
    let options = IngestOptions {
        max_rejected_fraction: 0.5,
        ..Default::default()
    };
    let tracks = read_tracks(
        &replay_ingest::Source::new(&path),
        &ColumnMap::kaggle(),
        &options,
        &ProgressBar::hidden(),
    )
    .unwrap();
    let got: Vec<(u64, &str, RejectReason)> = tracks
        .rejections
        .iter()
        .map(|r| (r.line, r.column.as_str(), r.reason))
        .collect();
    assert_eq!(
        got,
        [
            (5, "popularity", RejectReason::BadNumber),
            (9, "popularity", RejectReason::PopularityOutOfRange),
            (12, "release_date", RejectReason::BadReleaseDate),
            (14, "id", RejectReason::MissingId),
            (22, "", RejectReason::FieldCount),
            (27, "speechiness", RejectReason::BadNumber),
        ]
    );
    assert!(tracks.rejections[0].detail.contains("'abc'"));
    assert_eq!(tracks.report.rows_read, 40);
    assert_eq!(tracks.report.rows_kept, 34);
    assert_eq!(tracks.report.rejected_by_reason[&RejectReason::BadNumber], 2);
}

#[test]
fn too_many_rejected_rows_fail_the_stage_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lines = vec![
        row("a", "['A']", "N", "x", "2001"),
        row("b", "['A']", "N", "5", "2001"),
    ];
    let path = write(dir.path(), "bad.csv", &lines);
    let out = dir.path().join("out");
    let err = run(
        &replay_ingest::Source::new(&path),
        &ColumnMap::kaggle(),
        &IngestOptions::default(),
        &out,
        &ProgressBar::hidden(),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            err,
            IngestError::TooManyRejected {
                rejected: 1,
                read: 2,
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains("bad.csv") && message.contains("line 2"),
        "{message}"
    );
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
}

#[test]
fn a_missing_mapped_column_is_named_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.csv");
    std::fs::write(&path, "id,popularity\nx,5\n").unwrap();
    let err = ingest(&path).unwrap_err().to_string();
    assert!(
        err.contains("m.csv") && err.contains("'release_date'") && err.contains("columns.release_date"),
        "{err}"
    );
}

#[test]
fn an_unmapped_column_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.csv");
    let text = format!("{HEADER},mood\n{},happy\n", row("a", "['A']", "N", "5", "2001"));
    std::fs::write(&path, text).unwrap();
    let err = ingest(&path).unwrap_err().to_string();
    assert!(err.contains("'mood'") && err.contains("columns.drop"), "{err}");
}

#[test]
fn invalid_utf8_is_a_rejection_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bytes.csv");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "{HEADER}").unwrap();
    for i in 0..30 {
        writeln!(file, "{}", row(&format!("r{i}"), "['A']", "N", "5", "2001")).unwrap();
    }
    file.write_all(
        &row("bad", "['A']", "N", "5", "2001")
            .replace("bad", "b\u{1}d")
            .into_bytes(),
    )
    .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.iter().position(|&b| b == 1).unwrap();
    bytes[at] = 0xff;
    std::fs::write(&path, bytes).unwrap();
    let tracks = ingest(&path).unwrap();
    assert_eq!(tracks.rejections.len(), 1);
    assert_eq!(tracks.rejections[0].reason, RejectReason::InvalidUtf8);
    assert_eq!(tracks.rejections[0].line, 32);
}

#[test]
fn gzip_and_parquet_sources_read_the_same_as_plain_csv() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..25)
        .map(|i| row(&format!("t{i}"), "\"['A', 'B']\"", "N", &i.to_string(), "2001-02"))
        .collect();
    let plain = write(dir.path(), "t.csv", &lines);
    let gz = gzip_copy(&plain);
    let from_plain = ingest(&plain).unwrap();
    let from_gz = ingest(&gz).unwrap();
    assert_eq!(from_gz.batches, from_plain.batches);
    assert_eq!(from_gz.report.format, "csv.gz");

    let from_parquet = ingest(&ingest_stage(&plain, &dir.path().join("out"))).unwrap();
    assert_eq!(from_parquet.report.format, "parquet");
    let a = concat_batches(&from_plain.schema, &from_plain.batches).unwrap();
    let b = concat_batches(&from_parquet.schema, &from_parquet.batches).unwrap();
    assert_eq!(a, b);
    assert!(a.column(0).null_count() == 0);
}

#[test]
fn the_header_alone_is_read_from_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "h.csv", &[row("t1", "['A']", "N", "3", "2001")]);
    let expected: Vec<String> = HEADER.split(',').map(String::from).collect();
    assert_eq!(
        read_header(&replay_ingest::Source::new(&plain)).unwrap(),
        expected
    );
    assert_eq!(
        read_header(&replay_ingest::Source::new(gzip_copy(&plain))).unwrap(),
        expected
    );
    // The validated Parquet output has the canonical names ingest wrote.
    let parquet = ingest_stage(&plain, &dir.path().join("out"));
    let tracks = ingest(&plain).unwrap();
    let written: Vec<String> = tracks.schema.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(
        read_header(&replay_ingest::Source::new(&parquet)).unwrap(),
        written
    );
    // An empty file has no header.
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        read_header(&replay_ingest::Source::new(&empty)),
        Err(IngestError::Csv { line: 1, .. })
    ));
}
