//! Gauss-Hermite quadrature in the probabilists' form: E_{z~N(0,1)}[g(z)] ~ sum_i w_i g(z_i).
//!
//! The nodes and weights are computed here, in f64: the nodes as the eigenvalues of the
//! Jacobi matrix (Golub and Welsch 1969) by the implicit QL method, polished by Newton's
//! method on the orthonormal Hermite polynomials, which also gives the weights. The
//! maintained crate for Gauss rules (`gauss-quad`) does the eigen-decomposition through
//! `nalgebra`, which brings `num-traits`, `num-complex` and others with features of their
//! own; `num-traits` is below burn, and a new feature set there rebuilds burn (ARCHITECTURE.md,
//! "Feature unification"). This needs 100 lines and no dependency, and `tests/it/meanfield.rs`
//! checks the rule against the Gaussian's moments.

/// The largest number of nodes a rule may have: past it the weights of the outermost nodes
/// (about exp(-2n)) fall below f64's normal range.
pub const MAX_NODES: usize = 300;

/// An n-point Gauss-Hermite rule for the standard normal: exact for polynomials of degree up
/// to 2n - 1.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The nodes z_i, ascending.
    pub nodes: Vec<f64>,
    /// The weights w_i, summing to 1.
    pub weights: Vec<f64>,
}

impl Rule {
    /// The n-point rule; `n` between 1 and [`MAX_NODES`].
    pub fn new(n: usize) -> Rule {
        assert!((1..=MAX_NODES).contains(&n), "a Gauss-Hermite rule has 1 to {MAX_NODES} nodes, not {n}");
        // The nodes are the eigenvalues of the Jacobi matrix of the probabilists' Hermite
        // polynomials (zero diagonal, sqrt(k) beside it: Golub and Welsch 1969), found by
        // implicit QL; each is then polished by Newton's method on the orthonormal
        // polynomials, whose derivative also gives its weight to full relative precision
        // (the eigenvectors would give the outer weights only to absolute precision).
        let mut nodes = jacobi_eigenvalues(n);
        nodes.sort_by(f64::total_cmp);
        let mut weights = Vec::with_capacity(n);
        for z in nodes.iter_mut() {
            let mut dp = 1.0;
            for _ in 0..8 {
                let (p, d) = orthonormal_hermite(n, *z);
                dp = d;
                let step = p / d;
                *z -= step;
                if step.abs() <= 1e-16 * z.abs().max(1.0) {
                    break;
                }
            }
            let (_, d) = orthonormal_hermite(n, *z);
            if d.is_finite() && d != 0.0 {
                dp = d;
            }
            // Christoffel-Darboux for orthonormal polynomials: w_i = 1 / (n p_{n-1}(z_i)^2),
            // and p_n' = sqrt(n) p_{n-1}, so w_i = 1 / p_n'(z_i)^2.
            weights.push(1.0 / (dp * dp));
        }
        // The rule is symmetric: make it exactly so, which also makes odd moments vanish.
        for i in 0..n / 2 {
            let j = n - 1 - i;
            let z = 0.5 * (nodes[j] - nodes[i]);
            let w = 0.5 * (weights[i] + weights[j]);
            (nodes[i], nodes[j], weights[i], weights[j]) = (-z, z, w, w);
        }
        if n % 2 == 1 {
            nodes[n / 2] = 0.0;
        }
        Rule { nodes, weights }
    }

    /// E_{z~N(0,1)}[g(z)] by this rule.
    pub fn expect(&self, g: impl Fn(f64) -> f64) -> f64 {
        self.nodes.iter().zip(&self.weights).map(|(&z, &w)| w * g(z)).sum()
    }
}

/// p_n(z) and p_n'(z) for the orthonormal probabilists' Hermite polynomials
/// p_k = He_k / sqrt(k!), by the recurrence p_{k+1} = (z p_k - sqrt(k) p_{k-1}) / sqrt(k+1),
/// which stays finite where He_n itself overflows; p_n' = sqrt(n) p_{n-1}.
fn orthonormal_hermite(n: usize, z: f64) -> (f64, f64) {
    let (mut prev, mut p) = (0.0f64, 1.0f64);
    for k in 0..n {
        let kf = k as f64;
        let next = (z * p - kf.sqrt() * prev) / (kf + 1.0).sqrt();
        prev = p;
        p = next;
    }
    (p, (n as f64).sqrt() * prev)
}

/// The eigenvalues of the n x n symmetric tridiagonal matrix with zero diagonal and
/// sqrt(1), ..., sqrt(n - 1) beside it (`linalg::tridiagonal_eigenvalues`, the implicit QL
/// method, with the relative deflation test alone).
fn jacobi_eigenvalues(n: usize) -> Vec<f64> {
    // e[i] couples rows i and i + 1; e[n - 1] is 0.
    let e: Vec<f64> = (1..=n).map(|k| if k < n { (k as f64).sqrt() } else { 0.0 }).collect();
    crate::linalg::tridiagonal_eigenvalues(vec![0.0; n], e, 0.0)
        .unwrap_or_else(|| panic!("the QL iteration for a {n}-point Gauss-Hermite rule did not converge"))
}
