//! Decision trees: a compact, flat tree that predicts probabilities or raw scores, and the
//! decision-tree baseline grown by linfa-trees and converted into it.
//!
//! A [`Tree`] keeps its nodes as 16-byte records in breadth-first order: a threshold (or,
//! for a leaf, the leaf value), the tested feature with the missing-value direction in its
//! top bit, and the index of the first child; the two children of a split are adjacent
//! (`first_child`, `first_child + 1`), so one cache line holds both and a traversal step
//! is branch-free. Every constructor checks the structure (children in range and after
//! their parent, every node reached exactly once, features below `n_features`, no NaN
//! threshold, finite leaves), so traversal always ends on a leaf. [`Node`] is the public
//! view of one node, used to build trees ([`Tree::from_nodes`]) and to look at them
//! ([`Tree::node`]).

use std::collections::VecDeque;

use linfa::prelude::*;
use linfa_trees::{DecisionTree, SplitQuality, TreeNode};
use ndarray::{Array1, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::params::{self, check, rule, valid_params};
use crate::ModelError;

/// One node of a [`Tree`], as built by [`Tree::from_nodes`] and returned by [`Tree::node`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    /// Rows with `x[feature] <= threshold` go to `left`, the others to `right`; a missing
    /// (NaN) value goes to `left` when `missing_left` is true, to `right` otherwise.
    Split {
        /// Input column tested.
        feature: usize,
        /// Split value (never NaN).
        threshold: f64,
        /// Where missing (NaN) values go; absent in format-1 files, meaning right.
        #[serde(default)]
        missing_left: bool,
        /// Index of the left child (always greater than the split's own index).
        left: usize,
        /// Index of the right child (always greater than the split's own index).
        right: usize,
    },
    /// A leaf predicting `value`.
    Leaf {
        /// The leaf's prediction: a probability of the replayed class (decision tree,
        /// forest) or a raw-score contribution (boosting). Always finite.
        value: f64,
    },
}

/// Largest number of inputs a [`Tree`] can test: feature indices are stored in 31 bits.
pub const MAX_TREE_FEATURES: usize = 1 << 31;

/// Largest number of nodes of a [`Tree`]: child indices are stored in 32 bits.
pub const MAX_TREE_NODES: usize = u32::MAX as usize;

/// The missing-value direction bit of [`PackedNode::meta`].
pub(crate) const MISSING_LEFT: u32 = 1 << 31;
/// The feature bits of [`PackedNode::meta`].
pub(crate) const FEATURE_MASK: u32 = !MISSING_LEFT;

/// A node as stored: 16 bytes. A split has `first_child > 0` (its children are
/// `first_child` and `first_child + 1`), its threshold in `value` and its feature and
/// missing-value direction in `meta`; a leaf has `first_child == 0`, `meta == 0` and its
/// prediction in `value`. The model file stores exactly these three fields, little-endian.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub(crate) struct PackedNode {
    /// Threshold of a split, value of a leaf.
    pub value: f64,
    /// Feature index (low 31 bits) and [`MISSING_LEFT`].
    pub meta: u32,
    /// Index of the left child; the right child follows it. 0 for a leaf.
    pub first_child: u32,
}

impl PackedNode {
    /// A leaf predicting `value`.
    pub fn leaf(value: f64) -> Self {
        PackedNode {
            value,
            meta: 0,
            first_child: 0,
        }
    }

    /// Whether the node is a leaf.
    #[inline(always)]
    pub fn is_leaf(&self) -> bool {
        self.first_child == 0
    }

    /// The feature a split tests.
    #[inline(always)]
    pub fn feature(&self) -> usize {
        (self.meta & FEATURE_MASK) as usize
    }

    /// The child a row goes to from this split: `v <= threshold` goes left, NaN goes
    /// where `missing_left` says, anything else right. Branch-free.
    #[inline(always)]
    // `!(v <= t)` is meant: it is true for NaN, which `v > t` is not.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn child_for(&self, row: &[f64]) -> u32 {
        let v = row[self.feature()];
        let missing_left = self.meta & MISSING_LEFT != 0;
        let go_right = !(v <= self.value) & !(v.is_nan() & missing_left);
        self.first_child + u32::from(go_right)
    }

    /// The public view of the node.
    fn view(&self) -> Node {
        if self.is_leaf() {
            Node::Leaf { value: self.value }
        } else {
            let left = self.first_child as usize;
            Node::Split {
                feature: self.feature(),
                threshold: self.value,
                missing_left: self.meta & MISSING_LEFT != 0,
                left,
                right: left + 1,
            }
        }
    }
}

