//! Sources made of several files: Parquet part directories and wildcard patterns.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema};
use indicatif::ProgressBar;
use replay_ingest::{
    read_header, read_tracks, run, source_files, ColumnMap, IngestError, IngestOptions, RejectReason,
};

fn mapping() -> ColumnMap {
    ColumnMap {
        id: replay_ingest::IdColumns::one("id"),
        popularity: "popularity".into(),
        label: None,
        release_date: Some("release_date".into()),
        numeric: vec!["tempo".into()],
        categorical: vec!["genre".into()],
        drop: vec!["note".into()],
    }
}

/// A part file of `rows` tracks numbered from `first`; `popularity` gives each one's.
fn write_part(path: &Path, first: usize, rows: usize, popularity: impl Fn(usize) -> f64) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("note", DataType::Utf8, true),
        Field::new("id", DataType::Utf8, false),
        Field::new("popularity", DataType::Float64, false),
        Field::new("release_date", DataType::Utf8, true),
        Field::new("tempo", DataType::Float64, true),
        Field::new("genre", DataType::Utf8, true),
    ]));
    let n = first..first + rows;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            n.clone().map(|i| format!("note {i}")),
        )),
        Arc::new(StringArray::from_iter_values(n.clone().map(|i| format!("t{i}")))),
        Arc::new(Float64Array::from_iter_values(n.clone().map(popularity))),
        Arc::new(StringArray::from_iter_values(
            n.clone().map(|i| format!("{}", 1950 + i)),
        )),
        Arc::new(Float64Array::from_iter_values(
            n.clone().map(|i| 100.0 + i as f64),
        )),
        Arc::new(StringArray::from_iter_values(n.map(|i| ["pop", "rock"][i % 2]))),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    replay_parquet::write(path, schema, &[batch]).unwrap();
}

/// A Spark-like output directory: three parts of 10, 7 and 12 rows, `_SUCCESS`, a hidden
/// checksum file and a `_`-prefixed file.
fn part_directory(dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let parts: Vec<PathBuf> = [
        "part-00000-a1.snappy.parquet",
        "part-00001-a1.snappy.parquet",
        "part-00002-a1.snappy.parquet",
    ]
    .iter()
    .map(|name| dir.join(name))
    .collect();
    // Written out of order, so the listing order of the file system is not the path order.
    write_part(&parts[2], 17, 12, |i| (i % 100) as f64);
    write_part(&parts[0], 0, 10, |i| (i % 100) as f64);
    write_part(&parts[1], 10, 7, |i| (i % 100) as f64);
    std::fs::write(dir.join("_SUCCESS"), "").unwrap();
    std::fs::write(dir.join(".part-00000-a1.snappy.parquet.crc"), "crc").unwrap();
    std::fs::write(dir.join("_committed_123"), "{}").unwrap();
    parts
}

fn ids(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let ids = b.column_by_name("id").unwrap().as_string::<i32>();
            ids.iter().map(|s| s.unwrap().to_string()).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_part_directory_is_read_file_by_file_in_path_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tracks.parquet");
    let parts = part_directory(&dir);
    assert_eq!(source_files(&dir).unwrap(), parts);
    let options = IngestOptions {
        batch_rows: 4,
        ..Default::default()
    };
    let tracks = read_tracks(
        &replay_ingest::Source::new(&dir),
        &mapping(),
        &options,
        &ProgressBar::hidden(),
    )
    .unwrap();
    let expected: Vec<String> = (0..29).map(|i| format!("t{i}")).collect();
    assert_eq!(ids(&tracks.batches), expected);
    // Batches are cut across file ends: 4 rows each, 1 in the last.
    let sizes: Vec<usize> = tracks.batches.iter().map(|b| b.num_rows()).collect();
    assert_eq!(sizes, [4, 4, 4, 4, 4, 4, 4, 1]);
    assert_eq!(tracks.report.format, "parquet");
    assert_eq!((tracks.report.rows_read, tracks.report.rows_kept), (29, 29));
    let names: Vec<&str> = tracks.schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["id", "popularity", "release_date", "tempo", "genre"]);
    assert_eq!(read_header(&replay_ingest::Source::new(&dir)).unwrap()[0], "note");

    // The stage writes one tracks file with the same rows.
    let out = tmp.path().join("out");
    run(
        &replay_ingest::Source::new(&dir),
        &mapping(),
        &options,
        &out,
        &ProgressBar::hidden(),
    )
    .unwrap();
    let (_, written) = replay_parquet::read(&out.join(replay_ingest::TRACKS_FILE)).unwrap();
    let all = concat_batches(&tracks.schema, &tracks.batches).unwrap();
    assert_eq!(concat_batches(&tracks.schema, &written).unwrap(), all);
}

