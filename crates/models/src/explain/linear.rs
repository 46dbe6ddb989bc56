//! Linear TreeSHAP: exact path-dependent contributions in `O(nodes · K)` per row (in the
//! spirit of Yu et al., "Linear TreeSHAP", 2022), for deep trees where the recursive
//! algorithm's `leaves · depth²` hurts.
//!
//! A leaf `l` of value `v` whose path tests the distinct inputs `F` is a product game:
//! knowing the inputs `S`, it adds `v Π_{j∈F} (o_j if j ∈ S else z_j)`, with `z_j` the
//! product of the cover shares of the path's edges on `j` and `o_j` 1 when the row meets
//! every condition of the path on `j`, else 0. By Owen's multilinear extension its
//! Shapley value for `i ∈ F` is
//!
//! `φ_i(l) = v (o_i − z_i) ∫_0^1 Π_{j∈F, j≠i} f_j(t) dt`, `f_j(t) = z_j + t (o_j − z_j)`.
//!
//! The integrand is a polynomial of degree below `|F|`, so Gauss–Legendre quadrature
//! ([`quadrature`](super::quadrature)) with `⌈d/2⌉` nodes, `d` the most distinct inputs
//! of any path of the tree, is exact. The tree's `K` is that rounded up to a multiple of
//! [`LANES`] (more nodes are as exact) and is known at compile time, so that the loops
//! over the quadrature nodes are unrolled and vectorised. With `G_l(t) = Π_{j∈F} f_j(t)`,
//! `φ_i(l) = v (o_i − z_i) ∫ G_l / f_i`. Per row:
//!
//! 1. top-down, every node's `G(t_k)` for the path's distinct inputs: an input split on
//!    again has its factor replaced by the combined one;
//! 2. bottom-up, `S_n(t_k) = Σ_{leaves l under n} v_l G_l(t_k)`;
//! 3. at each edge on an input `i`, the leaves whose deepest edge on `i` it is (those
//!    below it, less those below the next edges on `i`) share its factor `f_i`, so they
//!    add `(o_i − z_i) Σ_k w_k [S_n − Σ_next S_m](t_k) / f_i(t_k)` to `φ_i`.
//!
//! Nothing is divided by 0, and nothing is divided per row: `f(t) = (1 − t) z + t o`.
//! An edge the row does not meet (`o = 0`) has `f = z (1 − t)`, so `z` cancels out of its
//! contribution (when `z = 0` its sums are 0 and so is its contribution) and out of the
//! replacement of its factor further down (the ratio is the edge's share). An edge the
//! row meets has `f = z + t (1 − z) ≥ t > 0`, whose reciprocals are computed once per
//! tree. The row's way through the tree selects values rather than branches, so that
//! it costs no mispredicted branches.

use super::quadrature;
use crate::tree::PackedNode;

/// `K` is a multiple of it, and the quadrature of a node's sums runs that many partial
/// sums side by side.
const LANES: usize = 4;

/// The row of open sums of edges with no edge below on the same input: always 0.
const ZERO_ROW: u32 = 0;

/// The row of open sums that edges on a new input subtract their sums from: cleared at
/// the end of each row.
const SINK_ROW: u32 = 1;

/// The edge into a node, from its parent.
#[derive(Debug, Clone, Copy)]
struct Edge {
    /// The input the parent's split tests.
    feature: u32,
    /// The node the nearest edge above on the same input leads to, or 0 (the root, whose
    /// `o` is 1 and whose factor is 1) when the input is new on the path.
    earlier: u32,
    /// The edge's row of open sums: its own when an edge below tests the same input, else
    /// [`ZERO_ROW`].
    slot: u32,
    /// The row of open sums the edge's sums are subtracted from: the earlier edge's, or
    /// [`SINK_ROW`].
    target: u32,
    /// The edge's share of its parent's cover.
    share: f64,
    /// `z`: the product of the shares of the path's edges on `feature`, down to this one.
    zero: f64,
    /// The value of the leaf the edge leads to, else 1: a leaf's `G` is computed times its
    /// value, as its `S`.
    value: f64,
}

