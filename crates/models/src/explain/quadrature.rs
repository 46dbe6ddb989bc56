//! Gauss–Legendre quadrature on `[0, 1]`: `k` nodes and weights that integrate every
//! polynomial of degree below `2k` exactly (up to rounding). The nodes are the roots of
//! the Legendre polynomial `P_k`, found by Newton's method from the usual cosine guesses.

/// Most nodes [`gauss_legendre`] computes.
pub(super) const MAX_NODES: usize = 64;

/// Newton steps allowed per root; the iteration converges quadratically in a handful.
const MAX_STEPS: usize = 100;

/// The `k` nodes of the Gauss–Legendre rule on `[0, 1]`, ascending, and their weights;
/// `None` when `k` is 0 or more than [`MAX_NODES`].
pub(super) fn gauss_legendre(k: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    if k == 0 || k > MAX_NODES {
        return None;
    }
    let (mut nodes, mut weights) = (Vec::with_capacity(k), Vec::with_capacity(k));
    for i in 0..k {
        // Roots of P_k on [-1, 1] in descending order: mapped by t = (1 - x) / 2 they
        // ascend on [0, 1].
        let x = root(k, i);
        let (_, slope) = legendre(k, x);
        nodes.push((1.0 - x) / 2.0);
        // The weight on [-1, 1] is 2 / ((1 - x²) P_k'(x)²); on [0, 1], half of it.
        weights.push(1.0 / ((1.0 - x * x) * slope * slope));
    }
    Some((nodes, weights))
}

/// Root `i` (from the largest) of `P_k`, by Newton's method.
fn root(k: usize, i: usize) -> f64 {
    let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (k as f64 + 0.5)).cos();
    for _ in 0..MAX_STEPS {
        let (p, slope) = legendre(k, x);
        let step = p / slope;
        x -= step;
        if step.abs() < 1e-15 {
            // Quadratic convergence: one more step leaves only rounding.
            let (p, slope) = legendre(k, x);
            x -= p / slope;
            break;
        }
    }
    x
}

/// `P_k(x)` and its derivative, by the three-term recurrence (`|x| < 1`, `k >= 1`).
fn legendre(k: usize, x: f64) -> (f64, f64) {
    let (mut below, mut p) = (1.0, x);
    for j in 2..=k {
        let j = j as f64;
        let next = ((2.0 * j - 1.0) * x * p - (j - 1.0) * below) / j;
        below = p;
        p = next;
    }
    (p, k as f64 * (x * p - below) / (x * x - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_integrate_polynomials_of_degree_below_2k_exactly() {
        assert!(gauss_legendre(0).is_none());
        assert!(gauss_legendre(MAX_NODES + 1).is_none());
        for k in 1..=MAX_NODES {
            let (t, w) = gauss_legendre(k).unwrap();
            assert_eq!((t.len(), w.len()), (k, k));
            assert!(t.windows(2).all(|p| p[0] < p[1]), "k = {k}: nodes ascend");
            assert!(t[0] > 0.0 && t[k - 1] < 1.0 && w.iter().all(|&w| w > 0.0));
            for (a, b) in t.iter().zip(t.iter().rev()) {
                assert!((a + b - 1.0).abs() < 1e-15, "k = {k}: symmetric nodes");
            }
            // ∫_0^1 t^p dt = 1 / (p + 1) for p < 2k.
            for p in 0..2 * k {
                let sum: f64 = t.iter().zip(&w).map(|(t, w)| w * t.powi(p as i32)).sum();
                let want = 1.0 / (p + 1) as f64;
                assert!((sum - want).abs() < 1e-14, "k = {k}, degree {p}: {sum} vs {want}");
            }
        }
    }

    #[test]
    fn nodes_are_roots_of_the_legendre_polynomial() {
        for k in [1, 2, 7, 20, 64] {
            let (t, _) = gauss_legendre(k).unwrap();
            for t in t {
                let (p, slope) = legendre(k, 1.0 - 2.0 * t);
                // |P_k(x)| / |P_k'(x)| is the distance to the root (Newton's step).
                assert!((p / slope).abs() < 1e-15, "k = {k}: {t}");
            }
        }
    }
}
