//! Outcome grids: a small tree's contributions for every way a row can go through it, so
//! that many rows cost one lookup per tree.
//!
//! A row's path-dependent contributions depend on the row only through the way it goes
//! at each split: for each input the tree splits on, through the cell of the row's value
//! among the tree's thresholds on that input (`v <= t` goes left; a missing value is a
//! cell of its own). Rows in the same cell of every input have the same contributions. A
//! tree with `c_j` cells on each of its inputs `j` has `Π c_j` cells in all; when that is
//! small (boosted trees of a few leaves split on a handful of inputs), each cell some row
//! reaches is explained once, through a representative row, and every row adds its cell's
//! values.
//!
//! Rows find their cells in two steps: once per row, the cell of each input among the
//! thresholds of all the trees ([`Cuts`]); then, per tree and input, a lookup from that
//! cell to the tree's own.

use std::ops::Range;

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;

use super::{Scratch, TreeExplainer};
use crate::tree::PackedNode;

/// Most rows whose cells are looked up together (so that a reached cell's index fits in a
/// `u16`).
pub(super) const MAX_ROWS: usize = 1 << 14;

/// Most cells of a grid (a cell's index is a `u32`).
const MAX_CELLS: u64 = 1 << 32;

/// Most entries of a grid's lookups from [`Cuts`] cells to its own (256 KB).
const MAX_OFFSETS: usize = 1 << 16;

/// The cell of `v` among increasing finite `thresholds`: how many lie below it, or one
/// past the last for a missing value. Values of one cell go the same way at every split
/// on these thresholds.
fn cell_of(thresholds: &[f64], v: f64) -> usize {
    if v.is_nan() {
        thresholds.len() + 1
    } else {
        thresholds.partition_point(|&t| t < v)
    }
}

/// A value in cell `cell` of `thresholds` ([`cell_of`]).
fn representative(thresholds: &[f64], cell: usize) -> f64 {
    match thresholds.get(cell) {
        Some(&t) => t,
        None if cell == thresholds.len() => f64::INFINITY,
        None => f64::NAN,
    }
}

/// The distinct finite split thresholds of every input over a set of trees.
#[derive(Debug)]
pub(super) struct Cuts {
    /// Per input, its thresholds in increasing order.
    thresholds: Vec<Vec<f64>>,
}

impl Cuts {
    /// The cuts of `trees`' splits on `n_features` inputs.
    pub(super) fn new<'t>(trees: impl IntoIterator<Item = &'t [PackedNode]>, n_features: usize) -> Self {
        let mut thresholds = vec![Vec::new(); n_features];
        for n in trees.into_iter().flatten().filter(|n| !n.is_leaf()) {
            if let Some(t) = thresholds.get_mut(n.feature()) {
                if n.value.is_finite() {
                    t.push(n.value);
                }
            }
        }
        for t in &mut thresholds {
            t.sort_unstable_by(f64::total_cmp);
            t.dedup();
        }
        Cuts { thresholds }
    }

    /// The cell of each value of `x` among its input's cuts, input after input
    /// (column-major: `x.nrows()` cells per input).
    pub(super) fn cells(&self, x: ArrayView2<'_, f64>) -> Vec<u32> {
        let rows = x.nrows();
        let mut cells = vec![0; rows * x.ncols()];
        cells
            .par_chunks_mut(rows.max(1))
            .zip(x.axis_iter(Axis(1)).into_par_iter())
            .zip(&self.thresholds)
            .for_each(|((cells, column), t)| {
                for (c, &v) in cells.iter_mut().zip(column) {
                    *c = cell_of(t, v) as u32;
                }
            });
        cells
    }
}

/// One tree's grid of cells.
#[derive(Debug)]
pub(super) struct Grid {
    /// The distinct inputs the tree splits on, in increasing order.
    inputs: Vec<u32>,
    /// Per input, the offset in the grid (the tree's cell times the input's stride) of
    /// each of the input's cells among the [`Cuts`].
    offsets: Vec<Vec<u32>>,
}

/// The grid cells a set of rows reaches in one tree and their contributions.
#[derive(Debug)]
pub(super) struct Reached {
    /// Per row, its cell among the reached ones.
    cell_of_row: Vec<u16>,
    /// Per reached cell, the contribution to each input of the grid.
    values: Vec<f64>,
}

/// Scratch space of [`Grid::reach`], reused across trees.
#[derive(Debug, Default)]
pub(super) struct ReachScratch {
    flat: Vec<u32>,
    seen: CellSet,
    explain: Scratch,
}

