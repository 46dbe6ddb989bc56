//! The forest's `max_samples`: every tree sees at most that many bootstrap draws.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay_models::{forest, ForestParams};

fn data(n: usize) -> (Array2<f64>, Array1<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x = Array2::from_shape_fn((n, 4), |_| rng.random::<f64>());
    let y = x
        .rows()
        .into_iter()
        .map(|r| (r[0] + r[1] > 1.0) ^ (rng.random::<f64>() < 0.2))
        .collect();
    (x, y)
}

#[test]
fn a_tree_grown_on_m_draws_has_at_most_m_leaves() {
    let (x, y) = data(4000);
    let params = |max_samples| ForestParams {
        n_trees: 1,
        min_samples_leaf: 10,
        max_samples,
        seed: 3,
        ..Default::default()
    };
    let leaves = |max_samples| {
        let f = forest::fit(&params(max_samples).check().unwrap(), x.view(), y.view()).unwrap();
        let mut p = f.predict_proba(x.view()).unwrap().to_vec();
        p.sort_by(f64::total_cmp);
        p.dedup();
        p.len()
    };
    // Leaves of at least 10 rows (counted with their bootstrap multiplicity): at most
    // 200 / 10 of them from 200 draws; distinct leaf values are at most the leaves.
    let (small, full) = (leaves(Some(200)), leaves(None));
    assert!(small <= 20, "{small} leaves from 200 draws");
    assert!(full > 2 * small, "{full} leaves from all rows vs {small}");
    // More than n draws is the same as n.
    let a = forest::fit(&params(Some(1_000_000)).check().unwrap(), x.view(), y.view()).unwrap();
    let b = forest::fit(&params(None).check().unwrap(), x.view(), y.view()).unwrap();
    assert_eq!(
        a.predict_proba(x.view()).unwrap(),
        b.predict_proba(x.view()).unwrap()
    );
}

#[test]
fn max_samples_needs_the_bootstrap() {
    let (x, y) = data(100);
    let params = ForestParams {
        max_samples: Some(50),
        bootstrap: false,
        ..Default::default()
    };
    assert!((x.nrows(), y.len()) == (100, 100));
    let err = params.check().unwrap_err().to_string();
    assert!(err.contains("max_samples"), "{err}");
}