/// A binary tree stored as a flat array of compact nodes in breadth-first order; node 0
/// is the root and the children of a split are adjacent.
///
/// Built by [`Tree::from_nodes`] (checked) or by the learners; serialises (serde) as
/// `{ n_features, nodes: [Node] }`, the layout of model format 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TreeRepr", into = "TreeRepr")]
pub struct Tree {
    n_features: usize,
    nodes: Vec<PackedNode>,
    /// The training weight that reached each node (see [`Tree::cover`]); empty when
    /// unknown (trees read from files of format 2 or older, or built from nodes).
    cover: Vec<f32>,
}

/// The serde form of a [`Tree`].
#[derive(Serialize, Deserialize)]
struct TreeRepr {
    n_features: usize,
    nodes: Vec<Node>,
}

impl TryFrom<TreeRepr> for Tree {
    type Error = ModelError;

    fn try_from(r: TreeRepr) -> Result<Self, ModelError> {
        Tree::from_nodes(r.n_features, r.nodes)
    }
}

impl From<Tree> for TreeRepr {
    fn from(t: Tree) -> Self {
        TreeRepr {
            n_features: t.n_features,
            nodes: t.nodes().collect(),
        }
    }
}

/// Why a node array is not a valid tree; `None` if it is. `nodes` must be a breadth-first
/// or any other layout where children come after their parent.
pub(crate) fn check_packed(n_features: usize, nodes: &[PackedNode]) -> Option<String> {
    if nodes.is_empty() {
        return Some("a tree has no nodes".into());
    }
    if nodes.len() > MAX_TREE_NODES {
        return Some(format!(
            "a tree has {} nodes, more than {MAX_TREE_NODES}",
            nodes.len()
        ));
    }
    if n_features > MAX_TREE_FEATURES {
        return Some(format!("{n_features} inputs, more than {MAX_TREE_FEATURES}"));
    }
    // Children claimed so far: every node but the root must be claimed exactly once, and
    // children come after their parent, so node i is settled when the scan reaches it.
    let mut claimed = vec![false; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 && !claimed[i] {
            return Some(format!("node {i} is not the child of any node"));
        }
        if node.is_leaf() {
            if node.meta != 0 {
                return Some(format!("leaf {i} has flags {:#x}", node.meta));
            }
            if !node.value.is_finite() {
                return Some(format!("leaf {i} has the non-finite value {}", node.value));
            }
            continue;
        }
        let left = node.first_child as usize;
        if left <= i {
            return Some(format!("node {i} has child {left}, which is not after it"));
        }
        if left + 1 >= nodes.len() {
            return Some(format!(
                "node {i} has children {left} and {}, beyond the {} nodes",
                left + 1,
                nodes.len()
            ));
        }
        if node.feature() >= n_features {
            return Some(format!(
                "node {i} tests input {}, but there are {n_features} inputs",
                node.feature()
            ));
        }
        if node.value.is_nan() {
            return Some(format!("node {i} has a NaN threshold"));
        }
        for c in [left, left + 1] {
            if std::mem::replace(&mut claimed[c], true) {
                return Some(format!("node {c} is the child of two nodes"));
            }
        }
    }
    None
}

