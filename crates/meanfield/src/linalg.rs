//! Dense linear algebra in f64 that the theory and the Jacobian spectra need: the eigenvalues
//! of a symmetric tridiagonal matrix (implicit QL), and the singular values of a real matrix
//! (Householder bidiagonalization, then those eigenvalues of the Golub-Kahan matrix).
//!
//! Written here, not taken from a crate, for the reason `quadrature.rs` gives: `nalgebra`
//! (0.34, even with `default-features = false`) switches on features of `matrixmultiply`,
//! `num-complex` and `num-integer`, which burn-ndarray shares, so that every build of
//! `train` would build burn again (ARCHITECTURE.md, "Feature unification"); `faer` brings a
//! `gemm` of another version than burn-flex's. Singular values alone, without vectors, take
//! about 150 lines, and `tests/it/spectrum.rs` checks them against matrices of known
//! spectrum and a one-sided Jacobi SVD written independently in the test.

/// The eigenvalues (unsorted) of the symmetric tridiagonal matrix with diagonal `d` and
/// off-diagonal `e` (`e[i]` couples rows i and i + 1; `e[n - 1]` is ignored), by the implicit
/// QL method with Wilkinson's shift (Numerical Recipes' `tqli`, eigenvalues only). `None` if
/// an eigenvalue takes more than 60 iterations.
///
/// An off-diagonal entry is deflated (set to 0) when it is below `f64::EPSILON` times its two
/// diagonal neighbours, the relative test that keeps small eigenvalues accurate, or below
/// `floor`: with `floor` = eps ||T|| the error this adds is of the order of the rounding that
/// produced T, and eigenvalues at 0 (a rank-deficient matrix), whose neighbours shrink with
/// them, still converge.
pub fn tridiagonal_eigenvalues(mut d: Vec<f64>, mut e: Vec<f64>, floor: f64) -> Option<Vec<f64>> {
    let n = d.len();
    assert_eq!(e.len(), n, "a tridiagonal matrix's off-diagonal has one entry per row (the last ignored)");
    if let Some(last) = e.last_mut() {
        *last = 0.0;
    }
    for l in 0..n {
        let mut iterations = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd || e[m].abs() <= floor {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            iterations += 1;
            if iterations > 60 {
                return None;
            }
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0f64, 1.0f64, 0.0f64);
            let mut deflated = false;
            for i in (l..m).rev() {
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    // Underflow: the matrix splits here; start again from l.
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    deflated = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
            }
            if deflated {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    Some(d)
}

/// The singular values of the `rows x cols` matrix `a` (row-major), descending:
/// min(rows, cols) of them.
///
/// The matrix is reduced to an upper bidiagonal B (diagonal d, superdiagonal e) by Householder
/// reflections from the left and the right (Golub and Kahan 1965), which keep the singular
/// values; those of B are the non-negative eigenvalues of the 2n x 2n Golub-Kahan matrix,
/// the symmetric tridiagonal matrix with zero diagonal and d_1, e_1, d_2, e_2, ..., d_n beside
/// it, whose eigenvalues are +-sigma_i. No matrix of products of A with itself is formed, so
/// the values are accurate to about eps sigma_max each (the Gram matrix's eigenvalues would
/// lose every sigma below sqrt(eps) sigma_max), which is as far as the rounding of A's own
/// entries allows for a product of many factors.
///
/// # Panics
/// If `a.len() != rows * cols`, or if an entry is not finite.
pub fn singular_values(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    assert_eq!(a.len(), rows * cols, "a {rows} x {cols} matrix has {} entries, not {}", rows * cols, a.len());
    assert!(a.iter().all(|v| v.is_finite()), "singular values of a matrix with a non-finite entry");
    // Scaled to a largest entry of 1, so that no sum of squares below over- or underflows
    // (the Jacobian of 50 layers in the ordered phase has entries of 1e-100 and less).
    let scale = a.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
    if scale == 0.0 {
        return vec![0.0; rows.min(cols)];
    }
    // Work on the tall orientation (m >= n): A and its transpose have the same singular values.
    let (m, n, mut w) = if rows >= cols {
        (rows, cols, a.iter().map(|v| v / scale).collect::<Vec<f64>>())
    } else {
        let mut t = vec![0.0; a.len()];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = a[i * cols + j] / scale;
            }
        }
        (cols, rows, t)
    };
    let (mut d, mut e) = (vec![0.0f64; n], vec![0.0f64; n]);
    let mut v = vec![0.0f64; m.max(n)];
    let mut s = vec![0.0f64; n];
    for k in 0..n {
        // From the left: zero column k below the diagonal. v = x - alpha e_1 with
        // alpha = -sign(x_1) ||x||, and H = I - 2 v v^T / (v^T v) maps x to alpha e_1.
        let len = m - k;
        for (i, vi) in v[..len].iter_mut().enumerate() {
            *vi = w[(k + i) * n + k];
        }
        d[k] = reflect(&mut v[..len]);
        if let Some(beta) = beta(&v[..len]) {
            // The columns right of k: s_j = v^T w_j, then w_j -= beta s_j v, row by row so that
            // the inner loops run along the rows' contiguous entries.
            let cols_right = k + 1..n;
            s[cols_right.clone()].iter_mut().for_each(|x| *x = 0.0);
            for (i, &vi) in v[..len].iter().enumerate() {
                let row = &w[(k + i) * n..(k + i + 1) * n];
                for j in cols_right.clone() {
                    s[j] += vi * row[j];
                }
            }
            for (i, &vi) in v[..len].iter().enumerate() {
                let row = &mut w[(k + i) * n..(k + i + 1) * n];
                for j in cols_right.clone() {
                    row[j] -= beta * s[j] * vi;
                }
            }
        }
        if k + 1 < n {
            // From the right: zero row k right of the superdiagonal.
            let len = n - k - 1;
            v[..len].copy_from_slice(&w[k * n + k + 1..(k + 1) * n]);
            e[k] = reflect(&mut v[..len]);
            if let Some(beta) = beta(&v[..len]) {
                for i in k + 1..m {
                    let row = &mut w[i * n + k + 1..(i + 1) * n];
                    let t: f64 = row.iter().zip(&v[..len]).map(|(a, b)| a * b).sum();
                    row.iter_mut().zip(&v[..len]).for_each(|(a, b)| *a -= beta * t * b);
                }
            }
        }
    }
    let mut off = Vec::with_capacity(2 * n);
    for k in 0..n {
        off.push(d[k]);
        off.push(e[k]);
    }
    let norm = off.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    let mut values = tridiagonal_eigenvalues(vec![0.0; 2 * n], off, f64::EPSILON * norm)
        .unwrap_or_else(|| panic!("the QL iteration for the singular values of a {rows} x {cols} matrix did not converge"));
    values.sort_by(|a, b| b.total_cmp(a));
    // The n largest of the +-sigma pairs; a sigma of 0 appears as a pair of zeros, which
    // rounding may leave at -1e-300: its magnitude is the value.
    values.truncate(n);
    values.iter_mut().for_each(|x| *x = x.abs() * scale);
    values.sort_by(|a, b| b.total_cmp(a));
    values
}