impl Grid {
    /// The grid of a tree whose splits are among `cuts`, or `None` when its lookups would
    /// be too large ([`MAX_OFFSETS`]), it would have more than [`MAX_CELLS`] cells, a split
    /// has a threshold that is not finite or tests an input `cuts` does not have.
    pub(super) fn build(nodes: &[PackedNode], cuts: &Cuts) -> Option<Self> {
        let splits = || nodes.iter().filter(|n| !n.is_leaf());
        if splits().any(|n| !n.value.is_finite()) {
            return None;
        }
        let mut inputs: Vec<u32> = splits().map(|n| n.feature() as u32).collect();
        inputs.sort_unstable();
        inputs.dedup();
        let lookups: usize = inputs
            .iter()
            .map(|&j| cuts.thresholds.get(j as usize).map_or(0, Vec::len) + 2)
            .sum();
        if lookups > MAX_OFFSETS {
            return None;
        }
        let mut grid = Grid {
            offsets: Vec::with_capacity(inputs.len()),
            inputs,
        };
        let mut stride = 1u64;
        for &j in &grid.inputs {
            let mut own: Vec<f64> = splits()
                .filter(|n| n.feature() == j as usize)
                .map(|n| n.value)
                .collect();
            own.sort_unstable_by(f64::total_cmp);
            own.dedup();
            let all = cuts.thresholds.get(j as usize)?;
            // The tree's cell of each cell of the cuts: how many of its own thresholds lie
            // below the cut's (its own are among them, in the same order), then the cells
            // above every cut and of missing values.
            let mut below = 0;
            let own_cells = all
                .iter()
                .map(|&cut| {
                    while own.get(below).is_some_and(|&t| t < cut) {
                        below += 1;
                    }
                    below
                })
                .chain([own.len(), own.len() + 1]);
            grid.offsets
                .push(own_cells.map(|c| (c as u64 * stride) as u32).collect());
            stride = stride
                .checked_mul(own.len() as u64 + 2)
                .filter(|&s| s <= MAX_CELLS)?;
        }
        Some(grid)
    }

    /// The cells reached by `rows` rows of `m` inputs whose [`Cuts::cells`] are `cells`
    /// (at most [`MAX_ROWS`] rows), and their contributions, each explained by
    /// `explainer` (the grid's tree) for a representative row; `None` when the rows reach
    /// more than ⌈rows / 2⌉ cells (explaining them directly costs less).
    pub(super) fn reach(
        &self,
        cuts: &Cuts,
        (cells, rows, m): (&[u32], usize, usize),
        explainer: &TreeExplainer<'_>,
        scratch: &mut ReachScratch,
    ) -> Option<Reached> {
        debug_assert!(rows <= MAX_ROWS && cells.len() == rows * m);
        // Each row's grid cell: the offsets of its inputs' cells summed, input after input.
        let flat = &mut scratch.flat;
        flat.clear();
        flat.resize(rows, 0);
        let column = |j: u32| &cells[j as usize * rows..][..rows];
        let inputs = self.inputs.chunks_exact(2);
        let last = inputs.remainder().first().zip(self.offsets.last());
        for (pair, offsets) in inputs.zip(self.offsets.chunks_exact(2)) {
            let (a, b) = (offsets[0].as_slice(), offsets[1].as_slice());
            for ((f, &ca), &cb) in flat.iter_mut().zip(column(pair[0])).zip(column(pair[1])) {
                *f += a[ca as usize] + b[cb as usize];
            }
        }
        if let Some((&j, offsets)) = last {
            for (f, &c) in flat.iter_mut().zip(column(j)) {
                *f += offsets[c as usize];
            }
        }
        // The reached cells, in order of their first row.
        let seen = &mut scratch.seen;
        seen.clear(rows);
        let mut first_rows = Vec::new();
        let mut cell_of_row = Vec::with_capacity(rows);
        for (r, &cell) in scratch.flat.iter().enumerate() {
            let slot = seen.slot(cell, first_rows.len() as u16);
            if usize::from(slot) == first_rows.len() {
                if 2 * first_rows.len() >= rows {
                    return None;
                }
                first_rows.push(r);
            }
            cell_of_row.push(slot);
        }
        // Each reached cell explained for a value of each input in the cell of its first
        // row (as that row would be, without reading it).
        let mut row = vec![f64::NAN; m];
        let mut phi = vec![0.0; m];
        let d = self.inputs.len();
        let mut values = vec![0.0; first_rows.len() * d];
        for (first, values) in first_rows.into_iter().zip(values.chunks_exact_mut(d.max(1))) {
            for &j in &self.inputs {
                let j = j as usize;
                row[j] = representative(&cuts.thresholds[j], cells[j * rows + first] as usize);
            }
            phi.fill(0.0);
            explainer.add(&row, &mut phi, &mut scratch.explain);
            for (v, &j) in values.iter_mut().zip(&self.inputs) {
                *v = phi[j as usize];
            }
        }
        Some(Reached { cell_of_row, values })
    }