/// One tree prepared for [`LinearTree::add`].
#[derive(Debug)]
pub(super) struct LinearTree {
    /// The edge into each node (the root's is a placeholder: `z = 1`).
    edges: Vec<Edge>,
    /// Rows of open sums, the two fixed ones included.
    slots: usize,
    /// Quadrature nodes `t_k` on `[0, 1]` (`K` of them).
    t: Vec<f64>,
    /// Quadrature weights `w_k`.
    w: Vec<f64>,
    /// `−w_k / (1 − t_k)`: the weights of an edge the row does not meet, whose factor
    /// `z (1 − t)` cancels against its `o − z = −z`.
    w_cold: Vec<f64>,
    /// `K` ones: the factors of [`LinearTree::w_cold`]'s weights.
    ones: Vec<f64>,
    /// Per node, `K` values `1 / (z + t_k (1 − z))`: the reciprocals of the factor of the
    /// edge into it when the row meets it (all 1 at the root).
    inverse: Vec<f64>,
}

/// Scratch space of [`LinearTree::add`], reused across rows and trees.
#[derive(Debug, Default)]
pub(super) struct LinearScratch {
    /// Per node: whether the row meets every condition of the path on the input of the
    /// edge into it (`o`; true at the root).
    met: Vec<bool>,
    /// Per node, `K` values: `G(t_k)` top-down, then `S(t_k)` bottom-up.
    sums: Vec<f64>,
    /// Per slot, `K` values: minus the sums of the next edges below on the same input.
    /// All 0 between rows: each row is cleared as it is read, [`SINK_ROW`] at the end.
    open: Vec<f64>,
}

/// The per-tree tables of [`LinearTree`] as arrays of `K` values.
struct Tables<'a, const K: usize> {
    t: &'a [f64; K],
    w: &'a [f64; K],
    w_cold: &'a [f64; K],
    ones: &'a [f64; K],
    inverse: &'a [[f64; K]],
}

impl LinearTree {
    /// The tree of `nodes` (breadth-first, parents first) with `share` the share of its
    /// parent's cover of each node; `None` when a path has more distinct inputs than the
    /// quadrature can take (`2 ·` [`quadrature::MAX_NODES`]).
    pub(super) fn build(nodes: &[PackedNode], share: &[f64]) -> Option<Self> {
        let (edges, slots, most) = edges(nodes, share);
        let k = most.div_ceil(2).max(1).next_multiple_of(LANES);
        let (t, w) = quadrature::gauss_legendre(k)?;
        let w_cold = t.iter().zip(&w).map(|(t, w)| -w / (1.0 - t)).collect();
        let inverse = edges
            .iter()
            .flat_map(|e| t.iter().map(move |t| 1.0 / (e.zero + t * (1.0 - e.zero))))
            .collect();
        Some(LinearTree {
            edges,
            slots,
            ones: vec![1.0; k],
            t,
            w,
            w_cold,
            inverse,
        })
    }

    /// Add the contributions of the tree of `nodes` (the one it was built from) for `row`
    /// to `phi`.
    pub(super) fn add(
        &self,
        nodes: &[PackedNode],
        row: &[f64],
        phi: &mut [f64],
        scratch: &mut LinearScratch,
    ) {
        self.add_with(nodes, row, phi, scratch, has_avx2());
    }

    /// [`LinearTree::add`] compiled for the baseline x86-64 whatever the CPU has: the
    /// reference the AVX2 code is tested against.
    #[cfg(test)]
    pub(super) fn add_portable(
        &self,
        nodes: &[PackedNode],
        row: &[f64],
        phi: &mut [f64],
        scratch: &mut LinearScratch,
    ) {
        self.add_with(nodes, row, phi, scratch, false);
    }

    /// [`LinearTree::add`], by the AVX2 code when `avx2` (which the CPU must have).
    fn add_with(
        &self,
        nodes: &[PackedNode],
        row: &[f64],
        phi: &mut [f64],
        scratch: &mut LinearScratch,
        avx2: bool,
    ) {
        // `K` known at compile time: its loops unrolled and vectorised.
        macro_rules! by_k {
            ($($k:literal)*) => {
                match self.t.len() {
                    $($k => self.add_k::<$k>(nodes, row, phi, scratch, avx2),)*
                    k => unreachable!("{k} quadrature nodes: at most {} in multiples of {LANES}", quadrature::MAX_NODES),
                }
            };
        }
        by_k!(4 8 12 16 20 24 28 32 36 40 44 48 52 56 60 64)
    }

