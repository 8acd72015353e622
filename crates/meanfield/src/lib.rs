//! The mean-field theory of wide random networks, for the `train diagnose` command and
//! anyone who wants the numbers without a tensor library: Gauss-Hermite quadrature, the
//! variance map q -> sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2 and its fixed point q*,
//! chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2], the critical sigma_w^2 where chi_1 = 1 (the edge
//! of chaos), and the depth scale -1 / ln(chi_1).
//!
//! The theory (Poole et al. 2016, "Exponential expressivity in deep neural networks through
//! transient chaos"; Schoenholz et al. 2017, "Deep information propagation") describes a
//! fully connected net of width N -> infinity with W_ij ~ N(0, sigma_w^2 / N) and
//! b_i ~ N(0, sigma_b^2). The pre-activations z^l of a layer are then Gaussian with variance
//! q^l, and
//!
//! ```text
//! q^{l+1} = sigma_w^2 E_{z~N(0,1)}[phi(sqrt(q^l) z)^2] + sigma_b^2        (the variance map)
//! ```
//!
//! which, for the bounded activations, converges to a fixed point q* within a few layers
//! whatever the input's q^1. The back-propagated error delta^l = dL/dz^l then obeys, with
//! every width equal,
//!
//! ```text
//! E[||delta^l||^2] = chi_1 E[||delta^{l+1}||^2],   chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]
//! ```
//!
//! so that the gradients vanish toward the input where chi_1 < 1 (the ordered phase), explode
//! where chi_1 > 1 (chaos), and survive about xi = -1 / ln(chi_1) layers either way
//! (Schoenholz et al., eq. 13 and section 4). The same chi_1 is the slope of the correlation
//! map at c = 1, and so also sets how far apart two inputs stay.
//!
//! **The piecewise-linear activations** (ReLU, leaky ReLU, the identity) are positively
//! homogeneous: E[phi(sqrt(q) z)^2] = c q and E[phi'(sqrt(q) z)^2] = c with c = (1 + a^2) / 2
//! for negative slope a (1/2 for ReLU, 1 for the identity). Their variance map is linear,
//! q -> sigma_w^2 c q + sigma_b^2, and chi_1 = sigma_w^2 c does not depend on q at all. Below
//! the edge (sigma_w^2 c < 1) q* = sigma_b^2 / (1 - sigma_w^2 c) is finite (0 without bias:
//! the signal dies away); at and above it q grows without bound from layer to layer (or, at
//! the edge without bias, stays wherever the input put it), so there is no finite q*: see
//! [`FixedPoint`]. chi_1 is still defined, and exact, in every case, and the edge is
//! sigma_w^2 = 1 / c whatever sigma_b^2 (He et al.'s 2 for ReLU).
//!
//! **The Jacobian's spectrum** (`spectrum.rs`): chi_1 is the mean squared singular value of
//! a layer's Jacobian; free probability predicts the spread of the input-output Jacobian's
//! singular values around it (Pennington et al. 2017), and `linalg.rs` computes singular
//! values to measure it.

pub mod linalg;
pub mod quadrature;
pub mod spectrum;

pub use quadrature::Rule;

/// The number of Gauss-Hermite nodes [`Theory::default`] uses: for q up to
/// [`GAUSS_HERMITE_UP_TO_Q`] it integrates tanh's and sigmoid's moments to rounding
/// (`tests/it/meanfield.rs` compares it with the trapezoidal rule at the switch).
pub const DEFAULT_NODES: usize = 256;

/// The largest q at which [`Theory::expect`] uses the Gauss-Hermite rule (see there).
pub const GAUSS_HERMITE_UP_TO_Q: f64 = 1.0;

/// A hidden-layer activation function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Tanh,
    /// The logistic function 1 / (1 + e^-x).
    Sigmoid,
    Relu,
    /// max(x, slope x) for a slope in [0, 1).
    LeakyRelu { slope: f64 },
    /// The identity: a linear network.
    Identity,
}

