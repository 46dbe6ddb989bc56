//! Calibration maps and operating points, fitted on a model's out-of-fold predictions of
//! its training rows (the models crate makes them; nothing here sees test rows).
//!
//! - [`Calibrator`]: a monotone map from a model's output to a probability, either
//!   isotonic (scikit-learn's `IsotonicRegression(out_of_bounds="clip")`: pool adjacent
//!   violators, then linear interpolation between the fitted points, clipped at both ends)
//!   or sigmoid (Platt scaling as scikit-learn's `_sigmoid_calibration`: `1 / (1 +
//!   exp(a·f + b))` fitted by log loss on Platt's smoothed targets).
//! - [`ThresholdRule`] and [`choose_threshold`]: the decision threshold that maximizes F1,
//!   reaches a recall, or minimizes a cost.

use serde::{Deserialize, Serialize};

use crate::ranking::Ranking;
use crate::MetricError;

/// How a model's outputs are mapped to calibrated probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    /// A non-decreasing step map with linear interpolation (flexible; needs many rows).
    Isotonic,
    /// Platt scaling: a logistic curve of the output (two parameters).
    Sigmoid,
}

impl CalibrationMethod {
    /// The name used in config files and reports.
    pub fn name(self) -> &'static str {
        match self {
            CalibrationMethod::Isotonic => "isotonic",
            CalibrationMethod::Sigmoid => "sigmoid",
        }
    }
}

/// A fitted calibration map from a model's output (its log-odds or probability) to a
/// probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Calibrator {
    /// Linear interpolation between points of non-decreasing `y` at increasing `x`,
    /// clipped to the first and last `y` outside them.
    Isotonic {
        /// The outputs, increasing.
        x: Vec<f64>,
        /// Their calibrated probabilities, non-decreasing, in [0, 1].
        y: Vec<f64>,
    },
    /// `1 / (1 + exp(a · output + b))`.
    Sigmoid {
        /// The slope (negative for an informative model).
        a: f64,
        /// The offset.
        b: f64,
    },
}

impl Calibrator {
    /// Fit `method` to outputs `f` (any real values, higher meaning more likely replayed)
    /// and labels `y`. An error when their lengths differ, a label class is missing or an
    /// output is not finite.
    pub fn fit(method: CalibrationMethod, f: &[f64], y: &[bool]) -> Result<Self, MetricError> {
        if f.len() != y.len() {
            return Err(MetricError::Length {
                labels: y.len(),
                scores: f.len(),
            });
        }
        if let Some(index) = f.iter().position(|v| !v.is_finite()) {
            return Err(MetricError::NotAProbability {
                index,
                value: f[index],
            });
        }
        let positives = y.iter().filter(|&&v| v).count();
        if positives == 0 || positives == y.len() {
            return Err(MetricError::SingleClass);
        }
        Ok(match method {
            CalibrationMethod::Isotonic => isotonic(f, y),
            CalibrationMethod::Sigmoid => sigmoid(f, y, positives),
        })
    }

    /// The method this map was fitted with.
    pub fn method(&self) -> CalibrationMethod {
        match self {
            Calibrator::Isotonic { .. } => CalibrationMethod::Isotonic,
            Calibrator::Sigmoid { .. } => CalibrationMethod::Sigmoid,
        }
    }

    /// The calibrated probability of output `f`.
    pub fn probability(&self, f: f64) -> f64 {
        match self {
            Calibrator::Isotonic { x, y } => interpolate(x, y, f),
            Calibrator::Sigmoid { a, b } => 1.0 / (1.0 + (a * f + b).exp()),
        }
    }

    /// Why a map read from a file cannot be used, if it cannot: isotonic points must be
    /// as many in `x` as in `y`, at least one, finite, `x` increasing and `y`
    /// non-decreasing in [0, 1]; sigmoid parameters finite.
    pub fn defect(&self) -> Option<String> {
        match self {
            Calibrator::Isotonic { x, y } => {
                if x.is_empty() || x.len() != y.len() {
                    Some(format!("{} isotonic x for {} y", x.len(), y.len()))
                } else if x.iter().chain(y).any(|v| !v.is_finite()) {
                    Some("an isotonic point is not finite".into())
                } else if x.windows(2).any(|w| w[0] >= w[1]) || y.windows(2).any(|w| w[0] > w[1]) {
                    Some("isotonic points are not increasing".into())
                } else if y.iter().any(|v| !(0.0..=1.0).contains(v)) {
                    Some("an isotonic probability is outside [0, 1]".into())
                } else {
                    None
                }
            }
            Calibrator::Sigmoid { a, b } => {
                (!a.is_finite() || !b.is_finite()).then(|| format!("sigmoid parameters {a}, {b}"))
            }
        }
    }
}