/// Turns x into the Householder vector v = x - alpha e_1 in place and returns alpha, the
/// value H x = alpha e_1 takes (0 for a zero x, whose v stays 0).
fn reflect(x: &mut [f64]) -> f64 {
    // Scaled so that the sum of squares neither overflows nor underflows.
    let scale = x.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    if scale == 0.0 {
        return 0.0;
    }
    let norm = scale * x.iter().map(|v| (v / scale).powi(2)).sum::<f64>().sqrt();
    let alpha = if x[0] > 0.0 { -norm } else { norm };
    if norm < NEGLIGIBLE {
        // v^T v would underflow (2 / v^T v overflow, and 0 * inf poison the matrix with NaN).
        // In a matrix scaled to a largest entry of 1 such a remainder is rounding, 1e-134 eps
        // and less: it is taken as alpha e_1 already, with no reflection.
        x.iter_mut().for_each(|v| *v = 0.0);
        return alpha;
    }
    x[0] -= alpha;
    alpha
}

/// Below this norm a vector is not reflected (see `reflect`): its square would fall below
/// f64's normal range.
const NEGLIGIBLE: f64 = 1e-150;

/// 2 / (v^T v), or `None` for v = 0 (H = I).
fn beta(v: &[f64]) -> Option<f64> {
    let vv: f64 = v.iter().map(|a| a * a).sum();
    (vv > 0.0).then(|| 2.0 / vv)
}
