//! Contributions of every model kind: local accuracy, equality with Shapley values computed
//! by enumerating every subset of the inputs (for whole ensembles), the same bits with one
//! and two threads (also when many rows share their way through the trees), and a clear
//! error for trees without covers.

mod common;
use common::synthetic;

use ndarray::{Array1, Array2, ArrayView2};

use replay_models::explain::{Contributions, OutputSpace};
use replay_models::logistic::LogisticParams;
use replay_models::tree::{DecisionTreeParams, Node, Tree};
use replay_models::{fit, BoostingParams, ForestParams, Model, ModelConfig};

fn configs() -> Vec<ModelConfig> {
    vec![
        ModelConfig::LogisticRegression(LogisticParams::default()),
        ModelConfig::DecisionTree(DecisionTreeParams::default()),
        ModelConfig::DecisionTree(DecisionTreeParams {
            engine: replay_models::tree::TreeEngine::Linfa,
            ..Default::default()
        }),
        ModelConfig::RandomForest(ForestParams {
            n_trees: 12,
            seed: 4,
            ..Default::default()
        }),
        ModelConfig::GradientBoosting(BoostingParams {
            n_iter: 20,
            ..Default::default()
        }),
    ]
}

/// The model's output in its contributions' space.
fn output(model: &Model, x: ArrayView2<'_, f64>) -> Array1<f64> {
    let p = model.predict_proba(x).unwrap();
    match model {
        Model::LogisticRegression(_) | Model::GradientBoosting(_) => p.mapv(|p| (p / (1.0 - p)).ln()),
        Model::DecisionTree(_) | Model::RandomForest(_) => p,
    }
}

fn fitted(config: &ModelConfig, x: &Array2<f64>, y: &Array1<bool>) -> Model {
    let mut x = x.clone();
    if let ModelConfig::LogisticRegression(_) = config {
        x.mapv_inplace(|v| if v.is_nan() { 0.5 } else { v });
    }
    fit(config, x.view(), y.view()).unwrap()
}

#[test]
fn contributions_add_up_to_every_models_output() {
    let (x, y) = synthetic(600, 1);
    let (mut test, _) = synthetic(200, 2);
    for config in configs() {
        let model = fitted(&config, &x, &y);
        if let ModelConfig::LogisticRegression(_) = config {
            test.mapv_inplace(|v| if v.is_nan() { 0.5 } else { v });
        }
        let c = model.contributions(test.view()).unwrap();
        let want = match model {
            Model::LogisticRegression(_) | Model::GradientBoosting(_) => OutputSpace::LogOdds,
            _ => OutputSpace::Probability,
        };
        assert_eq!(c.space, want);
        assert_eq!(c.values.dim(), test.dim());
        // Boosting's log-odds come back through the sigmoid and its inverse: a few ulps.
        let tolerance = match model {
            Model::GradientBoosting(_) | Model::LogisticRegression(_) => 1e-9,
            _ => 1e-12,
        };
        for (a, b) in c.outputs().iter().zip(output(&model, test.view()).iter()) {
            assert!((a - b).abs() < tolerance, "{}: {a} vs {b}", config.kind());
        }
        // Not all zero: the inputs matter.
        assert!(c.values.iter().any(|v| v.abs() > 1e-3), "{}", config.kind());
    }
}

/// The path-dependent expectation of `tree` for `row` knowing the inputs of `known`.
fn expectation(tree: &Tree, row: &[f64], known: u32, node: usize) -> f64 {
    let cover = tree.cover().unwrap();
    match tree.node(node) {
        Node::Leaf { value } => value,
        Node::Split {
            feature,
            threshold,
            missing_left,
            left,
            right,
        } => {
            if known & (1 << feature) != 0 {
                let v = row[feature];
                let go_left = if v.is_nan() { missing_left } else { v <= threshold };
                expectation(tree, row, known, if go_left { left } else { right })
            } else {
                let (l, r) = (f64::from(cover[left]), f64::from(cover[right]));
                (l * expectation(tree, row, known, left) + r * expectation(tree, row, known, right)) / (l + r)
            }
        }
    }
}

/// Shapley values of `offset + scale · Σ trees` for `row`, over every subset of `m` inputs.
fn brute_force(trees: &[Tree], offset: f64, scale: f64, row: &[f64], m: usize) -> Vec<f64> {
    let value =
        |known: u32| offset + scale * trees.iter().map(|t| expectation(t, row, known, 0)).sum::<f64>();
    let factorial = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
    (0..m)
        .map(|i| {
            (0u32..1 << m)
                .filter(|s| s & (1 << i) == 0)
                .map(|s| {
                    let k = s.count_ones() as usize;
                    factorial(k) * factorial(m - k - 1) / factorial(m) * (value(s | 1 << i) - value(s))
                })
                .sum()
        })
        .collect()
}