/// `y` at `f` by linear interpolation between the points `(x, y)`, clipped outside them.
fn interpolate(x: &[f64], y: &[f64], f: f64) -> f64 {
    let k = x.partition_point(|&v| v <= f);
    match (k, y.first(), y.last()) {
        (0, Some(&first), _) => first,
        (k, _, Some(&last)) if k == x.len() => last,
        (k, _, _) => {
            let (x0, x1, y0, y1) = (x[k - 1], x[k], y[k - 1], y[k]);
            y0 + (y1 - y0) * (f - x0) / (x1 - x0)
        }
    }
}

/// Isotonic regression of `y` on `f`: equal outputs pooled, then pool adjacent violators
/// with the pooled counts as weights, then the interior points of runs of equal fitted
/// values dropped (they change no interpolated value).
fn isotonic(f: &[f64], y: &[bool]) -> Calibrator {
    let mut order: Vec<usize> = (0..f.len()).collect();
    order.sort_by(|&a, &b| f[a].total_cmp(&f[b]));
    // Blocks of (first output, last output, positives, weight), merged while decreasing.
    let mut blocks: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let value = f[order[i]];
        let (mut positives, mut weight) = (0.0, 0.0);
        while i < order.len() && f[order[i]] == value {
            positives += f64::from(u8::from(y[order[i]]));
            weight += 1.0;
            i += 1;
        }
        blocks.push((value, value, positives, weight));
        while blocks.len() > 1 {
            let n = blocks.len();
            let (last, previous) = (blocks[n - 1], blocks[n - 2]);
            if previous.2 / previous.3 <= last.2 / last.3 {
                break;
            }
            blocks[n - 2] = (previous.0, last.1, previous.2 + last.2, previous.3 + last.3);
            blocks.pop();
        }
    }
    let mut x = Vec::with_capacity(2 * blocks.len());
    let mut values = Vec::with_capacity(2 * blocks.len());
    for &(first, last, positives, weight) in &blocks {
        let mean = positives / weight;
        x.push(first);
        values.push(mean);
        if last != first {
            x.push(last);
            values.push(mean);
        }
    }
    // Keep the ends of every run of equal values.
    let keep: Vec<bool> = (0..x.len())
        .map(|k| k == 0 || k + 1 == x.len() || values[k] != values[k - 1] || values[k] != values[k + 1])
        .collect();
    let pick = |v: &[f64]| v.iter().zip(&keep).filter(|(_, &k)| k).map(|(&v, _)| v).collect();
    Calibrator::Isotonic {
        x: pick(&x),
        y: pick(&values),
    }
}

/// Platt scaling: `(a, b)` minimizing the log loss of `1 / (1 + exp(a·f + b))` against
/// Platt's targets (`(n₊ + 1) / (n₊ + 2)` for a positive, `1 / (n₋ + 2)` for a negative),
/// by Newton's method with step halving from scikit-learn's starting point.
fn sigmoid(f: &[f64], y: &[bool], positives: usize) -> Calibrator {
    let negatives = (y.len() - positives) as f64;
    let positives = positives as f64;
    let hi = (positives + 1.0) / (positives + 2.0);
    let lo = 1.0 / (negatives + 2.0);
    let target = |v: bool| if v { hi } else { lo };
    // The loss, and its gradient and Hessian, in (a, b).
    let loss = |a: f64, b: f64| -> f64 {
        f.iter()
            .zip(y)
            .map(|(&fi, &yi)| {
                let z = a * fi + b; // p = 1 / (1 + e^z): -log p = softplus(z), -log(1 - p) = softplus(-z)
                let t = target(yi);
                t * softplus(z) + (1.0 - t) * softplus(-z)
            })
            .sum()
    };
    let (mut a, mut b) = (0.0, ((negatives + 1.0) / (positives + 1.0)).ln());
    let mut current = loss(a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&fi, &yi) in f.iter().zip(y) {
            let p = 1.0 / (1.0 + (a * fi + b).exp());
            let d = target(yi) - p; // d loss / dz
            let w = p * (1.0 - p);
            ga += d * fi;
            gb += d;
            haa += w * fi * fi;
            hab += w * fi;
            hbb += w;
        }
        // Levenberg damping keeps the step defined when the Hessian is nearly singular.
        let damping = 1e-12 * (haa + hbb).max(1.0);
        let (haa, hbb) = (haa + damping, hbb + damping);
        let det = haa * hbb - hab * hab;
        if det <= 0.0 || !det.is_finite() {
            break;
        }
        let step_a = (hbb * ga - hab * gb) / det;
        let step_b = (haa * gb - hab * ga) / det;
        let mut scale = 1.0;
        let mut improved = false;
        while scale > 1e-10 {
            let (na, nb) = (a - scale * step_a, b - scale * step_b);
            let next = loss(na, nb);
            if next <= current {
                let gain = current - next;
                (a, b, current) = (na, nb, next);
                improved = gain > 1e-14 * current.abs().max(1.0);
                break;
            }
            scale *= 0.5;
        }
        if !improved {
            break;
        }
    }
    Calibrator::Sigmoid { a, b }
}

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// How the decision threshold is chosen on out-of-fold training predictions. Written in
/// a config as `"max_f1"`, `{ recall = 0.8 }` or `{ cost_ratio = 5.0 }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ThresholdRule {
    /// The threshold of the largest F1 of the replayed class.
    MaxF1,
    /// The highest threshold whose recall of the replayed class reaches this share.
    Recall(f64),
    /// The threshold of the lowest cost when missing a replayed song costs this many
    /// times a false alarm: minimizes `false positives + ratio × false negatives`.
    CostRatio(f64),
}

