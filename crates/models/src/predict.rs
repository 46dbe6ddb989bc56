//! Batched tree prediction.
//!
//! Rows are cut into fixed blocks of [`BLOCK_ROWS`] spread over rayon's threads; within a
//! block the trees are the outer loop (one tree's top levels stay in cache for the whole
//! block) and [`LANES`] rows walk a tree in lockstep, so the memory loads of independent
//! rows overlap instead of waiting for each other. Every row still adds its trees' leaf
//! values one at a time in tree order, so the results are bit-identical to walking each
//! row alone and do not depend on the number of threads.

use ndarray::{s, Array1, ArrayView2};
use rayon::prelude::*;

use crate::tree::{PackedNode, Tree};

/// Rows per parallel task.
pub(crate) const BLOCK_ROWS: usize = 2048;

/// Rows that walk a tree together.
const LANES: usize = 8;

/// The rows `start..start + len` of `x` as one contiguous row-major slice: borrowed when
/// `x` is already laid out so, else copied into `buffer`.
fn block_rows<'a>(
    x: &'a ArrayView2<'_, f64>,
    start: usize,
    len: usize,
    buffer: &'a mut Vec<f64>,
) -> &'a [f64] {
    let block = x.slice(s![start..start + len, ..]);
    match block.to_slice() {
        Some(rows) => rows,
        None => {
            buffer.clear();
            buffer.extend(block.iter().copied());
            buffer
        }
    }
}

/// Call `f(row, leaf value)` for each of the `n` rows of `rows` (row-major, `p` inputs per
/// row) in the tree `nodes`, rows in order.
///
/// # Panics
/// If a row is shorter than a feature the tree tests.
#[inline]
fn for_each_leaf(nodes: &[PackedNode], rows: &[f64], n: usize, p: usize, mut f: impl FnMut(usize, f64)) {
    let root = &nodes[0];
    if root.is_leaf() {
        (0..n).for_each(|r| f(r, root.value));
        return;
    }
    let mut r = 0;
    while r + LANES <= n {
        let lane_rows: [&[f64]; LANES] = std::array::from_fn(|j| &rows[(r + j) * p..(r + j + 1) * p]);
        let mut at = [0u32; LANES];
        loop {
            let mut moved = false;
            // Branch-free: a lane at its leaf computes a step too and stays (a leaf
            // tests feature 0, which every row has), so no lane's turn is mispredicted.
            for (a, row) in at.iter_mut().zip(lane_rows) {
                let node = &nodes[*a as usize];
                let leaf = node.is_leaf();
                let child = node.child_for(row);
                *a = if leaf { *a } else { child };
                moved |= !leaf;
            }
            if !moved {
                break;
            }
        }
        for (j, &leaf) in at.iter().enumerate() {
            f(r + j, nodes[leaf as usize].value);
        }
        r += LANES;
    }
    for r in r..n {
        let leaf = crate::tree::leaf_index(nodes, &rows[r * p..(r + 1) * p]);
        f(r, nodes[leaf].value);
    }
}

/// `init` plus the sum of the trees' leaf values for every row of `x`, trees added in
/// order.
pub(crate) fn par_sum_trees(x: ArrayView2<'_, f64>, trees: &[Tree], init: f64) -> Array1<f64> {
    let mut out = vec![init; x.nrows()];
    let p = x.ncols();
    out.par_chunks_mut(BLOCK_ROWS)
        .enumerate()
        .for_each_init(Vec::new, |buffer, (c, chunk)| {
            let rows = block_rows(&x, c * BLOCK_ROWS, chunk.len(), buffer);
            let n = chunk.len();
            for tree in trees {
                for_each_leaf(tree.packed(), rows, n, p, |r, v| chunk[r] += v);
            }
        });
    Array1::from(out)
}
