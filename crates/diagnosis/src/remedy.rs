//! What to try for each finding: the change, the config key (for `train`'s experiments) or
//! library call (for a model of one's own, through gradflow) that applies it, and the
//! shipped config that demonstrates it.

use runfolder::Remedy;

use crate::model::Model;

/// The config key of one of the model's settings: `models.<name>.<key>`.
fn key(m: &Model<'_>, rest: &str) -> String {
    format!("models.{}.{rest}", m.name)
}

fn remedy(action: &str, apply: Vec<String>, demonstrated_by: &[&str]) -> Remedy {
    Remedy { action: action.to_string(), apply, demonstrated_by: demonstrated_by.iter().map(|s| s.to_string()).collect() }
}

fn bounded(m: &Model<'_>) -> bool {
    matches!(m.activation(), Some("sigmoid" | "tanh"))
}

pub fn vanishing(m: &Model<'_>) -> Remedy {
    if m.is_recurrent() {
        return remedy(
            "Fewer stacked layers, or a gated cell whose layers pass the error on better",
            vec![key(m, "depth = 1"), key(m, "kind = \"lstm\"")],
            &["configs/sequential-mnist.toml"],
        );
    }
    if bounded(m) {
        remedy(
            "ReLU with He initialization, BatchNorm before each activation, or residual connections",
            vec![
                format!("{} with {}", key(m, "activation = \"relu\""), key(m, "init = \"kaiming-normal\"")),
                key(m, "norm = \"batch\""),
                key(m, "residual = true"),
            ],
            &["configs/remedies.toml", "configs/default.toml"],
        )
    } else {
        remedy(
            "He initialization (the scale at the edge of chaos for ReLU), BatchNorm, or residual connections",
            vec![key(m, "init = \"kaiming-normal\""), key(m, "norm = \"batch\""), key(m, "residual = true")],
            &["configs/init-comparison.toml", "configs/remedies.toml"],
        )
    }
}

pub fn exploding(m: &Model<'_>) -> Remedy {
    remedy(
        "Clip the global gradient norm, or draw the weights at a smaller scale",
        vec![
            key(m, "clip_grad_norm = 1.0"),
            "gradflow::clip_global_norm(&model, &mut grads, total, 1.0) in a loop of your own".to_string(),
            key(m, "init = \"kaiming-normal\""),
        ],
        &["configs/exploding.toml"],
    )
}

pub fn diverged(m: &Model<'_>) -> Remedy {
    remedy(
        "Clip the global gradient norm, or lower the learning rate",
        vec![
            key(m, "clip_grad_norm = 1.0"),
            "optimizer.lr (a tenth of it)".to_string(),
            "gradflow::clip_global_norm(&model, &mut grads, total, 1.0) in a loop of your own".to_string(),
        ],
        &["configs/exploding.toml"],
    )
}

pub fn saturation(m: &Model<'_>) -> Remedy {
    remedy(
        "Draw the weights at a smaller scale (Glorot's normalized initialization), normalize before the activation, or use ReLU",
        vec![key(m, "init = \"xavier-normal\""), key(m, "norm = \"batch\""), key(m, "activation = \"relu\"")],
        &["configs/papers/glorot-bengio-saturation.toml", "configs/remedies.toml"],
    )
}

pub fn dead_units(m: &Model<'_>) -> Remedy {
    remedy(
        "Start the biases at zero, use He initialization and a smaller learning rate, or a leaky ReLU whose units cannot die",
        vec![
            key(m, "bias_init = \"zero\""),
            key(m, "init = \"kaiming-normal\""),
            "optimizer.lr (a tenth of it)".to_string(),
            key(m, "activation = \"leaky-relu\""),
        ],
        &[],
    )
}

pub fn update_small(_m: &Model<'_>) -> Remedy {
    remedy(
        "Raise the learning rate, or use Adam, whose steps do not scale with the gradient",
        vec!["optimizer.lr (ten times it)".to_string(), "optimizer.kind = \"adam\"".to_string()],
        &["configs/spiral.toml"],
    )
}

pub fn update_large(m: &Model<'_>) -> Remedy {
    remedy(
        "Lower the learning rate, or clip the gradient norm",
        vec!["optimizer.lr (a tenth of it)".to_string(), key(m, "clip_grad_norm = 1.0")],
        &["configs/exploding.toml"],
    )
}

pub fn underflow(m: &Model<'_>) -> Remedy {
    remedy(
        "Remove the vanishing that drives the gradient down (see its finding); to see the subnormal values themselves, keep IEEE arithmetic; the tutorial computes such gradients in log space, where no float underflows",
        vec![
            "train.flush_denormals = false".to_string(),
            "cargo run -p train -- tutorial --depth 1000".to_string(),
            key(m, "norm = \"batch\""),
        ],
        &["configs/very-deep.toml"],
    )
}

