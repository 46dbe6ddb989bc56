//! Time the ingest stage on one source, with the mapping of `pipeline.toml` (Kaggle
//! schema, `artists` categorical, `name` dropped). Measure peak memory with
//! `/usr/bin/time -v`:
//!
//! ```sh
//! cargo build --release -p replay-ingest --example ingest_bench
//! /usr/bin/time -v target/release/examples/ingest_bench /tmp/synth1700k.csv /tmp/ingest_out
//! ```

use std::path::PathBuf;
use std::time::Instant;

use indicatif::ProgressBar;
use replay_ingest::{run, ColumnMap, IngestOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(source), Some(out_dir)) = (args.next(), args.next()) else {
        return Err("usage: ingest_bench SOURCE OUT_DIR".into());
    };
    let (source, out_dir) = (PathBuf::from(source), PathBuf::from(out_dir));
    let mut columns = ColumnMap::kaggle();
    columns.categorical = vec!["artists".into()];
    columns.drop = vec!["name".into()];
    let started = Instant::now();
    let report = run(
        &replay_ingest::Source::new(&source),
        &columns,
        &IngestOptions::default(),
        &out_dir,
        &ProgressBar::hidden(),
    )?;
    println!(
        "ingest_bench source={} rows_read={} rows_kept={} rows_rejected={} seconds={:.3}",
        source.display(),
        report.rows_read,
        report.rows_kept,
        report.rows_rejected,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
