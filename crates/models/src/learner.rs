//! The histogram tree learner shared by the random forest and gradient boosting.
//!
//! A tree is grown on binned inputs ([`BinnedMatrix`]) and per-row statistics
//! ([`GradHess`], see [`crate::hist`] for what they mean for each ensemble). The rows of a
//! node are a contiguous range of one index buffer, partitioned in place (stably, so they
//! stay in increasing order and column reads stay cache friendly) when the node splits.
//! Before a node's histograms are built, its rows' statistics are gathered once into a
//! buffer in the same order, so every feature's histogram reads them sequentially (as
//! LightGBM's ordered gradients); partitions move only the 4-byte row indices.
//!
//! Growth order: depth-first when the number of leaves is unlimited (the forest), else
//! best-first: the leaf whose split gains most is split next, until `max_leaves`
//! (LightGBM's leaf-wise growth).
//!
//! Features per node: either every node considers the same features
//! ([`FeatureSampling::PerTree`]; each pending node keeps a histogram of them, the smaller
//! child's is built and the larger child's is the parent's minus it), or every node draws
//! its own ([`FeatureSampling::PerSplit`], scikit-learn's `max_features`: features are
//! drawn in random order until `k` non-constant ones were evaluated; only those get a
//! histogram, and nodes below [`hist::LANED_ROWS`] rows use a [`SparseHist`], which reads
//! and clears only the bins their rows fall into).
//!
//! Statistics come in two forms ([`RowStat`]): `f32` pairs summed in `f64` ([`GradHess`],
//! both ensembles), or whole-number counts packed into one `u64` ([`hist::Packed`], the
//! forest without class weights), where one integer addition per row adds a whole bin.
//! The sums are the same, so is the tree.
//!
//! Everything is deterministic: sums run in row order, features in a fixed order, ties
//! keep the first, and the only parallelism (building the histograms of different
//! features at once, on a [`Team`]'s helpers) gives every feature's sums to exactly one
//! thread.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Range;
use std::sync::Arc;

use rand::Rng;

use crate::binning::{BinMapper, BinnedMatrix};
use crate::hist::{self, Bin, Candidate, GradHess, NodeSums, RowStat, SparseHist, SplitRule};
use crate::team::Team;
use crate::tree::Tree;

/// Which features a node considers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FeatureSampling {
    /// The same features for every node of the tree, in increasing order.
    PerTree(Vec<usize>),
    /// A fresh random draw at every node, until this many non-constant features.
    PerSplit(usize),
}

/// How a tree is grown.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GrowParams {
    /// Split constraints and score.
    pub rule: SplitRule,
    /// Deepest level that may be split into children (root = 0); `None`: unlimited.
    pub max_depth: Option<usize>,
    /// Most leaves; `None`: unlimited, grown depth-first.
    pub max_leaves: Option<usize>,
    /// Fewest rows in a node for it to be split.
    pub min_samples_split: usize,
    /// A split must gain strictly more than this.
    pub min_gain: f64,
    /// Do not split nodes whose rows all share a label (forest statistics only).
    pub stop_when_pure: bool,
    /// Features per node.
    pub sampling: FeatureSampling,
}

/// Helpers that build shares of a node's histograms ([`FeatureSampling::PerTree`] only).
pub(crate) type HistTeam<'a, S = GradHess> = Team<'a, HistJob<S>, HistJob<S>>;

/// A share of a node's histograms, built on a helper: the histograms of `features`, laid
/// out one after the other in `hist`.
pub(crate) struct HistJob<S: RowStat = GradHess> {
    rows: Arc<Vec<u32>>,
    gh: Arc<Vec<S>>,
    features: Vec<usize>,
    hist: Vec<S::Acc>,
}

impl<S: RowStat> HistJob<S> {
    /// Build the job's histograms from `data` (the work function of a [`HistTeam`]).
    pub fn run(mut self, data: &BinnedMatrix) -> HistJob<S> {
        let mut at = 0;
        for &f in &self.features {
            let nb = data.n_bins[f];
            hist::build(
                &mut self.hist[at..at + nb],
                &data.columns[f],
                &self.rows,
                &self.gh,
            );
            at += nb;
        }
        self
    }
}