impl Activation {
    /// phi(x).
    pub fn value(self, x: f64) -> f64 {
        match self {
            Activation::Tanh => x.tanh(),
            // Written for both signs so that neither branch overflows exp.
            Activation::Sigmoid => {
                if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    x.exp() / (1.0 + x.exp())
                }
            }
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu { slope } => {
                if x > 0.0 {
                    x
                } else {
                    slope * x
                }
            }
            Activation::Identity => x,
        }
    }

    /// phi'(x) (at the kink of the piecewise-linear ones, the left slope: a set of measure 0).
    pub fn derivative(self, x: f64) -> f64 {
        match self {
            Activation::Tanh => {
                let t = x.tanh();
                1.0 - t * t
            }
            Activation::Sigmoid => {
                let s = self.value(x);
                s * (1.0 - s)
            }
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu { slope } => {
                if x > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            Activation::Identity => 1.0,
        }
    }

    /// c where phi is positively homogeneous, phi(t x) = t phi(x) for t > 0, so that
    /// E[phi(sqrt(q) z)^2] = c q and E[phi'(sqrt(q) z)^2] = c: (1 + a^2) / 2 for the negative
    /// slope a. `None` for tanh and sigmoid, whose moments take quadrature.
    pub fn homogeneous_gain(self) -> Option<f64> {
        match self {
            Activation::Relu => Some(0.5),
            Activation::LeakyRelu { slope } => Some((1.0 + slope * slope) / 2.0),
            Activation::Identity => Some(1.0),
            Activation::Tanh | Activation::Sigmoid => None,
        }
    }

    /// Checks the parameters; the message names the bad one.
    pub fn validate(self) -> Result<(), Error> {
        match self {
            Activation::LeakyRelu { slope } if !(0.0..1.0).contains(&slope) => Err(Error::Slope(slope)),
            _ => Ok(()),
        }
    }
}

/// Bad input to the theory.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("sigma_w^2 must be finite and > 0, got {0}")]
    WeightVar(f64),
    #[error("sigma_b^2 must be finite and >= 0, got {0}")]
    BiasVar(f64),
    #[error("the leaky ReLU's slope must be in [0, 1), got {0}")]
    Slope(f64),
}

/// Where the variance map leads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FixedPoint {
    /// q^l converges to q* (0 where the signal dies away: no bias and sigma_w^2 at or below
    /// the edge for tanh, below it for the piecewise-linear activations).
    Finite(f64),
    /// Piecewise-linear activation at or above the edge with a bias (or above it without):
    /// q^l grows geometrically (by sigma_w^2 c a layer) or, exactly at the edge with a bias,
    /// linearly, without bound.
    Unbounded,
    /// Piecewise-linear activation exactly at the edge without bias: the map is the identity,
    /// and every q is a fixed point (q^l stays at the input's q^1).
    Neutral,
}

impl FixedPoint {
    /// q* where it is finite.
    pub fn finite(self) -> Option<f64> {
        match self {
            FixedPoint::Finite(q) => Some(q),
            FixedPoint::Unbounded | FixedPoint::Neutral => None,
        }
    }
}

/// The theory's prediction for one (phi, sigma_w^2, sigma_b^2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    pub fixed_point: FixedPoint,
    /// The per-layer factor of E[||delta||^2] going toward the input.
    pub chi1: f64,
    /// -1 / ln(chi_1): the number of layers over which ||delta||^2 changes by a factor e
    /// (positive where gradients vanish toward the input, negative where they explode,
    /// infinite at the edge).
    pub depth_scale: f64,
}

/// -1 / ln(chi_1): positive in the ordered phase (chi_1 < 1, gradients vanish toward the
/// input over about that many layers), negative in the chaotic one (they grow), infinite at
/// the edge of chaos.
pub fn depth_scale(chi1: f64) -> f64 {
    if chi1 == 1.0 { f64::INFINITY } else { -1.0 / chi1.ln() }
}

/// The theory with a quadrature rule.
#[derive(Clone, Debug)]
pub struct Theory {
    rule: Rule,
}

impl Default for Theory {
    fn default() -> Theory {
        Theory::new(DEFAULT_NODES)
    }
}

fn check(sw2: f64, sb2: f64) -> Result<(), Error> {
    if !(sw2.is_finite() && sw2 > 0.0) {
        return Err(Error::WeightVar(sw2));
    }
    if !(sb2.is_finite() && sb2 >= 0.0) {
        return Err(Error::BiasVar(sb2));
    }
    Ok(())
}

impl Theory {
    /// The theory with an `n`-point Gauss-Hermite rule.
    pub fn new(nodes: usize) -> Theory {
        Theory { rule: Rule::new(nodes) }
    }

