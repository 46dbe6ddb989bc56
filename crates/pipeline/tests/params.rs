//! Every model's hyperparameters go through one check: each invalid value, written in a
//! config file and built in code, gives the same message (the file's also names the
//! line). `cargo test --test params -- --nocapture` prints the table.

use replay_models::{
    BoostingParams, DecisionTreeParams, EarlyStopping, ForestParams, LogisticParams, MaxFeatures, ModelConfig,
};
use replay_pipeline::PipelineConfig;

/// A model kind's table in a config file, with one extra line.
fn config_error(kind: &str, line: &str) -> String {
    PipelineConfig::parse(&format!("[models.m.{kind}]\n{line}\n")).unwrap_err()
}

#[test]
fn every_invalid_value_gives_the_same_error_from_a_file_and_from_code() {
    let forest = |f: fn(&mut ForestParams)| {
        let mut p = ForestParams::default();
        f(&mut p);
        ModelConfig::RandomForest(p)
    };
    let boosting = |f: fn(&mut BoostingParams)| {
        let mut p = BoostingParams::default();
        f(&mut p);
        ModelConfig::GradientBoosting(p)
    };
    let tree = |f: fn(&mut DecisionTreeParams)| {
        let mut p = DecisionTreeParams::default();
        f(&mut p);
        ModelConfig::DecisionTree(p)
    };
    let logistic = |f: fn(&mut LogisticParams)| {
        let mut p = LogisticParams::default();
        f(&mut p);
        ModelConfig::LogisticRegression(p)
    };
    // (kind, line in the file, the same value in code, the expected message)
    let cases: Vec<(&str, &str, ModelConfig, &str)> = vec![
        (
            "logistic_regression",
            "c = -1.0",
            logistic(|p| p.c = -1.0),
            "expected a finite number greater than 0, got -1",
        ),
        (
            "logistic_regression",
            "max_iter = 0",
            logistic(|p| p.max_iter = 0),
            "expected an integer of at least 1, got 0",
        ),
        (
            "decision_tree",
            "max_depth = 0",
            tree(|p| p.max_depth = 0),
            "expected an integer of at least 1, got 0",
        ),
        (
            "decision_tree",
            "min_samples_split = 1",
            tree(|p| p.min_samples_split = 1),
            "expected an integer of at least 2, got 1",
        ),
        (
            "decision_tree",
            "min_samples_leaf = 0",
            tree(|p| p.min_samples_leaf = 0),
            "expected an integer of at least 1, got 0",
        ),
        (
            "random_forest",
            "n_trees = 0",
            forest(|p| p.n_trees = 0),
            "expected an integer of at least 1, got 0",
        ),
        (
            "random_forest",
            "max_depth = 0",
            forest(|p| p.max_depth = Some(0)),
            "expected an integer of at least 1, got 0",
        ),
        (
            "random_forest",
            "min_samples_split = 1",
            forest(|p| p.min_samples_split = 1),
            "expected an integer of at least 2, got 1",
        ),
        (
            "random_forest",
            "max_features = 1.5",
            forest(|p| p.max_features = MaxFeatures::Fraction(1.5)),
            "expected a number in (0, 1], got 1.5",
        ),
        (
            "random_forest",
            "max_bins = 300",
            forest(|p| p.max_bins = 300),
            "expected between 2 and 255 bins, got 300",
        ),
        (
            "random_forest",
            "max_samples = 0",
            forest(|p| p.max_samples = Some(0)),
            "expected an integer of at least 1, got 0",
        ),
        (
            "random_forest",
            "bootstrap = false\nmax_samples = 10",
            forest(|p| {
                p.bootstrap = false;
                p.max_samples = Some(10)
            }),
            "max_samples: needs bootstrap = true",
        ),
        (
            "gradient_boosting",
            "n_iter = 0",
            boosting(|p| p.n_iter = 0),
            "expected an integer of at least 1, got 0",
        ),
        (
            "gradient_boosting",
            "learning_rate = 0.0",
            boosting(|p| p.learning_rate = 0.0),
            "expected a finite number greater than 0, got 0",
        ),
        (
            "gradient_boosting",
            "max_leaves = 1",
            boosting(|p| p.max_leaves = 1),
            "expected an integer of at least 2, got 1",
        ),
        (
            "gradient_boosting",
            "l2 = -0.5",
            boosting(|p| p.l2 = -0.5),
            "expected a finite number >= 0, got -0.5",
        ),
        (
            "gradient_boosting",
            "subsample = 0.0",
            boosting(|p| p.subsample = 0.0),
            "expected a number in (0, 1], got 0",
        ),
        (
            "gradient_boosting",
            "colsample = 2.0",
            boosting(|p| p.colsample = 2.0),
            "expected a number in (0, 1], got 2",
        ),
        (
            "gradient_boosting",
            "early_stopping = { validation_fraction = 1.0, patience = 5 }",
            boosting(|p| {
                p.early_stopping = Some(EarlyStopping {
                    validation_fraction: 1.0,
                    patience: 5,
                })
            }),
            "expected a number strictly between 0 and 1, got 1",
        ),
    ];
    println!("| kind | in pipeline.toml | error from the file | error from code |");
    println!("|---|---|---|---|");
    for (kind, line, config, message) in cases {
        let from_file = config_error(kind, line);
        let from_code = replay_models::fit(
            &config,
            ndarray::array![[0.0], [1.0]].view(),
            ndarray::array![false, true].view(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(config.check().unwrap_err().to_string(), from_code);
        assert!(from_file.contains(message), "{kind} {line}: file: {from_file}");
        assert!(from_code.contains(message), "{kind} {line}: code: {from_code}");
        // A value read from the file is named by its line (the model's table is line 1).
        if !message.contains("needs bootstrap") {
            assert!(from_file.contains("line 2"), "{kind} {line}: {from_file}");
        }
        let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        println!(
            "| {kind} | `{}` | {} | {} |",
            line.replace('\n', "; "),
            one_line(&from_file),
            from_code
        );
    }
}