    /// [`LinearTree::add`] with `K` quadrature nodes: compiled twice, for the baseline
    /// x86-64 (two-lane SSE2) and for AVX2 (four lanes), the latter when `avx2`. Both run
    /// the same operations in the same order (no fused multiply-adds), so they give the
    /// same bits.
    fn add_k<const K: usize>(
        &self,
        nodes: &[PackedNode],
        row: &[f64],
        phi: &mut [f64],
        scratch: &mut LinearScratch,
        avx2: bool,
    ) {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `avx2` is only true when the CPU supports AVX2 (`has_avx2`).
            unsafe { self.add_k_avx2::<K>(nodes, row, phi, scratch) };
            return;
        }
        let _ = avx2;
        self.add_k_any::<K>(nodes, row, phi, scratch);
    }

    /// [`LinearTree::add_k`] compiled for AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn add_k_avx2<const K: usize>(
        &self,
        nodes: &[PackedNode],
        row: &[f64],
        phi: &mut [f64],
        scratch: &mut LinearScratch,
    ) {
        self.add_k_any::<K>(nodes, row, phi, scratch);
    }

    /// [`LinearTree::add_k`] for whatever the caller is compiled for (inlined into it).
    #[inline(always)]
    fn add_k_any<const K: usize>(
        &self,
        nodes: &[PackedNode],
        row: &[f64],
        phi: &mut [f64],
        scratch: &mut LinearScratch,
    ) {
        let n = nodes.len();
        grow(&mut scratch.met, n, false);
        grow(&mut scratch.sums, n * K, 0.0);
        grow(&mut scratch.open, self.slots * K, 0.0);
        let met = &mut scratch.met[..n];
        let sums = &mut scratch.sums.as_chunks_mut::<K>().0[..n];
        let open = &mut scratch.open.as_chunks_mut::<K>().0[..self.slots];
        let tables = self.tables::<K>();
        self.down(&tables, nodes, row, met, sums);
        self.up(&tables, nodes, phi, met, sums, open);
    }

    /// The tables as arrays of `K` values (`K` the number of quadrature nodes).
    fn tables<const K: usize>(&self) -> Tables<'_, K> {
        /// The first `K` values of `v` (all of them, by construction).
        fn array<const K: usize>(v: &[f64]) -> &[f64; K] {
            v.first_chunk::<K>().expect("K quadrature values")
        }
        Tables {
            t: array(&self.t),
            w: array(&self.w),
            w_cold: array(&self.w_cold),
            ones: array(&self.ones),
            inverse: self.inverse.as_chunks::<K>().0,
        }
    }

    /// Step 1: `o` and `G(t_k)` of every node, parents first.
    #[inline(always)]
    fn down<const K: usize>(
        &self,
        tables: &Tables<'_, K>,
        nodes: &[PackedNode],
        row: &[f64],
        met: &mut [bool],
        sums: &mut [[f64; K]],
    ) {
        sums[0] = [1.0; K];
        met[0] = true;
        for (i, n) in nodes.iter().enumerate() {
            if n.is_leaf() {
                continue;
            }
            let c = n.first_child as usize;
            let hot = n.child_for(row) as usize;
            let parent = sums[i];
            for child in [c, c + 1] {
                let e = &self.edges[child];
                let above = met[e.earlier as usize];
                met[child] = above & (child == hot);
                sums[child] = descend(tables, e, above, met[child], &parent);
            }
        }
    }

    /// Steps 2 and 3: `S(t_k)` of every node, children first (leaves have theirs from step
    /// 1), and the contribution of the edge into it.
    #[inline(always)]
    fn up<const K: usize>(
        &self,
        tables: &Tables<'_, K>,
        nodes: &[PackedNode],
        phi: &mut [f64],
        met: &[bool],
        sums: &mut [[f64; K]],
        open: &mut [[f64; K]],
    ) {
        for i in (1..nodes.len()).rev() {
            let n = &nodes[i];
            let e = &self.edges[i];
            let (factor, weights, factors) = if met[i] {
                (1.0 - e.zero, tables.w, &tables.inverse[i])
            } else {
                (1.0, tables.w_cold, tables.ones)
            };
            let s = if n.is_leaf() {
                // Its `S`, from step 1. No edge below a leaf: its open sums are 0.
                let s = sums[i];
                phi[e.feature as usize] += factor * weighted_sum(&s, weights, factors);
                s
            } else {
                let c = n.first_child as usize;
                let (left, right) = (&sums[c], &sums[c + 1]);
                let s = std::array::from_fn(|k| left[k] + right[k]);
                sums[i] = s;
                let own = &mut open[e.slot as usize];
                let d = std::array::from_fn(|k| s[k] + own[k]);
                *own = [0.0; K];
                phi[e.feature as usize] += factor * weighted_sum(&d, weights, factors);
                s
            };
            let target = &mut open[e.target as usize];
            *target = std::array::from_fn(|k| target[k] - s[k]);
        }
        // Other trees may lay the rows out otherwise: leave all of them 0.
        open[SINK_ROW as usize] = [0.0; K];
    }
}

