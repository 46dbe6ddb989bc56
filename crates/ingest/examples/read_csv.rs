//! Read a CSV of tracks into validated Arrow record batches: the ingest crate on its own.
//!
//! `cargo run --release -p replay-ingest --example read_csv [-- FILE]`
//! (default: the bundled `data/kaggle_synthetic_20k.csv.gz`, in the Kaggle schema).

use std::path::PathBuf;

use replay_ingest::{read_tracks, ColumnMap, IngestOptions};

fn main() -> Result<(), replay_ingest::IngestError> {
    let file = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/kaggle_synthetic_20k.csv.gz")
    });
    let progress = indicatif::ProgressBar::hidden();
    let tracks = read_tracks(
        &replay_ingest::Source::new(&file),
        &ColumnMap::kaggle(),
        &IngestOptions::default(),
        &progress,
    )?;
    println!(
        "{}: {} rows read, {} kept",
        file.display(),
        tracks.report.rows_read,
        tracks.report.rows_kept
    );
    println!("{} record batches with columns:", tracks.batches.len());
    for field in tracks.schema.fields() {
        println!("  {:<18} {}", field.name(), field.data_type());
    }
    for rejection in tracks.rejections.iter().take(5) {
        println!("rejected: {rejection}");
    }
    Ok(())
}
