//! Weight and bias initializers, drawn on the host from the project's own generator.
//!
//! burn's initializers draw lazily from a process-global generator, so the weights of a
//! seed would depend on whatever else the program drew first. Drawing on the host from a
//! per-layer stream makes initialization a pure function of (config, seed, layer), the same
//! on every backend.

use prng::Rng;
use std::fmt;

/// How a weight matrix is initialized. `fan_in` is the layer's input size and `fan_out`
/// its output size.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Every weight equal to `value` (the tutorial's 0.5).
    Constant { value: f64 },
    /// U(low, high).
    Uniform { low: f64, high: f64 },
    /// N(mean, std^2).
    Normal { mean: f64, std: f64 },
    /// Glorot and Bengio (2010): U(+-gain sqrt(6 / (fan_in + fan_out))).
    XavierUniform { gain: f64 },
    /// Glorot and Bengio (2010): N(0, gain^2 2 / (fan_in + fan_out)).
    XavierNormal { gain: f64 },
    /// He et al. (2015): U(+-gain sqrt(3 / fan_in)); gain sqrt(2) suits ReLU.
    KaimingUniform { gain: f64 },
    /// He et al. (2015): N(0, gain^2 / fan_in); gain sqrt(2) suits ReLU.
    KaimingNormal { gain: f64 },
    /// LeCun: N(0, 1 / fan_in).
    LecunNormal,
    /// A random (semi-)orthogonal matrix times `gain` (Saxe et al. 2014).
    Orthogonal { gain: f64 },
    /// U(+-1 / sqrt(fan_in)): Glorot and Bengio's "standard" initialization and PyTorch's
    /// default for `nn.Linear`.
    Legacy,
}

impl Init {
    /// Xavier with gain 1.
    pub fn xavier_uniform() -> Init {
        Init::XavierUniform { gain: 1.0 }
    }

    /// He normal with the ReLU gain sqrt(2).
    pub fn he_normal() -> Init {
        Init::KaimingNormal { gain: std::f64::consts::SQRT_2 }
    }

    /// He uniform with the ReLU gain sqrt(2).
    pub fn he_uniform() -> Init {
        Init::KaimingUniform { gain: std::f64::consts::SQRT_2 }
    }

    /// The scheme's name as written in configs.
    pub fn kind(&self) -> &'static str {
        match self {
            Init::Constant { .. } => "constant",
            Init::Uniform { .. } => "uniform",
            Init::Normal { .. } => "normal",
            Init::XavierUniform { .. } => "xavier-uniform",
            Init::XavierNormal { .. } => "xavier-normal",
            Init::KaimingUniform { .. } => "kaiming-uniform",
            Init::KaimingNormal { .. } => "kaiming-normal",
            Init::LecunNormal => "lecun-normal",
            Init::Orthogonal { .. } => "orthogonal",
            Init::Legacy => "legacy",
        }
    }

    /// The mean and variance every entry is drawn with, for a layer of this shape; `None`
    /// for orthogonal (whose entries are not independent).
    pub fn moments(&self, fan_in: usize, fan_out: usize) -> Option<(f64, f64)> {
        let (fi, fo) = (fan_in as f64, fan_out as f64);
        let uniform = |a: f64| (0.0, a * a / 3.0);
        Some(match *self {
            Init::Constant { value } => (value, 0.0),
            Init::Uniform { low, high } => ((low + high) / 2.0, (high - low).powi(2) / 12.0),
            Init::Normal { mean, std } => (mean, std * std),
            Init::XavierUniform { gain } => uniform(gain * (6.0 / (fi + fo)).sqrt()),
            Init::XavierNormal { gain } => (0.0, gain * gain * 2.0 / (fi + fo)),
            Init::KaimingUniform { gain } => uniform(gain * (3.0 / fi).sqrt()),
            Init::KaimingNormal { gain } => (0.0, gain * gain / fi),
            Init::LecunNormal => (0.0, 1.0 / fi),
            Init::Legacy => uniform(1.0 / fi.sqrt()),
            Init::Orthogonal { .. } => return None,
        })
    }

    /// Checks the parameters; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        let finite = |name: &str, v: f64| {
            if v.is_finite() { Ok(()) } else { Err(format!("init {name} must be finite, got {v}")) }
        };
        match *self {
            Init::Constant { value } => finite("value", value),
            Init::Uniform { low, high } => {
                finite("low", low)?;
                finite("high", high)?;
                if low < high { Ok(()) } else { Err(format!("init uniform needs low < high, got {low} and {high}")) }
            }
            Init::Normal { mean, std } => {
                finite("mean", mean)?;
                finite("std", std)?;
                if std >= 0.0 { Ok(()) } else { Err(format!("init std must be >= 0, got {std}")) }
            }
            Init::XavierUniform { gain }
            | Init::XavierNormal { gain }
            | Init::KaimingUniform { gain }
            | Init::KaimingNormal { gain }
            | Init::Orthogonal { gain } => {
                finite("gain", gain)?;
                if gain > 0.0 { Ok(()) } else { Err(format!("init gain must be > 0, got {gain}")) }
            }
            Init::LecunNormal | Init::Legacy => Ok(()),
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Constant { value } => write!(f, "constant({value})"),
            Init::Uniform { low, high } => write!(f, "uniform({low}, {high})"),
            Init::Normal { mean, std } => write!(f, "normal({mean}, {std})"),
            Init::XavierUniform { gain }
            | Init::XavierNormal { gain }
            | Init::KaimingUniform { gain }
            | Init::KaimingNormal { gain }
            | Init::Orthogonal { gain } => write!(f, "{}(gain {gain:.4})", self.kind()),
            Init::LecunNormal | Init::Legacy => f.write_str(self.kind()),
        }
    }
}

