//! The streaming stage (`run`, `run_in_batches`) against the in-memory reference path
//! (`build` on every row at once, then one Parquet write per file): same rows in the same
//! order, same values bit for bit, same feature_spec.json and split_report.json, whatever
//! the batch size. On hand-made tracks with every encoding, repeated and missing ids,
//! missing values and NaN; on the bundled Kaggle-schema sample after ingest; and on the
//! TidyTuesday data (`../shared/data/spotify_songs.csv.gz`, skipped when absent) with the
//! encodings of `configs/spotify_songs.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[path = "../../../testing/shared_data.rs"]
mod shared;
use shared::shared_data;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use replay_core::io;
use replay_features::{
    build, run_in_batches, Encoding, FeatureMatrix, FeatureOptions, FeaturesConfig, Ids, InputColumns,
    LabelConfig, SplitReport, TargetEncodingOptions,
};

/// Run the streaming stage and the reference on `tracks`; assert identical outputs.
fn assert_same_as_reference(tracks: &Path, config: &FeaturesConfig, batch_rows: &[usize]) {
    let (schema, batches) = replay_parquet::read(tracks).unwrap();
    let reference = build(schema, &batches, config).unwrap();
    let spec_json = serde_json::to_string_pretty(&reference.spec).unwrap();
    for &rows in batch_rows {
        let out = tempfile::tempdir().unwrap();
        let report = run_in_batches(tracks, config, out.path(), rows).unwrap();
        assert_eq!(report, reference.report, "batch_rows {rows}");
        let read_report: SplitReport = io::read_json(&out.path().join("split_report.json")).unwrap();
        assert_eq!(read_report, reference.report);
        // As text: a NaN statistic (from a NaN among the values) is written as null.
        let spec = std::fs::read_to_string(out.path().join("feature_spec.json")).unwrap();
        assert_eq!(spec.trim_end(), spec_json, "batch_rows {rows}");
        assert_same_batch(
            &read_all(&out.path().join("train.parquet")),
            &reference.train,
            "train",
        );
        assert_same_batch(
            &read_all(&out.path().join("test.parquet")),
            &reference.test,
            "test",
        );
    }
}

fn read_all(path: &Path) -> RecordBatch {
    let (schema, batches) = replay_parquet::read(path).unwrap();
    concat_batches(&schema, &batches).unwrap()
}

/// Same schema (with metadata), ids, popularity, labels, and inputs bit for bit.
fn assert_same_batch(got: &RecordBatch, want: &RecordBatch, what: &str) {
    assert_eq!(got.schema(), want.schema(), "{what} schema");
    assert_eq!(got.num_rows(), want.num_rows(), "{what} rows");
    for (j, field) in want.schema().fields().iter().enumerate() {
        let (g, w) = (got.column(j), want.column(j));
        match field.data_type() {
            DataType::Float64 => {
                let bits = |a: &dyn Array| -> Vec<Option<u64>> {
                    a.as_primitive::<Float64Type>()
                        .iter()
                        .map(|v| v.map(f64::to_bits))
                        .collect()
                };
                assert!(
                    bits(g.as_ref()) == bits(w.as_ref()),
                    "{what} column {}",
                    field.name()
                );
            }
            _ => assert_eq!(g.to_data(), w.to_data(), "{what} column {}", field.name()),
        }
    }
}

/// Hand-made tracks: ids with repeats (a repeat with another popularity and a null id),
/// missing and NaN values, dates of every precision, a category, a key and a key list.
fn hand_made_tracks(dir: &Path) -> PathBuf {
    let n = 503;
    let id = |i: usize| format!("t{}", (i * 7919) % 467);
    let ids: StringArray = (0..n).map(|i| (i % 97 != 5).then(|| id(i))).collect();
    let popularity: Float64Array = (0..n).map(|i| Some(((i * 37) % 101) as f64)).collect();
    let dates: StringArray = (0..n)
        .map(|i| match i % 6 {
            0 => None,
            1 => Some(format!("{}", 1990 + i % 31)),
            2 => Some(format!("{}-{:02}", 1990 + i % 29, 1 + i % 12)),
            _ => Some(format!("{}-{:02}-{:02}", 1980 + i % 41, 1 + i % 12, 1 + i % 28)),
        })
        .collect();
    let energy: Float64Array = (0..n)
        .map(|i| match i % 13 {
            0 => None,
            1 => Some(f64::NAN),
            2 => Some(-0.0),
            _ => Some(((i * 31) % 17) as f64 / 7.0),
        })
        .collect();
    let genre: StringArray = (0..n)
        .map(|i| (i % 11 != 0).then(|| ["pop", "rock", "edm", "jazz"][i % 4].to_string()))
        .collect();
    let artist: StringArray = (0..n)
        .map(|i| (i % 9 != 0).then(|| format!("artist {}", (i * 13) % 41)))
        .collect();
    let artists: StringArray = (0..n)
        .map(|i| match i % 8 {
            0 => None,
            1 => Some("[]".to_string()),
            k => Some(format!("['a{}', \"O'{}\", 'x']", (i * 3) % 23, k)),
        })
        .collect();
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("popularity", DataType::Float64, true),
        Field::new("release_date", DataType::Utf8, true),
        Field::new("energy", DataType::Float64, true),
        Field::new("genre", DataType::Utf8, true),
        Field::new("artist", DataType::Utf8, true),
        Field::new("artists", DataType::Utf8, true),
    ]);
    let schema = Arc::new(schema);
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(ids),
            Arc::new(popularity),
            Arc::new(dates),
            Arc::new(energy),
            Arc::new(genre),
            Arc::new(artist),
            Arc::new(artists),
        ],
    )
    .unwrap();
    let path = dir.join("tracks.parquet");
    replay_parquet::write(&path, schema, &[batch]).unwrap();
    path
}

