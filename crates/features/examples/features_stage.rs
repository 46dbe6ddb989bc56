//! Time the feature stage alone, and make large inputs for it.
//!
//! ```sh
//! # the stage on an ingested tracks file, with pipeline.toml's feature settings
//! # (or a FeaturesConfig as JSON):
//! features_stage run TRACKS.parquet OUT_DIR [CONFIG.json]
//! # the training matrix of one model family, read column by column:
//! features_stage matrix OUT_DIR/train.parquet linear|trees
//! # N copies of a tracks file with distinct ids (copy k > 0 appends "#k" to every id):
//! features_stage repeat TRACKS.parquet N OUT.parquet
//! # same schema, rows and values (floats bit for bit) in two Parquet files:
//! features_stage compare A.parquet B.parquet
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::Float64Type;
use replay_core::schema::{self, ModelFamily};
use replay_features::{Encoding, FeatureMatrix, FeatureOptions, FeaturesConfig, Ids, InputColumns};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Result<&str, Error> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| "usage: features_stage run|matrix|repeat ... (see the source)".into())
    };
    let started = Instant::now();
    match arg(0)? {
        "run" => {
            let config = match args.get(3) {
                Some(path) => serde_json::from_slice(&std::fs::read(path)?)?,
                None => pipeline_toml_features(),
            };
            let report = replay_features::run(Path::new(arg(1)?), &config, Path::new(arg(2)?))?;
            println!("{}", serde_json::to_string(&report)?);
        }
        "matrix" => {
            let path = Path::new(arg(1)?);
            let family = ModelFamily::from_name(arg(2)?).ok_or("family: linear or trees")?;
            let names = InputColumns::read(path)?.names_for(family);
            let m = FeatureMatrix::read_columns(path, &names, Ids::Skip)?;
            println!("{} rows x {} inputs", m.x.nrows(), m.x.ncols());
        }
        "repeat" => repeat(Path::new(arg(1)?), arg(2)?.parse()?, Path::new(arg(3)?))?,
        "compare" => compare(Path::new(arg(1)?), Path::new(arg(2)?))?,
        other => return Err(format!("unknown command {other}").into()),
    }
    eprintln!("elapsed {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The feature settings of pipeline.toml (Kaggle schema).
fn pipeline_toml_features() -> FeaturesConfig {
    FeaturesConfig {
        features: FeatureOptions {
            derive_month: true,
            derive_age: true,
            encode: BTreeMap::from([("artists".to_string(), Encoding::TargetList)]),
            ..FeatureOptions::default()
        },
        ..FeaturesConfig::default()
    }
}

/// Write `copies` copies of `tracks` to `out`, ids made distinct.
fn repeat(tracks: &Path, copies: usize, out: &Path) -> Result<(), Error> {
    let schema = replay_parquet::schema(tracks)?;
    let id_index = schema.index_of(schema::ID)?;
    let mut sink = replay_parquet::Sink::create(out, Arc::clone(&schema))?;
    for copy in 0..copies {
        let (_, batches) = replay_parquet::batches(tracks, None, 64 * 1024)?;
        for batch in batches {
            let batch = batch?;
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            if copy > 0 {
                let ids = batch.column(id_index).as_string::<i32>();
                let renamed: StringArray = ids.iter().map(|id| id.map(|id| format!("{id}#{copy}"))).collect();
                columns[id_index] = Arc::new(renamed);
            }
            sink.write(&RecordBatch::try_new(Arc::clone(&schema), columns)?)?;
        }
    }
    sink.finish()?;
    Ok(())
}

/// Fail unless `a` and `b` hold the same schema, rows and values (floats bit for bit).
fn compare(a: &Path, b: &Path) -> Result<(), Error> {
    let read = |p: &Path| -> Result<RecordBatch, Error> {
        let (schema, batches) = replay_parquet::read(p)?;
        Ok(arrow::compute::concat_batches(&schema, &batches)?)
    };
    let (a, b) = (read(a)?, read(b)?);
    if a.schema() != b.schema() || a.num_rows() != b.num_rows() {
        return Err("schemas or row counts differ".into());
    }
    for (j, field) in a.schema().fields().iter().enumerate() {
        let same = match (
            a.column(j).as_primitive_opt::<Float64Type>(),
            b.column(j).as_primitive_opt::<Float64Type>(),
        ) {
            (Some(x), Some(y)) => x
                .iter()
                .map(|v| v.map(f64::to_bits))
                .eq(y.iter().map(|v| v.map(f64::to_bits))),
            _ => a.column(j).to_data() == b.column(j).to_data(),
        };
        if !same {
            return Err(format!("column {} differs", field.name()).into());
        }
    }
    println!("same: {} rows x {} columns", a.num_rows(), a.num_columns());
    Ok(())
}
