//! The fitted encodings on a tiny hand-worked dataset, through `FeatureSpec::fit` and
//! `FeatureSpec::apply`: one-hot indicators and ordinal codes with an unseen category,
//! out-of-fold target means (leave-one-out: one fold per row, so the shuffle does not
//! matter), counts, Python-list artists, month and age.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use replay_core::schema::ModelFamily;
use replay_features::{
    Encoding, FeatureMatrix, FeatureOptions, FeatureSpec, FeaturesConfig, TargetEncodingOptions,
};

/// id, popularity, release date, genre, artist, artists (a Python list literal).
type Row<'a> = (
    &'a str,
    Option<f64>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

fn batch(rows: &[Row<'_>]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("popularity", DataType::Float64, true),
        Field::new("release_date", DataType::Utf8, true),
        Field::new("genre", DataType::Utf8, true),
        Field::new("artist", DataType::Utf8, true),
        Field::new("artists", DataType::Utf8, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.5).collect::<Vec<_>>())),
        ],
    )
    .unwrap()
}

/// Six training tracks: labels (popularity >= 50) 1 0 1 0 1 0, prior 0.5.
fn training() -> RecordBatch {
    batch(&[
        (
            "a",
            Some(80.0),
            Some("2019-06-14"),
            Some("pop"),
            Some("X"),
            Some(r#"['X', "O'Neil"]"#),
        ),
        (
            "b",
            Some(20.0),
            Some("2018"),
            Some("rock"),
            Some("X"),
            Some("['X']"),
        ),
        (
            "c",
            Some(60.0),
            Some("2020-01"),
            Some("pop"),
            Some("Y"),
            Some(r"['Y', 'It\'s', 'Z']"),
        ),
        ("d", Some(10.0), Some("2017-03-01"), None, Some("X"), Some("[]")),
        (
            "e",
            Some(70.0),
            Some("2019-12-30"),
            Some("edm"),
            Some("Y"),
            Some(r#"["Y"]"#),
        ),
        ("f", Some(30.0), Some("2016"), Some("rock"), Some("Z"), None),
    ])
}

fn config() -> FeaturesConfig {
    FeaturesConfig {
        features: FeatureOptions {
            standardize: false,
            derive_year: true,
            derive_month: true,
            derive_age: true,
            encode: BTreeMap::from([
                ("genre".to_string(), Encoding::Category),
                ("artist".to_string(), Encoding::Target),
                ("artists".to_string(), Encoding::TargetList),
            ]),
            // One fold per row: each training row is encoded by the five others.
            target_encoding: TargetEncodingOptions {
                folds: 6,
                smoothing: 2.0,
                seed: 3,
            },
        },
        ..FeaturesConfig::default()
    }
}

fn column(batch: &RecordBatch, name: &str) -> Vec<f64> {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

#[test]
fn inputs_are_named_in_order_and_declare_their_families() {
    let (spec, train) = FeatureSpec::fit(&training(), &config()).unwrap();
    let names: Vec<&str> = spec.names().collect();
    assert_eq!(
        names,
        [
            "year",
            "month",
            "age",
            "genre=edm",
            "genre=pop",
            "genre=rock",
            "genre_code",
            "artist_target_mean",
            "artist_count",
            "artists_target_mean",
            "artists_count",
            "artists_length",
        ]
    );
    let matrix = FeatureMatrix::from_batch(&train).unwrap();
    let linear = matrix.names_for(ModelFamily::Linear);
    let trees = matrix.names_for(ModelFamily::Trees);
    assert!(linear.contains(&"genre=pop".to_string()) && !linear.contains(&"genre_code".to_string()));
    assert!(trees.contains(&"genre_code".to_string()) && !trees.contains(&"genre=pop".to_string()));
    assert_eq!(linear.len(), 11);
    assert_eq!(trees.len(), 9);
    let selected = matrix.select(&["age".to_string(), "year".to_string()]).unwrap();
    assert_eq!(selected.column(0).to_vec(), [1.0, 2.0, 0.0, 3.0, 1.0, 4.0]);
    assert!(matrix.select(&["nope".to_string()]).is_err());
}

#[test]
fn training_rows_get_dates_categories_out_of_fold_means_and_counts() {
    let (_, train) = FeatureSpec::fit(&training(), &config()).unwrap();
    assert_eq!(
        column(&train, "year"),
        [2019.0, 2018.0, 2020.0, 2017.0, 2019.0, 2016.0]
    );
    // Months 6, -, 1, 3, 12, -: missing ones take the median of 1, 3, 6, 12 = 4.5.
    assert_eq!(column(&train, "month"), [6.0, 4.5, 1.0, 3.0, 12.0, 4.5]);
    // Newest training year 2020.
    assert_eq!(column(&train, "age"), [1.0, 2.0, 0.0, 3.0, 1.0, 4.0]);
    // Categories sorted: edm 0, pop 1, rock 2; missing: 3, all indicators 0.
    assert_eq!(column(&train, "genre_code"), [1.0, 2.0, 1.0, 3.0, 0.0, 2.0]);
    assert_eq!(column(&train, "genre=pop"), [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(column(&train, "genre=rock"), [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    // Leave-one-out, prior 0.5, m = 2: (sum + 1) / (count + 2) over the other rows.
    // a (X): b 0, d 0 -> 1/4; b (X): a 1, d 0 -> 2/4; c (Y): e 1 -> 2/3;
    // d (X): a 1, b 0 -> 2/4; e (Y): c 1 -> 2/3; f (Z): no other Z -> prior.
    assert_eq!(
        column(&train, "artist_target_mean"),
        [0.25, 0.5, 2.0 / 3.0, 0.5, 2.0 / 3.0, 0.5]
    );
    assert_eq!(column(&train, "artist_count"), [3.0, 3.0, 2.0, 3.0, 2.0, 1.0]);
    // artists: first names X, X, Y, -, Y, -: X has a 1, b 0; Y has c 1, e 1.
    // a: b 0 -> 1/3; b: a 1 -> 2/3; c: e 1 -> 2/3; d and f: no key -> prior; e: c 1 -> 2/3.
    assert_eq!(
        column(&train, "artists_target_mean"),
        [1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 0.5, 2.0 / 3.0, 0.5]
    );
    assert_eq!(column(&train, "artists_count"), [2.0, 2.0, 2.0, 0.0, 2.0, 0.0]);
    assert_eq!(column(&train, "artists_length"), [2.0, 1.0, 3.0, 0.0, 1.0, 0.0]);
}

#[test]
fn new_songs_get_full_training_statistics_and_unseen_values_fall_back() {
    let (spec, _) = FeatureSpec::fit(&training(), &config()).unwrap();
    let new = batch(&[
        (
            "n1",
            None,
            Some("2021-02-02"),
            Some("jazz"),
            Some("W"),
            Some("['Q', 'X']"),
        ),
        (
            "n2",
            Some(55.0),
            Some("2010"),
            Some("pop"),
            Some("X"),
            Some("['Y']"),
        ),
        ("n3", None, None, None, Some("Y"), Some(r#"["X", "B'C"]"#)),
        (
            "n4",
            None,
            Some("2019-05"),
            Some("rock"),
            Some("Z"),
            Some("['Z']"),
        ),
    ]);
    let out = spec.apply(&new).unwrap();
    let label = out.column_by_name("replayed").unwrap().as_boolean();
    assert!(label.is_null(0) && label.value(1) && label.is_null(2));
    // Unseen genre "jazz" and a missing genre: all indicators 0 and the unseen code 3.
    assert_eq!(column(&out, "genre_code"), [3.0, 1.0, 3.0, 2.0]);
    for category in ["edm", "pop", "rock"] {
        let want: Vec<f64> = ["jazz", "pop", "", "rock"]
            .iter()
            .map(|g| f64::from(u8::from(*g == category)))
            .collect();
        assert_eq!(column(&out, &format!("genre={category}")), want, "{category}");
    }
    // Full training set: X (1 + 1) / (3 + 2), Y (2 + 1) / (2 + 2), Z (0 + 1) / (1 + 2); W unseen.
    assert_eq!(column(&out, "artist_target_mean"), [0.5, 0.4, 0.75, 1.0 / 3.0]);
    assert_eq!(column(&out, "artist_count"), [0.0, 3.0, 2.0, 1.0]);
    // First names Q (unseen), Y, X, Z (unseen: f has no artists); X (1 + 1) / 4, Y (2 + 1) / 4.
    assert_eq!(column(&out, "artists_target_mean"), [0.5, 0.75, 0.5, 0.5]);
    assert_eq!(column(&out, "artists_count"), [0.0, 2.0, 2.0, 0.0]);
    assert_eq!(column(&out, "artists_length"), [2.0, 1.0, 2.0, 1.0]);
    // Age from the newest training year (2020), even for a newer song; a missing date is
    // imputed with the training medians (year 2018.5, month 4.5, age 1.5).
    assert_eq!(column(&out, "year"), [2021.0, 2010.0, 2018.5, 2019.0]);
    assert_eq!(column(&out, "age"), [-1.0, 10.0, 1.5, 1.0]);
    assert_eq!(column(&out, "month"), [2.0, 4.5, 4.5, 5.0]);
    // The spec survives JSON and transforms identically.
    let json = serde_json::to_string(&spec).unwrap();
    let back: FeatureSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, spec);
    assert_eq!(back.transform(&new).unwrap(), spec.transform(&new).unwrap());
    let named = spec
        .transform_named(&new, &["artist_count".to_string(), "year".to_string()])
        .unwrap();
    assert_eq!(named.column(0).to_vec(), [0.0, 3.0, 2.0, 1.0]);
}

#[test]
fn encodings_must_match_the_categorical_columns() {
    let mut missing = config();
    missing.features.encode.remove("genre");
    let e = FeatureSpec::fit(&training(), &missing).unwrap_err().to_string();
    assert!(e.contains("'genre'") && e.contains("needs an encoding"), "{e}");
    let mut extra = config();
    extra.features.encode.insert("mood".into(), Encoding::Category);
    let e = FeatureSpec::fit(&training(), &extra).unwrap_err().to_string();
    assert!(
        e.contains("'mood'") && e.contains("not a categorical column"),
        "{e}"
    );
}

#[test]
fn an_input_may_not_take_the_name_of_a_record_column() {
    let mut fields: Vec<Field> = training()
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = training().columns().to_vec();
    fields.push(Field::new("replayed", DataType::Float64, true));
    columns.push(Arc::new(Float64Array::from(vec![1.0; 6])));
    let tracks = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    match FeatureSpec::fit(&tracks, &config()) {
        Err(e @ replay_features::FeatureError::DuplicateFeature(_)) => {
            assert!(e.to_string().contains("'replayed'"), "{e}")
        }
        other => panic!("{:?}", other.map(|(spec, _)| spec)),
    }
}
