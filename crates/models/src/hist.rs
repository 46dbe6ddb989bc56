//! Histograms of per-row statistics and the search for the best split of one feature.
//!
//! Every training row carries a pair `(g, h)`. The learner scores a set of rows by
//! `G² / (H + λ)` (sums over the rows), which serves both ensembles:
//!
//! - gradient boosting: `g = p - y`, `h = p (1 - p)` (log-loss gradient and Hessian), and
//!   `G² / (H + λ)` is the second-order loss decrease of a Newton leaf;
//! - random forest with the Gini criterion: `g = w·y`, `h = w` (row weight `w` = bootstrap
//!   count × class weight) and `λ = 0`. A node's weighted Gini impurity is
//!   `H · 2p(1-p)` with `p = G/H`, i.e. `2(G - G²/H)`; as `G` is shared by the two
//!   children, the impurity decrease of a split is exactly `2(G_L²/H_L + G_R²/H_R - G²/H)`,
//!   twice the gain above, so both rank splits identically.
//!
//! The entropy criterion uses the same `(G, H)` sums with score `-H · entropy(G/H)`.

use crate::tree::Criterion;

/// Sums of `g`, `h` and the row count over a set of rows (one histogram bin or a node).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Bin {
    /// Sum of `g`.
    pub g: f64,
    /// Sum of `h`.
    pub h: f64,
    /// Number of rows.
    pub n: u32,
}

impl Bin {
    fn plus(self, o: Bin) -> Bin {
        Bin {
            g: self.g + o.g,
            h: self.h + o.h,
            n: self.n + o.n,
        }
    }

    /// `self - o`, for `o` a subset of `self`.
    pub fn minus(self, o: Bin) -> Bin {
        Bin {
            g: self.g - o.g,
            h: self.h - o.h,
            n: self.n - o.n,
        }
    }
}

/// The statistics of one training row. Stored in `f32` (as LightGBM's gradients) to halve
/// memory traffic; every sum is accumulated in `f64`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct GradHess {
    /// Gradient (or weighted label for the forest).
    pub g: f32,
    /// Hessian (or weight for the forest).
    pub h: f32,
}

