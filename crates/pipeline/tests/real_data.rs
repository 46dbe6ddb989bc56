//! The pipeline on the real TidyTuesday data in `../shared/data/spotify_songs.csv.gz`,
//! with the seed's features (configs/spotify_songs_seed.toml).

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::{run, shared_data};
use replay_features::FeatureMatrix;
use replay_models::logistic::{self, ClassWeight, LogisticParams};
use replay_pipeline::PipelineConfig;

fn seed_config(source: &Path) -> PipelineConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/spotify_songs_seed.toml");
    let mut config = PipelineConfig::load(&path).unwrap();
    config.source = Some(replay_ingest::Source::new(source));
    config
}

/// scikit-learn 1.x `LogisticRegression(C=1, class_weight="balanced", tol=1e-12,
/// max_iter=100000)` on the training rows of this split (scripts/sklearn_logreg_reference.py).
/// Inputs: danceability, energy, key, loudness, mode, speechiness, acousticness,
/// instrumentalness, liveness, valence, tempo, duration_ms, year.
const SKLEARN_INTERCEPT: f64 = -0.02924511063841093;
const SKLEARN_COEFFICIENTS: [f64; 13] = [
    0.01654916319676878,
    -0.40891193217103106,
    0.017605631179001508,
    0.37952906506609235,
    0.027598641742601352,
    -0.03814573038968168,
    0.05674166174286868,
    -0.18975747851112665,
    -0.039748681429933534,
    0.04211855463315349,
    0.06306888381206213,
    -0.19425195762325237,
    -0.15830162397239425,
];

#[test]
fn seed_features_on_real_data_reach_the_targets_and_match_scikit_learn() {
    let Some(source) = shared_data("spotify_songs.csv.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = seed_config(&source);
    let summary = run(&config, dir.path());
    let metrics = summary.metrics.unwrap();
    let lr = &metrics.models["logistic_regression"];
    let tree = &metrics.models["decision_tree"];
    assert!(
        lr.roc_auc >= 0.606 && lr.recall >= 0.60,
        "logistic regression: {lr:?}"
    );
    assert!(tree.roc_auc >= 0.62, "decision tree: {tree:?}");

    let latest = dir.path().join("latest");
    let train = FeatureMatrix::read(&latest.join("train.parquet")).unwrap();
    let test = FeatureMatrix::read(&latest.join("test.parquet")).unwrap();
    assert_eq!(
        (train.x.nrows(), test.x.nrows()),
        (22685, 5671),
        "28,356 distinct tracks, 80/20"
    );
    let train_ids: HashSet<&String> = train.ids.iter().collect();
    assert!(
        test.ids.iter().all(|id| !train_ids.contains(id)),
        "a track is in train and test"
    );

    let params = LogisticParams {
        c: 1.0,
        class_weight: ClassWeight::Balanced,
        max_iter: 100,
    };
    let model = logistic::fit(&params.check().unwrap(), train.x.view(), train.y.view()).unwrap();
    assert!(model.converged);
    let relative = |ours: f64, theirs: f64| (ours - theirs).abs() / theirs.abs();
    assert!(
        relative(model.intercept, SKLEARN_INTERCEPT) < 1e-3,
        "intercept {}",
        model.intercept
    );
    for (j, (&ours, &theirs)) in model.coefficients.iter().zip(&SKLEARN_COEFFICIENTS).enumerate() {
        assert!(
            relative(ours, theirs) < 1e-3,
            "coefficient {j} ({}): {ours} vs {theirs}",
            train.names[j]
        );
    }
}
