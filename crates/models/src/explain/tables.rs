//! Leaf tables: path-dependent TreeSHAP with the per-leaf work done once per tree instead
//! of once per row (the idea of Fast TreeSHAP v2, Yang 2021, with closed-form entries).
//!
//! A leaf of value `v` whose path tests `d` distinct inputs `F` adds to the output `v` times
//! the product, over those inputs, of `o_j` when `j` is known (1 when the row meets every
//! condition of the path on `j`, else 0) or `z_j` when it is not (the share of the
//! training cover that meets them). Its Shapley values over `F` depend on the row only
//! through `M`, the inputs the row meets: with `P(M)` the product of `z_j` over `F \ M`
//! and `K(A) = Σ_s w(s) e_{|A|-s}(z_A)` (`e_k` the elementary symmetric polynomials,
//! `w(s) = s! (d-s-1)! / d!`),
//!
//! - an input `i` in `M` gets `v (1 - z_i) P(M) K(M \ {i})`,
//! - an input not in `M` gets `-v P(M) K(M)`.
//!
//! Every leaf with at most [`MAX_INPUTS`] distinct path inputs gets a table of these for
//! all `2^d` subsets, in `O(2^d d)`. A row then costs one sweep over the nodes, which
//! carries each node's subset down (a row that goes the other way at a split drops that
//! input), and `d` additions per leaf.

use crate::tree::PackedNode;

/// Leaves with more distinct inputs on their path than this are never tabled (a table
/// holds `2^d · d` values).
pub(super) const MAX_INPUTS: usize = 12;

/// `n!` for `n` up to [`MAX_INPUTS`] (exact in `f64`).
const FACTORIAL: [f64; MAX_INPUTS + 1] = {
    let mut f = [1.0; MAX_INPUTS + 1];
    let mut n = 1;
    while n <= MAX_INPUTS {
        f[n] = f[n - 1] * n as f64;
        n += 1;
    }
    f
};

/// Most table entries one tree may hold (8 MB of `f64`).
const MAX_ENTRIES: usize = 1 << 20;

/// One tree's leaf tables.
#[derive(Debug)]
pub(super) struct LeafTables {
    /// The splits in node order: node index and the bit of its input among the path's
    /// distinct inputs.
    splits: Vec<(u32, u32)>,
    leaves: Vec<Leaf>,
    /// The distinct path inputs of every leaf, leaf after leaf.
    features: Vec<u32>,
    /// Per leaf, `2^d` rows of `d` contributions (one per path input), leaf after leaf.
    values: Vec<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Leaf {
    /// The leaf's node index.
    node: usize,
    /// Number of distinct inputs on the path.
    inputs: usize,
    /// Start of the leaf's inputs in `features`.
    features: usize,
    /// Start of the leaf's table in `values`.
    values: usize,
}

/// The distinct inputs on the path to a node and their zero fractions (the product of
/// the shares of the path's edges on each input), in order of first appearance.
#[derive(Debug, Clone, Copy, Default)]
struct Path {
    len: usize,
    inputs: [u32; MAX_INPUTS],
    zeros: [f64; MAX_INPUTS],
}

impl Path {
    /// The distinct inputs.
    fn features(&self) -> &[u32] {
        &self.inputs[..self.len]
    }

    /// Their zero fractions.
    fn zero(&self) -> &[f64] {
        &self.zeros[..self.len]
    }
}

impl LeafTables {
    /// The tables of a tree, when they are worth building for `rows` rows: every leaf has
    /// at most [`MAX_INPUTS`] distinct path inputs, the tables fit in [`MAX_ENTRIES`],
    /// and building them costs less than explaining the rows recursively.
    pub(super) fn build(nodes: &[PackedNode], share: &[f64], rows: usize) -> Option<Self> {
        let paths = paths(nodes, share)?;
        let (mut entries, mut recursive_cost) = (0usize, 0usize);
        let (mut leaves, mut leaf_inputs) = (0, 0);
        for (n, p) in nodes.iter().zip(&paths) {
            if n.is_leaf() {
                let d = p.len;
                leaves += 1;
                leaf_inputs += d;
                entries += d << d;
                recursive_cost += (d + 1) * (d + 1);
            }
        }
        if entries > MAX_ENTRIES || entries > rows.saturating_mul(recursive_cost) {
            return None;
        }
        let mut tables = LeafTables {
            splits: Vec::with_capacity(nodes.len() - leaves),
            leaves: Vec::with_capacity(leaves),
            features: Vec::with_capacity(leaf_inputs),
            values: Vec::with_capacity(entries),
        };
        let mut scratch = TableScratch::default();
        for (i, n) in nodes.iter().enumerate() {
            if !n.is_leaf() {
                let c = n.first_child as usize;
                let bit = paths[c]
                    .features()
                    .iter()
                    .position(|&f| f as usize == n.feature());
                tables.splits.push((i as u32, bit.unwrap_or(0) as u32));
                continue;
            }
            let p = &paths[i];
            tables.leaves.push(Leaf {
                node: i,
                inputs: p.len,
                features: tables.features.len(),
                values: tables.values.len(),
            });
            tables.features.extend_from_slice(p.features());
            leaf_table(p.zero(), n.value, &mut scratch, &mut tables.values);
        }
        Some(tables)
    }