#[test]
fn ensemble_contributions_equal_brute_force_shapley_values() {
    let (x, y) = synthetic(500, 3);
    let (test, _) = synthetic(25, 4);
    for config in &configs()[1..] {
        let model = fitted(config, &x, &y);
        let c = model.contributions(test.view()).unwrap();
        let (trees, offset, scale) = match &model {
            Model::DecisionTree(t) => (std::slice::from_ref(t), 0.0, 1.0),
            Model::RandomForest(f) => (&f.trees[..], 0.0, 1.0 / f.trees.len() as f64),
            Model::GradientBoosting(b) => (&b.trees[..], b.init_score, 1.0),
            Model::LogisticRegression(_) => unreachable!(),
        };
        let expected = offset + scale * trees.iter().map(|t| expectation(t, &[], 0, 0)).sum::<f64>();
        assert!((c.expected - expected).abs() < 1e-12, "{}", config.kind());
        for (i, row) in test.rows().into_iter().enumerate() {
            let row = row.to_vec();
            let want = brute_force(trees, offset, scale, &row, 6);
            for (j, w) in want.iter().enumerate() {
                let got = c.values[(i, j)];
                assert!(
                    (got - w).abs() < 1e-9,
                    "{} row {i} input {j}: {got} vs {w}",
                    config.kind()
                );
            }
        }
    }
}

/// The contributions of `model` for `x` on a pool of `threads` threads.
fn with_threads(model: &Model, x: &Array2<f64>, threads: usize) -> Contributions {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| model.contributions(x.view()).unwrap())
}

/// The bits of every value.
fn bits(a: &Array2<f64>) -> Vec<u64> {
    a.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn contributions_are_the_same_bits_with_one_and_two_threads() {
    let (x, y) = synthetic(800, 5);
    let (test, _) = synthetic(300, 6);
    for config in &configs()[1..] {
        let model = fitted(config, &x, &y);
        let (one, two) = (with_threads(&model, &test, 1), with_threads(&model, &test, 2));
        assert_eq!(bits(&one.values), bits(&two.values), "{}", config.kind());
        assert_eq!(one.expected.to_bits(), two.expected.to_bits());
    }
}

#[test]
fn many_rows_that_share_their_way_through_the_trees_keep_every_property() {
    // Test rows from three values per input: each boosted tree sees few distinct ways
    // through it, so its contributions come from its grid of cells.
    let (x, y) = synthetic(800, 7);
    let (mut test, _) = synthetic(4000, 8);
    test.mapv_inplace(|v| {
        if v.is_nan() {
            v
        } else {
            (v * 3.0).floor() / 3.0 + 0.1
        }
    });
    let config = ModelConfig::GradientBoosting(BoostingParams {
        n_iter: 30,
        ..Default::default()
    });
    let model = fitted(&config, &x, &y);
    // Five threads make smaller blocks of rows than one and two.
    let one = with_threads(&model, &test, 1);
    for threads in [2, 5] {
        let other = with_threads(&model, &test, threads);
        assert_eq!(bits(&one.values), bits(&other.values), "{threads} threads");
    }
    for (a, b) in one.outputs().iter().zip(output(&model, test.view()).iter()) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    // The same values as rows explained a few at a time (through fewer grid cells), and
    // the Shapley values.
    let Model::GradientBoosting(b) = &model else {
        unreachable!()
    };
    let few = model.contributions(test.slice(ndarray::s![..12, ..])).unwrap();
    for (i, row) in test.rows().into_iter().take(12).enumerate() {
        let want = brute_force(&b.trees, b.init_score, 1.0, &row.to_vec(), 6);
        for (j, w) in want.iter().enumerate() {
            assert!((one.values[(i, j)] - w).abs() < 1e-9, "row {i} input {j}");
            assert!(
                (one.values[(i, j)] - few.values[(i, j)]).abs() < 1e-12,
                "row {i} input {j}"
            );
        }
    }
}

#[test]
fn a_tree_without_covers_says_to_retrain() {
    let tree = Tree::from_nodes(
        1,
        vec![
            Node::Split {
                feature: 0,
                threshold: 0.5,
                missing_left: false,
                left: 1,
                right: 2,
            },
            Node::Leaf { value: 0.2 },
            Node::Leaf { value: 0.9 },
        ],
    )
    .unwrap();
    let err = Model::DecisionTree(tree)
        .contributions(ndarray::array![[0.3]].view())
        .unwrap_err();
    assert!(err.to_string().contains("re-train"), "{err}");
}