    /// Add the contributions of `rows` of `reached` to `sums`: one column of `rows.len()`
    /// values per input, input after input.
    pub(super) fn add(&self, reached: &Reached, rows: Range<usize>, sums: &mut [f64]) {
        let (d, n) = (self.inputs.len(), rows.len());
        let cells = &reached.cell_of_row[rows];
        // Two inputs at a time: a cell's values for both share a cache line.
        let mut k = 0;
        while k + 1 < d {
            let (a, b) = (self.inputs[k] as usize * n, self.inputs[k + 1] as usize * n);
            let (head, tail) = sums.split_at_mut(b);
            let values = &reached.values[k..];
            for ((sa, sb), &cell) in head[a..][..n].iter_mut().zip(&mut tail[..n]).zip(cells) {
                let v = &values[usize::from(cell) * d..][..2];
                *sa += v[0];
                *sb += v[1];
            }
            k += 2;
        }
        if k < d {
            let values = &reached.values[k..];
            for (s, &cell) in sums[self.inputs[k] as usize * n..][..n].iter_mut().zip(cells) {
                *s += values[usize::from(cell) * d];
            }
        }
    }
}

/// The reached cells' slots: an open-addressing hash table (linear probing), at most half
/// full, each entry a cell and its slot in one `u64`.
#[derive(Debug, Default)]
struct CellSet {
    entries: Vec<u64>,
    shift: u32,
}

impl CellSet {
    /// An entry no cell takes.
    const EMPTY: u64 = u64::MAX;

    /// Empty the set and make room for half of `rows` cells.
    fn clear(&mut self, rows: usize) {
        let size = rows.next_power_of_two().max(16);
        self.entries.clear();
        self.entries.resize(size, Self::EMPTY);
        self.shift = 64 - size.trailing_zeros();
    }

    /// The slot of `cell`, which gets `next` when it is new.
    fn slot(&mut self, cell: u32, next: u16) -> u16 {
        let cell = u64::from(cell);
        let mask = self.entries.len() - 1;
        let mut i = (cell.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        loop {
            let e = self.entries[i];
            if e == Self::EMPTY {
                self.entries[i] = cell << 16 | u64::from(next);
                return next;
            }
            if e >> 16 == cell {
                return e as u16;
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn a_representative_goes_the_way_of_its_cell_at_every_threshold() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let mut t: Vec<f64> = (0..rng.random_range(0..6))
                .map(|_| rng.random_range(-2.0..2.0))
                .collect();
            t.sort_unstable_by(f64::total_cmp);
            t.dedup();
            for c in 0..t.len() + 2 {
                assert_eq!(cell_of(&t, representative(&t, c)), c);
            }
            let mut values = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0];
            values.extend(t.iter().copied());
            values.extend((0..20).map(|_| rng.random_range(-3.0..3.0)));
            for v in values {
                let r = representative(&t, cell_of(&t, v));
                assert_eq!(v.is_nan(), r.is_nan());
                for &threshold in &t {
                    assert_eq!(
                        v <= threshold,
                        r <= threshold,
                        "{v} and {r} at {threshold} of {t:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_cell_set_gives_each_cell_one_slot() {
        let mut set = CellSet::default();
        set.clear(64);
        let cells: Vec<u32> = (0..32).map(|i| (i * 7919) % 1000 + u32::MAX - 1000).collect();
        for (i, &c) in cells.iter().enumerate() {
            assert_eq!(set.slot(c, i as u16), i as u16);
        }
        for (i, &c) in cells.iter().enumerate() {
            assert_eq!(set.slot(c, 99), i as u16);
        }
        // Emptied, the set gives a known cell the new slot.
        set.clear(64);
        assert_eq!(set.slot(cells[5], 0), 0);
        assert_eq!(set.slot(cells[5], 1), 0);
    }
}
