//! The block-parallel reader against a plain serial `csv` reader over the whole file.

use std::io::Write;

use arrow::compute::concat_batches;

use super::*;
use crate::validate::{schema_of, targets, Layout};
use crate::{Collect, ColumnMap, IngestReport};

const HEADER: &str = "valence,year,acousticness,artists,danceability,duration_ms,energy,explicit,id,\
instrumentalness,key,liveness,loudness,mode,name,popularity,release_date,speechiness,tempo";

fn row(id: &str, artists: &str, name: &str, popularity: &str, date: &str) -> String {
    format!(
        "0.5,1999,0.1,{artists},0.6,200000,0.7,0,{id},0.0,5,0.1,-5.5,1,{name},{popularity},{date},0.04,120.0"
    )
}

fn mapping() -> ColumnMap {
    let mut columns = ColumnMap::kaggle();
    columns.categorical = vec!["artists".into()];
    columns.drop = vec!["name".into()];
    columns
}

/// A file with quoted fields, embedded newlines, doubled and literal quotes, blank lines,
/// invalid UTF-8 and bad rows; with the true starting line and reason of each bad row.
fn tricky_file(eol: &str) -> (Vec<u8>, Vec<(u64, RejectReason)>) {
    let mut text: Vec<u8> = Vec::new();
    let mut expected = Vec::new();
    text.extend_from_slice(b"\xEF\xBB\xBF");
    text.extend_from_slice(HEADER.as_bytes());
    text.extend_from_slice(eol.as_bytes());
    for i in 0..400 {
        let id = format!("t{i}");
        let line = 1 + text.iter().filter(|&&b| b == b'\n').count() as u64;
        let (record, bad): (Vec<u8>, Option<RejectReason>) = match i % 23 {
            0 => (row(&id, "\"['A', \"\"B'C\"\"]\"", "N", "50", "2001").into(), None),
            1 => (
                row(
                    &id,
                    &format!("\"['multi{eol}line', 'x']\""),
                    "\"a,b\"",
                    "7",
                    "1999-02",
                )
                .into(),
                None,
            ),
            2 => (
                row(&id, "['A']", "5\" vinyl", "abc", "2001").into(),
                Some(RejectReason::BadNumber),
            ),
            3 => (
                row(&id, "['A']", "N", "101", "2001").into(),
                Some(RejectReason::PopularityOutOfRange),
            ),
            4 => (
                row("", "['A']", "N", "5", "2001").into(),
                Some(RejectReason::MissingId),
            ),
            5 => ("0.5,1999,\"x\ny\"".into(), Some(RejectReason::FieldCount)),
            6 => {
                let mut r: Vec<u8> = row(&id, "['A']", "N", "5", "2001").into();
                r[0] = 0xff;
                (r, Some(RejectReason::InvalidUtf8))
            }
            9 => {
                // Each half of a valid 'é' ends and starts two adjacent fields.
                let text = row(&id, "['A']@", "N", "5", "2001").replace("@,0.6", "#");
                let at = text.find('#').unwrap();
                let mut r: Vec<u8> = text.into();
                r.splice(at..=at, b"\xC3,\xA90.6".iter().copied());
                (r, Some(RejectReason::InvalidUtf8))
            }
            7 => (
                row(
                    &id,
                    "['A']",
                    &format!("\"two{eol}{eol}lines\"\"\""),
                    "5",
                    "2001-13",
                )
                .into(),
                Some(RejectReason::BadReleaseDate),
            ),
            8 => {
                text.extend_from_slice(eol.as_bytes());
                let line = line + 1;
                let record: Vec<u8> = row(&id, "\"\"", "\"\"\"\"", "", "2001").into();
                text.extend_from_slice(&record);
                text.extend_from_slice(eol.as_bytes());
                expected.push((line, RejectReason::MissingPopularity));
                continue;
            }
            _ => (
                row(&id, "['A']", "N", &(i % 101).to_string(), "2001-02-03").into(),
                None,
            ),
        };
        text.extend_from_slice(&record);
        text.extend_from_slice(eol.as_bytes());
        if let Some(reason) = bad {
            expected.push((line, reason));
        }
    }
    // A last record without a line end.
    text.extend_from_slice(row("last", "['Z']", "N", "9", "2020").as_bytes());
    (text, expected)
}