fn hand_made_config(standardize: bool, folds: usize, shuffle: Option<u64>) -> FeaturesConfig {
    FeaturesConfig {
        label: LabelConfig {
            threshold: 50.0,
            scale: 100.0,
            column: None,
            quantile: None,
            shuffle_training_labels_seed: shuffle,
        },
        features: FeatureOptions {
            standardize,
            derive_year: true,
            derive_month: true,
            derive_age: true,
            encode: BTreeMap::from([
                ("genre".to_string(), Encoding::Category),
                ("artist".to_string(), Encoding::Target),
                ("artists".to_string(), Encoding::TargetList),
            ]),
            target_encoding: TargetEncodingOptions {
                folds,
                smoothing: 3.5,
                seed: 11,
            },
        },
        ..FeaturesConfig::default()
    }
}

#[test]
fn hand_made_tracks_stream_to_the_reference_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let tracks = hand_made_tracks(dir.path());
    assert_same_as_reference(&tracks, &hand_made_config(true, 5, None), &[1, 7, 64, 100_000]);
    assert_same_as_reference(&tracks, &hand_made_config(false, 3, None), &[13]);
    // The leakage check permutes the training popularity before fitting.
    assert_same_as_reference(&tracks, &hand_made_config(true, 5, Some(9)), &[1, 50]);
    // More folds than training rows of some keys, and than a tiny batch.
    assert_same_as_reference(&tracks, &hand_made_config(true, 1000, None), &[31]);
}

#[test]
fn streaming_errors_match_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let tracks = hand_made_tracks(dir.path());
    let (schema, batches) = replay_parquet::read(&tracks).unwrap();
    let mut missing = hand_made_config(true, 5, None);
    missing.features.encode.remove("genre");
    let mut single = hand_made_config(true, 5, None);
    single.label.threshold = 0.0;
    for config in [missing, single] {
        let want = build(Arc::clone(&schema), &batches, &config)
            .unwrap_err()
            .to_string();
        let got = run_in_batches(&tracks, &config, dir.path(), 10)
            .unwrap_err()
            .to_string();
        assert_eq!(got, want);
    }
}