impl Tree {
    /// A tree of `n_features` inputs from its nodes, root first, as the learners produce
    /// them: every split's children come after it, every node but the root is the child
    /// of exactly one split, features are below `n_features`, thresholds are not NaN and
    /// leaf values are finite. The nodes are re-laid out breadth-first, so indices seen by
    /// [`Tree::node`] may differ from the input's; predictions do not.
    pub fn from_nodes(n_features: usize, nodes: Vec<Node>) -> Result<Tree, ModelError> {
        let invalid = |message: String| Err(ModelError::InvalidTree(message));
        if nodes.is_empty() {
            return invalid("a tree needs at least one node".into());
        }
        if nodes.len() > MAX_TREE_NODES {
            return invalid(format!("{} nodes, more than {MAX_TREE_NODES}", nodes.len()));
        }
        if n_features > MAX_TREE_FEATURES {
            return invalid(format!("{n_features} inputs, more than {MAX_TREE_FEATURES}"));
        }
        let mut parents = vec![0u8; nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            match *node {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    if feature >= n_features {
                        return invalid(format!(
                            "node {i} tests input {feature}, but there are {n_features} inputs"
                        ));
                    }
                    if threshold.is_nan() {
                        return invalid(format!("node {i} has a NaN threshold"));
                    }
                    for c in [left, right] {
                        if c <= i || c >= nodes.len() {
                            return invalid(format!(
                                "node {i} has child {c}, which is not after it among the {} nodes",
                                nodes.len()
                            ));
                        }
                        parents[c] = parents[c].saturating_add(1);
                    }
                }
                Node::Leaf { value } => {
                    if !value.is_finite() {
                        return invalid(format!("leaf {i} has the non-finite value {value}"));
                    }
                }
            }
        }
        if let Some(i) = (1..nodes.len()).find(|&i| parents[i] != 1) {
            return invalid(format!(
                "node {i} is the child of {} nodes, not exactly one",
                parents[i]
            ));
        }
        let packed = breadth_first(nodes.len(), 0, |i| match nodes[i] {
            Node::Split {
                feature,
                threshold,
                missing_left,
                left,
                right,
            } => Err((feature, threshold, missing_left, left, right)),
            Node::Leaf { value } => Ok(value),
        });
        Ok(Tree {
            n_features,
            nodes: packed,
            cover: Vec::new(),
        })
    }

    /// A tree from nodes laid out and checked by the caller (the learners, the file
    /// reader after [`check_packed`]), with the cover of each node or none (empty); a
    /// cover must pass [`check_cover`].
    pub(crate) fn from_packed_unchecked(n_features: usize, nodes: Vec<PackedNode>, cover: Vec<f32>) -> Tree {
        debug_assert_eq!(check_packed(n_features, &nodes), None);
        debug_assert_eq!(check_cover(&nodes, &cover), None);
        Tree {
            n_features,
            nodes,
            cover,
        }
    }

    /// The training weight that reached each node, by node index: the rows (times their
    /// class weight) for a decision tree, the bootstrap draws (times their class weight)
    /// for a forest's tree, the rows for a boosting tree. A split's cover is the sum of
    /// its children's. Path-dependent contributions ([`crate::explain`]) weigh the two
    /// sides of a split by it. `None` for trees without it (model files of format 2).
    pub fn cover(&self) -> Option<&[f32]> {
        (!self.cover.is_empty()).then_some(&self.cover[..])
    }

    /// Set the cover of every node from the cover of each leaf, `leaf_cover(i)` for the
    /// leaf with index `i`; a split's cover is the sum of its children's. An error when
    /// a cover is negative or not finite, or a split has none.
    pub fn set_cover(&mut self, leaf_cover: impl Fn(usize) -> f64) -> Result<(), ModelError> {
        let mut cover = vec![0f64; self.nodes.len()];
        // Children come after their parent: in reverse, both are settled first.
        for i in (0..self.nodes.len()).rev() {
            let n = &self.nodes[i];
            cover[i] = if n.is_leaf() {
                leaf_cover(i)
            } else {
                let c = n.first_child as usize;
                cover[c] + cover[c + 1]
            };
        }
        let cover: Vec<f32> = cover.into_iter().map(|c| c as f32).collect();
        if let Some(message) = check_cover(&self.nodes, &cover) {
            return Err(ModelError::InvalidTree(message));
        }
        self.cover = cover;
        Ok(())
    }

    /// The stored nodes.
    pub(crate) fn packed(&self) -> &[PackedNode] {
        &self.nodes
    }

    /// Number of inputs the tree was fitted on.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of nodes (splits and leaves); at least 1.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_leaf()).count()
    }

    /// Depth of the deepest leaf (a lone root leaf has depth 0).
    pub fn depth(&self) -> usize {
        // Breadth-first order: a node's depth is known before its children are reached.
        let mut depth = vec![0u32; self.nodes.len()];
        let mut deepest = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            deepest = deepest.max(depth[i]);
            if !n.is_leaf() {
                let c = n.first_child as usize;
                depth[c] = depth[i] + 1;
                depth[c + 1] = depth[i] + 1;
            }
        }
        deepest as usize
    }

    /// Node `i` (0 is the root).
    ///
    /// # Panics
    /// If `i >= self.n_nodes()`.
    pub fn node(&self, i: usize) -> Node {
        self.nodes[i].view()
    }

    /// Every node, in index order.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = Node> + '_ {
        self.nodes.iter().map(PackedNode::view)
    }

    /// Index of the leaf that a row given as a slice of its inputs falls into.
    ///
    /// # Panics
    /// If `row` is shorter than a tested feature index.
    #[inline]
    pub fn leaf_of_slice(&self, row: &[f64]) -> usize {
        leaf_index(&self.nodes, row)
    }

    /// Index of the leaf that `row` falls into; an error unless `row` has
    /// [`Tree::n_features`] inputs.
    pub fn leaf_of(&self, row: ArrayView1<'_, f64>) -> Result<usize, ModelError> {
        crate::check_inputs(self.n_features, row.insert_axis(ndarray::Axis(0)))?;
        Ok(match row.as_slice() {
            Some(r) => self.leaf_of_slice(r),
            None => self.leaf_of_slice(&row.to_vec()),
        })
    }

    /// The value of the leaf that a row given as a slice of its inputs falls into.
    ///
    /// # Panics
    /// If `row` is shorter than a tested feature index.
    #[inline]
    pub fn value_of_slice(&self, row: &[f64]) -> f64 {
        self.nodes[self.leaf_of_slice(row)].value
    }

    /// The value of the leaf that `row` falls into; an error unless `row` has
    /// [`Tree::n_features`] inputs.
    pub fn value_of(&self, row: ArrayView1<'_, f64>) -> Result<f64, ModelError> {
        Ok(self.nodes[self.leaf_of(row)?].value)
    }

    /// The leaf value of every row of `x` (blocks of rows are spread over rayon's
    /// threads; the result does not depend on their number); an error unless `x` has
    /// [`Tree::n_features`] columns.
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        crate::check_inputs(self.n_features, x)?;
        // Zero plus the leaf value: the leaf value.
        Ok(crate::predict::par_sum_trees(x, std::slice::from_ref(self), 0.0))
    }

    /// Set every leaf to the share of positive rows of (`x`, `y`) that reach it; a leaf
    /// no row reaches keeps the overall share. An error unless `x` has
    /// [`Tree::n_features`] columns and one row per label.
    pub fn set_leaf_shares(
        &mut self,
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, bool>,
    ) -> Result<(), ModelError> {
        crate::check_inputs(self.n_features, x)?;
        if x.nrows() != y.len() {
            return Err(ModelError::Shape {
                rows: x.nrows(),
                labels: y.len(),
            });
        }
        let mut counts = vec![(0usize, 0usize); self.nodes.len()];
        for (row, &label) in x.rows().into_iter().zip(y) {
            let c = &mut counts[self.leaf_of(row)?];
            c.0 += usize::from(label);
            c.1 += 1;
        }
        let overall = y.iter().filter(|&&v| v).count() as f64 / y.len().max(1) as f64;
        for (node, &(pos, total)) in self.nodes.iter_mut().zip(&counts) {
            if node.is_leaf() {
                node.value = if total > 0 {
                    pos as f64 / total as f64
                } else {
                    overall
                };
            }
        }
        self.set_cover(|i| counts[i].1 as f64)
    }
}