/// `G(t_k)` of the node edge `e` leads to (times its value when a leaf: `S(t_k)`) from
/// its parent's, `parent`, when the row meets the path's conditions on the edge's input
/// above it (`above`) and down to it (`met`). The factor of the earlier edge on the input
/// (1 for a new input) is replaced by the new one. When the row does not meet the
/// conditions above, neither is the new factor `z (1 − t)` met and its ratio to the
/// earlier `z' (1 − t)` is the edge's share (when `z' = 0`, `parent` is 0 already).
#[inline(always)]
fn descend<const K: usize>(
    tables: &Tables<'_, K>,
    e: &Edge,
    above: bool,
    met: bool,
    parent: &[f64; K],
) -> [f64; K] {
    let (m, o) = (f64::from(u8::from(above)), f64::from(u8::from(met)));
    let (z, hot, cold) = (e.zero, m * e.value, (1.0 - m) * e.share * e.value);
    let (t, r) = (tables.t, &tables.inverse[e.earlier as usize]);
    std::array::from_fn(|k| parent[k] * (hot * ((z + t[k] * (o - z)) * r[k]) + cold))
}

/// `Σ_k w_k f_k d_k`: [`LANES`] running sums added up in a fixed order.
#[inline(always)]
fn weighted_sum<const K: usize>(d: &[f64; K], w: &[f64; K], f: &[f64; K]) -> f64 {
    let mut sum = [0.0; LANES];
    for k in 0..K {
        sum[k % LANES] += w[k] * f[k] * d[k];
    }
    (sum[0] + sum[1]) + (sum[2] + sum[3])
}

/// The edges into every node of `nodes`, the number of rows of open sums they need and
/// the most distinct inputs on a path.
fn edges(nodes: &[PackedNode], share: &[f64]) -> (Vec<Edge>, usize, usize) {
    let placeholder = Edge {
        feature: 0,
        earlier: 0,
        slot: ZERO_ROW,
        target: SINK_ROW,
        share: 1.0,
        zero: 1.0,
        value: 1.0,
    };
    let mut edges = vec![placeholder; nodes.len()];
    let mut parent = vec![0usize; nodes.len()];
    let mut distinct = vec![0usize; nodes.len()];
    let mut slots = SINK_ROW + 1;
    for (i, n) in nodes.iter().enumerate() {
        if n.is_leaf() {
            continue;
        }
        let feature = n.feature() as u32;
        let earlier = earlier_edge(&edges, &parent, i, feature);
        if earlier != 0 && edges[earlier].slot == ZERO_ROW {
            edges[earlier].slot = slots;
            slots += 1;
        }
        let above = edges[earlier];
        let c = n.first_child as usize;
        for child in [c, c + 1] {
            parent[child] = i;
            edges[child] = Edge {
                feature,
                earlier: earlier as u32,
                slot: ZERO_ROW,
                target: if earlier == 0 { SINK_ROW } else { above.slot },
                share: share[child],
                zero: above.zero * share[child],
                value: if nodes[child].is_leaf() {
                    nodes[child].value
                } else {
                    1.0
                },
            };
            distinct[child] = distinct[i] + usize::from(earlier == 0);
        }
    }
    let most = distinct.iter().copied().max().unwrap_or(0);
    (edges, slots as usize, most)
}

/// The nearest node at or above node `i` whose edge tests `feature`, or 0 (the root).
fn earlier_edge(edges: &[Edge], parent: &[usize], mut i: usize, feature: u32) -> usize {
    while i != 0 {
        if edges[i].feature == feature {
            return i;
        }
        i = parent[i];
    }
    0
}

/// Whether the CPU runs AVX2 (checked once, then cached by the standard library).
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Make `v` at least `len` long (allocating only when it grows).
fn grow<T: Clone>(v: &mut Vec<T>, len: usize, fill: T) {
    if v.len() < len {
        v.resize(len, fill);
    }
}