/// The matrix read column by column equals the full matrix's selection.
#[test]
fn read_columns_equals_read_then_select() {
    let dir = tempfile::tempdir().unwrap();
    let tracks = hand_made_tracks(dir.path());
    let out = dir.path().join("out");
    run_in_batches(&tracks, &hand_made_config(true, 5, None), &out, 50).unwrap();
    let path = out.join("train.parquet");
    let full = FeatureMatrix::read(&path).unwrap();
    let inputs = InputColumns::read(&path).unwrap();
    assert_eq!((&inputs.names, &inputs.used_by), (&full.names, &full.used_by));
    let names = vec![
        "artists_count".to_string(),
        "genre_code".to_string(),
        "year".to_string(),
    ];
    let some = FeatureMatrix::read_columns(&path, &names, Ids::Skip).unwrap();
    assert_eq!(some.x, full.select(&names).unwrap());
    let bits = |m: &FeatureMatrix| m.x.mapv(f64::to_bits);
    assert_eq!(some.y, full.y);
    assert!(some.ids.is_empty());
    assert_eq!(some.names, names);
    let with_ids = FeatureMatrix::read_columns(&path, &names[..1], Ids::Read).unwrap();
    assert_eq!(with_ids.ids, full.ids);
    let from_batch = FeatureMatrix::from_batch(&read_all(&path)).unwrap();
    assert_eq!(bits(&full), bits(&from_batch));
    assert_eq!(
        (&full.ids, &full.names, &full.used_by, &full.y),
        (
            &from_batch.ids,
            &from_batch.names,
            &from_batch.used_by,
            &from_batch.y
        )
    );
    let e = FeatureMatrix::read_columns(&path, &["nope".to_string()], Ids::Skip).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Ingest `source` with the column mapping `columns` (JSON) into `dir/tracks.parquet`.
fn ingest(source: &Path, columns: serde_json::Value, dir: &Path) -> PathBuf {
    let columns: replay_ingest::ColumnMap = serde_json::from_value(columns).unwrap();
    let options = replay_ingest::IngestOptions::default();
    let tracks = replay_ingest::read_tracks(
        &replay_ingest::Source::new(source),
        &columns,
        &options,
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap();
    let path = dir.join("tracks.parquet");
    replay_parquet::write(&path, tracks.schema, &tracks.batches).unwrap();
    path
}

/// `pipeline.toml`'s features on the bundled 20k sample.
#[test]
fn bundled_sample_streams_to_the_reference_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let columns = serde_json::json!({
        "id": "id", "popularity": "popularity", "release_date": "release_date",
        "numeric": ["valence", "year", "acousticness", "danceability", "duration_ms", "energy",
                    "explicit", "instrumentalness", "key", "liveness", "loudness", "mode",
                    "speechiness", "tempo"],
        "categorical": ["artists"], "drop": ["name"],
    });
    let tracks = ingest(
        &workspace().join("data/kaggle_synthetic_20k.csv.gz"),
        columns,
        dir.path(),
    );
    let config = FeaturesConfig {
        features: FeatureOptions {
            derive_month: true,
            derive_age: true,
            encode: BTreeMap::from([("artists".to_string(), Encoding::TargetList)]),
            ..FeatureOptions::default()
        },
        ..FeaturesConfig::default()
    };
    assert_same_as_reference(&tracks, &config, &[4096, 1 << 20]);
}

/// `configs/spotify_songs.toml`'s features on the TidyTuesday data (repeated ids,
/// categories, three target-encoded keys).
#[test]
fn real_data_streams_to_the_reference_outputs() {
    let Some(source) = shared_data("spotify_songs.csv.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let columns = serde_json::json!({
        "id": "track_id", "popularity": "track_popularity",
        "release_date": "track_album_release_date",
        "numeric": ["danceability", "energy", "key", "loudness", "mode", "speechiness",
                    "acousticness", "instrumentalness", "liveness", "valence", "tempo",
                    "duration_ms"],
        "categorical": ["playlist_genre", "playlist_subgenre", "track_artist", "track_album_id",
                        "playlist_id"],
        "drop": ["track_name", "track_album_name", "playlist_name"],
    });
    let tracks = ingest(&source, columns, dir.path());
    let encode = BTreeMap::from([
        ("playlist_genre".to_string(), Encoding::Category),
        ("playlist_subgenre".to_string(), Encoding::Category),
        ("track_artist".to_string(), Encoding::Target),
        ("track_album_id".to_string(), Encoding::Target),
        ("playlist_id".to_string(), Encoding::Target),
    ]);
    let config = FeaturesConfig {
        features: FeatureOptions {
            derive_month: true,
            derive_age: true,
            encode,
            ..FeatureOptions::default()
        },
        ..FeaturesConfig::default()
    };
    assert_same_as_reference(&tracks, &config, &[5000]);
    let shuffled = FeaturesConfig {
        label: LabelConfig {
            shuffle_training_labels_seed: Some(3),
            ..LabelConfig::default()
        },
        ..config
    };
    assert_same_as_reference(&tracks, &shuffled, &[65536]);
}

/// A popularity on a 0-1 scale with `[label] scale = 1` labels every track as the same
/// popularity times 100 does on the default scale.
#[test]
fn a_zero_to_one_popularity_with_scale_one_labels_as_the_percent_scale() {
    let dir = tempfile::tempdir().unwrap();
    let percent = hand_made_tracks(dir.path());
    let (schema, batches) = replay_parquet::read(&percent).unwrap();
    let batch = arrow::compute::concat_batches(&schema, &batches).unwrap();
    let index = schema.index_of("popularity").unwrap();
    let shares: Float64Array = batch
        .column(index)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .iter()
        .map(|p| p.map(|p| p / 100.0))
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(shares);
    let share_tracks = dir.path().join("shares.parquet");
    let shares = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    replay_parquet::write(&share_tracks, Arc::clone(&schema), &[shares]).unwrap();

    let replayed = |tracks: &Path, scale: f64, out: &str| {
        let mut config = hand_made_config(true, 5, None);
        config.label.scale = scale;
        let out = dir.path().join(out);
        run_in_batches(tracks, &config, &out, 50).unwrap();
        let train = read_all(&out.join("train.parquet"));
        let labels = train.column_by_name("replayed").unwrap().clone();
        labels
            .as_any()
            .downcast_ref::<arrow::array::BooleanArray>()
            .unwrap()
            .clone()
    };
    let want = replayed(&percent, 100.0, "percent");
    assert!(want.true_count() > 0 && want.false_count() > 0);
    assert_eq!(replayed(&share_tracks, 1.0, "shares"), want);
    // On the default scale, every share is below 50: one class, and the error says why.
    let mut config = hand_made_config(true, 5, None);
    config.label.scale = 100.0;
    let err = run_in_batches(&share_tracks, &config, &dir.path().join("x"), 50).unwrap_err();
    assert!(err.to_string().contains("[label] scale = 1"), "{err}");
}