/// Why `cover` is not a valid cover of `nodes`; `None` if it is (or is empty: no cover).
/// One value per node, finite and not negative, and positive at every split (the share
/// of a split's weight that goes each way must be defined).
pub(crate) fn check_cover(nodes: &[PackedNode], cover: &[f32]) -> Option<String> {
    if cover.is_empty() {
        return None;
    }
    if cover.len() != nodes.len() {
        return Some(format!("{} cover values for {} nodes", cover.len(), nodes.len()));
    }
    for (i, (n, &c)) in nodes.iter().zip(cover).enumerate() {
        if !c.is_finite() || c < 0.0 || (!n.is_leaf() && c <= 0.0) {
            return Some(format!("node {i} has the cover {c}"));
        }
    }
    None
}

/// The walk from the root of `nodes` to the leaf `row` falls into (its index): the one
/// traversal of a tree on raw values, which [`crate::predict`] runs on several rows in
/// lockstep.
///
/// # Panics
/// If `row` is shorter than a tested feature index.
#[inline]
pub(crate) fn leaf_index(nodes: &[PackedNode], row: &[f64]) -> usize {
    let mut i = 0;
    while !nodes[i].is_leaf() {
        i = nodes[i].child_for(row) as usize;
    }
    i
}

/// A split's fields as returned by the `visit` function of [`breadth_first`]: feature,
/// threshold, missing_left, left and right child (as the source numbers them).
pub(crate) type SourceSplit = (usize, f64, bool, usize, usize);