impl ThresholdRule {
    /// Why the rule's number is unusable, if it is: a recall in (0, 1], a positive
    /// finite cost ratio.
    pub fn defect(&self) -> Option<String> {
        match *self {
            ThresholdRule::MaxF1 => None,
            ThresholdRule::Recall(r) => {
                (!(r > 0.0 && r <= 1.0)).then(|| format!("recall: expected a share in (0, 1], got {r}"))
            }
            ThresholdRule::CostRatio(c) => (!(c > 0.0 && c.is_finite()))
                .then(|| format!("cost_ratio: expected a positive number, got {c}")),
        }
    }

    /// A short description: `max F1`, `recall 0.8`, `cost ratio 5`.
    pub fn describe(&self) -> String {
        match self {
            ThresholdRule::MaxF1 => "max F1".into(),
            ThresholdRule::Recall(r) => format!("recall {r}"),
            ThresholdRule::CostRatio(c) => format!("cost ratio {c}"),
        }
    }
}

/// The threshold `rule` picks for probabilities `p` of rows labelled `y`: one of the
/// probabilities, so that rows with `p >= threshold` are predicted replayed.
pub fn choose_threshold(rule: ThresholdRule, y: &[bool], p: &[f64]) -> Result<f64, MetricError> {
    crate::check(y, p)?;
    let ranking = Ranking::new(y, p)?;
    let (positives, _) = ranking.class_counts();
    Ok(match rule {
        ThresholdRule::MaxF1 => ranking.best_threshold(|tp, fp| 2.0 * tp / (tp + fp + positives)),
        ThresholdRule::Recall(r) => ranking.threshold_for_recall(r),
        ThresholdRule::CostRatio(ratio) => ranking.best_threshold(|tp, fp| -(fp + ratio * (positives - tp))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A small case worked by scikit-learn 1.7:
    //   IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(F, Y)
    //   _sigmoid_calibration(F, Y)
    const F: [f64; 12] = [0.1, 0.2, 0.2, 0.3, 0.45, 0.5, 0.6, 0.7, 0.7, 0.8, 0.9, 0.95];
    const Y: [u8; 12] = [0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1];

    fn labels() -> Vec<bool> {
        Y.iter().map(|&v| v == 1).collect()
    }

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn isotonic_equals_scikit_learn() {
        let c = Calibrator::fit(CalibrationMethod::Isotonic, &F, &labels()).unwrap();
        let third = 1.0 / 3.0;
        let two_thirds = 2.0 / 3.0;
        let Calibrator::Isotonic { x, y } = &c else {
            panic!("{c:?}")
        };
        assert_eq!(x, &[0.1, 0.2, 0.3, 0.45, 0.5, 0.6, 0.7, 0.8, 0.95]);
        let want = [0.0, third, third, 0.5, 0.5, two_thirds, two_thirds, 1.0, 1.0];
        assert!(y.iter().zip(want).all(|(a, b)| close(*a, b, 1e-15)), "{y:?}");
        let at = [0.0, 0.15, 0.25, 0.55, 0.65, 0.75, 1.0];
        let sklearn = [
            0.0,
            0.1666666666666666,
            third,
            0.5833333333333334,
            two_thirds,
            0.8333333333333333,
            1.0,
        ];
        for (f, want) in at.iter().zip(sklearn) {
            assert!(
                close(c.probability(*f), want, 1e-15),
                "{f}: {}",
                c.probability(*f)
            );
        }
        assert_eq!(c.defect(), None);
    }

    #[test]
    fn sigmoid_equals_scikit_learn() {
        let c = Calibrator::fit(CalibrationMethod::Sigmoid, &F, &labels()).unwrap();
        let Calibrator::Sigmoid { a, b } = c else {
            panic!("{c:?}")
        };
        // scikit-learn's L-BFGS stops at its tolerance; ours at the optimum.
        assert!(
            close(a, -3.2021711617274295, 1e-4) && close(b, 1.3378111780489246, 1e-4),
            "{a} {b}"
        );
        let f2 = [-2.0, -1.5, -1.0, -0.3, 0.0, 0.2, 0.5, 1.0, 1.2, 2.0, 3.0, -0.5];
        let c = Calibrator::fit(CalibrationMethod::Sigmoid, &f2, &labels()).unwrap();
        let Calibrator::Sigmoid { a, b } = c else {
            panic!("{c:?}")
        };
        assert!(
            close(a, -0.46966094327633373, 1e-4) && close(b, -0.24975624598936552, 1e-4),
            "{a} {b}"
        );
    }

    #[test]
    fn calibration_is_monotone_and_keeps_the_order_of_distinct_fitted_points() {
        let f: Vec<f64> = (0..500).map(|i| ((i * 7919) % 500) as f64 / 50.0 - 5.0).collect();
        let y: Vec<bool> = f
            .iter()
            .enumerate()
            .map(|(i, v)| (v + (i % 7) as f64 - 3.0) > 0.0)
            .collect();
        for method in [CalibrationMethod::Isotonic, CalibrationMethod::Sigmoid] {
            let c = Calibrator::fit(method, &f, &y).unwrap();
            let grid: Vec<f64> = (0..200)
                .map(|i| i as f64 / 10.0 - 10.0)
                .map(|v| c.probability(v))
                .collect();
            assert!(grid.windows(2).all(|w| w[0] <= w[1]), "{method:?}");
            assert!(grid.iter().all(|p| (0.0..=1.0).contains(p)));
            assert_eq!(c.method(), method);
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert_eq!(
            Calibrator::fit(CalibrationMethod::Isotonic, &[0.1], &[true, false]),
            Err(MetricError::Length { labels: 2, scores: 1 })
        );
        assert_eq!(
            Calibrator::fit(CalibrationMethod::Sigmoid, &[0.1, 0.2], &[true, true]),
            Err(MetricError::SingleClass)
        );
        assert!(Calibrator::fit(CalibrationMethod::Sigmoid, &[f64::NAN, 0.2], &[true, false]).is_err());
        let broken = Calibrator::Isotonic {
            x: vec![0.2, 0.1],
            y: vec![0.0, 1.0],
        };
        assert!(broken.defect().is_some());
    }

    #[test]
    fn thresholds_follow_their_rule() {
        let y = [true, true, false, true, false, false];
        let p = [0.9, 0.8, 0.7, 0.6, 0.3, 0.1];
        // F1 at 0.9: 2/4; 0.8: 4/5; 0.7: 4/6; 0.6: 6/7; 0.3: 6/8; 0.1: 6/9.
        assert_eq!(choose_threshold(ThresholdRule::MaxF1, &y, &p), Ok(0.6));
        assert_eq!(choose_threshold(ThresholdRule::Recall(0.5), &y, &p), Ok(0.8));
        assert_eq!(choose_threshold(ThresholdRule::Recall(1.0), &y, &p), Ok(0.6));
        // Cost fp + 10 fn: 0.9: 20; 0.8: 10; 0.7: 11; 0.6: 1; 0.3: 2. Cost fp + 0.1 fn:
        // 0.9: 0.2; 0.8: 0.1; 0.7: 1.1; 0.6: 1.
        assert_eq!(choose_threshold(ThresholdRule::CostRatio(10.0), &y, &p), Ok(0.6));
        assert_eq!(choose_threshold(ThresholdRule::CostRatio(0.1), &y, &p), Ok(0.8));
        assert!(ThresholdRule::Recall(1.5).defect().is_some());
        assert!(ThresholdRule::CostRatio(0.0).defect().is_some());
        assert_eq!(ThresholdRule::MaxF1.defect(), None);
    }
}