/// A row's statistics as histograms accumulate them: [`GradHess`] into [`Bin`]s of `f64`
/// sums, or [`Packed`] counts into one `u64` per bin. Every accumulation order gives the
/// sums [`RowStat::sums`] reads back, exactly for [`Packed`].
pub(crate) trait RowStat: Copy + Default + Send + Sync + 'static {
    /// A histogram bin: the sums of the rows added to it.
    type Acc: Copy + Default + PartialEq + Send + Sync + std::fmt::Debug + 'static;
    /// Add the row's statistics to `acc`.
    fn add(acc: &mut Self::Acc, s: Self);
    /// `a + b`.
    fn merge(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// `a - b`, for `b` the sums of a subset of `a`'s rows.
    fn minus(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// The sums held by `acc`.
    fn sums(acc: Self::Acc) -> Bin;
    /// Whether no row was added to `acc`.
    fn is_empty(acc: Self::Acc) -> bool;
}

impl RowStat for GradHess {
    type Acc = Bin;

    #[inline(always)]
    fn add(acc: &mut Bin, s: GradHess) {
        acc.g += f64::from(s.g);
        acc.h += f64::from(s.h);
        acc.n += 1;
    }

    #[inline(always)]
    fn merge(a: Bin, b: Bin) -> Bin {
        a.plus(b)
    }

    #[inline(always)]
    fn minus(a: Bin, b: Bin) -> Bin {
        a.minus(b)
    }

    #[inline(always)]
    fn sums(acc: Bin) -> Bin {
        acc
    }

    #[inline(always)]
    fn is_empty(acc: Bin) -> bool {
        acc.n == 0
    }
}

/// The statistics of a row whose `g` and `h` are small whole numbers (the forest's
/// bootstrap counts without class weights), packed with the row count into one `u64`:
/// `g` in bits 42..63, `h` in bits 21..42 and the count of rows in bits 0..21. Adding two
/// packed values adds the three fields at once, one integer addition per row instead of
/// three, with no carry between fields as long as every field of a sum stays below
/// [`Packed::LIMIT`] (which [`Packed::fits`] checks for the whole training set). The sums
/// are whole numbers, exact in `f64` too, so they equal the [`GradHess`] path's bit for
/// bit (LightGBM packs quantized gradients the same way).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Packed(pub u64);

impl Packed {
    /// Bits of each field.
    const BITS: u32 = 21;
    /// Fields must stay below this.
    pub const LIMIT: u64 = 1 << Self::BITS;
    const MASK: u64 = Self::LIMIT - 1;

    /// One row of weight `h`, of which `g` counts positives (`g <= h`).
    pub fn new(g: u32, h: u32) -> Packed {
        Packed((u64::from(g) << (2 * Self::BITS)) | (u64::from(h) << Self::BITS) | 1)
    }

    /// Whether sums over rows with total weight `total_h` (and so total `g` and row count
    /// no larger) fit in the fields.
    pub fn fits(total_h: u64) -> bool {
        total_h < Self::LIMIT
    }
}

impl RowStat for Packed {
    type Acc = u64;

    #[inline(always)]
    fn add(acc: &mut u64, s: Packed) {
        *acc += s.0;
    }

    #[inline(always)]
    fn merge(a: u64, b: u64) -> u64 {
        a + b
    }

    #[inline(always)]
    fn minus(a: u64, b: u64) -> u64 {
        a - b
    }

    #[inline(always)]
    fn sums(acc: u64) -> Bin {
        Bin {
            g: (acc >> (2 * Self::BITS)) as f64,
            h: ((acc >> Self::BITS) & Self::MASK) as f64,
            n: (acc & Self::MASK) as u32,
        }
    }

    #[inline(always)]
    fn is_empty(acc: u64) -> bool {
        acc & Self::MASK == 0
    }
}

/// Fill `hist` (one entry per bin of the column, at most 256) with the sums of `rows`,
/// whose statistics are `gh` in the same order (`gh[i]` belongs to `rows[i]`).
///
/// Rows are spread over [`LANES`] partial histograms by position (row `i` into lane
/// `i % LANES`) and the lanes are added in lane order: consecutive rows that fall into the
/// same bin (columns with few distinct values) then no longer wait on each other's
/// floating-point additions. The order of every sum is fixed, so results are
/// deterministic. Small sets of rows use one histogram, where the lanes would cost more to
/// clear than they save.
pub(crate) fn build<S: RowStat>(hist: &mut [S::Acc], col: &[u8], rows: &[u32], gh: &[S]) {
    hist.fill(S::Acc::default());
    let nb = hist.len();
    if rows.len() < LANED_ROWS {
        for (&r, &s) in rows.iter().zip(gh) {
            S::add(&mut hist[usize::from(col[r as usize])], s);
        }
        return;
    }
    let mut lanes = [[S::Acc::default(); 256]; LANES];
    let mut row_chunks = rows.chunks_exact(LANES);
    let mut gh_chunks = gh.chunks_exact(LANES);
    for (rs, ss) in (&mut row_chunks).zip(&mut gh_chunks) {
        for (lane, (&r, &s)) in lanes.iter_mut().zip(rs.iter().zip(ss)) {
            S::add(&mut lane[usize::from(col[r as usize])], s);
        }
    }
    for (&r, &s) in row_chunks.remainder().iter().zip(gh_chunks.remainder()) {
        S::add(&mut lanes[0][usize::from(col[r as usize])], s);
    }
    for (bin, total) in hist.iter_mut().enumerate().take(nb) {
        for lane in &lanes {
            *total = S::merge(*total, lane[bin]);
        }
    }
}

/// Partial histograms of [`build`].
const LANES: usize = 4;
/// Fewest rows for which [`build`] uses partial histograms.
pub(crate) const LANED_ROWS: usize = 1024;

/// `parent -= child`, bin by bin: the histogram of the sibling of `child`.
pub(crate) fn subtract<S: RowStat>(parent: &mut [S::Acc], child: &[S::Acc]) {
    for (p, c) in parent.iter_mut().zip(child) {
        *p = S::minus(*p, *c);
    }
}

/// What a split must satisfy and how it is scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SplitRule {
    /// Fewest rows in a child.
    pub min_samples_leaf: u32,
    /// Smallest `H` in a child.
    pub min_child_weight: f64,
    /// L2 regularisation `λ` of the score.
    pub lambda: f64,
    /// Gini (the `G²/(H+λ)` score) or entropy.
    pub criterion: Criterion,
}