/// A node of a [`GrownTree`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GrownNode {
    /// Value bins `<= bin` of `feature` (and missing values if `missing_left`) go left.
    Split {
        feature: usize,
        bin: u8,
        missing_left: bool,
        gain: f64,
        left: usize,
        right: usize,
    },
    /// A leaf with the sums of its rows, which are `rows[start..end]` of the grow buffer.
    Leaf { sums: Bin, start: usize, end: usize },
}

/// A tree on bins, as grown.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GrownTree {
    /// Nodes, root first, children after their parent.
    pub nodes: Vec<GrownNode>,
}

impl GrownTree {
    /// The tree on raw values, laid out breadth-first with adjacent children (see
    /// [`Tree`]); leaves get `leaf_value(sums)` and the cover `leaf_cover(sums)`.
    pub fn to_tree(
        &self,
        mapper: &BinMapper,
        leaf_value: impl Fn(Bin) -> f64,
        leaf_cover: impl Fn(Bin) -> f64,
    ) -> Tree {
        // The cover of each laid-out node, in layout order (0 for splits until summed).
        let mut cover = Vec::with_capacity(self.nodes.len());
        let nodes = crate::tree::breadth_first(self.nodes.len(), 0, |i| match self.nodes[i] {
            GrownNode::Split {
                feature,
                bin,
                missing_left,
                left,
                right,
                ..
            } => {
                cover.push(0.0);
                Err((feature, mapper.threshold(feature, bin), missing_left, left, right))
            }
            GrownNode::Leaf { sums, .. } => {
                cover.push(leaf_cover(sums));
                Ok(leaf_value(sums))
            }
        });
        let mut tree = Tree::from_packed_unchecked(mapper.n_features(), nodes, Vec::new());
        // A grown leaf holds at least one row of positive weight, so this cannot fail;
        // were it to, the tree would merely have no cover.
        let _ = tree.set_cover(|i| cover[i]);
        tree
    }

    /// Add every split's gain to its feature's entry.
    pub fn add_gains(&self, gains: &mut [f64]) {
        for n in &self.nodes {
            if let GrownNode::Split { feature, gain, .. } = *n {
                gains[feature] += gain;
            }
        }
    }

    /// Index, sums and row range of every leaf.
    pub fn leaves(&self) -> impl Iterator<Item = (usize, Bin, Range<usize>)> + '_ {
        self.nodes.iter().enumerate().filter_map(|(i, n)| match *n {
            GrownNode::Leaf { sums, start, end } => Some((i, sums, start..end)),
            GrownNode::Split { .. } => None,
        })
    }

    /// Send `rows` (indices into `data`) down the tree and call `visit(leaf, sums,
    /// leaf_rows)` with the index, training sums and rows of every leaf that rows reach
    /// (subtrees no row reaches are skipped). Partitions `rows` in place, node by node, as
    /// growing did: every step reads one feature of rows in increasing order, which beats
    /// walking the rows one by one through the tree.
    pub fn route(&self, data: &BinnedMatrix, rows: &mut [u32], mut visit: impl FnMut(usize, Bin, &[u32])) {
        let mut scratch = Vec::new();
        let mut pending = vec![(0, 0, rows.len())];
        while let Some((i, start, end)) = pending.pop() {
            if start == end {
                continue;
            }
            match self.nodes[i] {
                GrownNode::Leaf { sums, .. } => visit(i, sums, &rows[start..end]),
                GrownNode::Split {
                    feature,
                    bin,
                    missing_left,
                    left,
                    right,
                    ..
                } => {
                    let split = (bin, missing_left, data.missing_bin(feature));
                    let col = &data.columns[feature];
                    let n_left = partition(&mut rows[start..end], &mut scratch, col, split);
                    pending.push((right, start + n_left, end));
                    pending.push((left, start, start + n_left));
                }
            }
        }
    }

    /// Index of the leaf that binned row `row` of `data` falls into, one row at a time:
    /// the reference [`GrownTree::route`] is tested against.
    #[cfg(test)]
    pub fn leaf_of(&self, data: &BinnedMatrix, row: usize) -> usize {
        let mut i = 0;
        while let GrownNode::Split {
            feature,
            bin,
            missing_left,
            left,
            right,
            ..
        } = self.nodes[i]
        {
            let b = data.columns[feature][row];
            let go_left = goes_left(b, bin, missing_left, data.missing_bin(feature));
            i = if go_left { left } else { right };
        }
        i
    }
}

