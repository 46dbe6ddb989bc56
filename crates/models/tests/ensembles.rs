//! The histogram tree ensembles: determinism across thread counts, hand-worked cases,
//! accuracy against a single tree, serialization, parameter checks and linfa use.

mod common;
use common::synthetic;

use linfa::prelude::*;
use ndarray::{array, Array1, Array2, Axis};

use replay_models::tree::{DecisionTreeParams, Node};
use replay_models::{
    boosting, fit, forest, BoostingParams, EarlyStopping, ForestParams, MaxFeatures, Model, ModelConfig,
    ModelError, SavedModel,
};

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
        .install(f)
}

fn auc(p: &Array1<f64>, y: &Array1<bool>) -> f64 {
    replay_metrics::roc_auc(&y.to_vec(), &p.to_vec()).expect("both classes")
}

fn small_forest() -> ForestParams {
    ForestParams {
        n_trees: 20,
        seed: 11,
        oob_score: true,
        ..Default::default()
    }
}

#[test]
fn forest_is_bit_identical_with_one_and_two_threads() {
    let (x, y) = synthetic(3000, 1);
    let (xt, _) = synthetic(500, 2);
    for params in [
        small_forest(),
        ForestParams {
            class_weight: replay_models::logistic::ClassWeight::Balanced,
            criterion: replay_models::tree::Criterion::Entropy,
            max_features: MaxFeatures::Fraction(0.5),
            sample_rows: Some(2000),
            ..small_forest()
        },
    ] {
        let one = in_pool(1, || {
            forest::fit(&params.check().unwrap(), x.view(), y.view()).unwrap()
        });
        let two = in_pool(2, || {
            forest::fit(&params.check().unwrap(), x.view(), y.view()).unwrap()
        });
        assert_eq!(one, two, "identical trees, importances and OOB score");
        let (p1, p2) = (
            in_pool(1, || one.predict_proba(xt.view()).unwrap()),
            in_pool(2, || two.predict_proba(xt.view()).unwrap()),
        );
        assert!(p1.iter().zip(&p2).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn boosting_is_bit_identical_with_one_and_two_threads() {
    let (x, y) = synthetic(3000, 3);
    let (xt, _) = synthetic(500, 4);
    for params in [
        BoostingParams {
            n_iter: 30,
            ..Default::default()
        },
        BoostingParams {
            n_iter: 30,
            subsample: 0.7,
            colsample: 0.6,
            l2: 1.0,
            max_depth: Some(4),
            early_stopping: Some(EarlyStopping::default()),
            seed: 5,
            ..Default::default()
        },
    ] {
        let one = in_pool(1, || {
            boosting::fit(&params.check().unwrap(), x.view(), y.view()).unwrap()
        });
        let two = in_pool(2, || {
            boosting::fit(&params.check().unwrap(), x.view(), y.view()).unwrap()
        });
        assert_eq!(one, two);
        let (p1, p2) = (
            in_pool(1, || one.predict_proba(xt.view()).unwrap()),
            in_pool(2, || two.predict_proba(xt.view()).unwrap()),
        );
        assert!(p1.iter().zip(&p2).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn boosting_on_many_rows_is_bit_identical_with_one_two_and_three_threads() {
    // Enough rows for histograms to be shared out to helper threads (one helper with two
    // threads, two with three, each building its own group of features).
    let (x, y) = synthetic(40_000, 13);
    let params = BoostingParams {
        n_iter: 3,
        ..Default::default()
    };
    let one = in_pool(1, || {
        boosting::fit(&params.check().unwrap(), x.view(), y.view()).unwrap()
    });
    let two = in_pool(2, || {
        boosting::fit(&params.check().unwrap(), x.view(), y.view()).unwrap()
    });
    let three = in_pool(3, || {
        boosting::fit(&params.check().unwrap(), x.view(), y.view()).unwrap()
    });
    assert_eq!(one, two);
    assert_eq!(one, three);
}

#[test]
fn boosting_stump_has_newton_leaf_values() {
    // Base rate 1/2, so the initial score is 0, p = 1/2, g = p - y = ±1/2, h = 1/4.
    // The best split is x <= 1.5: left G = 2·(1/2) = 1, H = 1/2; right G = -1, H = 1/2.
    // With λ = 1 and learning rate 0.1 the leaves are -G/(H+λ)·0.1 = ∓1/15.
    let x = array![[0.0], [1.0], [2.0], [3.0]];
    let y = array![false, false, true, true];
    let params = BoostingParams {
        n_iter: 1,
        max_leaves: 2,
        min_samples_leaf: 1,
        min_child_weight: 0.0,
        l2: 1.0,
        learning_rate: 0.1,
        ..Default::default()
    };
    let m = boosting::fit(&params.check().unwrap(), x.view(), y.view()).unwrap();
    assert_eq!(m.init_score, 0.0);
    assert_eq!(m.trees.len(), 1);
    let tree = &m.trees[0];
    let Node::Split {
        threshold,
        left,
        right,
        ..
    } = tree.node(0)
    else {
        panic!("root must split: {tree:?}");
    };
    assert_eq!(threshold, 1.5);
    let value = |i: usize| match tree.node(i) {
        Node::Leaf { value } => value,
        Node::Split { .. } => panic!("leaf expected"),
    };
    assert!((value(left) + 1.0 / 15.0).abs() < 1e-7, "{}", value(left));
    assert!((value(right) - 1.0 / 15.0).abs() < 1e-7, "{}", value(right));
    let p = m.predict_proba(array![[0.5], [2.5]].view()).unwrap();
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    assert!((p[0] - sigmoid(value(left))).abs() < 1e-15 && (p[1] - sigmoid(value(right))).abs() < 1e-15);
}

#[test]
fn forest_tree_finds_the_pure_split_and_leaf_shares() {
    // One tree on all rows with all features: the first split separates x0 <= 2 (all
    // negative) from the rest; leaves hold the share of positives.
    let x = array![
        [1.0, 5.0],
        [2.0, 1.0],
        [3.0, 4.0],
        [4.0, 2.0],
        [5.0, 3.0],
        [6.0, 3.0]
    ];
    let y = array![false, false, true, true, true, false];
    let params = ForestParams {
        n_trees: 1,
        bootstrap: false,
        oob_score: false,
        max_depth: Some(1),
        max_features: MaxFeatures::All,
        ..Default::default()
    };
    let m = forest::fit(&params.check().unwrap(), x.view(), y.view()).unwrap();
    let Node::Split {
        feature, threshold, ..
    } = m.trees[0].node(0)
    else {
        panic!("root must split");
    };
    // Gini gains: x0 <= 2.5 gives {0,0} | {1,1,1,0} (score 0 + 9/4), the best of all.
    assert_eq!((feature, threshold), (0, 2.5));
    let p = m.predict_proba(array![[0.0, 0.0], [9.0, 0.0]].view()).unwrap();
    assert_eq!(p, array![0.0, 0.75]);
}

#[test]
fn ensembles_beat_a_single_shallow_tree() {
    let (x, y) = synthetic(6000, 7);
    let (xt, yt) = synthetic(3000, 8);
    let tree = fit(
        &ModelConfig::DecisionTree(DecisionTreeParams {
            max_depth: 3,
            ..Default::default()
        }),
        x.view(),
        y.view(),
    )
    .unwrap();
    let tree_auc = auc(&tree.predict_proba(xt.view()).unwrap(), &yt);
    let rf = forest::fit(&small_forest().check().unwrap(), x.view(), y.view()).unwrap();
    let gb = boosting::fit(&BoostingParams::default().check().unwrap(), x.view(), y.view()).unwrap();
    let (rf_auc, gb_auc) = (
        auc(&rf.predict_proba(xt.view()).unwrap(), &yt),
        auc(&gb.predict_proba(xt.view()).unwrap(), &yt),
    );
    assert!(rf_auc > tree_auc + 0.02, "forest {rf_auc} vs tree {tree_auc}");
    assert!(gb_auc > tree_auc + 0.02, "boosting {gb_auc} vs tree {tree_auc}");
    let oob = rf.oob_score.expect("bootstrap forest has an OOB score");
    assert!((oob - rf_auc).abs() < 0.05, "oob {oob} vs test {rf_auc}");
    for imp in [&rf.feature_importances, &gb.feature_importances] {
        assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // The rule uses x0..x4; x5 is noise.
        assert!(imp[5] < imp[0] && imp[5] < imp[1], "{imp:?}");
    }
}

#[test]
fn missing_values_follow_the_learned_direction() {
    // x0 is missing exactly for positives; present values carry no signal.
    let n = 400;
    let mut x = Array2::<f64>::zeros((n, 1));
    let y: Array1<bool> = (0..n).map(|i| i % 3 == 0).collect();
    for i in 0..n {
        x[(i, 0)] = if y[i] { f64::NAN } else { (i % 10) as f64 };
    }
    let probe = array![[f64::NAN], [4.0]];
    let gb = boosting::fit(&BoostingParams::default().check().unwrap(), x.view(), y.view()).unwrap();
    let p = gb.predict_proba(probe.view()).unwrap();
    assert!(p[0] > 0.9 && p[1] < 0.1, "{p}");
    let rf = forest::fit(&small_forest().check().unwrap(), x.view(), y.view()).unwrap();
    let p = rf.predict_proba(probe.view()).unwrap();
    assert!(p[0] > 0.9 && p[1] < 0.1, "{p}");
}

#[test]
fn save_and_load_give_identical_predictions() {
    let (x, y) = synthetic(2000, 9);
    let (xt, _) = synthetic(300, 10);
    let dir = tempfile::tempdir().unwrap();
    for config in [
        ModelConfig::RandomForest(small_forest()),
        ModelConfig::GradientBoosting(BoostingParams {
            n_iter: 20,
            ..Default::default()
        }),
    ] {
        let model = fit(&config, x.view(), y.view()).unwrap();
        let names = (0..6).map(|i| format!("x{i}")).collect();
        let saved = SavedModel::new("m", config.clone(), names, model.clone());
        let path = dir.path().join(SavedModel::file_name(config.kind()));
        saved.save(&path).unwrap();
        let loaded = SavedModel::load(&path).unwrap();
        assert_eq!(loaded, saved);
        let (a, b) = (
            model.predict_proba(xt.view()).unwrap(),
            loaded.predict_proba(xt.view()).unwrap(),
        );
        assert!(a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(model.feature_importances().is_some());
    }
}

#[test]
fn invalid_hyperparameters_are_rejected() {
    let (x, y) = synthetic(200, 11);
    let bad_forests = [
        ForestParams {
            n_trees: 0,
            ..Default::default()
        },
        ForestParams {
            min_samples_split: 1,
            ..Default::default()
        },
        ForestParams {
            max_features: MaxFeatures::Fraction(1.5),
            ..Default::default()
        },
        ForestParams {
            max_bins: 300,
            ..Default::default()
        },
        ForestParams {
            bootstrap: false,
            oob_score: true,
            ..Default::default()
        },
    ];
    for p in bad_forests {
        assert!(matches!(p.check(), Err(ModelError::InvalidParam { .. })), "{p:?}");
        assert!(matches!(
            fit(&ModelConfig::RandomForest(p.clone()), x.view(), y.view()),
            Err(ModelError::InvalidParam { .. })
        ));
    }
    let bad_boosting = [
        BoostingParams {
            learning_rate: 0.0,
            ..Default::default()
        },
        BoostingParams {
            max_leaves: 1,
            ..Default::default()
        },
        BoostingParams {
            subsample: 0.0,
            ..Default::default()
        },
        BoostingParams {
            colsample: 1.2,
            ..Default::default()
        },
        BoostingParams {
            l2: -1.0,
            ..Default::default()
        },
        BoostingParams {
            early_stopping: Some(EarlyStopping {
                validation_fraction: 1.0,
                patience: 3,
            }),
            ..Default::default()
        },
    ];
    for p in bad_boosting {
        assert!(matches!(p.check(), Err(ModelError::InvalidParam { .. })), "{p:?}");
        assert!(matches!(
            fit(&ModelConfig::GradientBoosting(p.clone()), x.view(), y.view()),
            Err(ModelError::InvalidParam { .. })
        ));
    }
}

#[test]
fn toml_kinds_parse_and_bad_values_fail_while_reading() {
    let config: ModelConfig = toml::from_str(
        "[random_forest]\nn_trees = 50\nmax_features = 0.5\nsample_rows = 20000\nclass_weight = \"balanced\"\n",
    )
    .unwrap();
    let ModelConfig::RandomForest(p) = &config else {
        panic!("{config:?}")
    };
    assert_eq!(
        (p.n_trees, p.max_features, p.sample_rows),
        (50, MaxFeatures::Fraction(0.5), Some(20000))
    );
    assert_eq!(config.kind(), "random_forest");
    let config: ModelConfig = toml::from_str(
        "[gradient_boosting]\nn_iter = 10\n[gradient_boosting.early_stopping]\npatience = 3\n",
    )
    .unwrap();
    let ModelConfig::GradientBoosting(p) = &config else {
        panic!("{config:?}")
    };
    assert_eq!(
        p.early_stopping,
        Some(EarlyStopping {
            validation_fraction: 0.1,
            patience: 3
        })
    );
    for bad in [
        "[random_forest]\nmax_features = \"half\"\n",
        "[random_forest]\nmin_samples_split = 1\n",
        "[random_forest]\nmax_bins = 256\n",
        "[random_forest]\nn_tree = 3\n",
        "[gradient_boosting]\nsubsample = 0\n",
        "[gradient_boosting]\nlearning_rate = -0.1\n",
        "[gradient_boosting.early_stopping]\nvalidation_fraction = 1.0\n",
    ] {
        assert!(toml::from_str::<ModelConfig>(bad).is_err(), "{bad}");
    }
}

#[test]
fn ensembles_plug_into_linfa() {
    let (x, y) = synthetic(1500, 12);
    let dataset = Dataset::new(x.clone(), y.clone());
    let rf = small_forest().fit(&dataset).unwrap();
    let p: Array1<f64> = rf.predict(&x);
    assert_eq!(p, rf.predict_proba(x.view()).unwrap());
    let gb = BoostingParams {
        n_iter: 10,
        ..Default::default()
    }
    .fit(&dataset)
    .unwrap();
    let p: Array1<f64> = gb.predict(&x);
    assert_eq!(p, gb.predict_proba(x.view()).unwrap());
    let single_class = Dataset::new(x.clone(), Array1::from_elem(x.nrows(), true));
    assert!(matches!(
        small_forest().fit(&single_class),
        Err(ModelError::SingleClass)
    ));
    let no_columns = Dataset::new(Array2::zeros((4, 0)), array![false, true, false, true]);
    assert!(matches!(
        small_forest().fit(&no_columns),
        Err(ModelError::InvalidParam { name: "features", .. })
    ));
    let model = Model::RandomForest(rf);
    assert_eq!(model.n_features(), 6);
    assert_eq!(
        model
            .predict_proba(x.select(Axis(0), &[0, 1]).view())
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn every_model_refuses_inputs_with_the_wrong_number_of_columns() {
    let (x, y) = synthetic(300, 11);
    let configs = [
        ModelConfig::LogisticRegression(Default::default()),
        ModelConfig::DecisionTree(DecisionTreeParams::default()),
        ModelConfig::RandomForest(ForestParams {
            n_trees: 3,
            ..ForestParams::default()
        }),
        ModelConfig::GradientBoosting(BoostingParams {
            n_iter: 3,
            ..BoostingParams::default()
        }),
    ];
    // Missing values are not allowed by logistic regression: fill them.
    let x = x.mapv(|v| if v.is_nan() { 0.5 } else { v });
    for config in &configs {
        let model = fit(config, x.view(), y.view()).unwrap();
        assert_eq!(
            model.predict_proba(x.view()).unwrap().len(),
            300,
            "{}",
            config.kind()
        );
        for cols in [5, 7] {
            let other = Array2::<f64>::zeros((4, cols));
            match model.predict_proba(other.view()) {
                Err(ModelError::Features { expected: 6, found }) => assert_eq!(found, cols),
                other => panic!("{} with {cols} columns: {other:?}", config.kind()),
            }
        }
    }
    let tree = match fit(&configs[1], x.view(), y.view()).unwrap() {
        Model::DecisionTree(t) => t,
        other => panic!("a tree, got {}", other.kind()),
    };
    let short = array![0.5, 0.5];
    assert!(matches!(
        tree.leaf_of(short.view()),
        Err(ModelError::Features {
            expected: 6,
            found: 2
        })
    ));
    assert!(matches!(
        tree.value_of(short.view()),
        Err(ModelError::Features { .. })
    ));
    assert!(tree.value_of(x.row(0)).unwrap().is_finite());
}

#[test]
fn models_fitted_on_shared_bins_equal_those_that_bin_their_own_inputs() {
    let (x, y) = synthetic(2000, 5);
    let binned = replay_models::Binned::fit(x.view(), 255).unwrap();
    let coarse = replay_models::Binned::fit(x.view(), 16).unwrap();
    let configs = [
        ModelConfig::RandomForest(small_forest()),
        ModelConfig::GradientBoosting(BoostingParams {
            n_iter: 20,
            ..Default::default()
        }),
        ModelConfig::DecisionTree(DecisionTreeParams::default()),
        // Boosting with early stopping bins only its training share: the bins are ignored.
        ModelConfig::GradientBoosting(BoostingParams {
            n_iter: 20,
            early_stopping: Some(EarlyStopping::default()),
            ..Default::default()
        }),
    ];
    for config in &configs {
        let own = fit(config, x.view(), y.view()).unwrap();
        // Bins of another size, or of another matrix's shape, are not used either.
        let (xs, ys) = (x.slice(ndarray::s![..1500, ..]), y.slice(ndarray::s![..1500]));
        for given in [&binned, &coarse] {
            let shared = replay_models::fit_binned(config, x.view(), y.view(), Some(given)).unwrap();
            assert_eq!(shared, own, "{}", config.kind());
        }
        let fewer = replay_models::fit_binned(config, xs, ys, Some(&binned)).unwrap();
        assert_eq!(fewer, fit(config, xs, ys).unwrap(), "{}", config.kind());
        // The bins are really what the model reads: those of other values change it.
        let other = replay_models::Binned::fit(x.mapv(|v| -v).view(), 255).unwrap();
        let misled = replay_models::fit_binned(config, x.view(), y.view(), Some(&other)).unwrap();
        assert_eq!(misled != own, config.bins_inputs().is_some(), "{}", config.kind());
    }
    assert_eq!(configs[0].bins_inputs(), Some(255));
    assert_eq!(configs[3].bins_inputs(), None);
}
