//! Exact per-prediction input contributions (SHAP values).
//!
//! For trees: exact path-dependent TreeSHAP values. The expectation of a tree when some
//! inputs are unknown follows the training data down the tree: at a split on an unknown
//! input, each side is weighted by its share of the split's training cover
//! ([`Tree::cover`]). Each tree is explained one of three ways, all giving the same
//! contributions up to rounding:
//!
//! - leaf tables (module `tables`): when many rows are explained and a tree's paths are
//!   short, each leaf's contributions for every subset of its path's inputs are tabled
//!   once and a row costs one table lookup per leaf;
//! - Linear TreeSHAP (module `linear`): otherwise, `nodes × K` per row with `K` about
//!   half the most distinct inputs on a path (Gauss–Legendre quadrature of Owen's
//!   integral);
//! - the recursive algorithm of Lundberg et al. ("From local explanations to global
//!   understanding with explainable AI for trees", 2020, Algorithm 2), `leaves × depth²`
//!   per row: the reference of the tests, and for trees whose paths have more distinct
//!   inputs than the quadrature takes.
//!
//! Whichever way, a tree's contributions for a row depend only on the way the row goes at
//! each split. When many rows go the same ways through a small tree (boosted trees of a
//! few leaves), the tree explains each distinct way once (module `grid`) and every row
//! looks its own up.
//!
//! For logistic regression: coefficient × (value − training mean of the input).
//!
//! Every model's contributions are in its output space ([`OutputSpace`]): probability
//! for the decision tree and the random forest (the mean of its trees'), log-odds for
//! logistic regression and gradient boosting (the raw score before the sigmoid). Local
//! accuracy holds: for every row, [`Contributions::expected`] plus the row's contributions
//! equals the model's output (up to rounding). Rows are explained in parallel and each
//! row's sums run in a fixed order, so results do not depend on the number of threads.
//! Which way each tree takes (tables, grids) depends on how many rows are explained
//! together, so the same row explained in another batch may differ in its last bits.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::tree::{PackedNode, Tree};
use crate::{Model, ModelError};

mod grid;
mod linear;
mod quadrature;
mod tables;

use grid::{Cuts, Grid, ReachScratch, Reached};
use linear::{LinearScratch, LinearTree};
use tables::LeafTables;

/// What a model's contributions add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSpace {
    /// The probability of the replayed class (decision tree, random forest).
    Probability,
    /// The log-odds of the replayed class (logistic regression, gradient boosting).
    LogOdds,
}

impl OutputSpace {
    /// The probability of an output in this space.
    pub fn probability(self, output: f64) -> f64 {
        match self {
            OutputSpace::Probability => output,
            OutputSpace::LogOdds => crate::numeric::sigmoid(output),
        }
    }

    /// The name used in files and tables: `probability` or `log-odds`.
    pub fn name(self) -> &'static str {
        match self {
            OutputSpace::Probability => "probability",
            OutputSpace::LogOdds => "log-odds",
        }
    }
}

/// The contributions of every input to every row's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Contributions {
    /// The output the contributions add up to.
    pub space: OutputSpace,
    /// The expected output over the training data (the base value of every row).
    pub expected: f64,
    /// One row per explained row, one column per input.
    pub values: Array2<f64>,
}

impl Contributions {
    /// The output each row's contributions add up to: expected value plus their sum.
    pub fn outputs(&self) -> Array1<f64> {
        self.values.sum_axis(Axis(1)) + self.expected
    }
}

impl Model {
    /// The contributions of every input to the output of every row of `x`. An error
    /// unless `x` has [`Model::n_features`] columns, or when a tree has no cover (read from
    /// a model file of format 2: re-train it).
    pub fn contributions(&self, x: ArrayView2<'_, f64>) -> Result<Contributions, ModelError> {
        crate::check_inputs(self.n_features(), x)?;
        let space = self.output_space();
        match self {
            Model::LogisticRegression(m) => {
                let means = |j: usize| m.input_means.get(j).copied().unwrap_or(0.0);
                let expected = m.intercept
                    + m.coefficients
                        .iter()
                        .enumerate()
                        .map(|(j, w)| w * means(j))
                        .sum::<f64>();
                let mut values = Array2::zeros(x.raw_dim());
                for ((i, j), v) in values.indexed_iter_mut() {
                    *v = m.coefficients[j] * (x[(i, j)] - means(j));
                }
                Ok(Contributions {
                    space,
                    expected,
                    values,
                })
            }
            Model::DecisionTree(t) => trees_contributions(std::slice::from_ref(t), x, 0.0, 1.0, space),
            Model::RandomForest(f) => {
                let scale = 1.0 / f.trees.len().max(1) as f64;
                trees_contributions(&f.trees, x, 0.0, scale, space)
            }
            Model::GradientBoosting(b) => trees_contributions(&b.trees, x, b.init_score, 1.0, space),
        }
    }
}

