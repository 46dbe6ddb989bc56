//! Check that two Parquet files hold the same rows (schema, values, order), reading both
//! batch by batch: `same_tracks A.parquet B.parquet` exits 0 if so.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b] = args.as_slice() else {
        return Err("usage: same_tracks A.parquet B.parquet".into());
    };
    let (schema_a, mut batches_a) = replay_parquet::batches(Path::new(a), None, 65536)?;
    let (schema_b, mut batches_b) = replay_parquet::batches(Path::new(b), None, 65536)?;
    if schema_a.fields() != schema_b.fields() {
        return Err(format!("schemas differ:\n{schema_a:?}\n{schema_b:?}").into());
    }
    let mut rows = 0;
    loop {
        match (batches_a.next().transpose()?, batches_b.next().transpose()?) {
            (None, None) => break,
            (Some(x), Some(y)) if x == y => rows += x.num_rows(),
            _ => return Err(format!("files differ after {rows} equal rows").into()),
        }
    }
    println!("same_tracks: {rows} rows identical");
    Ok(())
}
