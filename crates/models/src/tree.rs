//! Decision trees: a flat, serialisable tree that predicts probabilities, and the
//! decision-tree baseline grown by linfa-trees and converted into it.

use linfa::prelude::*;
use linfa_trees::{DecisionTree, SplitQuality, TreeNode};
use ndarray::{Array1, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// One node of a [`Tree`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    /// Rows with `x[feature] <= threshold` go to `left`, the others to `right`; a missing
    /// (NaN) value goes to `left` when `missing_left` is true, to `right` otherwise.
    Split {
        /// Input column tested.
        feature: usize,
        /// Split value.
        threshold: f64,
        /// Where missing (NaN) values go; absent in older files, meaning right.
        #[serde(default)]
        missing_left: bool,
        /// Index of the left child in [`Tree::nodes`].
        left: usize,
        /// Index of the right child.
        right: usize,
    },
    /// A leaf predicting `value`.
    Leaf {
        /// The predicted probability of the replayed class.
        value: f64,
    },
}

/// A binary tree stored as a flat list of nodes; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Number of inputs the tree was fitted on.
    pub n_features: usize,
    /// The nodes; children always come after their parent.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Index of the leaf that `row` falls into.
    pub fn leaf_of(&self, row: ArrayView1<'_, f64>) -> usize {
        let mut i = 0;
        while let Node::Split {
            feature,
            threshold,
            missing_left,
            left,
            right,
        } = self.nodes[i]
        {
            let v = row[feature];
            let go_left = if v.is_nan() { missing_left } else { v <= threshold };
            i = if go_left { left } else { right };
        }
        i
    }

    /// The value of the leaf that a row given as a slice of its inputs falls into.
    pub fn value_of_slice(&self, row: &[f64]) -> f64 {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Split {
                    feature,
                    threshold,
                    missing_left,
                    left,
                    right,
                } => {
                    let v = row[feature];
                    let go_left = if v.is_nan() { missing_left } else { v <= threshold };
                    i = if go_left { left } else { right };
                }
                Node::Leaf { value } => return value,
            }
        }
    }

    /// The value of the leaf that `row` falls into.
    pub fn value_of(&self, row: ArrayView1<'_, f64>) -> f64 {
        match self.nodes[self.leaf_of(row)] {
            Node::Leaf { value } => value,
            Node::Split { .. } => unreachable!("leaf_of always ends on a leaf"),
        }
    }

    /// The leaf value of every row of `x` (rows are spread over rayon's threads).
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        crate::predict::par_map_rows(x, |row| self.value_of(row))
    }

    /// Set every leaf to the share of positive rows of (`x`, `y`) that reach it; a leaf
    /// no row reaches keeps the overall share.
    pub fn set_leaf_shares(&mut self, x: ArrayView2<'_, f64>, y: ArrayView1<'_, bool>) {
        let mut counts = vec![(0usize, 0usize); self.nodes.len()];
        for (row, &label) in x.rows().into_iter().zip(y) {
            let c = &mut counts[self.leaf_of(row)];
            c.0 += usize::from(label);
            c.1 += 1;
        }
        let overall = y.iter().filter(|&&v| v).count() as f64 / y.len().max(1) as f64;
        for (node, (pos, total)) in self.nodes.iter_mut().zip(counts) {
            if let Node::Leaf { value } = node {
                *value = if total > 0 {
                    pos as f64 / total as f64
                } else {
                    overall
                };
            }
        }
    }
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
    #[serde(deserialize_with = "replay_core::config::at_least_one")]
    pub max_depth: usize,
    /// Minimum rows in a node for it to be split.
    #[serde(deserialize_with = "replay_core::config::at_least_one")]
    pub min_samples_split: usize,
    /// Minimum rows in each child of a split.
    #[serde(deserialize_with = "replay_core::config::at_least_one")]
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

/// Grow a decision tree with the engine of `params`; leaves hold the training share of
/// positives (a probability).
pub fn fit(
    params: &DecisionTreeParams,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
) -> Result<Tree, ModelError> {
    match params.engine {
        TreeEngine::Linfa => fit_linfa(params, x, y),
        TreeEngine::Histogram => {
            let forest = crate::forest::fit(
                &crate::ForestParams {
                    n_trees: 1,
                    max_depth: Some(params.max_depth),
                    min_samples_leaf: params.min_samples_leaf,
                    min_samples_split: params.min_samples_split.max(2),
                    max_features: crate::MaxFeatures::All,
                    criterion: params.criterion,
                    bootstrap: false,
                    ..Default::default()
                },
                x,
                y,
            )?;
            // One tree was asked for, so there is one.
            forest.trees.into_iter().next().ok_or(ModelError::SingleClass)
        }
    }
}

/// Grow a decision tree with linfa-trees and convert it to a [`Tree`] whose leaves hold
/// the training share of positives (linfa's tree only predicts classes).
pub fn fit_linfa(
    params: &DecisionTreeParams,
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
    let mut tree = Tree {
        n_features: x.ncols(),
        nodes: Vec::new(),
    };
    push_linfa_node(fitted.root_node(), &mut tree.nodes);
    tree.set_leaf_shares(x, y);
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
            },
            x.view(),
            y.view(),
        )
        .unwrap();
        let p = tree.predict_proba(array![[0.0], [10.0]].view());
        // Best gini split separates {1, 2} from {2.2, 3, 4, 5}: leaves 0/2 and 4/4.
        assert_eq!(p, array![0.0, 1.0]);
    }
}
