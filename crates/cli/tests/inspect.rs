//! `replay model inspect` on a small saved model.

use std::path::Path;
use std::process::{Command, Output};

use ndarray::{array, Array1};
use replay_models::refine::{Calibrator, OperatingPoint, Refined, ThresholdRule};
use replay_models::{fit, ForestParams, ModelConfig, SavedModel};

/// `replay model inspect PATH`.
fn inspect(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replay"))
        .args(["model", "inspect"])
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn inspect_prints_kind_totals_features_and_config() {
    let x = array![
        [1.0, 5.0],
        [2.0, 1.0],
        [3.0, 4.0],
        [4.0, 2.0],
        [5.0, 3.0],
        [6.0, 3.0]
    ];
    let y: Array1<bool> = array![false, false, true, true, true, false];
    let config = ModelConfig::RandomForest(ForestParams {
        n_trees: 3,
        ..Default::default()
    });
    let model = fit(&config, x.view(), y.view()).unwrap();
    let saved = SavedModel::new(
        "small_forest",
        config,
        vec!["tempo".into(), "energy".into()],
        model,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SavedModel::file_name("small_forest"));
    saved.save(&path).unwrap();
    let summary = SavedModel::read_summary(&path).unwrap();

    let output = inspect(&path);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no '{key}' line in:\n{text}"))
            .to_string()
    };
    assert_eq!(field("kind:"), "random_forest");
    assert_eq!(field("name:"), "small_forest");
    assert_eq!(field("format:"), replay_models::MODEL_FORMAT.to_string());
    assert_eq!(field("trees:"), "3");
    assert_eq!(field("nodes:"), summary.nodes.to_string());
    assert_eq!(field("leaves:"), summary.leaves.to_string());
    assert_eq!(field("max depth:"), summary.max_depth.to_string());
    assert!(
        field("explain:").starts_with("yes"),
        "a new forest can be explained"
    );
    let bytes = std::fs::metadata(&path).unwrap().len();
    assert!(field("bytes:").starts_with(&bytes.to_string()), "{text}");
    assert!(text.contains("features (2):") && text.contains("tempo") && text.contains("energy"));
    assert!(
        text.contains("[random_forest]") && text.contains("n_trees = 3"),
        "{text}"
    );
    assert!(
        !text.contains("calibrated:") && !text.contains("threshold:") && !text.contains("oob:"),
        "{text}"
    );

    // A calibrated model with a chosen threshold says so.
    let refined = saved.refined(Refined {
        calibrator: Some(Calibrator::Sigmoid { a: -4.0, b: 2.0 }),
        operating_point: Some(OperatingPoint {
            rule: ThresholdRule::Recall(0.8),
            threshold: 0.375,
        }),
    });
    refined.save(&path).unwrap();
    let output = inspect(&path);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("calibrated: sigmoid"), "{text}");
    assert!(
        text.contains("threshold:  0.375 (recall 0.8 on out-of-fold"),
        "{text}"
    );

    // A damaged file is an error naming it.
    std::fs::write(&path, b"not a model").unwrap();
    let output = inspect(&path);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("small_forest.model.bin"), "{err}");
}

#[test]
fn inspect_prints_a_forests_out_of_bag_roc_auc() {
    // 300 rows whose label follows the first input, with noise from the second.
    let x = ndarray::Array2::from_shape_fn((300, 2), |(i, j)| ((i * (7 + 5 * j)) % 97) as f64);
    let y: Array1<bool> = (0..300).map(|i| x[[i, 0]] + 0.3 * x[[i, 1]] > 60.0).collect();
    let config = ModelConfig::RandomForest(ForestParams {
        n_trees: 20,
        oob_score: true,
        ..Default::default()
    });
    let model = fit(&config, x.view(), y.view()).unwrap();
    let saved = SavedModel::new("oob_forest", config, vec!["tempo".into(), "energy".into()], model);
    let expected = saved.summary(0).oob_roc_auc.expect("an out-of-bag ROC-AUC");
    assert!(expected > 0.5 && expected <= 1.0, "{expected}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SavedModel::file_name("oob_forest"));
    saved.save(&path).unwrap();
    assert_eq!(
        SavedModel::read_summary(&path).unwrap().oob_roc_auc,
        Some(expected)
    );
    let output = inspect(&path);
    let text = String::from_utf8(output.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("oob:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(&format!("ROC-AUC {expected:.4}")), "{line}");
}