    /// The quadrature rule.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// E_{z~N(0,1)}[phi(sqrt(q) z)^2]: closed form for the piecewise-linear activations,
    /// quadrature for tanh and sigmoid (see [`Theory::expect`]).
    pub fn second_moment(&self, phi: Activation, q: f64) -> f64 {
        let q = q.max(0.0);
        if let Some(c) = phi.homogeneous_gain() {
            return c * q;
        }
        if q <= GAUSS_HERMITE_UP_TO_Q {
            return self.rule.expect(|z| phi.value(q.sqrt() * z).powi(2));
        }
        // For the rule in x, integrands that decay: tanh^2 = 1 - sech^2 and, by
        // sigma(-x) = 1 - sigma(x), the even part of sigma^2 is 1/2 - sigma'.
        if phi == Activation::Tanh {
            1.0 - self.expect(q, |x| 1.0 - x.tanh().powi(2))
        } else {
            0.5 - self.expect(q, |x| Activation::Sigmoid.derivative(x))
        }
    }

    /// E_{z~N(0,1)}[phi'(sqrt(q) z)^2]: closed form for the piecewise-linear activations.
    pub fn derivative_moment(&self, phi: Activation, q: f64) -> f64 {
        match phi.homogeneous_gain() {
            Some(c) => c,
            None => self.expect(q, |x| phi.derivative(x).powi(2)),
        }
    }

    /// E_{z~N(0,1)}[f(sqrt(q) z)] for an even-or-not f that is analytic near the real axis
    /// and decays at least like e^-|x| (sech^2, sech^4, sigma', sigma'^2).
    ///
    /// Up to q = [`GAUSS_HERMITE_UP_TO_Q`] by the Gauss-Hermite rule, to rounding. Beyond
    /// it f(sqrt(q) z) narrows to a width of 1/sqrt(q) in z and its poles (tanh's at
    /// z = +-i pi / (2 sqrt(q))) approach the real axis: with 256 nodes the rule's relative error
    /// for E[sech^4] is 1e-11 at q = 2, 1e-7 at q = 4 and one half at q = 100. There the
    /// integral is taken in x = sqrt(q) z instead, by the trapezoidal rule with step 0.05 on
    /// [-40, 40], whose error for a function analytic in the strip |Im x| < d is of order
    /// e^(-2 pi d / h) (here d >= pi/2: below 1e-80); f is below e^-40 beyond, and the
    /// Gaussian factor is at least as wide as the step.
    pub fn expect(&self, q: f64, f: impl Fn(f64) -> f64) -> f64 {
        let q = q.max(0.0);
        if q <= GAUSS_HERMITE_UP_TO_Q {
            let s = q.sqrt();
            return self.rule.expect(|z| f(s * z));
        }
        let (h, half) = (0.05, 800i32);
        let norm = h / (2.0 * std::f64::consts::PI * q).sqrt();
        (-half..=half)
            .map(|k| {
                let x = k as f64 * h;
                f(x) * (-x * x / (2.0 * q)).exp()
            })
            .sum::<f64>()
            * norm
    }

    /// One step of the variance map: the next layer's pre-activation variance.
    pub fn variance_map(&self, phi: Activation, sw2: f64, sb2: f64, q: f64) -> f64 {
        sw2 * self.second_moment(phi, q) + sb2
    }

    /// q^1 .. q^depth from the first layer's q^1 (for a net fed data, q^1 = sigma_w^2
    /// mean_i(x_i^2) + sigma_b^2: the input's scale enters here, and the theory's q^l forgets
    /// it only as it converges to q*).
    pub fn variance_trajectory(&self, phi: Activation, sw2: f64, sb2: f64, q1: f64, depth: usize) -> Vec<f64> {
        let mut q = q1;
        (0..depth)
            .map(|i| {
                if i > 0 {
                    q = self.variance_map(phi, sw2, sb2, q);
                }
                q
            })
            .collect()
    }

    /// chi at a given pre-activation variance q: sigma_w^2 E[phi'(sqrt(q) z)^2], the factor
    /// of E[||delta||^2] through a layer whose pre-activations have variance q.
    pub fn chi_at(&self, phi: Activation, sw2: f64, q: f64) -> f64 {
        sw2 * self.derivative_moment(phi, q)
    }