/// Most rows explained together, tree after tree.
const BLOCK_ROWS: usize = 256;

/// `offset + scale · Σ trees`, explained: the trees' contributions summed per row and
/// scaled. Trees whose rows reach few cells of their grid (module `grid`) are explained
/// once per reached cell, [`grid::MAX_ROWS`] rows at a time.
fn trees_contributions(
    trees: &[Tree],
    x: ArrayView2<'_, f64>,
    offset: f64,
    scale: f64,
    space: OutputSpace,
) -> Result<Contributions, ModelError> {
    let (rows, m) = (x.nrows(), x.ncols());
    let cuts = Cuts::new(trees.iter().map(Tree::packed), m);
    // A single row has nothing to share.
    let grids: Vec<Option<Grid>> = trees
        .par_iter()
        .map(|t| (rows > 1).then(|| Grid::build(t.packed(), &cuts)).flatten())
        .collect();
    let explainers = trees
        .par_iter()
        .map(|t| TreeExplainer::for_rows(t, rows))
        .collect::<Result<Vec<_>, _>>()?;
    let expected = offset + scale * explainers.iter().map(|e| e.expected).sum::<f64>();
    let mut values = Array2::zeros(x.raw_dim());
    let any_grid = grids.iter().any(Option::is_some);
    for (mut values, x) in values
        .axis_chunks_iter_mut(Axis(0), grid::MAX_ROWS)
        .zip(x.axis_chunks_iter(Axis(0), grid::MAX_ROWS))
    {
        let reached: Vec<Option<Reached>> = if any_grid {
            let cells = cuts.cells(x);
            grids
                .par_iter()
                .zip(&explainers)
                .map_init(ReachScratch::default, |scratch, (g, e)| {
                    g.as_ref()
                        .and_then(|g| g.reach(&cuts, (&cells, x.nrows(), m), e, scratch))
                })
                .collect()
        } else {
            grids.iter().map(|_| None).collect()
        };
        explain_rows(&explainers, &grids, &reached, x, values.view_mut(), scale);
    }
    Ok(Contributions {
        space,
        expected,
        values,
    })
}

/// Write the scaled contributions of rows `x` to `values`. Each row sums the trees
/// explained directly in tree order, the trees explained through their `reached` grid
/// cells apart (also in tree order), then adds the two sums.
fn explain_rows(
    explainers: &[TreeExplainer<'_>],
    grids: &[Option<Grid>],
    reached: &[Option<Reached>],
    x: ArrayView2<'_, f64>,
    mut values: ArrayViewMut2<'_, f64>,
    scale: f64,
) {
    let (rows, m) = (x.nrows(), x.ncols().max(1));
    // The rows' values are read only by the trees explained directly.
    let any_direct = reached.iter().any(Option::is_none);
    // Blocks of rows, each tree in turn over the whole block so that its nodes and tables
    // stay in cache; every row still sums its trees in a fixed order (the trees explained
    // directly in tree order, those through grids apart, also in tree order), so the
    // blocks (smaller for few rows, to give every thread some) do not change any result.
    let block = rows
        .div_ceil(4 * rayon::current_num_threads())
        .clamp(1, BLOCK_ROWS);
    values
        .axis_chunks_iter_mut(Axis(0), block)
        .into_par_iter()
        .zip(x.axis_chunks_iter(Axis(0), block).into_par_iter())
        .enumerate()
        .for_each_init(
            || (Scratch::default(), Vec::new(), Vec::new()),
            |(scratch, rows, sums), (b, (mut phi, x_block))| {
                let n = x_block.nrows();
                if any_direct {
                    rows.clear();
                    rows.extend(x_block.iter().copied());
                }
                // The sums of the trees explained through grids, input after input.
                sums.clear();
                sums.resize(n * m, 0.0);
                let phi = phi.as_slice_mut().expect("rows of a standard-layout array");
                for ((e, grid), reached) in explainers.iter().zip(grids).zip(reached) {
                    match (grid, reached) {
                        (Some(grid), Some(reached)) => grid.add(reached, b * block..b * block + n, sums),
                        _ => {
                            for (row, phi) in rows.chunks_exact(m).zip(phi.chunks_exact_mut(m)) {
                                e.add(row, phi, scratch);
                            }
                        }
                    }
                }
                for (i, phi) in phi.chunks_exact_mut(m).enumerate() {
                    for (j, v) in phi.iter_mut().enumerate() {
                        *v = (*v + sums[j * n + i]) * scale;
                    }
                }
            },
        );
}

/// One tree ready to explain rows: its nodes, the share of each node's parent's cover
/// that reaches it, its depth, expected value and the way it is explained.
#[derive(Debug)]
pub struct TreeExplainer<'t> {
    nodes: &'t [PackedNode],
    /// Share of the parent's cover of each node (1 at the root): the child's cover over
    /// the sum of both children's, so the two shares of a split always add up to 1.
    share: Vec<f64>,
    depth: usize,
    method: Method,
    /// The tree's expected value: its leaves weighted by their share of the root's cover.
    pub expected: f64,
}