#[test]
fn wildcard_patterns_select_files_in_path_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let parts = part_directory(&dir);
    assert_eq!(source_files(&dir.join("*.parquet")).unwrap(), parts);
    assert_eq!(source_files(&dir.join("part-0000?-*")).unwrap(), parts);
    assert_eq!(source_files(&dir.join("*-00001-*")).unwrap(), parts[1..2]);
    let tracks = read_tracks(
        &replay_ingest::Source::new(dir.join("part-*.parquet")),
        &mapping(),
        &IngestOptions::default(),
        &ProgressBar::hidden(),
    )
    .unwrap();
    assert_eq!(tracks.report.rows_read, 29);
    // A plain file is its own only file.
    assert_eq!(source_files(&parts[0]).unwrap(), parts[..1]);

    let none = source_files(&dir.join("*.csv")).unwrap_err();
    assert!(matches!(none, IngestError::NoSourceFiles { .. }), "{none}");
    let bad = source_files(&tmp.path().join("d*").join("*.parquet")).unwrap_err();
    assert!(matches!(bad, IngestError::BadPattern { .. }), "{bad}");
}

#[test]
fn rejections_and_errors_name_the_part_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("parts");
    std::fs::create_dir_all(&dir).unwrap();
    write_part(&dir.join("part-0.parquet"), 0, 30, |_| 50.0);
    // Row 3 of the second part has popularity 101.
    write_part(&dir.join("part-1.parquet"), 30, 30, |i| {
        if i == 32 {
            101.0
        } else {
            5.0
        }
    });
    let tracks = read_tracks(
        &replay_ingest::Source::new(&dir),
        &mapping(),
        &IngestOptions::default(),
        &ProgressBar::hidden(),
    )
    .unwrap();
    assert_eq!(tracks.rejections.len(), 1);
    let r = &tracks.rejections[0];
    assert_eq!((r.line, r.reason), (3, RejectReason::PopularityOutOfRange));
    assert!(r.file.ends_with("part-1.parquet"), "{}", r.file);

    // A part without a mapped column: the error names that part.
    let mut other = mapping();
    other.numeric.push("energy".into());
    let err = read_tracks(
        &replay_ingest::Source::new(&dir),
        &other,
        &IngestOptions::default(),
        &ProgressBar::hidden(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("part-0.parquet") && err.contains("'energy'"),
        "{err}"
    );

    // A CSV among Parquet parts.
    std::fs::write(dir.join("part-2.csv"), "id,popularity\nx,5\n").unwrap();
    let err = read_tracks(
        &replay_ingest::Source::new(&dir),
        &mapping(),
        &IngestOptions::default(),
        &ProgressBar::hidden(),
    )
    .unwrap_err();
    assert!(matches!(err, IngestError::MixedFormats { .. }), "{err}");
    assert!(err.to_string().contains("part-2.csv"), "{err}");

    // A nested directory (a partitioned dataset) is refused, not skipped.
    std::fs::remove_file(dir.join("part-2.csv")).unwrap();
    std::fs::create_dir(dir.join("year=2020")).unwrap();
    let err = source_files(&dir).unwrap_err();
    assert!(matches!(err, IngestError::NestedDirectory { .. }), "{err}");
    assert!(err.to_string().contains("year=2020"), "{err}");

    // Only markers: no data.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("_SUCCESS"), "").unwrap();
    let err = source_files(&empty).unwrap_err();
    assert!(matches!(err, IngestError::NoSourceFiles { .. }), "{err}");
}

#[test]
fn a_failed_stage_leaves_no_tracks_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("header_only.csv");
    std::fs::write(&path, "id,popularity,release_date,tempo,genre,note\n").unwrap();
    let out = tmp.path().join("out");
    let err = run(
        &replay_ingest::Source::new(&path),
        &mapping(),
        &IngestOptions::default(),
        &out,
        &ProgressBar::hidden(),
    )
    .unwrap_err();
    assert!(matches!(err, IngestError::NoRows { .. }), "{err}");
    assert!(std::fs::read_dir(&out).unwrap().next().is_none());
}