/// Whether bin `b` goes left in the split at value bin `bin` of a feature whose missing
/// values are in `missing_bin`: value bins `<= bin`, and missing values if `missing_left`.
fn goes_left(b: u8, bin: u8, missing_left: bool, missing_bin: u8) -> bool {
    if b == missing_bin {
        missing_left
    } else {
        b <= bin
    }
}

/// Buffers reused from tree to tree.
#[derive(Debug)]
pub(crate) struct Workspace<S: RowStat = GradHess> {
    ordered: Arc<Vec<S>>,
    shared_rows: Arc<Vec<u32>>,
    job_hists: Vec<Vec<S::Acc>>,
    scratch_rows: Vec<u32>,
    sparse: SparseHist<S>,
    feature_order: Vec<usize>,
    one_feature: Vec<S::Acc>,
    pool: Vec<Vec<S::Acc>>,
}

impl<S: RowStat> Default for Workspace<S> {
    fn default() -> Self {
        Workspace {
            ordered: Arc::default(),
            shared_rows: Arc::default(),
            job_hists: Vec::new(),
            scratch_rows: Vec::new(),
            sparse: SparseHist::default(),
            feature_order: Vec::new(),
            one_feature: Vec::new(),
            pool: Vec::new(),
        }
    }
}

/// A leaf that may still be split.
struct Pending<S: RowStat> {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    sums: Bin,
    split: Option<Candidate>,
    hist: Option<Vec<S::Acc>>,
}

/// Pending leaves ordered by gain (ties: the older node first).
struct ByGain<S: RowStat>(Pending<S>);

impl<S: RowStat> ByGain<S> {
    fn gain(&self) -> f64 {
        self.0.split.map_or(f64::NEG_INFINITY, |c| c.gain)
    }
}

impl<S: RowStat> PartialEq for ByGain<S> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<S: RowStat> Eq for ByGain<S> {}
impl<S: RowStat> PartialOrd for ByGain<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<S: RowStat> Ord for ByGain<S> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.gain()
            .total_cmp(&other.gain())
            .then(other.0.node.cmp(&self.0.node))
    }
}

/// Leaves waiting to be split: a stack (depth-first) or a max-heap by gain.
enum Frontier<S: RowStat> {
    Stack(Vec<Pending<S>>),
    Heap(BinaryHeap<ByGain<S>>),
}

impl<S: RowStat> Frontier<S> {
    fn push(&mut self, p: Pending<S>) {
        match self {
            Frontier::Stack(s) => s.push(p),
            Frontier::Heap(h) => h.push(ByGain(p)),
        }
    }

    fn pop(&mut self) -> Option<Pending<S>> {
        match self {
            Frontier::Stack(s) => s.pop(),
            Frontier::Heap(h) => h.pop().map(|e| e.0),
        }
    }
}

/// Grow one tree on `rows` (row indices into `data` and `gh`, which is indexed by row;
/// `rows` is reordered in place and each leaf's rows end up in its range). `team`, whose
/// helpers must run [`HistJob::run`] on this `data`, shares out the histograms of large
/// nodes.
pub(crate) fn grow<R: Rng, S: RowStat>(
    data: &BinnedMatrix,
    gh: &[S],
    rows: &mut [u32],
    params: &GrowParams,
    rng: &mut R,
    ws: &mut Workspace<S>,
    team: Option<&HistTeam<'_, S>>,
) -> GrownTree {
    let mut offsets = Vec::with_capacity(data.n_bins.len() + 1);
    offsets.push(0);
    for &nb in &data.n_bins {
        offsets.push(offsets[offsets.len() - 1] + nb);
    }
    let mut grower = Grower {
        data,
        gh,
        team,
        params,
        offsets,
        rng,
        ws,
    };
    grower.ws.feature_order.clear();
    grower.ws.feature_order.extend(0..data.n_bins.len());
    grower.run(rows)
}

struct Grower<'a, R, S: RowStat> {
    data: &'a BinnedMatrix,
    /// Statistics by row index.
    gh: &'a [S],
    team: Option<&'a HistTeam<'a, S>>,
    params: &'a GrowParams,
    offsets: Vec<usize>,
    rng: &'a mut R,
    ws: &'a mut Workspace<S>,
}