/// How a [`TreeExplainer`] explains a row.
#[derive(Debug)]
enum Method {
    /// Each leaf's contributions tabled ([`tables`]).
    Tables(LeafTables),
    /// Linear TreeSHAP ([`linear`]).
    Linear(LinearTree),
    /// The recursive algorithm (Lundberg et al., Algorithm 2).
    Recursive,
}

/// Scratch space of [`TreeExplainer::add`], reused across rows and trees.
#[derive(Debug, Default)]
pub struct Scratch {
    path: Vec<PathElement>,
    subsets: Vec<u32>,
    linear: LinearScratch,
}

/// One element of the path from the root to the current node, as in the paper: the
/// input of a split on it, the share of rows that follow it when the input is unknown
/// (`zero`) and known (`one`: 1 when the row goes this way, 0 otherwise), and the weight of
/// subsets of the path's inputs of each size.
#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    feature: usize,
    zero: f64,
    one: f64,
    weight: f64,
}

impl<'t> TreeExplainer<'t> {
    /// An explainer of `tree` (by Linear TreeSHAP when its paths allow, else
    /// recursively); an error when it has no cover.
    pub fn new(tree: &'t Tree) -> Result<Self, ModelError> {
        Self::for_rows(tree, 0)
    }

    /// An explainer of `tree` for `rows` rows: by leaf tables when building them costs
    /// less than explaining the rows without them and they are small enough (see module
    /// `tables`), else as [`TreeExplainer::new`]; an error when it has no cover.
    pub fn for_rows(tree: &'t Tree, rows: usize) -> Result<Self, ModelError> {
        let cover = tree.cover().ok_or_else(|| {
            ModelError::InvalidTree(
                "the tree has no node covers (a model file of format 2); re-train the model to explain it"
                    .into(),
            )
        })?;
        let nodes = tree.packed();
        let mut share = vec![1.0; nodes.len()];
        let mut reach = vec![1.0; nodes.len()];
        let mut expected = 0.0;
        for (i, n) in nodes.iter().enumerate() {
            if n.is_leaf() {
                expected += reach[i] * n.value;
                continue;
            }
            let c = n.first_child as usize;
            let (left, right) = (f64::from(cover[c]), f64::from(cover[c + 1]));
            let total = left + right;
            // A split reached by no training weight: both ways alike.
            let (l, r) = if total > 0.0 {
                (left / total, right / total)
            } else {
                (0.5, 0.5)
            };
            share[c] = l;
            share[c + 1] = r;
            reach[c] = reach[i] * l;
            reach[c + 1] = reach[i] * r;
        }
        let tables = (rows > 0)
            .then(|| LeafTables::build(nodes, &share, rows))
            .flatten();
        let method = match tables {
            Some(tables) => Method::Tables(tables),
            None => LinearTree::build(nodes, &share).map_or(Method::Recursive, Method::Linear),
        };
        Ok(TreeExplainer {
            nodes,
            share,
            depth: tree.depth(),
            method,
            expected,
        })
    }

    /// The explainer by the recursive algorithm, the reference of the other ways.
    #[cfg(test)]
    pub(crate) fn recursive(mut self) -> Self {
        self.method = Method::Recursive;
        self
    }