impl SplitRule {
    /// The score of a set of rows; a split's gain is the children's scores minus the
    /// parent's.
    pub fn score(&self, s: Bin) -> f64 {
        match self.criterion {
            Criterion::Gini => s.g * s.g / (s.h + self.lambda),
            Criterion::Entropy => {
                let (pos, neg) = (s.g.max(0.0), (s.h - s.g).max(0.0));
                let xlogx = |a: f64| if a > 0.0 { a * (a / s.h).ln() } else { 0.0 };
                xlogx(pos) + xlogx(neg)
            }
        }
    }

    fn admits(&self, s: Bin) -> bool {
        s.n >= self.min_samples_leaf && s.h >= self.min_child_weight && s.h > 0.0
    }
}

/// A split of a node: value bins `<= bin` go left, missing values as `missing_left` says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    /// Feature tested.
    pub feature: usize,
    /// Last value bin going left.
    pub bin: u8,
    /// Whether the missing-value bin goes left.
    pub missing_left: bool,
    /// Children's scores minus the parent's.
    pub gain: f64,
    /// Sums of the left child.
    pub left: Bin,
    /// Sums of the right child.
    pub right: Bin,
}

/// The node being split: its sums and score.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeSums {
    /// Sums over the node's rows.
    pub total: Bin,
    /// `rule.score(total)`.
    pub score: f64,
}

/// Try every split of one feature, given its non-empty value bins in increasing order
/// and its missing-value sums; keep it in `best` if it beats it (ties keep the earlier).
/// Returns whether the feature takes more than one bin in the node (is not constant).
pub(crate) fn scan(
    rule: &SplitRule,
    feature: usize,
    bins: impl Iterator<Item = (u8, Bin)>,
    missing: Bin,
    node: NodeSums,
    best: &mut Option<Candidate>,
) -> bool {
    let mut left = Bin::default();
    let mut occupied = usize::from(missing.n > 0);
    for (bin, s) in bins {
        occupied += 1;
        left = left.plus(s);
        try_split(rule, feature, node, left, bin, false, best);
        if missing.n > 0 {
            try_split(rule, feature, node, left.plus(missing), bin, true, best);
        }
    }
    occupied > 1
}

/// Keep the split with left sums `l` in `best` if it is allowed and gains more.
#[inline(always)]
fn try_split(
    rule: &SplitRule,
    feature: usize,
    node: NodeSums,
    l: Bin,
    bin: u8,
    missing_left: bool,
    best: &mut Option<Candidate>,
) {
    let r = node.total.minus(l);
    if !(rule.admits(l) && rule.admits(r)) {
        return;
    }
    let gain = rule.score(l) + rule.score(r) - node.score;
    if best.is_none_or(|b| gain > b.gain) {
        *best = Some(Candidate {
            feature,
            bin,
            missing_left,
            gain,
            left: l,
            right: r,
        });
    }
}

/// [`scan`] over a full histogram of one feature (missing-value bin last).
pub(crate) fn scan_histogram<S: RowStat>(
    rule: &SplitRule,
    feature: usize,
    hist: &[S::Acc],
    node: NodeSums,
    best: &mut Option<Candidate>,
) -> bool {
    let (missing, values) = hist
        .split_last()
        .map_or((Bin::default(), hist), |(m, v)| (S::sums(*m), v));
    let bins = values
        .iter()
        .enumerate()
        .filter(|(_, s)| !S::is_empty(**s))
        .map(|(b, s)| (b as u8, S::sums(*s)));
    scan(rule, feature, bins, missing, node, best)
}

/// The histogram of one feature over a node's rows that remembers which bins its rows
/// fell into, so that reading and clearing it cost the occupied bins, not all 256: the
/// per-split draws of the forest build one such histogram per drawn feature in nodes of
/// every size, most of them small. Sums are taken in row order, as [`build`] does below
/// [`LANED_ROWS`], so both give the same bits.
#[derive(Debug)]
pub(crate) struct SparseHist<S: RowStat> {
    bins: Box<[S::Acc; 256]>,
    occupied: [u64; 4],
}

