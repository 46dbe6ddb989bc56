//! Fixed random samples of rows.

use rand::seq::index;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `m` distinct rows of `0..n` (`m <= n`), drawn by a ChaCha8 generator seeded with
/// `seed`, in increasing order.
pub(crate) fn sorted_rows(n: usize, m: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = index::sample(&mut rng, n, m).into_vec();
    rows.sort_unstable();
    rows
}