    /// Add the contributions of the tree's output for `row` to `phi` (one per input).
    pub fn add(&self, row: &[f64], phi: &mut [f64], scratch: &mut Scratch) {
        match &self.method {
            Method::Tables(tables) => tables.add(self.nodes, row, phi, &mut scratch.subsets),
            Method::Linear(linear) => linear.add(self.nodes, row, phi, &mut scratch.linear),
            Method::Recursive => self.add_recursively(row, phi, &mut scratch.path),
        }
    }

    /// [`TreeExplainer::add`] by the recursive algorithm; `path` is scratch space.
    fn add_recursively(&self, row: &[f64], phi: &mut [f64], path: &mut Vec<PathElement>) {
        // Each level copies the path of its parent after it: at most 1 + 2 + ... + (d + 2).
        let d = self.depth + 2;
        path.clear();
        path.resize(d * (d + 1) / 2, PathElement::default());
        self.recurse(row, phi, path, 0, 0, 1.0, 1.0, usize::MAX);
    }

    /// The recursion of [`TreeExplainer::add_recursively`] at `node`, reached with the
    /// path element of the edge into it (`zero`, `one`, `feature`).
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &self,
        row: &[f64],
        phi: &mut [f64],
        path: &mut [PathElement],
        node: usize,
        depth: usize,
        zero: f64,
        one: f64,
        feature: usize,
    ) {
        extend(path, depth, zero, one, feature);
        let n = &self.nodes[node];
        if n.is_leaf() {
            // Elements the row does not follow (one = 0) all unwind to the same sum over
            // their zero fraction: computed once.
            let l = (depth + 1) as f64;
            let cold: f64 = (0..depth).map(|i| path[i].weight * l / (depth - i) as f64).sum();
            for i in 1..=depth {
                let e = path[i];
                let w = if e.one != 0.0 {
                    unwound_sum(path, depth, i)
                } else if e.zero != 0.0 {
                    cold / e.zero
                } else {
                    0.0
                };
                phi[e.feature] += w * (e.one - e.zero) * n.value;
            }
            return;
        }
        let split = n.feature();
        let hot = n.child_for(row) as usize;
        let first = n.first_child as usize;
        let cold = if hot == first { first + 1 } else { first };
        let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
        let mut depth = depth;
        // An input split on again: its earlier element is taken out and folded into this one.
        if let Some(k) = (1..=depth).find(|&k| path[k].feature == split) {
            incoming_zero = path[k].zero;
            incoming_one = path[k].one;
            unwind(path, depth, k);
            depth -= 1;
        }
        for (child, one) in [(hot, incoming_one), (cold, 0.0)] {
            let (current, next) = path.split_at_mut(depth + 1);
            next[..=depth].copy_from_slice(current);
            let zero = incoming_zero * self.share[child];
            self.recurse(row, phi, next, child, depth + 1, zero, one, split);
        }
    }
}

/// Grow the path by one element (the paper's EXTEND).
fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: usize) {
    path[depth] = PathElement {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let (one, zero) = (one / (depth + 1) as f64, zero / (depth + 1) as f64);
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64;
        path[i].weight = zero * path[i].weight * (depth - i) as f64;
    }
}