impl<S: RowStat> Default for SparseHist<S> {
    fn default() -> Self {
        SparseHist {
            bins: Box::new([S::Acc::default(); 256]),
            occupied: [0; 4],
        }
    }
}

impl<S: RowStat> SparseHist<S> {
    /// Add `rows` (statistics `gh`, aligned as in [`build`]) by their bin in `col`.
    /// Expects an empty histogram (as [`SparseHist::scan_and_clear`] leaves it).
    pub fn add(&mut self, col: &[u8], rows: &[u32], gh: &[S]) {
        for (&r, &s) in rows.iter().zip(gh) {
            let b = col[r as usize];
            self.occupied[usize::from(b >> 6)] |= 1 << (b & 63);
            S::add(&mut self.bins[usize::from(b)], s);
        }
    }

    /// [`scan`] the histogram of `feature` (whose missing values are in `missing_bin`),
    /// then empty it.
    pub fn scan_and_clear(
        &mut self,
        rule: &SplitRule,
        feature: usize,
        missing_bin: u8,
        node: NodeSums,
        best: &mut Option<Candidate>,
    ) -> bool {
        let missing = S::sums(std::mem::take(&mut self.bins[usize::from(missing_bin)]));
        let occupied = std::mem::take(&mut self.occupied);
        let bins = &mut self.bins;
        let values = occupied
            .into_iter()
            .enumerate()
            .flat_map(|(word, bits)| set_bits(bits).map(move |b| (word * 64 + b) as u8))
            .filter(|&b| b != missing_bin)
            .map(|b| (b, S::sums(std::mem::take(&mut bins[usize::from(b)]))));
        scan(rule, feature, values, missing, node, best)
    }
}

