//! Fitting speed of the histogram tree ensembles on synthetic data made here: one
//! full-depth tree, a small forest and 10 boosting iterations.

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay_models::{boosting, forest, BoostingParams, ForestParams};

/// `n` rows of 14 uniform inputs; the label follows a nonlinear rule with 10% noise.
fn synthetic(n: usize) -> (Array2<f64>, Array1<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = Array2::from_shape_fn((n, 14), |_| rng.random::<f64>());
    let y = x
        .rows()
        .into_iter()
        .map(|r| {
            let clean = (r[0] * 6.0).sin() + r[1] * r[2] * 2.0 > 0.8 || r[3] > 0.9;
            clean ^ (rng.random::<f64>() < 0.1)
        })
        .collect();
    (x, y)
}

fn bench(c: &mut Criterion) {
    let (x, y) = synthetic(50_000);
    let mut group = c.benchmark_group("tree_learner");
    group.sample_size(10);
    group.bench_function("one_full_depth_tree", |b| {
        let p = ForestParams {
            n_trees: 1,
            oob_score: false,
            ..Default::default()
        }
        .check()
        .expect("valid parameters");
        b.iter(|| forest::fit(&p, x.view(), y.view()))
    });
    group.bench_function("forest_10_trees", |b| {
        let p = ForestParams {
            n_trees: 10,
            oob_score: false,
            ..Default::default()
        }
        .check()
        .expect("valid parameters");
        b.iter(|| forest::fit(&p, x.view(), y.view()))
    });
    group.bench_function("boosting_10_iterations", |b| {
        let p = BoostingParams {
            n_iter: 10,
            ..Default::default()
        }
        .check()
        .expect("valid parameters");
        b.iter(|| boosting::fit(&p, x.view(), y.view()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
