//! Calibration and operating points fitted on out-of-fold predictions: every row is
//! predicted by a model that never saw it, the saved map and threshold are what the model
//! file applies, and a damaged map is refused on load.

mod common;

use ndarray::{Array1, Axis};
use replay_models::refine::{
    out_of_fold_outputs, refine, stratified_folds, CalibrationMethod, Calibrator, OperatingPoint, Refinement,
    ThresholdRule,
};
use replay_models::{fit, BoostingParams, ForestParams, LogisticParams, ModelConfig, SavedModel};

/// [`common::synthetic`] without missing values (logistic regression needs them imputed).
fn complete(n: usize, seed: u64) -> (ndarray::Array2<f64>, Array1<bool>) {
    let (x, y) = common::synthetic(n, seed);
    (x.mapv(|v| if v.is_nan() { 0.5 } else { v }), y)
}

fn configs() -> Vec<ModelConfig> {
    vec![
        ModelConfig::LogisticRegression(LogisticParams::default()),
        ModelConfig::RandomForest(ForestParams {
            n_trees: 15,
            seed: 3,
            ..Default::default()
        }),
        ModelConfig::GradientBoosting(BoostingParams {
            n_iter: 20,
            seed: 3,
            ..Default::default()
        }),
    ]
}

#[test]
fn each_fold_is_predicted_by_a_model_fitted_on_the_other_folds() {
    let (x, y) = complete(600, 1);
    let fold = stratified_folds(y.view(), 4, 9).unwrap();
    for k in 0..4 {
        let in_fold = fold.iter().filter(|&&f| f == k).count();
        let positives = (0..600).filter(|&i| fold[i] == k && y[i]).count();
        assert!(
            (140..=160).contains(&in_fold) && positives > 0,
            "fold {k}: {in_fold} rows"
        );
    }
    for config in configs() {
        let (outputs, space) = out_of_fold_outputs(&config, x.view(), y.view(), &fold).unwrap();
        // Fold 2 by hand: fitted on the others, predicting fold 2.
        let kept: Vec<usize> = (0..600).filter(|&i| fold[i] != 2).collect();
        let held: Vec<usize> = (0..600).filter(|&i| fold[i] == 2).collect();
        let model = fit(
            &config,
            x.select(Axis(0), &kept).view(),
            y.select(Axis(0), &kept).view(),
        )
        .unwrap();
        let by_hand = model.predict_output(x.select(Axis(0), &held).view()).unwrap();
        for (&i, &o) in held.iter().zip(&by_hand) {
            assert_eq!(outputs[i].to_bits(), o.to_bits(), "{} row {i}", config.kind());
        }
        // A model fitted on every row differs from the held-out outputs.
        let all = fit(&config, x.view(), y.view())
            .unwrap()
            .predict_output(x.view())
            .unwrap();
        assert!(all.iter().zip(&outputs).any(|(a, b)| a != b));
        assert_eq!(space, model.output_space());
    }
}

#[test]
fn a_refined_model_file_applies_its_map_and_keeps_its_threshold() {
    let (x, y) = complete(800, 2);
    let (test, _) = complete(300, 3);
    let fold = stratified_folds(y.view(), 5, 1).unwrap();
    for (config, method) in configs().into_iter().zip([
        CalibrationMethod::Sigmoid,
        CalibrationMethod::Isotonic,
        CalibrationMethod::Isotonic,
    ]) {
        let refinement = Refinement {
            calibration: Some(method),
            operating_point: Some(ThresholdRule::MaxF1),
            ..Refinement::default()
        };
        let refined = refine(&config, x.view(), y.view(), &refinement, &fold).unwrap();
        let calibrator = refined.calibrator.clone().unwrap();
        assert_eq!(calibrator.method(), method);
        // The threshold is the max-F1 one of the calibrated out-of-fold probabilities.
        let (outputs, _) = out_of_fold_outputs(&config, x.view(), y.view(), &fold).unwrap();
        let p: Vec<f64> = outputs.iter().map(|&o| calibrator.probability(o)).collect();
        let labels = y.to_vec();
        let threshold = refined.operating_point.unwrap().threshold;
        let f1 = |t: f64| {
            let tp = p.iter().zip(&labels).filter(|(&q, &l)| q >= t && l).count() as f64;
            let predicted = p.iter().filter(|&&q| q >= t).count() as f64;
            let positives = labels.iter().filter(|&&l| l).count() as f64;
            2.0 * tp / (predicted + positives)
        };
        assert!(p.iter().all(|&t| f1(t) <= f1(threshold)), "{}", config.kind());

        let model = fit(&config, x.view(), y.view()).unwrap();
        let names = (0..6).map(|j| format!("x{j}")).collect();
        let saved = SavedModel::new("m", config.clone(), names, model).refined(refined);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.model.bin");
        saved.save(&path).unwrap();
        let loaded = SavedModel::load(&path).unwrap();
        assert_eq!(loaded, saved);
        let calibrated = loaded.predict_proba(test.view()).unwrap();
        let outputs = loaded.predict_output(test.view()).unwrap();
        let by_map: Array1<f64> = outputs.mapv(|o| calibrator.probability(o));
        assert_eq!(calibrated, by_map);
        assert_eq!(
            loaded.predict_uncalibrated(test.view()).unwrap(),
            loaded.model.predict_proba(test.view()).unwrap()
        );
        // Calibration is monotone: it never reverses two songs' order.
        for (i, j) in (0..299).map(|i| (i, i + 1)) {
            if outputs[i] < outputs[j] {
                assert!(calibrated[i] <= calibrated[j]);
            }
        }
    }
}

#[test]
fn nothing_asked_fits_nothing_and_bad_settings_are_errors() {
    let (x, y) = complete(200, 4);
    let config = &configs()[0];
    let none = refine(config, x.view(), y.view(), &Refinement::default(), &[]).unwrap();
    assert!(none.calibrator.is_none() && none.operating_point.is_none());
    let bad = Refinement {
        operating_point: Some(ThresholdRule::Recall(0.0)),
        ..Refinement::default()
    };
    let e = refine(config, x.view(), y.view(), &bad, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("operating_point") && e.contains("recall"), "{e}");
    let asked = Refinement {
        calibration: Some(CalibrationMethod::Sigmoid),
        ..Refinement::default()
    };
    let e = refine(config, x.view(), y.view(), &asked, &[0; 5])
        .unwrap_err()
        .to_string();
    assert!(e.contains("5 folds for 200 rows"), "{e}");
    assert!(
        stratified_folds(y.view(), 500, 1).is_err(),
        "more folds than rows of a class"
    );
}

#[test]
fn a_damaged_calibration_map_or_threshold_is_refused() {
    let (x, y) = complete(200, 5);
    let config = configs().remove(0);
    let names: Vec<String> = (0..6).map(|j| format!("x{j}")).collect();
    let model = fit(&config, x.view(), y.view()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let decreasing = Calibrator::Isotonic {
        x: vec![0.0, 1.0],
        y: vec![0.9, 0.1],
    };
    let mut saved = SavedModel::new("m", config, names, model);
    saved.calibrator = Some(decreasing);
    let e = saved
        .save(&dir.path().join("a.model.bin"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("calibration") && e.contains("increasing"), "{e}");
    saved.calibrator = None;
    saved.operating_point = Some(OperatingPoint {
        rule: ThresholdRule::MaxF1,
        threshold: 1.5,
    });
    let e = saved
        .save(&dir.path().join("b.model.bin"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("threshold 1.5"), "{e}");
}