/// Take element `index` out of the path of `depth + 1` elements (the paper's UNWIND).
fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let (one, zero) = (path[index].one, path[index].zero);
    let l = (depth + 1) as f64;
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let kept = path[i].weight;
            path[i].weight = next * l / ((i + 1) as f64 * one);
            next = kept - path[i].weight * zero * (depth - i) as f64 / l;
        } else {
            path[i].weight = path[i].weight * l / (zero * (depth - i) as f64);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

/// The total weight of the path with element `index`, which the row follows (its `one`
/// is not 0), taken out, without changing the path.
fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f64 {
    let l = (depth + 1) as f64;
    let (scale, zero) = (l / path[index].one, path[index].zero / l);
    let mut next = path[depth].weight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        let w = next * scale / (i + 1) as f64;
        total += w;
        next = path[i].weight - w * zero * (depth - i) as f64;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Node;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The path-dependent expectation of `tree` for `row` when only the inputs in `known`
    /// (a bit set) are known: follow the row at their splits, average both sides by cover
    /// share at the others.
    fn expectation(e: &TreeExplainer<'_>, row: &[f64], known: u32, node: usize) -> f64 {
        let n = &e.nodes[node];
        if n.is_leaf() {
            return n.value;
        }
        let c = n.first_child as usize;
        if known & (1 << n.feature()) != 0 {
            expectation(e, row, known, n.child_for(row) as usize)
        } else {
            e.share[c] * expectation(e, row, known, c) + e.share[c + 1] * expectation(e, row, known, c + 1)
        }
    }

    /// Shapley values by enumerating every subset of the `m` inputs.
    fn brute_force(e: &TreeExplainer<'_>, row: &[f64], m: usize) -> Vec<f64> {
        let factorial = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
        let mut phi = vec![0.0; m];
        for (i, p) in phi.iter_mut().enumerate() {
            for set in 0u32..(1 << m) {
                if set & (1 << i) != 0 {
                    continue;
                }
                let s = set.count_ones() as usize;
                let weight = factorial(s) * factorial(m - s - 1) / factorial(m);
                *p += weight * (expectation(e, row, set | (1 << i), 0) - expectation(e, row, set, 0));
            }
        }
        phi
    }

    /// A random tree of `m` inputs: splits on random inputs (repeats included) down to a
    /// random depth below `max_depth`, random thresholds, leaf values and leaf covers
    /// (1 to 49, or 0 with probability `zero_cover` for left children).
    fn random_tree(rng: &mut ChaCha8Rng, m: usize, max_depth: usize, zero_cover: f64) -> Tree {
        fn grow(
            rng: &mut ChaCha8Rng,
            m: usize,
            depth: usize,
            max_depth: usize,
            nodes: &mut Vec<Node>,
        ) -> usize {
            let i = nodes.len();
            nodes.push(Node::Leaf {
                value: rng.random::<f64>() * 4.0 - 2.0,
            });
            if depth < max_depth && rng.random::<f64>() < 0.8 {
                let (feature, threshold, missing_left) = (rng.random_range(0..m), rng.random(), rng.random());
                let left = grow(rng, m, depth + 1, max_depth, nodes);
                let right = grow(rng, m, depth + 1, max_depth, nodes);
                nodes[i] = Node::Split {
                    feature,
                    threshold,
                    missing_left,
                    left,
                    right,
                };
            }
            i
        }
        let mut nodes = Vec::new();
        grow(rng, m, 0, max_depth, &mut nodes);
        let mut tree = Tree::from_nodes(m, nodes).unwrap();
        // Only left children may have no cover, so no split is left without.
        let mut covers: Vec<f64> = (0..tree.n_nodes())
            .map(|_| f64::from(rng.random_range(1..50u32)))
            .collect();
        for n in tree.nodes() {
            if let Node::Split { left, .. } = n {
                if rng.random::<f64>() < zero_cover {
                    covers[left] = 0.0;
                }
            }
        }
        tree.set_cover(|i| covers[i]).unwrap();
        tree
    }

    /// A random row of `m` inputs in `[0, 1)`, a tenth of them missing.
    fn random_row(rng: &mut ChaCha8Rng, m: usize) -> Vec<f64> {
        (0..m)
            .map(|_| {
                if rng.random::<f64>() < 0.1 {
                    f64::NAN
                } else {
                    rng.random()
                }
            })
            .collect()
    }

    /// The name of a way to explain.
    fn name(method: &Method) -> &'static str {
        match method {
            Method::Tables(_) => "tables",
            Method::Linear(_) => "linear",
            Method::Recursive => "recursive",
        }
    }

    /// Check every explainer of `explainers` against the brute-force Shapley values of
    /// `reference`'s tree (shares included) for `row`, and that they add up to `output`.
    fn check(
        reference: &TreeExplainer<'_>,
        explainers: &[&TreeExplainer<'_>],
        row: &[f64],
        output: f64,
        what: &str,
    ) {
        let m = row.len();
        let want = brute_force(reference, row, m);
        for explainer in explainers {
            let mut phi = vec![0.0; m];
            explainer.add(row, &mut phi, &mut Scratch::default());
            for (a, b) in phi.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-9,
                    "{what} {}: {phi:?} vs {want:?}",
                    name(&explainer.method)
                );
            }
            let total = reference.expected + phi.iter().sum::<f64>();
            assert!((total - output).abs() < 1e-9, "{what}: {total} vs {output}");
        }
    }

    #[test]
    fn tables_are_built_only_when_they_pay_for_themselves() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let tree = random_tree(&mut rng, 8, 6, 0.0);
        assert!(tree.n_leaves() > 4);
        let one_row = TreeExplainer::for_rows(&tree, 1).unwrap();
        assert!(
            matches!(one_row.method, Method::Linear(_)),
            "one row is cheaper to explain without tables"
        );
        let many = TreeExplainer::for_rows(&tree, 100_000).unwrap();
        assert!(matches!(many.method, Method::Tables(_)));
    }

    #[test]
    fn tree_shap_equals_brute_force_shapley_values_and_adds_up() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        // Shallow trees, then deep ones (inputs repeated down the paths) with leaves
        // without cover.
        for trial in 0..120 {
            let m = 1 + trial % 8;
            let (max_depth, zero_cover) = if trial < 60 {
                (6, 0.0)
            } else {
                (6 + trial % 7, 0.3)
            };
            let tree = random_tree(&mut rng, m, max_depth, zero_cover);
            let e = TreeExplainer::new(&tree).unwrap().recursive();
            let linear = TreeExplainer::new(&tree).unwrap();
            assert!(matches!(linear.method, Method::Linear(_)));
            let tabled = TreeExplainer::for_rows(&tree, usize::MAX).unwrap();
            assert!(
                trial >= 60 || matches!(tabled.method, Method::Tables(_)),
                "trial {trial}: a shallow tree is tabled"
            );
            assert!((e.expected - expectation(&e, &[], 0, 0)).abs() < 1e-12);
            for _ in 0..5 {
                let row = random_row(&mut rng, m);
                let output = tree.value_of_slice(&row);
                check(
                    &e,
                    &[&e, &linear, &tabled],
                    &row,
                    output,
                    &format!("trial {trial}"),
                );
            }
        }
    }

    /// `n` rows of `m` inputs whose values come from a few per input: thresholds of
    /// `trees` (so rows land exactly on them), values between and beyond them, infinities
    /// and missing values. Many rows share their way through each tree.
    fn rows_on_thresholds(rng: &mut ChaCha8Rng, trees: &[Tree], m: usize, n: usize) -> Array2<f64> {
        let mut choices: Vec<Vec<f64>> =
            vec![vec![-0.5, 0.5, 1.5, f64::INFINITY, f64::NEG_INFINITY, f64::NAN]; m];
        for t in trees {
            for node in t.nodes() {
                if let Node::Split {
                    feature, threshold, ..
                } = node
                {
                    choices[feature].push(threshold);
                }
            }
        }
        Array2::from_shape_fn((n, m), |(_, j)| choices[j][rng.random_range(0..choices[j].len())])
    }

    /// The contributions of `row` explained alone, tree after tree, without grids.
    fn alone(explainers: &[TreeExplainer<'_>], row: &[f64]) -> Vec<f64> {
        let mut phi = vec![0.0; row.len()];
        for e in explainers {
            e.add(row, &mut phi, &mut Scratch::default());
        }
        phi
    }

    #[test]
    fn grids_give_the_contributions_of_each_row_explained_alone() {
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        let m = 6;
        for (trial, (offset, scale)) in [(0.0, 0.25), (-1.5, 1.0), (0.3, 1.0)].into_iter().enumerate() {
            let trees: Vec<Tree> = (0..4)
                .map(|i| random_tree(&mut rng, m, 2 + (i + trial) % 3, 0.2))
                .collect();
            let x = rows_on_thresholds(&mut rng, &trees, m, 3000);
            let c = trees_contributions(&trees, x.view(), offset, scale, OutputSpace::LogOdds).unwrap();
            // Most trees did go through their grids.
            let cuts = Cuts::new(trees.iter().map(Tree::packed), m);
            let cells = cuts.cells(x.view());
            let through_grids = trees
                .iter()
                .filter(|t| {
                    let e = TreeExplainer::new(t).unwrap();
                    Grid::build(t.packed(), &cuts)
                        .and_then(|g| {
                            g.reach(&cuts, (&cells, x.nrows(), m), &e, &mut ReachScratch::default())
                        })
                        .is_some()
                })
                .count();
            assert!(
                through_grids >= 3,
                "trial {trial}: {through_grids} trees through grids"
            );
            let explainers: Vec<_> = trees.iter().map(|t| TreeExplainer::new(t).unwrap()).collect();
            for (i, row) in x.rows().into_iter().enumerate() {
                let row = row.to_vec();
                for (j, a) in alone(&explainers, &row).iter().enumerate() {
                    let got = c.values[(i, j)];
                    assert!(
                        (got - a * scale).abs() < 1e-12,
                        "trial {trial} row {i} input {j}: {got} vs {}",
                        a * scale
                    );
                }
                // Local accuracy.
                let output = offset + scale * trees.iter().map(|t| t.value_of_slice(&row)).sum::<f64>();
                let total = c.expected + c.values.row(i).sum();
                assert!(
                    (total - output).abs() < 1e-9,
                    "trial {trial} row {i}: {total} vs {output}"
                );
                // And the Shapley values themselves, for a few rows.
                if i < 20 {
                    let mut want = vec![0.0; m];
                    for e in &explainers {
                        for (w, b) in want.iter_mut().zip(brute_force(e, &row, m)) {
                            *w += b * scale;
                        }
                    }
                    for (j, w) in want.iter().enumerate() {
                        assert!(
                            (c.values[(i, j)] - w).abs() < 1e-9,
                            "trial {trial} row {i} input {j}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rows_beyond_one_chunk_of_grid_cells_are_explained_as_alone() {
        // Three chunks of rows: each looks its cells up apart, the last one short.
        let mut rng = ChaCha8Rng::seed_from_u64(37);
        let m = 5;
        let trees: Vec<Tree> = (0..3).map(|i| random_tree(&mut rng, m, 2 + i, 0.1)).collect();
        let x = rows_on_thresholds(&mut rng, &trees, m, 2 * grid::MAX_ROWS + 100);
        let c = trees_contributions(&trees, x.view(), 0.5, 1.0, OutputSpace::LogOdds).unwrap();
        let explainers: Vec<_> = trees.iter().map(|t| TreeExplainer::new(t).unwrap()).collect();
        for (i, row) in x.rows().into_iter().enumerate() {
            for (j, a) in alone(&explainers, &row.to_vec()).iter().enumerate() {
                assert!((c.values[(i, j)] - a).abs() < 1e-12, "row {i} input {j}");
            }
        }
    }

    #[test]
    fn scratch_space_reused_across_trees_and_rows_changes_nothing() {
        // Paths of up to 16 distinct inputs out of 40: trees of 4 and 8 quadrature nodes.
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let trees: Vec<Tree> = (0..30)
            .map(|i| random_tree(&mut rng, 40, 2 + i % 15, 0.2))
            .collect();
        let explainers: Vec<_> = trees.iter().map(|t| TreeExplainer::new(t).unwrap()).collect();
        let mut shared = Scratch::default();
        for _ in 0..5 {
            let row = random_row(&mut rng, 40);
            for e in &explainers {
                let (mut reused, mut fresh) = (vec![0.0; 40], vec![0.0; 40]);
                e.add(&row, &mut reused, &mut shared);
                e.add(&row, &mut fresh, &mut Scratch::default());
                assert_eq!(reused, fresh);
            }
        }
    }

    #[test]
    fn linear_tree_shap_gives_the_same_bits_with_and_without_avx2() {
        // On a CPU with AVX2, `add` runs the four-lane code; `add_portable` the baseline.
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        for i in 0..40 {
            let tree = random_tree(&mut rng, 30, 4 + i % 20, 0.1);
            let e = TreeExplainer::new(&tree).unwrap();
            let Method::Linear(linear) = &e.method else {
                panic!("tree {i} is not explained by Linear TreeSHAP");
            };
            for _ in 0..3 {
                let row = random_row(&mut rng, 30);
                let (mut wide, mut portable) = (vec![0.0; 30], vec![0.0; 30]);
                linear.add(e.nodes, &row, &mut wide, &mut LinearScratch::default());
                linear.add_portable(e.nodes, &row, &mut portable, &mut LinearScratch::default());
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&wide), bits(&portable), "tree {i}");
            }
        }
    }

    /// A chain of `d` splits, each on a new input, with a leaf on one side.
    fn chain(rng: &mut ChaCha8Rng, d: usize) -> Tree {
        let mut nodes = Vec::new();
        for feature in 0..d {
            nodes.push(Node::Split {
                feature,
                threshold: 0.5,
                missing_left: false,
                left: 2 * feature + 1,
                right: 2 * feature + 2,
            });
            nodes.push(Node::Leaf { value: rng.random() });
        }
        nodes.push(Node::Leaf { value: rng.random() });
        let mut tree = Tree::from_nodes(d, nodes).unwrap();
        let covers: Vec<f64> = (0..tree.n_nodes())
            .map(|_| f64::from(rng.random_range(1..50u32)))
            .collect();
        tree.set_cover(|i| covers[i]).unwrap();
        tree
    }

    /// Shapley values leaf by leaf, from Owen's integral of each leaf's product game by
    /// the 64-node Gauss–Legendre rule (exact for paths of up to 128 inputs), without the
    /// tree-wide sums of Linear TreeSHAP.
    fn leaf_by_leaf(e: &TreeExplainer<'_>, row: &[f64]) -> Vec<f64> {
        let (t, w) = quadrature::gauss_legendre(64).unwrap();
        let mut parent = vec![0; e.nodes.len()];
        for (i, n) in e.nodes.iter().enumerate().filter(|(_, n)| !n.is_leaf()) {
            let c = n.first_child as usize;
            (parent[c], parent[c + 1]) = (i, i);
        }
        let mut phi = vec![0.0; row.len()];
        for (leaf, n) in e.nodes.iter().enumerate().filter(|(_, n)| n.is_leaf()) {
            // Per input on the path: z and o.
            let mut inputs: Vec<(usize, f64, f64)> = Vec::new();
            let mut i = leaf;
            while i != 0 {
                let p = &e.nodes[parent[i]];
                let took = f64::from(u8::from(p.child_for(row) as usize == i));
                match inputs.iter_mut().find(|(f, _, _)| *f == p.feature()) {
                    Some((_, z, o)) => (*z, *o) = (*z * e.share[i], *o * took),
                    None => inputs.push((p.feature(), e.share[i], took)),
                }
                i = parent[i];
            }
            for &(f, z, o) in &inputs {
                let integral: f64 = t
                    .iter()
                    .zip(&w)
                    .map(|(t, w)| {
                        let others = inputs.iter().filter(|(g, _, _)| *g != f);
                        w * others.map(|(_, z, o)| z + t * (o - z)).product::<f64>()
                    })
                    .sum();
                phi[f] += n.value * (o - z) * integral;
            }
        }
        phi
    }

    #[test]
    fn paths_beyond_the_quadrature_are_explained_recursively() {
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        let tree = chain(&mut rng, 129);
        assert!(matches!(
            TreeExplainer::new(&tree).unwrap().method,
            Method::Recursive
        ));
    }

    #[test]
    fn linear_tree_shap_is_exact_on_paths_of_up_to_128_inputs() {
        // The recursive algorithm loses digits on paths this long (1e-8 at 80 inputs):
        // Linear TreeSHAP is checked against it on shorter paths and leaf by leaf on
        // longer ones.
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        for d in [40, 127, 128] {
            let tree = chain(&mut rng, d);
            let e = TreeExplainer::new(&tree).unwrap();
            assert!(matches!(e.method, Method::Linear(_)), "{d} inputs");
            let reference = TreeExplainer::new(&tree).unwrap().recursive();
            for _ in 0..5 {
                let row = random_row(&mut rng, d);
                let mut got = vec![0.0; d];
                e.add(&row, &mut got, &mut Scratch::default());
                let want = if d > 40 {
                    leaf_by_leaf(&e, &row)
                } else {
                    let mut want = vec![0.0; d];
                    reference.add(&row, &mut want, &mut Scratch::default());
                    want
                };
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-9, "{d} inputs: {a} vs {b}");
                }
                let total = e.expected + got.iter().sum::<f64>();
                assert!((total - tree.value_of_slice(&row)).abs() < 1e-9, "{d} inputs");
            }
        }
    }

    #[test]
    fn linear_tree_shap_takes_splits_without_cover_on_either_side() {
        // A split's share can round to 0 (a tiny cover beside a huge one) above further
        // splits: Linear TreeSHAP still matches the brute force. The recursive algorithm
        // would divide by 0.
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for trial in 0..40 {
            let m = 1 + trial % 8;
            let tree = random_tree(&mut rng, m, 12, 0.0);
            let mut e = TreeExplainer::new(&tree).unwrap();
            let nodes = e.nodes;
            for n in nodes.iter().filter(|n| !n.is_leaf()) {
                if rng.random::<f64>() < 0.3 {
                    let c = n.first_child as usize + usize::from(rng.random::<bool>());
                    let sibling = 2 * n.first_child as usize + 1 - c;
                    (e.share[c], e.share[sibling]) = (0.0, 1.0);
                }
            }
            e.method = Method::Linear(LinearTree::build(e.nodes, &e.share).unwrap());
            e.expected = expectation(&e, &[], 0, 0);
            for _ in 0..5 {
                let row = random_row(&mut rng, m);
                let output = tree.value_of_slice(&row);
                check(&e, &[&e], &row, output, &format!("trial {trial}"));
            }
        }
    }
}