    /// Add the tree's contributions for `row` to `phi`; `subsets` is scratch space.
    pub(super) fn add(&self, nodes: &[PackedNode], row: &[f64], phi: &mut [f64], subsets: &mut Vec<u32>) {
        subsets.clear();
        subsets.resize(nodes.len(), 0);
        subsets[0] = u32::MAX;
        // Parents come before their children, so each split's subset is known in turn.
        for &(i, bit) in &self.splits {
            let n = &nodes[i as usize];
            let subset = subsets[i as usize];
            let hot = n.child_for(row) as usize;
            let cold = 2 * n.first_child as usize + 1 - hot;
            subsets[hot] = subset;
            subsets[cold] = subset & !(1 << bit);
        }
        for leaf in &self.leaves {
            let d = leaf.inputs;
            let met = (subsets[leaf.node] as usize) & ((1 << d) - 1);
            let values = &self.values[leaf.values + met * d..][..d];
            let features = &self.features[leaf.features..][..d];
            for (&f, &v) in features.iter().zip(values) {
                phi[f as usize] += v;
            }
        }
    }
}

/// The distinct path inputs of every node, or `None` when a leaf has more than
/// [`MAX_INPUTS`]. Nodes come after their parents (breadth-first order).
fn paths(nodes: &[PackedNode], share: &[f64]) -> Option<Vec<Path>> {
    let mut paths = vec![Path::default(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        if n.is_leaf() {
            continue;
        }
        let feature = n.feature() as u32;
        let c = n.first_child as usize;
        for child in [c, c + 1] {
            let mut p = paths[i];
            match p.features().iter().position(|&f| f == feature) {
                Some(k) => p.zeros[k] *= share[child],
                None => {
                    if p.len == MAX_INPUTS {
                        return None;
                    }
                    p.inputs[p.len] = feature;
                    p.zeros[p.len] = share[child];
                    p.len += 1;
                }
            }
            paths[child] = p;
        }
    }
    Some(paths)
}

/// Append a leaf's table to `out`: for every subset `M` of its `d = zero.len()` path
/// inputs (bit `j` set when the row meets input `j`'s conditions), the contribution to
/// each input, as in the module's formulas.
fn leaf_table(zero: &[f64], value: f64, scratch: &mut TableScratch, out: &mut Vec<f64>) {
    let d = zero.len();
    let full = 1usize << d;
    let TableScratch {
        symmetric,
        weight,
        k,
        outside,
    } = scratch;
    // e_0..e_d of the zero fractions of each subset, built from the subset without its
    // highest member.
    let width = d + 1;
    symmetric.clear();
    symmetric.resize(full * width, 0.0);
    symmetric[0] = 1.0;
    for m in 1..full {
        let top = (usize::BITS - 1 - m.leading_zeros()) as usize;
        let (done, rest) = symmetric.split_at_mut(m * width);
        let from = &done[(m & !(1 << top)) * width..][..width];
        let to = &mut rest[..width];
        to[0] = 1.0;
        for k in 1..width {
            to[k] = from[k] + zero[top] * from[k - 1];
        }
    }
    // Shapley weights w(s) = s! (d-s-1)! / d! for s < d.
    weight.clear();
    weight.extend((0..d).map(|s| FACTORIAL[s] * FACTORIAL[d - s - 1] / FACTORIAL[d]));
    k.clear();
    k.extend((0..full).map(|m| {
        // Only used for subsets that leave an input out (q < d).
        let q = m.count_ones() as usize;
        let e = &symmetric[m * width..][..width];
        (0..=q)
            .take_while(|&s| s < d)
            .map(|s| weight[s] * e[q - s])
            .sum::<f64>()
    }));
    // The product of the zero fractions outside each subset, from the subset with one
    // more member.
    outside.clear();
    outside.resize(full, 1.0);
    for m in (0..full - 1).rev() {
        let j = (!m).trailing_zeros() as usize;
        outside[m] = outside[m | 1 << j] * zero[j];
    }
    out.reserve(full * d);
    for m in 0..full {
        let (outside, k_m) = (outside[m], k[m]);
        for (j, z) in zero.iter().enumerate() {
            let bit = 1 << j;
            out.push(if m & bit != 0 {
                value * (1.0 - z) * outside * k[m ^ bit]
            } else {
                -value * outside * k_m
            });
        }
    }
}

/// Scratch space of [`leaf_table`], reused across leaves.
#[derive(Debug, Default)]
struct TableScratch {
    symmetric: Vec<f64>,
    weight: Vec<f64>,
    k: Vec<f64>,
    outside: Vec<f64>,
}