/// Lay out a source tree of `n` nodes (root `root`) breadth-first with adjacent children.
/// `visit(i)` gives a source node: `Ok(value)` for a leaf, `Err(split)` for a split. The
/// source must be a tree (every node reached once), which the callers guarantee.
pub(crate) fn breadth_first(
    n: usize,
    root: usize,
    mut visit: impl FnMut(usize) -> Result<f64, SourceSplit>,
) -> Vec<PackedNode> {
    let mut packed = Vec::with_capacity(n);
    let mut queue = VecDeque::with_capacity(n.min(1 << 16));
    queue.push_back(root);
    // Children are given slots in the order their parents are laid out, which is the
    // order they are dequeued: slot of the next child = packed.len() + queue.len().
    while let Some(source) = queue.pop_front() {
        let node = match visit(source) {
            Ok(value) => PackedNode::leaf(value),
            Err((feature, threshold, missing_left, left, right)) => {
                let first_child = (packed.len() + 1 + queue.len()) as u32;
                queue.push_back(left);
                queue.push_back(right);
                PackedNode {
                    value: threshold,
                    meta: feature as u32 | if missing_left { MISSING_LEFT } else { 0 },
                    first_child,
                }
            }
        };
        packed.push(node);
    }
    packed
}

/// Split criterion of the decision tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Gini impurity.
    Gini,
    /// Information gain (entropy).
    Entropy,
}

/// Which learner grows the decision tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeEngine {
    /// Our histogram tree learner (the forest's, with one tree, no bootstrap and every
    /// feature at every split): thresholds between quantile bins (at most 255 per input),
    /// many times faster than linfa-trees on large data.
    Histogram,
    /// linfa-trees: exact thresholds between every pair of distinct values.
    Linfa,
}

/// Hyperparameters of the decision tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionTreeParams {
    /// The learner that grows it.
    pub engine: TreeEngine,
    /// Maximum depth (the root has depth 0).
    #[serde(deserialize_with = "params::at_least_one")]
    pub max_depth: usize,
    /// Minimum rows in a node for it to be split (at least 2).
    #[serde(deserialize_with = "params::at_least_two")]
    pub min_samples_split: usize,
    /// Minimum rows in each child of a split.
    #[serde(deserialize_with = "params::at_least_one")]
    pub min_samples_leaf: usize,
    /// Split criterion.
    pub criterion: Criterion,
}

impl Default for DecisionTreeParams {
    fn default() -> Self {
        DecisionTreeParams {
            engine: TreeEngine::Histogram,
            max_depth: 6,
            min_samples_split: 2,
            min_samples_leaf: 1,
            criterion: Criterion::Gini,
        }
    }
}

valid_params!(
    /// [`DecisionTreeParams`] that passed [`DecisionTreeParams::check`]: what [`fit`] and
    /// [`fit_linfa`] take.
    ValidDecisionTreeParams,
    DecisionTreeParams
);

impl DecisionTreeParams {
    /// Check every value (the rules a config file is read with), as linfa's
    /// `ParamGuard::check`: only the result can fit.
    pub fn check(&self) -> Result<ValidDecisionTreeParams, ModelError> {
        check("max_depth", rule::at_least(self.max_depth, 1))?;
        check("min_samples_split", rule::at_least(self.min_samples_split, 2))?;
        check("min_samples_leaf", rule::at_least(self.min_samples_leaf, 1))?;
        Ok(ValidDecisionTreeParams::checked(self))
    }
}

/// Most value bins per input of the histogram engine.
pub const HISTOGRAM_BINS: usize = crate::binning::MAX_VALUE_BINS;

