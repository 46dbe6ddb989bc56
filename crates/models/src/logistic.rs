//! Logistic regression with scikit-learn's objective and class weighting.
//!
//! Minimises `C · Σ sᵢ · logloss(yᵢ, σ(xᵢ·w + b)) + ½‖w‖²` (the intercept is not
//! penalised), where `sᵢ = n / (2 · n_class(yᵢ))` for `class_weight = "balanced"` and 1
//! otherwise: exactly scikit-learn's `LogisticRegression(C, class_weight)`. linfa-logistic
//! has no sample weights, so the fit is ours: Newton's method with a backtracking line
//! search, which converges to machine precision in a handful of iterations.

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::linalg::cholesky_solve;
pub use crate::numeric::ClassWeight;
use crate::numeric::{sigmoid, softplus};
use crate::params::{self, check, rule, valid_params};
use crate::ModelError;

/// Hyperparameters of [`fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogisticParams {
    /// Inverse regularisation strength, as scikit-learn's `C`.
    #[serde(deserialize_with = "params::positive")]
    pub c: f64,
    /// Class weighting.
    pub class_weight: ClassWeight,
    /// Maximum Newton iterations.
    #[serde(deserialize_with = "params::at_least_one")]
    pub max_iter: usize,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            c: 1.0,
            class_weight: ClassWeight::Balanced,
            max_iter: 100,
        }
    }
}

valid_params!(
    /// [`LogisticParams`] that passed [`LogisticParams::check`]: what [`fit`] takes.
    ValidLogisticParams,
    LogisticParams
);

impl LogisticParams {
    /// Check every value (the rules a config file is read with), as linfa's
    /// `ParamGuard::check`: only the result can fit.
    pub fn check(&self) -> Result<ValidLogisticParams, ModelError> {
        check("c", rule::positive(self.c))?;
        check("max_iter", rule::at_least(self.max_iter, 1))?;
        Ok(ValidLogisticParams::checked(self))
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    /// One weight per input.
    pub coefficients: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
    /// Newton iterations used.
    pub iterations: usize,
    /// Whether the gradient vanished before `max_iter`.
    pub converged: bool,
    /// The mean of each input over the training rows, the reference point of
    /// contributions ([`crate::explain`]); empty in files written before it was kept,
    /// where contributions are taken from 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_means: Vec<f64>,
}

impl LogisticModel {
    /// Probability of the positive class for every row of `x`; an error unless `x` has
    /// one column per coefficient.
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        Ok(self.decision_function(x)?.mapv(sigmoid))
    }

    /// Log-odds of the positive class for every row of `x`; an error unless `x` has one
    /// column per coefficient.
    pub fn decision_function(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        crate::check_inputs(self.coefficients.len(), x)?;
        let w = ArrayView1::from(&self.coefficients[..]);
        Ok(x.dot(&w) + self.intercept)
    }
}

/// Rows per block of the parallel passes over the data. Blocks are fixed, each is summed
/// in row order and the block sums are added in block order, so the fit is bit-identical
/// whatever the number of threads.
const BLOCK_ROWS: usize = 2048;

/// The objective and its pieces at parameters `theta` (weights, then intercept).
struct Objective<'x, 'y> {
    x: ArrayView2<'x, f64>,
    y: ArrayView1<'y, bool>,
    weights: Array1<f64>,
    c: f64,
}

impl Objective<'_, '_> {
    /// `f(row, label, weight, margin)` summed over the rows of every block into a
    /// partial result, the partials returned in block order.
    fn map_blocks<T: Send>(
        &self,
        theta: &Array1<f64>,
        init: impl Fn() -> T + Sync,
        f: impl Fn(&mut T, &[f64], bool, f64, f64) + Sync,
    ) -> Vec<T> {
        let (n, p) = self.x.dim();
        let w = theta.slice(s![..p]);
        let intercept = theta[p];
        (0..n.div_ceil(BLOCK_ROWS))
            .into_par_iter()
            .map(|b| {
                let rows = b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(n);
                let mut acc = init();
                let mut buffer = vec![0.0; p];
                for i in rows {
                    let row = self.x.row(i);
                    let row: &[f64] = match row.as_slice() {
                        Some(r) => r,
                        None => {
                            buffer.iter_mut().zip(row).for_each(|(d, &v)| *d = v);
                            &buffer
                        }
                    };
                    let margin = row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + intercept;
                    f(&mut acc, row, self.y[i], self.weights[i], margin);
                }
                acc
            })
            .collect()
    }

    fn loss(&self, theta: &Array1<f64>) -> f64 {
        let p = self.x.ncols();
        let data: f64 = self
            .map_blocks(
                theta,
                || 0.0,
                |acc, _, y, s, z| *acc += s * (softplus(z) - if y { z } else { 0.0 }),
            )
            .into_iter()
            .sum();
        self.c * data + 0.5 * theta.slice(s![..p]).dot(&theta.slice(s![..p]))
    }

