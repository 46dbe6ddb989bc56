//! Calibration and operating points through the whole pipeline: the train stage fits them
//! on out-of-fold training predictions and saves them with the model; eval reports the
//! probabilities' quality before and after and decides at the saved threshold; score
//! writes that decision; a changed calibration refits only its model.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_rescoring_reproduces, run};
use replay_ingest::Source;
use replay_models::refine::{CalibrationMethod, ThresholdRule};
use replay_models::SavedModel;
use replay_pipeline::PipelineConfig;

fn synthetic(dir: &Path, rows: usize) -> PathBuf {
    let path = dir.join("tracks.csv");
    replay_synth::generate_file(&path, rows, 5).unwrap();
    path
}

const REFINED: &str = r#"
[calibration.models]
gradient_boosting = "isotonic"
logistic_regression = "sigmoid"

[eval]
operating_point = "max_f1"
"#;

#[test]
fn calibrated_models_report_before_and_after_and_decide_at_their_saved_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let source = synthetic(dir.path(), 3000);
    let mut config = PipelineConfig::parse(REFINED).unwrap();
    config.source = Some(Source::new(&source));
    let artifacts = dir.path().join("artifacts");
    let summary = run(&config, &artifacts);
    let metrics = summary.metrics.unwrap();
    let latest = artifacts.join("latest");
    for (name, m) in &metrics.models {
        let model = SavedModel::load(&latest.join("models").join(SavedModel::file_name(name))).unwrap();
        let point = model.operating_point.unwrap();
        assert_eq!(point.rule, ThresholdRule::MaxF1);
        assert_eq!(
            m.threshold, point.threshold,
            "{name} is judged at its own threshold"
        );
        assert_eq!(m.threshold_rule, Some(ThresholdRule::MaxF1));
        let method = model.calibrator.as_ref().map(|c| c.method());
        assert_eq!(m.calibration.as_ref().map(|c| c.method), method, "{name}");
        match name.as_str() {
            "gradient_boosting" => assert_eq!(method, Some(CalibrationMethod::Isotonic)),
            "logistic_regression" => assert_eq!(method, Some(CalibrationMethod::Sigmoid)),
            _ => assert_eq!(method, None),
        }
        if let Some(c) = &m.calibration {
            // The flat metrics are the calibrated probabilities'; a monotone map moves
            // ROC-AUC only through ties.
            assert_eq!((c.after.ece, c.after.brier), (m.ece, m.brier));
            assert!((c.after.roc_auc - c.before.roc_auc).abs() < 0.01, "{name}: {c:?}");
            assert_ne!(c.before.brier, c.after.brier);
            let rows: u64 = c.before.curve.iter().map(|b| b.count).sum();
            assert_eq!(rows, metrics.test_set.rows as u64);
            // Sampling noise: what perfectly calibrated probabilities show on these rows.
            let noise = c.ece_noise.unwrap();
            assert!(noise > 0.0 && noise < 0.2, "{name}: {c:?}");
            let [low, high] = c.ece_change_interval.unwrap();
            assert!(low <= high, "{name}: {c:?}");
        }
    }
    // The balanced logistic regression is far from calibrated; the map fixes most of it.
    let logistic = metrics.models["logistic_regression"]
        .calibration
        .as_ref()
        .unwrap();
    assert!(logistic.after.ece < logistic.before.ece, "{logistic:?}");
    // By more than the test rows' noise: the whole interval of the change is below zero.
    assert!(logistic.ece_change_interval.unwrap()[1] < 0.0, "{logistic:?}");
    // The report states each model's threshold and its figures before calibration.
    let report = std::fs::read_to_string(latest.join("report.md")).unwrap();
    let boosting = report
        .lines()
        .find(|l| l.starts_with("| gradient_boosting"))
        .unwrap();
    assert!(
        boosting.contains("(max F1 out of fold)") && boosting.contains("before isotonic"),
        "{boosting}"
    );
    let forest = report.lines().find(|l| l.starts_with("| random_forest")).unwrap();
    assert!(!forest.contains("before"), "{forest}");
    assert!(report.contains("dashed: calibrated models before their map"));
    // predictions.parquet holds the calibrated probabilities, and score reproduces them.
    assert_rescoring_reproduces(&config, &latest, &source);
    let progress = indicatif::ProgressBar::hidden();
    let model_path = latest.join("models/gradient_boosting.model.bin");
    let spec = latest.join("feature_spec.json");
    let scored = replay_pipeline::stages::score(None, &spec, &model_path, &source, &progress).unwrap();
    let threshold = metrics.models["gradient_boosting"].threshold;
    assert!(scored.iter().all(|s| s.replayed == (s.probability >= threshold)));
    assert!(scored.iter().any(|s| s.replayed) && scored.iter().any(|s| !s.replayed));

    // Another calibration method refits that model only.
    let changed = REFINED.replace(
        r#"logistic_regression = "sigmoid""#,
        r#"logistic_regression = "isotonic""#,
    );
    let mut config = PipelineConfig::parse(&changed).unwrap();
    config.source = Some(Source::new(&source));
    let second = run(&config, &artifacts);
    let train = &second.stages[2];
    assert!(train.summary.contains("3 unchanged, reused"), "{}", train.summary);
    let after = second.metrics.unwrap();
    assert_eq!(
        after.models["gradient_boosting"],
        metrics.models["gradient_boosting"]
    );
    assert_ne!(
        after.models["logistic_regression"],
        metrics.models["logistic_regression"]
    );
}

#[test]
fn calibration_and_operating_point_settings_are_checked_where_they_are_written() {
    let e = PipelineConfig::parse("[calibration.models]\nforest = \"isotonic\"\n").unwrap_err();
    assert!(e.contains("'forest'") && e.contains("not a model"), "{e}");
    let e = PipelineConfig::parse("[calibration.models]\nrandom_forest = \"platt\"\n").unwrap_err();
    assert!(e.contains("line 2") && e.contains("isotonic"), "{e}");
    let e = PipelineConfig::parse("[calibration]\nfolds = 1\n").unwrap_err();
    assert!(e.contains("line 2") && e.contains("at least 2"), "{e}");
    let e = PipelineConfig::parse("[eval]\noperating_point = { recall = 1.5 }\n").unwrap_err();
    assert!(e.contains("line 2") && e.contains("(0, 1]"), "{e}");
    let e = PipelineConfig::parse("[eval]\noperating_point = \"best\"\n").unwrap_err();
    assert!(e.contains("line 2") && e.contains("max_f1"), "{e}");
    let config = PipelineConfig::parse("[eval]\noperating_point = { cost_ratio = 4.0 }\n").unwrap();
    assert_eq!(config.eval.operating_point, Some(ThresholdRule::CostRatio(4.0)));
    // The folds default to the target encoding's.
    let config = PipelineConfig::parse("[features.target_encoding]\nfolds = 7\nseed = 3\n").unwrap();
    let name = config.models.keys().next().unwrap();
    let refinement = config.refinement(name);
    assert_eq!((refinement.folds, refinement.seed), (7, 3));
}