pub fn through_time(m: &Model<'_>) -> Remedy {
    let (action, apply) = match m.info.kind.as_deref() {
        Some("lstm") => ("Open the forget gate with a bias, so that the cell keeps its past from the start", vec![key(m, "forget_bias = 1.0")]),
        Some("gru") => (
            "An LSTM with its forget gate opened by a bias, or fewer time steps",
            vec![format!("{} with {}", key(m, "kind = \"lstm\""), key(m, "forget_bias = 1.0")), "data.sequence_length".to_string()],
        ),
        _ => (
            "A gated cell (LSTM or GRU), whose forget or update gate carries the error across time steps, with its forget gate opened by a bias",
            vec![key(m, "kind = \"lstm\""), key(m, "kind = \"gru\""), key(m, "forget_bias = 1.0 (with kind = \"lstm\")")],
        ),
    };
    remedy(action, apply, &["configs/through-time.toml", "configs/sequential-mnist.toml"])
}

/// The mean-field theory beside a measured initialization.
pub struct MeanField {
    pub activation: &'static str,
    /// σ_w², measured from the hidden layers' weight norms at initialization.
    pub weight_var: f64,
    pub chi1: f64,
    /// The edge of chaos: the σ_w² where χ₁ = 1.
    pub critical: Option<f64>,
}

/// χ₁ for the model's activation at the σ_w² its hidden weights were drawn with, read from
/// `weight_norm` at the probe at epoch 0 (‖W‖² = n_in n_out Var(W) and σ_w² = n_in Var(W),
/// so σ_w² = ‖W‖² / n_out), with the bias variance from `bias_init` where the manifest says
/// it (`zero`; any other is taken as 0 too, which changes χ₁ of tanh and sigmoid a little and
/// of ReLU not at all).
pub fn mean_field(m: &Model<'_>) -> Option<MeanField> {
    use meanfield::Activation as A;
    let (phi, activation) = match m.activation()? {
        "relu" => (A::Relu, "ReLU"),
        "tanh" => (A::Tanh, "tanh"),
        "sigmoid" => (A::Sigmoid, "sigmoid"),
        "leaky-relu" => (A::LeakyRelu { slope: 0.01 }, "leaky ReLU"),
        _ => return None,
    };
    let norms = crate::series::moments(m.run, m.name, runfolder::run::Source::Probe, runfolder::metric::WEIGHT_NORM);
    let at_init = norms.into_iter().find(|x| x.epoch == 0)?;
    let mut estimates: Vec<f64> = at_init
        .values
        .iter()
        .filter(|(l, _)| **l > 1 && **l < m.count)
        .filter_map(|(&l, &norm)| {
            let out = width_out(m, l)?;
            Some(norm * norm / out as f64)
        })
        .collect();
    let weight_var = crate::series::median(&mut estimates)?;
    let theory = meanfield::Theory::default();
    let chi1 = theory.predict(phi, weight_var, 0.0).ok()?.chi1;
    let critical = theory.critical_weight_var(phi, 0.0).ok().flatten();
    Some(MeanField { activation, weight_var, chi1, critical })
}

/// A layer's output width: the MLP's widths, or its weight's last dimension (burn stores a
/// linear layer's weight as [d_in, d_out]).
fn width_out(m: &Model<'_>, layer: u32) -> Option<usize> {
    let i = usize::try_from(layer).ok()?;
    if let Some(w) = m.info.widths.get(i) {
        return Some(*w);
    }
    let entry = m.info.layers.get(i - 1)?;
    entry.params.iter().find(|p| p.path.ends_with("weight") && p.shape.len() == 2).map(|p| p.shape[1])
}

pub fn poor_init(m: &Model<'_>, theory: Option<&MeanField>) -> Remedy {
    let edge = theory
        .and_then(|t| t.critical.map(|c| format!("Draw the weights at the edge of chaos, σ_w² = {} for {}", crate::text::number(c), t.activation)))
        .unwrap_or_else(|| "Draw the weights at the edge of chaos".to_string());
    let init = match m.activation() {
        Some("relu" | "leaky-relu") => "init = \"kaiming-normal\"",
        _ => "init = \"xavier-normal\"",
    };
    remedy(
        &format!("{edge}; `cargo run -p train -- diagnose` measures the factor against the theory for any σ_w²"),
        vec![key(m, init)],
        &["configs/init-comparison.toml", "configs/papers/he-2015.toml"],
    )
}