    /// Gradient and Hessian at `theta`.
    fn derivatives(&self, theta: &Array1<f64>) -> (Array1<f64>, Array2<f64>) {
        let p = self.x.ncols();
        let q = p + 1;
        // Per block: the gradient (q values) and the lower triangle of the Hessian, row by
        // row (q·q values, upper part unused), for the augmented row [x, 1].
        let partials = self.map_blocks(
            theta,
            || (vec![0.0; q], vec![0.0; q * q]),
            |(grad, hess), row, y, s, z| {
                let prob = sigmoid(z);
                let g = self.c * s * (prob - if y { 1.0 } else { 0.0 });
                let h = self.c * s * prob * (1.0 - prob);
                grad[..p].iter_mut().zip(row).for_each(|(d, &v)| *d += g * v);
                grad[p] += g;
                for (a, &xa) in row.iter().enumerate() {
                    let ha = h * xa;
                    hess[a * q..a * q + a + 1]
                        .iter_mut()
                        .zip(row)
                        .for_each(|(d, &v)| *d += ha * v);
                }
                let last = &mut hess[p * q..p * q + q];
                last[..p].iter_mut().zip(row).for_each(|(d, &v)| *d += h * v);
                last[p] += h;
            },
        );
        let mut grad = Array1::<f64>::zeros(q);
        let mut hess = Array2::<f64>::zeros((q, q));
        for (g, h) in partials {
            grad.iter_mut().zip(&g).for_each(|(d, v)| *d += v);
            for a in 0..q {
                for b in 0..=a {
                    hess[(a, b)] += h[a * q + b];
                }
            }
        }
        for a in 0..q {
            for b in 0..a {
                hess[(b, a)] = hess[(a, b)];
            }
        }
        for j in 0..p {
            grad[j] += theta[j];
            hess[(j, j)] += 1.0;
        }
        (grad, hess)
    }
}

/// Fit a logistic regression on inputs `x` and labels `y`.
pub fn fit(
    params: &ValidLogisticParams,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
) -> Result<LogisticModel, ModelError> {
    let objective = Objective {
        x,
        y,
        weights: params.class_weight.weights(y),
        c: params.c,
    };
    let p = x.ncols();
    let mut theta = Array1::<f64>::zeros(p + 1);
    let mut loss = objective.loss(&theta);
    let mut converged = false;
    let mut previous_decrement = f64::INFINITY;
    let mut iterations = 0;
    while iterations < params.max_iter {
        iterations += 1;
        let (grad, hess) = objective.derivatives(&theta);
        let step = cholesky_solve(&hess, &grad).unwrap_or_else(|| grad.clone());
        // Newton decrement: twice the predicted decrease of the loss.
        let decrement = grad.dot(&step);
        let scale = loss.abs().max(1.0);
        if decrement <= 1e-24 * scale || (decrement < 1e-8 * scale && decrement >= previous_decrement) {
            // At the optimum to rounding: the decrement no longer shrinks.
            converged = true;
            break;
        }
        previous_decrement = decrement;
        if decrement < 1e-8 * scale {
            // Close to the optimum Newton converges quadratically with full steps, and the
            // predicted decrease is below what the loss can resolve, so no line search.
            theta = &theta - &step;
            loss = objective.loss(&theta);
            continue;
        }
        let mut t = 1.0;
        loop {
            let candidate = &theta - &(&step * t);
            let candidate_loss = objective.loss(&candidate);
            if candidate_loss <= loss - 1e-4 * t * decrement {
                theta = candidate;
                loss = candidate_loss;
                break;
            }
            t *= 0.5;
            if t < 1e-10 {
                // No decrease is possible any more: the optimum is reached to rounding.
                converged = true;
                break;
            }
        }
        if converged {
            break;
        }
    }
    Ok(LogisticModel {
        coefficients: theta.slice(s![..p]).to_vec(),
        intercept: theta[p],
        iterations,
        converged,
        // Summed row by row in order, whatever the memory layout, for the same bits.
        input_means: x
            .columns()
            .into_iter()
            .map(|c| c.iter().sum::<f64>() / c.len().max(1) as f64)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn balanced_weights_follow_scikit_learn() {
        // 1 positive, 3 negatives: n / (2 n_c) = 4/2 = 2 and 4/6.
        let w = ClassWeight::Balanced.weights(array![true, false, false, false].view());
        assert_eq!(w, array![2.0, 4.0 / 6.0, 4.0 / 6.0, 4.0 / 6.0]);
        assert!((w.sum() - 4.0).abs() < 1e-12, "balanced weights sum to n");
    }

    #[test]
    fn gradient_vanishes_at_the_fitted_optimum() {
        let x = array![[0.0], [1.0], [2.0], [3.0], [1.5], [0.5]];
        let y = array![false, false, true, true, false, true];
        let params = LogisticParams::default();
        let m = fit(&params.check().unwrap(), x.view(), y.view()).unwrap();
        assert!(m.converged);
        let objective = Objective {
            x: x.view(),
            y: y.view(),
            weights: params.class_weight.weights(y.view()),
            c: 1.0,
        };
        let theta = array![m.coefficients[0], m.intercept];
        let (grad, _) = objective.derivatives(&theta);
        assert!(grad.iter().all(|g| g.abs() < 1e-10), "{grad}");
    }

    #[test]
    fn symmetric_data_gives_zero_intercept_and_probability_one_half_at_the_centre() {
        let x = array![[-2.0], [-1.0], [1.0], [2.0]];
        let y = array![false, true, true, false];
        let m = fit(&LogisticParams::default().check().unwrap(), x.view(), y.view()).unwrap();
        let p = m.predict_proba(array![[0.0]].view()).unwrap();
        assert!((p[0] - 0.5).abs() < 1e-12 && m.intercept.abs() < 1e-12 && m.coefficients[0].abs() < 1e-12);
    }
}