/// `[label] quantile`: the cut is the quantile of the training rows' popularity (checked
/// against the order statistics of train.parquet), it labels train and test rows alike,
/// and the streaming stage equals the in-memory reference.
#[test]
fn a_quantile_label_cuts_at_the_training_rows_quantile() {
    let dir = tempfile::tempdir().unwrap();
    let columns = serde_json::json!({
        "id": "id", "popularity": "popularity", "release_date": "release_date",
        "numeric": ["valence", "energy", "loudness", "tempo"],
        "categorical": ["artists"],
        "drop": ["name", "year", "acousticness", "danceability", "duration_ms", "explicit",
                 "instrumentalness", "key", "liveness", "mode", "speechiness"],
    });
    let integers = ingest(
        &workspace().join("data/kaggle_synthetic_20k.csv.gz"),
        columns,
        dir.path(),
    );
    // Distinct fractional popularity, so that the quantile of the training rows differs
    // from that of all rows (integer popularity would often tie them).
    let (schema, batches) = replay_parquet::read(&integers).unwrap();
    let batch = concat_batches(&schema, &batches).unwrap();
    let index = schema.index_of("popularity").unwrap();
    let popularity = batch.column(index).as_primitive::<Float64Type>();
    let spread: Float64Array = (0..batch.num_rows())
        .map(|i| {
            popularity
                .is_valid(i)
                .then(|| popularity.value(i) + (i as f64 * 0.618_034).fract())
        })
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(spread);
    let tracks = dir.path().join("spread.parquet");
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    replay_parquet::write(&tracks, schema, &[batch]).unwrap();
    let mut config = FeaturesConfig {
        features: FeatureOptions {
            encode: BTreeMap::from([("artists".to_string(), Encoding::TargetList)]),
            ..FeatureOptions::default()
        },
        ..FeaturesConfig::default()
    };
    config.label.quantile = Some(0.8);
    // Stratified (by the cut of all rows, so the training quantile falls in the same gap
    // between popularities), and not: then only the training rows give this cut.
    for stratify in [true, false] {
        config.split.stratify = stratify;
        assert_same_as_reference(&tracks, &config, &[4096]);
        let out = dir.path().join(format!("quantile-{stratify}"));
        let report = run_in_batches(&tracks, &config, &out, 4096).unwrap();
        let values = |file: &str| {
            let batch = read_all(&out.join(file));
            let popularity = batch
                .column_by_name("popularity")
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone();
            let labels = batch.column_by_name("replayed").unwrap().as_boolean().clone();
            popularity
                .values()
                .iter()
                .copied()
                .zip(labels.iter().map(Option::unwrap))
                .collect::<Vec<(f64, bool)>>()
        };
        let (train, test) = (values("train.parquet"), values("test.parquet"));
        let mut sorted: Vec<f64> = train.iter().map(|(p, _)| *p).collect();
        sorted.sort_by(f64::total_cmp);
        let position = 0.8 * (sorted.len() - 1) as f64;
        let (below, above) = (
            sorted[position.floor() as usize],
            sorted[position.ceil() as usize],
        );
        let want = below + position.fract() * (above - below);
        assert_eq!(report.label_cut, want, "stratify {stratify}");
        let spec: serde_json::Value = io::read_json(&out.join("feature_spec.json")).unwrap();
        assert_eq!(spec["label_threshold"].as_f64(), Some(want));
        for (p, label) in train.iter().chain(&test) {
            assert_eq!(*label, *p >= want, "popularity {p}");
        }
        // The top fifth of the training rows (popularity is distinct).
        let positives = train.iter().filter(|(_, l)| *l).count();
        assert_eq!(positives, train.len() - position.floor() as usize - 1);
    }

    // A quantile cuts a popularity: it cannot go with a label column.
    config.label.column = Some("hit".to_string());
    let err = run_in_batches(&tracks, &config, dir.path(), 4096)
        .unwrap_err()
        .to_string();
    assert!(err.contains("label.quantile") && err.contains("'hit'"), "{err}");
}