/// Grow a decision tree with the engine of `params`; leaves hold the training share of
/// positives (a probability).
pub fn fit(
    params: &ValidDecisionTreeParams,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
) -> Result<Tree, ModelError> {
    fit_binned(params, x, y, None)
}

/// [`fit`], with `binned` (when given, `x` binned with [`HISTOGRAM_BINS`]) instead of
/// binning `x` again on the histogram engine.
pub fn fit_binned(
    params: &ValidDecisionTreeParams,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
    binned: Option<&crate::binning::Binned>,
) -> Result<Tree, ModelError> {
    match params.engine {
        TreeEngine::Linfa => fit_linfa(params, x, y),
        TreeEngine::Histogram => {
            let forest = crate::forest::fit_binned(
                &crate::ForestParams {
                    n_trees: 1,
                    max_depth: Some(params.max_depth),
                    min_samples_leaf: params.min_samples_leaf,
                    min_samples_split: params.min_samples_split,
                    max_features: crate::MaxFeatures::All,
                    criterion: params.criterion,
                    bootstrap: false,
                    max_bins: HISTOGRAM_BINS,
                    ..Default::default()
                }
                .check()?,
                x,
                y,
                binned,
            )?;
            // One tree was asked for, so there is one.
            forest.trees.into_iter().next().ok_or(ModelError::SingleClass)
        }
    }
}

/// Grow a decision tree with linfa-trees and convert it to a [`Tree`] whose leaves hold
/// the training share of positives (linfa's tree only predicts classes).
pub fn fit_linfa(
    params: &ValidDecisionTreeParams,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
) -> Result<Tree, ModelError> {
    // linfa-trees breaks ties between equally frequent classes by HashMap iteration order,
    // which differs between processes, and prunes sibling leaves by that choice, so the
    // same data could give different trees. Weighting positives by 1 + 2⁻¹⁶ makes exact
    // ties impossible for any count below 2²⁴ and the fit deterministic; it changes no
    // split that is not a near-tie.
    let weights = y.mapv(|positive| if positive { 1.0 + f32::powi(2.0, -16) } else { 1.0 });
    let dataset = Dataset::new(x.to_owned(), y.to_owned()).with_weights(weights);
    let quality = match params.criterion {
        Criterion::Gini => SplitQuality::Gini,
        Criterion::Entropy => SplitQuality::Entropy,
    };
    let fitted: DecisionTree<f64, bool> = DecisionTree::params()
        .max_depth(Some(params.max_depth))
        .min_weight_split(params.min_samples_split as f32)
        .min_weight_leaf(params.min_samples_leaf as f32)
        .split_quality(quality)
        .fit(&dataset)
        .map_err(|e| ModelError::Linfa(e.to_string()))?;
    let mut nodes = Vec::new();
    push_linfa_node(fitted.root_node(), &mut nodes);
    let mut tree = Tree::from_nodes(x.ncols(), nodes)?;
    tree.set_leaf_shares(x, y)?;
    Ok(tree)
}

/// Append `node` and its subtree in pre-order; returns its index.
fn push_linfa_node(node: &TreeNode<f64, bool>, nodes: &mut Vec<Node>) -> usize {
    let index = nodes.len();
    nodes.push(Node::Leaf { value: 0.0 });
    let children = node.children();
    if let (false, Some(left), Some(right)) = (node.is_leaf(), children[0], children[1]) {
        let (feature, threshold, _) = node.split();
        let left = push_linfa_node(left, nodes);
        let right = push_linfa_node(right, nodes);
        nodes[index] = Node::Split {
            feature,
            threshold,
            missing_left: false,
            left,
            right,
        };
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn leaves_hold_training_shares() {
        // One input; positives are exactly the rows with x > 2.5, except one.
        let x = array![[1.0], [2.0], [3.0], [4.0], [5.0], [2.2]];
        let y = array![false, false, true, true, true, true];
        let tree = fit_linfa(
            &DecisionTreeParams {
                max_depth: 1,
                ..Default::default()
            }
            .check()
            .unwrap(),
            x.view(),
            y.view(),
        )
        .unwrap();
        let p = tree.predict_proba(array![[0.0], [10.0]].view()).unwrap();
        // Best gini split separates {1, 2} from {2.2, 3, 4, 5}: leaves 0/2 and 4/4.
        assert_eq!(p, array![0.0, 1.0]);
    }
}
