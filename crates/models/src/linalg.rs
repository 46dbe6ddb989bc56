//! Small dense linear algebra without BLAS: enough for Newton steps on a few dozen inputs.

use ndarray::{Array1, Array2};

/// Solve `a · x = b` for a symmetric positive definite `a` by Cholesky factorisation.
/// Returns `None` when `a` is not (numerically) positive definite.
pub fn cholesky_solve(a: &Array2<f64>, b: &Array1<f64>) -> Option<Array1<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let mut sum = a[(i, j)];
            for k in 0..j {
                sum -= l[(i, k)] * l[(j, k)];
            }
            if i == j {
                if sum <= 0.0 || !sum.is_finite() {
                    return None;
                }
                l[(i, i)] = sum.sqrt();
            } else {
                l[(i, j)] = sum / l[(j, j)];
            }
        }
    }
    // Forward substitution L y = b, then back substitution Lᵀ x = y.
    let mut y = Array1::<f64>::zeros(n);
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[(i, k)] * y[k]).sum();
        y[i] = (b[i] - s) / l[(i, i)];
    }
    let mut x = Array1::<f64>::zeros(n);
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[(k, i)] * x[k]).sum();
        x[i] = (y[i] - s) / l[(i, i)];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn solves_a_hand_worked_system() {
        // [[4, 2], [2, 3]] x = [2, 1]  =>  x = [0.5, 0]
        let x = cholesky_solve(&array![[4.0, 2.0], [2.0, 3.0]], &array![2.0, 1.0]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-15 && x[1].abs() < 1e-15, "{x}");
    }

    #[test]
    fn rejects_an_indefinite_matrix() {
        assert!(cholesky_solve(&array![[1.0, 2.0], [2.0, 1.0]], &array![1.0, 1.0]).is_none());
    }
}