/// How a bias vector is initialized.
#[derive(Clone, Debug, PartialEq)]
pub enum BiasInit {
    Zero,
    Constant { value: f64 },
    /// The weight's scheme, with the layer's fan-in and fan-out (as burn's `LinearConfig`
    /// does by default). Not defined for orthogonal weights.
    SameAsWeight,
    /// Independent draws of a scheme of its own, with the layer's fans where it uses them:
    /// `Normal { mean: 0, std: 1 }` is Nielsen's N(0, 1) biases, `Legacy` PyTorch's default
    /// bias U(+-1/sqrt(fan_in)). Not orthogonal: a vector's entries have no such structure.
    Drawn(Init),
}

impl fmt::Display for BiasInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BiasInit::Zero => f.write_str("zero"),
            BiasInit::Constant { value } => write!(f, "constant({value})"),
            BiasInit::SameAsWeight => f.write_str("same-as-weight"),
            BiasInit::Drawn(init) => init.fmt(f),
        }
    }
}

/// Draws a weight matrix in burn's `[fan_in, fan_out]` layout, row-major.
pub fn draw_weight(init: &Init, fan_in: usize, fan_out: usize, rng: &mut Rng) -> Vec<f32> {
    let n = fan_in * fan_out;
    match *init {
        Init::Orthogonal { gain } => orthogonal(fan_in, fan_out, rng).into_iter().map(|v| (gain * v) as f32).collect(),
        _ => draw_iid(init, fan_in, fan_out, n, rng),
    }
}

/// Draws a bias vector of length `fan_out` for a layer with the given fans.
pub fn draw_bias(bias: &BiasInit, weight: &Init, fan_in: usize, fan_out: usize, rng: &mut Rng) -> Vec<f32> {
    draw_bias_of(bias, weight, fan_in, fan_out, fan_out, rng)
}

/// Draws a bias vector of length `n` for a layer with the given fans (a convolution's fans
/// count its kernel's area, its bias one value per output channel).
pub(crate) fn draw_bias_of(bias: &BiasInit, weight: &Init, fan_in: usize, fan_out: usize, n: usize, rng: &mut Rng) -> Vec<f32> {
    match *bias {
        BiasInit::Zero => vec![0.0; n],
        BiasInit::Constant { value } => vec![value as f32; n],
        BiasInit::SameAsWeight => draw_iid(weight, fan_in, fan_out, n, rng),
        BiasInit::Drawn(ref init) => draw_iid(init, fan_in, fan_out, n, rng),
    }
}

/// `n` independent draws of the scheme's distribution.
pub(crate) fn draw_iid(init: &Init, fan_in: usize, fan_out: usize, n: usize, rng: &mut Rng) -> Vec<f32> {
    let (fi, fo) = (fan_in as f64, fan_out as f64);
    let uniform = |rng: &mut Rng, a: f64| rng.uniform_in(-a, a);
    (0..n)
        .map(|_| {
            let v = match *init {
                Init::Constant { value } => value,
                Init::Uniform { low, high } => rng.uniform_in(low, high),
                Init::Normal { mean, std } => mean + std * rng.normal(),
                Init::XavierUniform { gain } => uniform(rng, gain * (6.0 / (fi + fo)).sqrt()),
                Init::XavierNormal { gain } => gain * (2.0 / (fi + fo)).sqrt() * rng.normal(),
                Init::KaimingUniform { gain } => uniform(rng, gain * (3.0 / fi).sqrt()),
                Init::KaimingNormal { gain } => gain / fi.sqrt() * rng.normal(),
                Init::LecunNormal => rng.normal() / fi.sqrt(),
                Init::Legacy => uniform(rng, 1.0 / fi.sqrt()),
                // Unreachable for weights (handled by the caller); biases reject it in validation.
                Init::Orthogonal { .. } => 0.0,
            };
            v as f32
        })
        .collect()
}

/// A `rows x cols` matrix (row-major) whose columns are orthonormal when rows >= cols and
/// whose rows are orthonormal otherwise: modified Gram-Schmidt on a Gaussian matrix in f64,
/// which is the Q of its QR factorization with a positive diagonal in R, the distribution
/// PyTorch's `orthogonal_` draws from.
fn orthogonal(rows: usize, cols: usize, rng: &mut Rng) -> Vec<f64> {
    let (tall, short) = (rows.max(cols), rows.min(cols));
    // `short` vectors of length `tall`, made orthonormal one after the other.
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(short);
    while q.len() < short {
        let mut v: Vec<f64> = (0..tall).map(|_| rng.normal()).collect();
        for u in &q {
            let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        // A Gaussian vector lies in the span of the previous ones with probability 0;
        // redraw in the astronomically unlikely case that it nearly does.
        if norm > 1e-10 {
            v.iter_mut().for_each(|a| *a /= norm);
            q.push(v);
        }
    }
    let mut out = vec![0.0; rows * cols];
    for (j, u) in q.iter().enumerate() {
        for (i, &val) in u.iter().enumerate() {
            // Tall: vector j is column j; wide: vector j is row j.
            let (r, c) = if rows >= cols { (i, j) } else { (j, i) };
            out[r * cols + c] = val;
        }
    }
    out
}