impl<R: Rng, S: RowStat> Grower<'_, R, S> {
    fn run(&mut self, rows: &mut [u32]) -> GrownTree {
        let gh = self.gh;
        let mut total = S::Acc::default();
        for &r in rows.iter() {
            S::add(&mut total, gh[r as usize]);
        }
        let sums = S::sums(total);
        let mut nodes = vec![GrownNode::Leaf {
            sums,
            start: 0,
            end: rows.len(),
        }];
        let mut frontier = if self.params.max_leaves.is_some() {
            Frontier::Heap(BinaryHeap::new())
        } else {
            Frontier::Stack(Vec::new())
        };
        let mut root = Pending {
            node: 0,
            start: 0,
            end: rows.len(),
            depth: 0,
            sums,
            split: None,
            hist: None,
        };
        if self.splittable(&root) {
            if let FeatureSampling::PerTree(_) = self.params.sampling {
                let mut h = self.take_hist();
                self.build_all(rows, &mut h);
                root.hist = Some(h);
            }
            self.consider(root, rows, &mut frontier);
        }
        let mut leaves = 1;
        while let Some(p) = frontier.pop() {
            if self.params.max_leaves.is_some_and(|m| leaves >= m) {
                self.release(p.hist);
                continue;
            }
            // Only nodes with a split enter the frontier.
            let Some(c) = p.split else { continue };
            let missing_bin = self.data.missing_bin(c.feature);
            let n_left = partition(
                &mut rows[p.start..p.end],
                &mut self.ws.scratch_rows,
                &self.data.columns[c.feature],
                (c.bin, c.missing_left, missing_bin),
            );
            let mid = p.start + n_left;
            let (l, r) = (nodes.len(), nodes.len() + 1);
            nodes.push(GrownNode::Leaf {
                sums: c.left,
                start: p.start,
                end: mid,
            });
            nodes.push(GrownNode::Leaf {
                sums: c.right,
                start: mid,
                end: p.end,
            });
            nodes[p.node] = GrownNode::Split {
                feature: c.feature,
                bin: c.bin,
                missing_left: c.missing_left,
                gain: c.gain,
                left: l,
                right: r,
            };
            leaves += 1;
            let child = |node, start, end, sums| Pending {
                node,
                start,
                end,
                depth: p.depth + 1,
                sums,
                split: None,
                hist: None,
            };
            let mut left = child(l, p.start, mid, c.left);
            let mut right = child(r, mid, p.end, c.right);
            // Children are only worth a histogram if the tree may still grow.
            let room = self.params.max_leaves.is_none_or(|m| leaves < m);
            let wanted = (room && self.splittable(&left), room && self.splittable(&right));
            match p.hist {
                Some(mut parent) if wanted.0 || wanted.1 => {
                    // Build the smaller child's histogram; the larger's is the rest.
                    let (small, large) = if left.end - left.start <= right.end - right.start {
                        (&mut left, &mut right)
                    } else {
                        (&mut right, &mut left)
                    };
                    let mut h = self.take_hist();
                    self.build_all(&rows[small.start..small.end], &mut h);
                    self.subtract_all(&mut parent, &h);
                    small.hist = Some(h);
                    large.hist = Some(parent);
                }
                other => self.release(other),
            }
            for (child, want) in [(left, wanted.0), (right, wanted.1)] {
                if want {
                    self.consider(child, rows, &mut frontier);
                } else {
                    self.release(child.hist);
                }
            }
        }
        GrownTree { nodes }
    }

    /// Find the best split of `p` and queue it if it gains enough.
    fn consider(&mut self, mut p: Pending<S>, rows: &[u32], frontier: &mut Frontier<S>) {
        p.split = self.best_split(&p, &rows[p.start..p.end]);
        if p.split.is_some_and(|c| c.gain > self.params.min_gain) {
            frontier.push(p);
        } else {
            self.release(p.hist);
        }
    }

    fn splittable(&self, p: &Pending<S>) -> bool {
        let n = p.end - p.start;
        let rule = &self.params.rule;
        let pure = p.sums.g <= 1e-9 * p.sums.h || p.sums.g >= (1.0 - 1e-9) * p.sums.h;
        n >= self.params.min_samples_split
            && n >= 2 * rule.min_samples_leaf as usize
            && self.params.max_depth.is_none_or(|d| p.depth < d)
            && p.sums.h >= 2.0 * rule.min_child_weight
            && !(self.params.stop_when_pure && pure)
    }

    /// The best split of node `p`, whose rows are `rows`.
    fn best_split(&mut self, p: &Pending<S>, rows: &[u32]) -> Option<Candidate> {
        let rule = &self.params.rule;
        let node = NodeSums {
            total: p.sums,
            score: rule.score(p.sums),
        };
        let mut best = None;
        match &self.params.sampling {
            FeatureSampling::PerTree(features) => {
                let hist = p.hist.as_deref().unwrap_or(&[]);
                for &f in features {
                    let h = &hist[self.offsets[f]..self.offsets[f + 1]];
                    hist::scan_histogram::<S>(rule, f, h, node, &mut best);
                }
            }
            &FeatureSampling::PerSplit(k) => {
                let mut ordered = std::mem::take(&mut self.ws.ordered);
                self.gather(rows, &mut ordered);
                let gh = &ordered[..];
                let n_features = self.ws.feature_order.len();
                let mut visited = 0;
                for i in 0..n_features {
                    let j = self.rng.random_range(i..n_features);
                    self.ws.feature_order.swap(i, j);
                    let f = self.ws.feature_order[i];
                    let col = &self.data.columns[f];
                    let varies = if rows.len() < hist::LANED_ROWS {
                        let sparse = &mut self.ws.sparse;
                        sparse.add(col, rows, gh);
                        let missing_bin = self.data.missing_bin(f);
                        sparse.scan_and_clear(rule, f, missing_bin, node, &mut best)
                    } else {
                        let nb = self.data.n_bins[f];
                        let h = &mut self.ws.one_feature;
                        h.resize(nb, S::Acc::default());
                        hist::build(&mut h[..nb], col, rows, gh);
                        hist::scan_histogram::<S>(rule, f, &h[..nb], node, &mut best)
                    };
                    if varies {
                        visited += 1;
                        if visited == k {
                            break;
                        }
                    }
                }
                self.ws.ordered = ordered;
            }
        }
        best
    }

    /// Fill `ordered` with the statistics of `rows`, in their order.
    fn gather(&self, rows: &[u32], ordered: &mut Arc<Vec<S>>) {
        // The buffer is shared only while helpers build from it, so this does not copy.
        let ordered = Arc::make_mut(ordered);
        ordered.clear();
        ordered.extend(rows.iter().map(|&r| self.gh[r as usize]));
    }

    fn take_hist(&mut self) -> Vec<S::Acc> {
        let total = self.offsets[self.offsets.len() - 1];
        let mut h = self.ws.pool.pop().unwrap_or_default();
        h.resize(total, S::Acc::default());
        h
    }

    fn release(&mut self, hist: Option<Vec<S::Acc>>) {
        if let Some(h) = hist {
            self.ws.pool.push(h);
        }
    }

    /// Per-feature slices of a full histogram, for the tree's features.
    fn feature_slices<'h>(&self, hist: &'h mut [S::Acc]) -> Vec<(usize, &'h mut [S::Acc])> {
        let FeatureSampling::PerTree(features) = &self.params.sampling else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(features.len());
        let mut rest = hist;
        let mut pos = 0;
        for &f in features {
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(self.offsets[f] - pos);
            let (mine, tail) = tail.split_at_mut(self.offsets[f + 1] - self.offsets[f]);
            out.push((f, mine));
            rest = tail;
            pos = self.offsets[f + 1];
        }
        out
    }

    /// Fill `hist` with the histograms of the tree's features over `rows`. With a team
    /// and enough rows, the features are split into one group per thread: the helpers
    /// build theirs into buffers of their own, copied into `hist` once done.
    fn build_all(&mut self, rows: &[u32], hist: &mut [S::Acc]) {
        let mut ordered = std::mem::take(&mut self.ws.ordered);
        self.gather(rows, &mut ordered);
        let mut slices = self.feature_slices(hist);
        let data = self.data;
        let team = self
            .team
            .filter(|t| t.helpers() > 0 && rows.len() >= PARALLEL_HISTOGRAM_ROWS);
        let Some(team) = team else {
            for (f, h) in slices {
                hist::build(h, &data.columns[f], rows, &ordered);
            }
            self.ws.ordered = ordered;
            return;
        };
        let mut shared_rows = std::mem::take(&mut self.ws.shared_rows);
        {
            // Not shared between builds, so this does not copy.
            let copy = Arc::make_mut(&mut shared_rows);
            copy.clear();
            copy.extend_from_slice(rows);
        }
        let n = slices.len();
        let groups = (team.helpers() + 1).min(n);
        // Group g holds slices [g * n / groups, (g + 1) * n / groups); split off the
        // helpers' groups from the back, keeping the first group for this thread.
        let mut theirs = Vec::with_capacity(groups.saturating_sub(1));
        for g in (1..groups).rev() {
            let group = slices.split_off(g * n / groups);
            let features: Vec<usize> = group.iter().map(|(f, _)| *f).collect();
            let len = group.iter().map(|(_, h)| h.len()).sum();
            let mut buf = self.ws.job_hists.pop().unwrap_or_default();
            buf.resize(len, S::Acc::default());
            let job = HistJob {
                rows: Arc::clone(&shared_rows),
                gh: Arc::clone(&ordered),
                features,
                hist: buf,
            };
            theirs.push((job, group));
        }
        let (jobs, destinations): (Vec<HistJob<S>>, Vec<_>) = theirs.into_iter().rev().unzip();
        let ((), done) = team.run(jobs, || {
            for (f, h) in slices {
                hist::build(h, &data.columns[f], rows, &ordered);
            }
        });
        for (job, group) in done.into_iter().zip(destinations) {
            let mut at = 0;
            for (_, h) in group {
                h.copy_from_slice(&job.hist[at..at + h.len()]);
                at += h.len();
            }
            self.ws.job_hists.push(job.hist);
        }
        self.ws.shared_rows = shared_rows;
        self.ws.ordered = ordered;
    }

    fn subtract_all(&self, parent: &mut [S::Acc], child: &[S::Acc]) {
        for (f, h) in self.feature_slices(parent) {
            hist::subtract::<S>(h, &child[self.offsets[f]..self.offsets[f + 1]]);
        }
    }
}