/// The simple reference: one `csv` reader over the whole text, record by record.
fn reference(path: &Path, text: &[u8]) -> (RecordBatch, Vec<Rejection>) {
    let targets = targets(&mapping(), true);
    let schema = schema_of(&targets);
    let columns = mapping();
    let source = Source::new(path);
    let layout = Layout {
        source: &source,
        several_files: false,
        columns: &columns,
        targets: &targets,
        schema: &schema,
    };
    let plan = plan(path, text, layout).unwrap();
    let mut reader = csv_reader(text, true, Bytes::of(&source));
    let mut rows = RowBuilder::new(
        &targets,
        SchemaRef::clone(&schema),
        source.values(),
        String::new(),
        16,
    );
    let mut rejections = Vec::new();
    for record in reader.byte_records() {
        let record = record.unwrap();
        let line = record_line(text, record.position().unwrap());
        rejections.extend(plan.push_record(&record, line, &mut rows));
    }
    (rows.finish(), rejections)
}

/// Run the block-parallel reader on `path` with blocks of `block_bytes` and batches of 7
/// rows into `collect`.
fn read_blocks(
    path: &Path,
    gzip: bool,
    block_bytes: usize,
    collect: &mut Collect,
) -> Result<IngestReport, IngestError> {
    let targets = targets(&mapping(), true);
    let schema = schema_of(&targets);
    let mut emit = Emitter::new(collect, SchemaRef::clone(&schema), 7, IngestReport::default());
    let columns = mapping();
    let source = Source::new(path);
    let layout = Layout {
        source: &source,
        several_files: false,
        columns: &columns,
        targets: &targets,
        schema: &schema,
    };
    read_in_blocks(path, gzip, block_bytes, layout, &mut emit, &ProgressBar::hidden())?;
    Ok(emit.finish()?.0)
}

/// [`read_blocks`] into one batch, checking the batch sizes.
fn fast(path: &Path, gzip: bool, block_bytes: usize) -> (RecordBatch, Vec<Rejection>, IngestReport) {
    let mut collect = Collect::default();
    let report = read_blocks(path, gzip, block_bytes, &mut collect).unwrap();
    let (last, full) = collect.batches.split_last().unwrap();
    assert!(full.iter().all(|b| b.num_rows() == 7) && last.num_rows() <= 7);
    let schema = schema_of(&targets(&mapping(), true));
    let batch = concat_batches(&schema, &collect.batches).unwrap();
    (batch, collect.rejections, report)
}

#[test]
fn blocks_read_exactly_like_one_serial_reader() {
    let dir = tempfile::tempdir().unwrap();
    for eol in ["\n", "\r\n"] {
        let (text, expected) = tricky_file(eol);
        let path = dir.path().join("tricky.csv");
        std::fs::write(&path, &text).unwrap();
        let (want_rows, want_rejections) = reference(&path, &text);
        let got: Vec<(u64, RejectReason)> = want_rejections.iter().map(|r| (r.line, r.reason)).collect();
        assert_eq!(got, expected, "reference lines, eol {eol:?}");
        assert_eq!(want_rows.num_rows() + want_rejections.len(), 401);
        let gz = dir.path().join("tricky.csv.gz");
        let mut encoder =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        encoder.write_all(&text).unwrap();
        encoder.finish().unwrap();
        for block_bytes in [1, 2, 3, 5, 17, 64, 333, 1000, 4096, 1 << 20] {
            for (file, gzip) in [(&path, false), (&gz, true)] {
                let (rows, rejections, report) = fast(file, gzip, block_bytes);
                let context = format!("eol {eol:?}, blocks of {block_bytes}, gzip {gzip}");
                assert_eq!(rows, want_rows, "{context}");
                let strip = |r: &[Rejection]| -> Vec<(u64, String, RejectReason, String)> {
                    r.iter()
                        .map(|r| (r.line, r.column.clone(), r.reason, r.detail.clone()))
                        .collect()
                };
                assert_eq!(strip(&rejections), strip(&want_rejections), "{context}");
                assert_eq!(report.rows_read, 401, "{context}");
                assert_eq!(report.rows_rejected as usize, expected.len(), "{context}");
            }
        }
    }
}

#[test]
fn an_empty_file_has_no_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.csv");
    std::fs::write(&path, "").unwrap();
    let err = read_blocks(&path, false, 4, &mut Collect::default()).unwrap_err();
    assert!(matches!(err, IngestError::Csv { line: 1, .. }), "{err}");
}
