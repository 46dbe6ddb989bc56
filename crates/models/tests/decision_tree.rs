//! The decision tree's two engines: the histogram learner (default) against linfa-trees
//! as the reference.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay_models::tree::{DecisionTreeParams, TreeEngine};
use replay_models::{fit, ModelConfig};

/// Inputs on a grid of 50 values (so 255 quantile bins hold every distinct value and the
/// histogram learner sees exactly the thresholds linfa sees) and a noisy rule.
fn grid_data(n: usize, seed: u64) -> (Array2<f64>, Array1<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((n, 5), |_| f64::from(rng.random_range(0..50u32)) / 50.0);
    let y = x
        .rows()
        .into_iter()
        .map(|r| (r[0] + 0.5 * r[1] > 0.8 || r[2] > 0.9) ^ (rng.random::<f64>() < 0.1))
        .collect();
    (x, y)
}

fn auc(p: &Array1<f64>, y: &Array1<bool>) -> f64 {
    let y: Vec<bool> = y.to_vec();
    replay_metrics::roc_auc(&y, p.as_slice().expect("contiguous")).expect("two classes")
}

fn tree(engine: TreeEngine, max_depth: usize) -> ModelConfig {
    ModelConfig::DecisionTree(DecisionTreeParams {
        engine,
        max_depth,
        min_samples_leaf: 5,
        ..Default::default()
    })
}

#[test]
fn the_histogram_tree_matches_linfa_on_exactly_binned_data() {
    let (x, y) = grid_data(4000, 1);
    let (xt, yt) = grid_data(2000, 2);
    for depth in [1, 3, 6] {
        let hist = fit(&tree(TreeEngine::Histogram, depth), x.view(), y.view()).unwrap();
        let linfa = fit(&tree(TreeEngine::Linfa, depth), x.view(), y.view()).unwrap();
        let (ph, pl) = (
            hist.predict_proba(xt.view()).unwrap(),
            linfa.predict_proba(xt.view()).unwrap(),
        );
        // At most 2^depth leaves, so at most 2^depth distinct probabilities.
        let mut distinct: Vec<f64> = ph.to_vec();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert!(
            distinct.len() <= 1 << depth,
            "depth {depth}: {} leaves",
            distinct.len()
        );
        let (ah, al) = (auc(&ph, &yt), auc(&pl, &yt));
        // linfa-trees merges sibling leaves that predict the same class, which costs it
        // ranking resolution; the histogram tree keeps every leaf, so it is never worse.
        assert!(ah > al - 0.005, "depth {depth}: histogram {ah} vs linfa {al}");
        if depth == 1 {
            // One split: both engines choose the same best Gini split, so the same leaves.
            assert_eq!(ph, pl, "depth 1");
        }
    }
}

#[test]
fn leaves_hold_the_share_of_positives() {
    let (x, y) = grid_data(3000, 3);
    let model = fit(&tree(TreeEngine::Histogram, 4), x.view(), y.view()).unwrap();
    let p = model.predict_proba(x.view()).unwrap();
    // Every leaf's value is the share of positives of the training rows that reach it.
    let mut by_leaf: std::collections::BTreeMap<u64, (usize, usize)> = Default::default();
    for (&pi, &yi) in p.iter().zip(&y) {
        let e = by_leaf.entry(pi.to_bits()).or_default();
        e.0 += usize::from(yi);
        e.1 += 1;
    }
    for (bits, (pos, total)) in by_leaf {
        assert!((f64::from_bits(bits) - pos as f64 / total as f64).abs() < 1e-6);
    }
}
