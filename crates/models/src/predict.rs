//! Batched prediction: rows are cut into fixed chunks spread over rayon's threads. Every
//! row is computed on its own, in a fixed order of trees, so the results do not depend on
//! the number of threads.

use ndarray::{s, Array1, ArrayView1, ArrayView2};
use rayon::prelude::*;

use crate::tree::Tree;

/// Rows per parallel task.
const CHUNK_ROWS: usize = 256;

/// `f(row)` for every row of `x`.
pub(crate) fn par_map_rows<F>(x: ArrayView2<'_, f64>, f: F) -> Array1<f64>
where
    F: Fn(ArrayView1<'_, f64>) -> f64 + Sync,
{
    let mut out = vec![0.0; x.nrows()];
    out.par_chunks_mut(CHUNK_ROWS).enumerate().for_each(|(c, chunk)| {
        let start = c * CHUNK_ROWS;
        for (i, o) in chunk.iter_mut().enumerate() {
            *o = f(x.row(start + i));
        }
    });
    Array1::from(out)
}

/// `init` plus the sum of the trees' leaf values for every row of `x`, trees added in
/// order (trees are the outer loop within a chunk so each tree stays in cache).
pub(crate) fn par_sum_trees(x: ArrayView2<'_, f64>, trees: &[Tree], init: f64) -> Array1<f64> {
    let mut out = vec![init; x.nrows()];
    let p = x.ncols();
    out.par_chunks_mut(CHUNK_ROWS).enumerate().for_each(|(c, chunk)| {
        let start = c * CHUNK_ROWS;
        // The chunk's rows, contiguous.
        let rows: Vec<f64> = x
            .slice(s![start..start + chunk.len(), ..])
            .iter()
            .copied()
            .collect();
        for tree in trees {
            for (o, row) in chunk.iter_mut().zip(rows.chunks_exact(p.max(1))) {
                *o += tree.value_of_slice(row);
            }
        }
    });
    Array1::from(out)
}
