//! The report's explanation section: every model explains an even sample of the test
//! songs, the best model also its highest- and lowest-scored songs; each song's
//! contributions add up to the model's output; without the test rows declared as the
//! report's input the section is left out.

mod common;

use common::{config_for, run};
use replay_eval::report::ModelExplanation;
use replay_eval::stage::{explain_test_songs, read_predictions, EXTREME_SONGS};
use replay_features::{FeatureMatrix, Ids};
use replay_models::SavedModel;
use replay_pipeline::PipelineConfig;

#[test]
fn the_report_explains_a_sample_and_the_best_models_extreme_songs() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tracks.csv");
    replay_synth::generate_file(&source, 2000, 9).unwrap();
    let mut config = config_for(&source);
    config.eval.explain_songs = 50;
    let artifacts = dir.path().join("artifacts");
    let summary = run(&config, &artifacts);
    let metrics = summary.metrics.unwrap();
    let latest = artifacts.join("latest");
    let (test, models) = (latest.join("test.parquet"), latest.join("models"));
    let (_, predictions) = read_predictions(&latest.join("predictions.parquet")).unwrap();
    let explanations = explain_test_songs(&metrics, &predictions, &models, &test, 50).unwrap();
    let ranked: Vec<&str> = metrics.ranked().iter().map(|(n, _)| *n).collect();
    let names: Vec<&str> = explanations.iter().map(|e| e.model.as_str()).collect();
    assert_eq!(names, ranked, "best model first, as ranked");
    let n_test = predictions[0].1.len();
    for (rank, e) in explanations.iter().enumerate() {
        assert_eq!(e.sampled, 50);
        let extra = if rank == 0 { 2 * EXTREME_SONGS } else { 0 };
        assert_eq!(e.ids.len(), 50 + extra, "{}", e.model);
        assert_adds_up(e, &models, &test);
        // The mean |contribution| is over the sample only, largest first.
        let means = e.mean_abs();
        assert!(means.windows(2).all(|w| w[0].1 >= w[1].1));
        let j = e.inputs.iter().position(|i| *i == means[0].0).unwrap();
        let by_hand = e.contributions[..50].iter().map(|r| r[j].abs()).sum::<f64>() / 50.0;
        assert!((means[0].1 - by_hand).abs() < 1e-12);
    }
    // The best model's extremes are its highest-, then lowest-scored test songs.
    let best = &explanations[0];
    let p = &predictions.iter().find(|(n, _)| *n == best.model).unwrap().1;
    let mut sorted = p.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(
        best.probabilities[50..50 + EXTREME_SONGS],
        sorted[..EXTREME_SONGS]
    );
    let lowest: Vec<f64> = sorted[n_test - EXTREME_SONGS..].iter().rev().copied().collect();
    assert_eq!(best.probabilities[50 + EXTREME_SONGS..], lowest[..]);
    // The report shows the section and its charts.
    let report = std::fs::read_to_string(latest.join("report.html")).unwrap();
    assert!(report.contains("<h2>Why: contributions</h2>"));
    let plots = latest.join("plots");
    let mut stems = vec![
        format!("beeswarm_{}", best.model),
        format!("dependence_{}_4", best.model),
        format!("waterfall_{}_high_{EXTREME_SONGS}", best.model),
        format!("waterfall_{}_low_1", best.model),
    ];
    stems.extend(ranked.iter().map(|n| format!("contributions_{n}")));
    for stem in &stems {
        assert!(plots.join(format!("{stem}.png")).is_file(), "{stem}");
    }
    // Every model's mean |contribution|, a beeswarm, 4 dependence plots, 10 waterfalls.
    let why = &report[report.find("Why: contributions").unwrap()..report.find("<h2>Data</h2>").unwrap()];
    assert_eq!(
        why.matches("<figure>").count(),
        ranked.len() + 1 + 4 + 2 * EXTREME_SONGS
    );
    let markdown = std::fs::read_to_string(latest.join("report.md")).unwrap();
    assert!(markdown.contains(&format!("plots/waterfall_{}_low_1.png", best.model)));
}

/// Each explained song's contributions plus the expected value equal the model's output
/// for that song's row of the test file.
fn assert_adds_up(e: &ModelExplanation, models: &std::path::Path, test: &std::path::Path) {
    let saved = SavedModel::load(&models.join(SavedModel::file_name(&e.model))).unwrap();
    let matrix = FeatureMatrix::read_columns(test, &saved.feature_names, Ids::Read).unwrap();
    let outputs = saved.predict_output(matrix.x.view()).unwrap();
    for (k, id) in e.ids.iter().enumerate() {
        let row = matrix.ids.iter().position(|i| i == id).unwrap();
        assert_eq!(e.values[k], matrix.x.row(row).to_vec(), "{}: song {id}", e.model);
        let total = e.expected + e.contributions[k].iter().sum::<f64>();
        assert!(
            (total - outputs[row]).abs() < 1e-9,
            "{}: {total} vs {}",
            e.model,
            outputs[row]
        );
        assert!((saved.probability_of_output(outputs[row]) - e.probabilities[k]).abs() < 1e-12);
    }
}

#[test]
fn without_the_test_rows_the_report_has_no_explanation_section() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tracks.csv");
    replay_synth::generate_file(&source, 1000, 3).unwrap();
    let mut config = config_for(&source);
    config.eval.bootstrap_samples = 0;
    let report = config.stages.get_mut("report").unwrap();
    report.inputs.retain(|i| i != "features/test.parquet");
    let artifacts = dir.path().join("artifacts");
    run(&config, &artifacts);
    let html = std::fs::read_to_string(artifacts.join("latest/report.html")).unwrap();
    assert!(html.contains("<h2>Charts</h2>") && !html.contains("Why: contributions"));
    // An input the report cannot read is still an error.
    let mut config = PipelineConfig::default();
    config
        .stages
        .get_mut("report")
        .unwrap()
        .inputs
        .push("features/train.parquet".into());
    let error = replay_pipeline::graph::StageGraph::new(&config.stages).unwrap_err();
    assert!(
        error.contains("inputs must provide") && error.contains("may provide"),
        "{error}"
    );
}