/// Stable in-place partition of `rows`: those whose bin in `col` goes left (see
/// [`goes_left`] for `(bin, missing_left, missing_bin)`) first. Returns how many go left;
/// `scratch` is working space.
fn partition(rows: &mut [u32], scratch: &mut Vec<u32>, col: &[u8], split: (u8, bool, u8)) -> usize {
    scratch.resize(rows.len(), 0);
    let scratch = &mut scratch[..rows.len()];
    let (bin, missing_left, missing_bin) = split;
    let n_left = if rows.len() >= TABLE_PARTITION_ROWS {
        // Large nodes look each bin up in a table (fewer instructions per row).
        let mut table = [false; 256];
        for (b, t) in (0..=u8::MAX).zip(&mut table) {
            *t = goes_left(b, bin, missing_left, missing_bin);
        }
        split_into(rows, scratch, col, |b| table[usize::from(b)])
    } else {
        split_into(rows, scratch, col, |b| {
            goes_left(b, bin, missing_left, missing_bin)
        })
    };
    join(rows, scratch, n_left);
    n_left
}

/// Fewest rows in a node for its histograms to be shared out to a team's helpers.
const PARALLEL_HISTOGRAM_ROWS: usize = 256;

/// Fewest rows in a node for [`partition`] to build a table of the bins going left.
const TABLE_PARTITION_ROWS: usize = 1024;

