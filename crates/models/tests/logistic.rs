//! Logistic regression: blocks of rows on rayon's threads, summed in a fixed order.

use ndarray::{Array1, Array2, ShapeBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replay_models::logistic::{self, LogisticParams};

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
        .install(f)
}

#[test]
fn the_fit_is_bit_identical_with_one_and_three_threads_and_on_a_strided_view() {
    // More rows than one block, so several blocks are summed.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let x = Array2::from_shape_fn((9000, 4), |_| rng.random::<f64>() - 0.5);
    let y: Array1<bool> = x
        .rows()
        .into_iter()
        .map(|r| r[0] - 2.0 * r[1] + 0.3 > rng.random::<f64>() - 0.5)
        .collect();
    let params = LogisticParams::default();
    let one = in_pool(1, || {
        logistic::fit(&params.check().unwrap(), x.view(), y.view()).unwrap()
    });
    let three = in_pool(3, || {
        logistic::fit(&params.check().unwrap(), x.view(), y.view()).unwrap()
    });
    assert_eq!(one, three);
    assert!(one.converged);
    // The same matrix stored column-major (rows are not contiguous) gives the same fit.
    let mut fortran = Array2::<f64>::zeros((9000, 4).f());
    fortran.assign(&x);
    assert_eq!(
        logistic::fit(&params.check().unwrap(), fortran.view(), y.view()).unwrap(),
        one
    );
}
