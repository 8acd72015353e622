//! The singular values of a net's Jacobians at initialization: how a set of them is
//! summarized, and what free probability predicts for their spread (Pennington, Schoenholz
//! and Ganguli 2017, "Resurrecting the sigmoid in deep learning through dynamical isometry").
//!
//! Hidden layer l of width N maps h^{l-1} to h^l = phi(h^{l-1} W + b); its Jacobian is
//! J_l = D_l W^T with D_l = diag(phi'(z^l)), and the input-output Jacobian of layers 2 to l
//! is the product J_l ... J_2. chi_1 is the mean of the squared singular values of one
//! layer's J (tr(J J^T) / N = sigma_w^2 E[phi'^2]), and chi_1^L the mean for L layers; that
//! mean says nothing of the spread around it, which decides whether a deep net trains.
//!
//! In the limit of wide layers D_l and W are freely independent, and the S-transform of
//! J J^T is the product of its factors'. For a factor with eigenvalue moments m_1, m_2 the
//! S-transform begins (1 / m_1) (1 - (m_2 / m_1^2 - 1) z + ...), so the normalized variance
//! var(lambda) / mean(lambda)^2 of the eigenvalues lambda = sigma^2 of J J^T is, to this
//! order, the sum of the factors' (their products' means multiply):
//!
//! ```text
//! var(sigma^2) / mean(sigma^2)^2 = sum over the layers of (mu_2 / mu_1^2 - 1 + s_W)
//! mu_k = E_{z~N(0,1)}[phi'(sqrt(q^l) z)^(2k)],  s_W = 1 for i.i.d. weights, 0 for orthogonal
//! ```
//!
//! (Pennington et al. 2017's result, with their s_1 = -s_W: the Marchenko-Pastur law of
//! W^T W for a square W of i.i.d. entries has normalized variance 1, an orthogonal W none). It grows
//! linearly with depth unless both terms vanish: orthogonal weights and mu_2 = mu_1^2, which
//! tanh approaches at the edge of chaos as q* -> 0 (sigma_b^2 -> 0), and ReLU never reaches
//! (phi' is 0 or 1: mu_2 / mu_1^2 - 1 = 1 whatever sigma_w^2).

use crate::{Activation, Theory};

/// How the weights of a square layer are drawn, for the free-probability prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLaw {
    /// Independent entries of mean 0 (Gaussian, uniform): W^T W follows Marchenko-Pastur.
    Iid,
    /// A scaled orthogonal matrix: every singular value of W is the same.
    Orthogonal,
}

impl WeightLaw {
    /// The normalized variance of the eigenvalues of W^T W for a square W: -s_1 in
    /// Pennington et al.'s notation.
    pub fn spread(self) -> f64 {
        match self {
            WeightLaw::Iid => 1.0,
            WeightLaw::Orthogonal => 0.0,
        }
    }
}

impl Theory {
    /// E_{z~N(0,1)}[phi'(sqrt(q) z)^4]: mu_2 of the module's documentation (closed form for
    /// the piecewise-linear activations, whose phi'^4 takes the values 1 and a^4).
    pub fn derivative_fourth_moment(&self, phi: Activation, q: f64) -> f64 {
        match phi {
            Activation::Relu => 0.5,
            Activation::LeakyRelu { slope } => (1.0 + slope.powi(4)) / 2.0,
            Activation::Identity => 1.0,
            Activation::Tanh | Activation::Sigmoid => self.expect(q, |x| phi.derivative(x).powi(4)),
        }
    }

    /// One square layer's contribution to var(sigma^2) / mean(sigma^2)^2 of a Jacobian, at
    /// pre-activation variance q: mu_2 / mu_1^2 - 1 + s_W (see the module's documentation).
    pub fn jacobian_spread(&self, phi: Activation, q: f64, weights: WeightLaw) -> f64 {
        let mu1 = self.derivative_moment(phi, q);
        let mu2 = self.derivative_fourth_moment(phi, q);
        mu2 / (mu1 * mu1) - 1.0 + weights.spread()
    }
}

/// A set of singular values, summarized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// How many values.
    pub count: usize,
    /// The mean of sigma^2: chi_1 for one layer, in theory.
    pub mean_sq: f64,
    /// The mean of sigma (Glorot and Bengio's "average singular value").
    pub mean: f64,
    pub max: f64,
    /// The 10%, 50% and 90% quantiles of sigma (linear between order statistics); `None`
    /// where the quantile lies below [`RESOLVED`] times the largest value, within the
    /// rounding of the matrix the values came from.
    pub p10: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    /// var(sigma^2) / mean(sigma^2)^2, the quantity free probability predicts.
    pub spread: f64,
}

/// A singular value below this fraction of the largest one of its set is not resolved: the
/// product of 50 layers formed in f64 carries rounding errors of about 1e-13 of its norm
/// (eps times the depth, the width's square root and a layer's norm), and the values
/// computed from it are accurate to that, not relative to themselves.
pub const RESOLVED: f64 = 1e-10;

impl Summary {
    /// The summary of `values` (singular values, any order); `None` for an empty set.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        let mean_sq = v.iter().map(|s| s * s).sum::<f64>() / n;
        let mean = v.iter().sum::<f64>() / n;
        let max = v[v.len() - 1];
        let var = v.iter().map(|s| (s * s - mean_sq).powi(2)).sum::<f64>() / n;
        let spread = if mean_sq > 0.0 { var / (mean_sq * mean_sq) } else { 0.0 };
        let quantile = |p: f64| {
            let at = p * (v.len() - 1) as f64;
            let (i, frac) = (at.floor() as usize, at - at.floor());
            let x = if i + 1 < v.len() { v[i] + frac * (v[i + 1] - v[i]) } else { v[i] };
            (x >= RESOLVED * max && x > 0.0).then_some(x)
        };
        Some(Summary { count: v.len(), mean_sq, mean, max, p10: quantile(0.1), p50: quantile(0.5), p90: quantile(0.9), spread })
    }
}