/// Write the rows whose bin in `col` goes left to the front of `out` and the others to its
/// back in reverse order; returns how many go left. Branch-free: every row is written to
/// both ends and only one cursor advances (the two free slots never cross). Not inlined,
/// so the loop keeps its state in registers.
#[inline(never)]
fn split_into(rows: &[u32], out: &mut [u32], col: &[u8], goes_left: impl Fn(u8) -> bool) -> usize {
    let last = out.len().wrapping_sub(1);
    let (mut n_left, mut n_right) = (0, 0);
    for &r in rows {
        let go_left = usize::from(goes_left(col[r as usize]));
        out[n_left] = r;
        out[last - n_right] = r;
        n_left += go_left;
        n_right += 1 - go_left;
    }
    n_left
}

/// Copy the output of [`split_into`] in `scratch` back into `rows`: the left rows, then
/// the right rows restored to their original order.
fn join(rows: &mut [u32], scratch: &[u32], n_left: usize) {
    rows[..n_left].copy_from_slice(&scratch[..n_left]);
    for (dst, &src) in rows[n_left..].iter_mut().zip(scratch[n_left..].iter().rev()) {
        *dst = src;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Criterion;
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn route_sends_every_row_to_the_leaf_it_falls_into() {
        let n = 3000;
        let x = Array2::from_shape_fn((n, 3), |(i, j)| {
            if j == 2 && i % 9 == 0 {
                f64::NAN
            } else {
                ((i * (j + 7) * 7919) % 101) as f64
            }
        });
        let mapper = BinMapper::fit(x.view(), 32).unwrap();
        let data = mapper.transform(x.view());
        let gh: Vec<GradHess> = (0..n)
            .map(|i| GradHess {
                g: f32::from(u8::from((i * 31) % 7 < 3)),
                h: 1.0,
            })
            .collect();
        let params = GrowParams {
            rule: SplitRule {
                min_samples_leaf: 5,
                min_child_weight: 0.0,
                lambda: 0.0,
                criterion: Criterion::Gini,
            },
            max_depth: Some(10),
            max_leaves: None,
            min_samples_split: 2,
            min_gain: f64::NEG_INFINITY,
            stop_when_pure: true,
            sampling: FeatureSampling::PerSplit(2),
        };
        // Grown on two thirds of the rows; the others are routed as out-of-bag rows are.
        let mut rows: Vec<u32> = (0..n as u32).filter(|r| r % 3 != 0).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let tree = grow(
            &data,
            &gh,
            &mut rows,
            &params,
            &mut rng,
            &mut Workspace::default(),
            None,
        );
        assert!(tree.nodes.len() > 50, "{} nodes", tree.nodes.len());
        let mut all: Vec<u32> = (0..n as u32).collect();
        let mut seen = vec![false; n];
        tree.route(&data, &mut all, |leaf, sums, leaf_rows| {
            assert!(matches!(tree.nodes[leaf], GrownNode::Leaf { sums: s, .. } if s == sums));
            for &r in leaf_rows {
                assert_eq!(tree.leaf_of(&data, r as usize), leaf, "row {r}");
                seen[r as usize] = true;
            }
        });
        assert!(seen.iter().all(|&s| s), "every row reaches a leaf");
    }

    #[test]
    fn packed_counts_grow_the_same_trees_as_float_statistics() {
        // Whole-number weights (bootstrap counts 0..=3) on enough rows for laned
        // histograms at the top and sparse ones below; missing values in one column.
        let n = 5000;
        let x = Array2::from_shape_fn((n, 5), |(i, j)| match j {
            0 => ((i * 7919) % 251) as f64,
            1 => (i % 3) as f64,
            2 if i % 11 == 0 => f64::NAN,
            _ => ((i * (j + 13) * 104_729) % 97) as f64,
        });
        let mapper = BinMapper::fit(x.view(), 255).unwrap();
        let data = mapper.transform(x.view());
        let weight = |i: usize| ((i * 2_654_435_761) >> 7) as u32 % 4;
        let label = |i: usize| (i * 31 + i / 7) % 5 < 2;
        let gh: Vec<GradHess> = (0..n)
            .map(|i| GradHess {
                g: if label(i) { weight(i) as f32 } else { 0.0 },
                h: weight(i) as f32,
            })
            .collect();
        let packed: Vec<crate::hist::Packed> = (0..n)
            .map(|i| crate::hist::Packed::new(if label(i) { weight(i) } else { 0 }, weight(i)))
            .collect();
        for sampling in [
            FeatureSampling::PerSplit(2),
            FeatureSampling::PerTree(vec![0, 2, 3]),
        ] {
            let params = GrowParams {
                rule: SplitRule {
                    min_samples_leaf: 3,
                    min_child_weight: 0.0,
                    lambda: 0.0,
                    criterion: Criterion::Gini,
                },
                max_depth: None,
                max_leaves: None,
                min_samples_split: 2,
                min_gain: f64::NEG_INFINITY,
                stop_when_pure: true,
                sampling,
            };
            let grown = |stats: &dyn Fn(&mut [u32], &mut ChaCha8Rng) -> GrownTree| {
                let mut rows: Vec<u32> = (0..n as u32).filter(|&r| weight(r as usize) > 0).collect();
                let tree = stats(&mut rows, &mut ChaCha8Rng::seed_from_u64(3));
                (tree, rows)
            };
            let float =
                grown(&|rows, rng| grow(&data, &gh, rows, &params, rng, &mut Workspace::default(), None));
            let whole = grown(&|rows, rng| {
                grow(
                    &data,
                    &packed,
                    rows,
                    &params,
                    rng,
                    &mut Workspace::default(),
                    None,
                )
            });
            assert!(float.0.nodes.len() > 100, "{} nodes", float.0.nodes.len());
            assert_eq!(float, whole);
        }
    }
}