/// The positions of the set bits of `bits`, increasing.
fn set_bits(mut bits: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            b
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gini_rule() -> SplitRule {
        SplitRule {
            min_samples_leaf: 1,
            min_child_weight: 0.0,
            lambda: 0.0,
            criterion: Criterion::Gini,
        }
    }

    #[test]
    fn gini_gain_is_half_the_impurity_decrease_worked_by_hand() {
        // Node: 4 positives among 10 rows. Gini = 1 - 0.4² - 0.6² = 0.48, weighted 4.8.
        // Left 3/4 positive (gini 0.375, weighted 1.5), right 1/6 (gini 10/36, weighted 5/3).
        // Weighted decrease 4.8 - 1.5 - 5/3 = 1.6333..; gain = 9/4 + 1/6 - 16/10 = 0.81666..
        let rule = gini_rule();
        let parent = Bin {
            g: 4.0,
            h: 10.0,
            n: 10,
        };
        let left = Bin { g: 3.0, h: 4.0, n: 4 };
        let right = parent.minus(left);
        let weighted_gini = |s: Bin| s.h * (1.0 - (s.g / s.h).powi(2) - (1.0 - s.g / s.h).powi(2));
        assert!((weighted_gini(parent) - 4.8).abs() < 1e-12);
        assert!((weighted_gini(left) - 1.5).abs() < 1e-12);
        assert!((weighted_gini(right) - 5.0 / 3.0).abs() < 1e-12);
        let gain = rule.score(left) + rule.score(right) - rule.score(parent);
        assert!((gain - (9.0 / 4.0 + 1.0 / 6.0 - 1.6)).abs() < 1e-12);
        let decrease = weighted_gini(parent) - weighted_gini(left) - weighted_gini(right);
        assert!((decrease - 2.0 * gain).abs() < 1e-12);
    }

    #[test]
    fn best_split_of_a_tiny_histogram_and_missing_direction() {
        // Bins 0..3 hold labels: bin0 {0,0}, bin1 {0}, bin2 {1,1}, bin3 {1}; missing {1,1}.
        let gh: Vec<GradHess> = [0.0f32, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
            .iter()
            .map(|&y| GradHess { g: y, h: 1.0 })
            .collect();
        let col = [0u8, 0, 1, 2, 2, 3, 4, 4];
        let rows: Vec<u32> = (0..8).collect();
        let mut hist = vec![Bin::default(); 5];
        build(&mut hist, &col, &rows, &gh);
        assert_eq!(hist[4], Bin { g: 2.0, h: 2.0, n: 2 });
        let rule = gini_rule();
        let total = Bin { g: 5.0, h: 8.0, n: 8 };
        let node = NodeSums {
            total,
            score: rule.score(total),
        };
        let mut best = None;
        assert!(scan_histogram::<GradHess>(&rule, 7, &hist, node, &mut best));
        let c = best.unwrap();
        // The pure split: bins <= 1 left, missing right.
        assert_eq!((c.feature, c.bin, c.missing_left), (7, 1, false));
        assert_eq!(c.left, Bin { g: 0.0, h: 3.0, n: 3 });
        assert!((c.gain - (25.0 / 5.0 - 25.0 / 8.0)).abs() < 1e-12);
        // The sparse histogram finds the same split, and is empty again after it.
        let mut sparse = SparseHist::default();
        for _ in 0..2 {
            let mut found = None;
            sparse.add(&col, &rows, &gh);
            sparse.scan_and_clear(&rule, 7, 4, node, &mut found);
            assert_eq!(found, best);
        }
        assert!(sparse.bins.iter().all(|b| *b == Bin::default()));
    }

    #[test]
    fn missing_values_go_where_they_help() {
        // Values: bin0 {0,0}, bin1 {1,1}; missing {0,0}: missing must join bin 0 on the left.
        let gh: Vec<GradHess> = [0.0f32, 0.0, 1.0, 1.0, 0.0, 0.0]
            .iter()
            .map(|&y| GradHess { g: y, h: 1.0 })
            .collect();
        let col = [0u8, 0, 1, 1, 2, 2];
        let rows: Vec<u32> = (0..6).collect();
        let mut hist = vec![Bin::default(); 3];
        build(&mut hist, &col, &rows, &gh);
        let rule = gini_rule();
        let total = Bin { g: 2.0, h: 6.0, n: 6 };
        let mut best = None;
        scan_histogram::<GradHess>(
            &rule,
            0,
            &hist,
            NodeSums {
                total,
                score: rule.score(total),
            },
            &mut best,
        );
        let c = best.unwrap();
        assert_eq!((c.bin, c.missing_left, c.left.n), (0, true, 4));
    }

    #[test]
    fn constant_feature_is_reported() {
        let rule = gini_rule();
        let total = Bin { g: 1.0, h: 2.0, n: 2 };
        let hist = [Bin::default(), total, Bin::default()];
        let mut best = None;
        assert!(!scan_histogram::<GradHess>(
            &rule,
            0,
            &hist,
            NodeSums {
                total,
                score: rule.score(total)
            },
            &mut best
        ));
        assert!(best.is_none());
    }

    #[test]
    fn packed_fields_add_and_subtract_without_carrying_into_each_other() {
        let max = (Packed::LIMIT - 1) as u32;
        // Rows (g, h): sums reach every field's largest value, the edge of a carry.
        let rows = [(0, 3), (3, 3), (max - 3 - 2, max - 6 - 2), (2, 2)];
        let mut acc = 0;
        let mut gh = Bin::default();
        for &(g, h) in &rows {
            Packed::add(&mut acc, Packed::new(g, h));
            GradHess::add(
                &mut gh,
                GradHess {
                    g: g as f32,
                    h: h as f32,
                },
            );
        }
        assert_eq!(Packed::sums(acc), gh);
        assert_eq!(Packed::sums(acc).g, f64::from(max));
        assert_eq!(Packed::sums(acc).h, f64::from(max));
        let first = Packed::new(rows[0].0, rows[0].1).0;
        assert_eq!(
            Packed::sums(Packed::minus(acc, first)),
            gh.minus(Bin { g: 0.0, h: 3.0, n: 1 })
        );
        assert!(Packed::is_empty(0) && !Packed::is_empty(Packed::new(0, 0).0));
        assert!(Packed::fits(Packed::LIMIT - 1) && !Packed::fits(Packed::LIMIT));
    }
}
