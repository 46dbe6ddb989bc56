//! Numeric helpers the models share: the logistic function and its log-space partner,
//! class weights, and independent random streams from one seed.

use ndarray::{Array1, ArrayView1};
use serde::{Deserialize, Serialize};

/// How training rows are weighted by class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every row weighs 1.
    None,
    /// Rows of class c weigh `n / (2 · n_c)`.
    Balanced,
}

impl ClassWeight {
    /// The weight of every row of labels `y`.
    pub fn weights(self, y: ArrayView1<'_, bool>) -> Array1<f64> {
        match self {
            ClassWeight::None => Array1::ones(y.len()),
            ClassWeight::Balanced => {
                let n = y.len() as f64;
                let pos = y.iter().filter(|&&v| v).count() as f64;
                let (w_pos, w_neg) = (n / (2.0 * pos), n / (2.0 * (n - pos)));
                y.mapv(|v| if v { w_pos } else { w_neg })
            }
        }
    }
}

/// The logistic function, without overflow for large |z|. Branch-free (the sign picks
/// between two finished values), so mixed signs cost no mispredictions.
pub(crate) fn sigmoid(z: f64) -> f64 {
    let e = (-z.abs()).exp();
    let r = 1.0 / (1.0 + e);
    if z >= 0.0 {
        r
    } else {
        e * r
    }
}

/// `log(1 + e^z)` without overflow.
pub(crate) fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// A seed for stream `index` of `seed` (SplitMix64 finaliser, so nearby indices give
/// unrelated streams).
pub(crate) fn stream_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
