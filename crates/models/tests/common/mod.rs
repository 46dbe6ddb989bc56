//! Data shared by the models crate's integration tests.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` rows of 6 inputs (some missing); the label follows a nonlinear rule, flipped for
/// 10% of the rows.
pub fn synthetic(n: usize, seed: u64) -> (Array2<f64>, Array1<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::from_shape_fn((n, 6), |_| rng.random::<f64>());
    let y: Array1<bool> = x
        .rows()
        .into_iter()
        .map(|r| {
            let clean = (r[0] * 7.0).sin() * 0.5 + r[1] * r[2] > 0.4 || (r[3] > 0.8 && r[4] < 0.5);
            clean ^ (rng.random::<f64>() < 0.1)
        })
        .collect();
    for i in (0..n).step_by(17) {
        x[(i, 5)] = f64::NAN;
    }
    (x, y)
}