    /// The fixed point of the variance map.
    ///
    /// For tanh and sigmoid the map is bounded (q <= sigma_w^2 + sigma_b^2), so a fixed point
    /// lies in [0, sigma_w^2 + sigma_b^2]: it is found by bisection on V(q) - q, which is
    /// positive below it and negative above (V is increasing and concave for tanh; for the
    /// sigmoid the crossing is single in every case checked in the tests against iterating
    /// the map). tanh without bias has q* = 0 for sigma_w^2 <= 1 (V'(0) = sigma_w^2).
    pub fn fixed_point(&self, phi: Activation, sw2: f64, sb2: f64) -> Result<FixedPoint, Error> {
        check(sw2, sb2)?;
        phi.validate()?;
        if let Some(c) = phi.homogeneous_gain() {
            let slope = sw2 * c;
            return Ok(if slope < 1.0 {
                FixedPoint::Finite(sb2 / (1.0 - slope))
            } else if slope == 1.0 && sb2 == 0.0 {
                FixedPoint::Neutral
            } else {
                FixedPoint::Unbounded
            });
        }
        let g = |q: f64| self.variance_map(phi, sw2, sb2, q) - q;
        let mut lo = 0.0;
        if g(0.0) <= 0.0 {
            // q = 0 is a fixed point (tanh, no bias): the stable one unless the map leaves it.
            let slope = sw2 * phi.derivative(0.0).powi(2);
            if slope <= 1.0 {
                return Ok(FixedPoint::Finite(0.0));
            }
            lo = f64::MIN_POSITIVE;
            while g(lo) <= 0.0 {
                lo *= 2.0;
            }
        }
        let mut hi = sw2 + sb2 + 1.0;
        while hi - lo > 1e-15 * hi {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if g(mid) > 0.0 { lo = mid } else { hi = mid }
        }
        Ok(FixedPoint::Finite(0.5 * (lo + hi)))
    }

    /// chi_1 at the fixed point, and the depth scale. For the piecewise-linear activations
    /// chi_1 = sigma_w^2 c exactly, with or without a finite q*.
    pub fn predict(&self, phi: Activation, sw2: f64, sb2: f64) -> Result<Prediction, Error> {
        let fixed_point = self.fixed_point(phi, sw2, sb2)?;
        let chi1 = match (phi.homogeneous_gain(), fixed_point) {
            (Some(c), _) => sw2 * c,
            (None, FixedPoint::Finite(q)) => self.chi_at(phi, sw2, q),
            (None, _) => unreachable!("bounded activations always have a finite fixed point"),
        };
        Ok(Prediction { fixed_point, chi1, depth_scale: depth_scale(chi1) })
    }

    /// The critical sigma_w^2 where chi_1 = 1 for this sigma_b^2 (the edge of chaos), or
    /// `None` where chi_1 never reaches 1 for sigma_w^2 up to 10^4.
    ///
    /// 1 / c for the piecewise-linear activations (2 for ReLU, whatever sigma_b^2). For tanh
    /// and sigmoid, chi_1 is scanned on a logarithmic grid of sigma_w^2 from 10^-2 to 10^4 for
    /// the first crossing of 1, which is then bisected.
    pub fn critical_weight_var(&self, phi: Activation, sb2: f64) -> Result<Option<f64>, Error> {
        check(1.0, sb2)?;
        phi.validate()?;
        if let Some(c) = phi.homogeneous_gain() {
            return Ok(Some(1.0 / c));
        }
        if phi == Activation::Tanh && sb2 == 0.0 {
            // Without bias tanh's chi_1 touches 1 at sigma_w^2 = 1 instead of crossing it: below,
            // q* = 0 and chi_1 = sigma_w^2; just above, q* ~ (sigma_w^2 - 1) / 2 and
            // chi_1 ~ 1 - (sigma_w^2 - 1)^2. A scan would find the crossing only to the
            // square root of its tolerance (Poole et al. 2016: the transition is at 1).
            return Ok(Some(1.0));
        }
        let chi = |sw2: f64| self.predict(phi, sw2, sb2).map(|p| p.chi1 - 1.0);
        let steps = 60;
        let at = |i: usize| 10f64.powf(-2.0 + 6.0 * i as f64 / steps as f64);
        let mut prev = (at(0), chi(at(0))?);
        for i in 1..=steps {
            let x = at(i);
            let f = chi(x)?;
            if prev.1 < 0.0 && f >= 0.0 {
                let (mut lo, mut hi) = (prev.0, x);
                while hi - lo > 1e-13 * hi {
                    let mid = 0.5 * (lo + hi);
                    if chi(mid)? < 0.0 { lo = mid } else { hi = mid }
                }
                return Ok(Some(0.5 * (lo + hi)));
            }
            prev = (x, f);
        }
        Ok(None)
    }
}
