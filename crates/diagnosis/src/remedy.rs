//! What to try for each finding: the change, the config key (for `train`'s experiments) or
//! library call (for a model of one's own, through gradflow) that applies it, and the
//! shipped config that demonstrates it.
//!
//! A remedy names only changes the model does not already have: each change is checked
//! against the manifest's entry for the model (`kind`, `activation`, `init`, `norm`,
//! `residual`, `clip_grad_norm`, `bias_init`, an LSTM's `forget_bias`, as `train` writes
//! them) and the run's `optimizer`, and what is already on is said as such. When every change a remedy knows is on, it says so and names the next
//! thing to try. A setting the manifest does not state (a model of one's own, an older run)
//! is taken as off, so such a model gets every change, as before.

use runfolder::Remedy;

use crate::model::Model;
use crate::text::{and_list, or_list};

/// What built the model, as far as its config keys and shipped configs go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// `train`'s MLP (`kind = "mlp"`).
    Mlp,
    /// `train`'s CNN (`kind = "cnn"`): the same keys for activation, init, norm (`batch`
    /// only) and residual, `depth` as blocks per stage, and the CNN configs.
    Cnn,
    /// A recurrent model, `train`'s (`rnn`, `lstm`, `gru`: no activation, norm or residual
    /// keys) or one whose files have time steps.
    Recurrent,
    /// A model the manifest does not say `train` built: a program of its own (the remedies
    /// name train's keys and the MLP configs, and the library calls).
    Own,
}

fn family(m: &Model<'_>) -> Family {
    match m.info.kind.as_deref() {
        _ if m.is_recurrent() => Family::Recurrent,
        Some("mlp") => Family::Mlp,
        Some("cnn") => Family::Cnn,
        _ => Family::Own,
    }
}

/// The config key of one of the model's settings: `models.<name>.<key>`.
fn key(m: &Model<'_>, rest: &str) -> String {
    format!("models.{}.{rest}", m.name)
}

/// One change a remedy can suggest: what it is in words, the keys or calls that make it,
/// and, when the model already has it, how to say so.
struct Change {
    words: String,
    apply: Vec<String>,
    /// `Some(what the model has)` when the manifest shows the change is already on.
    on: Option<String>,
}

/// A change the manifest cannot show on (the optimizer, a command to run).
fn change(words: &str, apply: &[String]) -> Change {
    setting(words, apply, None)
}

/// A change of the model's settings, on when `has` is (naming what the model has).
fn setting(words: &str, apply: &[String], has: Option<String>) -> Change {
    Change { words: words.to_string(), apply: apply.to_vec(), on: has }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The remedy of `changes` that are not on yet, in words after `lead` (a sentence of its own,
/// when the remedy has one) and before `tail`. What is on is said ("besides its residual
/// connections, …"); when all of them are, the remedy says so ("its … are already in place")
/// and offers `next` instead (those of them not on either), so that it never names a change
/// the model has nor comes out empty.
fn remedy(lead: Option<&str>, changes: Vec<Change>, next: Vec<Change>, tail: Option<&str>, demonstrated_by: &[&str]) -> Remedy {
    let has: Vec<String> = changes.iter().filter_map(|c| c.on.clone()).collect();
    let mut offered: Vec<Change> = changes.into_iter().filter(|c| c.on.is_none()).collect();
    let all_on = offered.is_empty();
    if all_on {
        offered = next.into_iter().filter(|c| c.on.is_none()).collect();
    }
    let words: Vec<String> = offered.iter().map(|c| c.words.clone()).collect();
    let body = match (has.is_empty(), all_on) {
        (true, _) => or_list(&words),
        (false, false) => format!("besides its {}, {}", and_list(&has), or_list(&words)),
        (false, true) => {
            format!("its {} {} already in place: next, {}", and_list(&has), if has.len() == 1 { "is" } else { "are" }, or_list(&words))
        }
    };
    let mut action = match lead {
        Some(lead) => format!("{lead}; {body}"),
        None => capitalized(&body),
    };
    if let Some(tail) = tail {
        action = format!("{action}; {tail}");
    }
    Remedy {
        action,
        apply: offered.into_iter().flat_map(|c| c.apply).collect(),
        demonstrated_by: demonstrated_by.iter().map(|s| s.to_string()).collect(),
    }
}

/// The initializer's kind and gain as the manifest writes them (`kaiming-normal(gain
/// 1.4142)`), for the schemes that have a gain.
fn init_gain<'a>(m: &Model<'a>) -> Option<(&'a str, f64)> {
    let init = m.info.init.as_deref()?;
    let (kind, rest) = init.split_once("(gain ")?;
    Some((kind, rest.strip_suffix(')')?.parse().ok()?))
}

/// He et al.'s initialization: Kaiming's scheme at the gain √2 that `init = "kaiming-normal"`
/// (or `he-normal`, or their uniform forms) gives.
fn he(m: &Model<'_>) -> Option<String> {
    init_gain(m)
        .filter(|(k, g)| matches!(*k, "kaiming-normal" | "kaiming-uniform") && (g - std::f64::consts::SQRT_2).abs() < 1e-3)
        .map(|_| "He initialization".to_string())
}

/// Glorot and Bengio's initialization: Xavier's scheme at gain 1, as `init = "xavier-normal"`
/// gives (their paper's is the uniform one).
fn glorot(m: &Model<'_>) -> Option<String> {
    init_gain(m)
        .filter(|(k, g)| matches!(*k, "xavier-normal" | "xavier-uniform") && (g - 1.0).abs() < 1e-3)
        .map(|_| "Glorot's initialization".to_string())
}

/// A Kaiming initialization at `gain` exactly, as the CNN configs write a smaller scale.
fn kaiming_at(m: &Model<'_>, gain: f64) -> Option<String> {
    init_gain(m)
        .filter(|(k, g)| *k == "kaiming-normal" && (g - gain).abs() < 1e-3)
        .map(|(_, g)| format!("Kaiming initialization at gain {}", crate::text::number(g)))
}

fn batch_norm(m: &Model<'_>) -> Option<String> {
    (m.info.norm.as_deref() == Some("batch")).then(|| "BatchNorm".to_string())
}

fn residual(m: &Model<'_>) -> Option<String> {
    (m.info.residual == Some(true)).then(|| "residual connections".to_string())
}

/// Clipping at 1 or tighter; a looser clip leaves clipping at 1 a change to try.
fn clipped(m: &Model<'_>) -> Option<String> {
    m.clip().filter(|c| *c <= 1.0).map(|c| format!("gradient clipping at {}", crate::text::number(c)))
}

fn activation_is(m: &Model<'_>, name: &str) -> bool {
    m.activation() == Some(name)
}

fn bounded(m: &Model<'_>) -> bool {
    matches!(m.activation(), Some("sigmoid" | "tanh"))
}

/// He initialization, for a model whose activation is in the ReLU family.
fn he_init(m: &Model<'_>) -> Change {
    setting("He initialization (the scale at the edge of chaos for ReLU)", &[key(m, "init = \"kaiming-normal\"")], he(m))
}

/// The normalization the model's kind has: BatchNorm before each MLP activation, after every
/// convolution of a CNN; a recurrent model has none.
fn batch_norm_change(m: &Model<'_>) -> Option<Change> {
    let words = match family(m) {
        Family::Recurrent => return None,
        Family::Cnn => "BatchNorm after every convolution",
        Family::Mlp | Family::Own => "BatchNorm before each activation",
    };
    Some(setting(words, &[key(m, "norm = \"batch\"")], batch_norm(m)))
}

fn residual_change(m: &Model<'_>) -> Option<Change> {
    (family(m) != Family::Recurrent).then(|| setting("residual connections", &[key(m, "residual = true")], residual(m)))
}

fn lower_lr() -> Change {
    change("a tenth of the learning rate", &["optimizer.lr (a tenth of it)".to_string()])
}

/// Fewer layers, in the words of the model's kind.
fn fewer_layers(m: &Model<'_>) -> Change {
    let (words, rest) = match family(m) {
        Family::Cnn => ("fewer blocks per stage", "depth (fewer blocks per stage)"),
        Family::Recurrent => ("fewer stacked layers", "depth (fewer stacked layers)"),
        Family::Mlp | Family::Own => ("fewer hidden layers", "depth (fewer hidden layers)"),
    };
    change(words, &[key(m, rest)])
}

/// Clipping the global gradient norm: train's key, and for a program of its own the call.
fn clip_change(m: &Model<'_>) -> Change {
    let mut apply = vec![key(m, "clip_grad_norm = 1.0")];
    if family(m) == Family::Own {
        apply.push("gradflow::clip_global_norm(&model, &mut grads, total, 1.0) in a loop of your own".to_string());
    }
    setting("clip the global gradient norm", &apply, clipped(m))
}

/// A smaller weight scale for a model whose gradient grows: the scale at the edge of chaos
/// for its activation (He's for the ReLU family, Glorot's for the others), and for a
/// residual CNN the quarter of He's gain that configs/cnn-depth-no-norm.toml shows.
fn smaller_init(m: &Model<'_>) -> Option<Change> {
    match family(m) {
        Family::Recurrent => None,
        Family::Cnn if residual(m).is_some() => Some(setting(
            "draw the weights at a quarter of He's gain",
            &[key(m, "init = { kind = \"kaiming-normal\", gain = 0.25 }")],
            kaiming_at(m, 0.25),
        )),
        _ if bounded(m) => {
            Some(setting("draw the weights at Glorot's scale", &[key(m, "init = \"xavier-normal\"")], glorot(m)))
        }
        _ => Some(setting("draw the weights at He's scale", &[key(m, "init = \"kaiming-normal\"")], he(m))),
    }
}

/// The number of stacked recurrent layers the manifest lists (`lstm.0`, `lstm.1`, … before
/// the `readout`), when it names them.
fn stacked(m: &Model<'_>) -> Option<usize> {
    let kind = m.info.kind.as_deref()?;
    let prefix = format!("{kind}.");
    let n = m.info.layers.iter().filter(|l| l.name.starts_with(&prefix)).count();
    (n > 0).then_some(n)
}

pub fn vanishing(m: &Model<'_>) -> Remedy {
    let fam = family(m);
    if fam == Family::Recurrent {
        let lstm = m.info.kind.as_deref() == Some("lstm");
        let single = (stacked(m) == Some(1)).then(|| "single layer".to_string());
        return remedy(
            None,
            vec![
                setting("fewer stacked layers", &[key(m, "depth = 1")], single),
                setting("a gated cell whose layers pass the error on better", &[key(m, "kind = \"lstm\"")], lstm.then(|| "LSTM cells".to_string())),
            ],
            vec![lower_lr()],
            None,
            &["configs/sequential-mnist.toml"],
        );
    }
    let mut changes = Vec::new();
    if bounded(m) {
        // He's scale belongs with ReLU; a bounded model already drawn at it needs only the
        // activation.
        let apply = match he(m) {
            Some(_) => vec![key(m, "activation = \"relu\"")],
            None => vec![format!("{} with {}", key(m, "activation = \"relu\""), key(m, "init = \"kaiming-normal\""))],
        };
        changes.push(setting("ReLU with He initialization", &apply, None));
    } else {
        changes.push(he_init(m));
    }
    changes.extend(batch_norm_change(m));
    changes.extend(residual_change(m));
    let shown: &[&str] = match fam {
        Family::Cnn => &["configs/cnn-depth.toml", "configs/cnn-depth-no-norm.toml"],
        _ if bounded(m) => &["configs/remedies.toml", "configs/default.toml"],
        _ => &["configs/init-comparison.toml", "configs/remedies.toml"],
    };
    remedy(None, changes, vec![lower_lr(), fewer_layers(m)], None, shown)
}

/// The configs where a model's gradient grows and clipping or a smaller scale holds it.
fn exploding_configs(m: &Model<'_>) -> &'static [&'static str] {
    match family(m) {
        Family::Cnn => &["configs/cnn-depth-no-norm.toml"],
        Family::Recurrent => &["configs/through-time.toml", "configs/sequential-mnist.toml"],
        Family::Mlp | Family::Own => &["configs/exploding.toml"],
    }
}

pub fn exploding(m: &Model<'_>) -> Remedy {
    let mut changes = vec![clip_change(m)];
    changes.extend(smaller_init(m));
    remedy(None, changes, vec![lower_lr(), fewer_layers(m)], None, exploding_configs(m))
}

pub fn diverged(m: &Model<'_>) -> Remedy {
    let mut next: Vec<Change> = smaller_init(m).into_iter().collect();
    next.push(fewer_layers(m));
    remedy(None, vec![clip_change(m), lower_lr()], next, None, exploding_configs(m))
}

pub fn saturation(m: &Model<'_>) -> Remedy {
    let fam = family(m);
    let mut changes =
        vec![setting("draw the weights at a smaller scale (Glorot's normalized initialization)", &[key(m, "init = \"xavier-normal\"")], glorot(m))];
    changes.extend(batch_norm_change(m));
    if fam != Family::Recurrent {
        let relu = activation_is(m, "relu").then(|| "ReLU".to_string());
        changes.push(setting("use ReLU", &[key(m, "activation = \"relu\"")], relu));
    }
    let shown: &[&str] = match fam {
        Family::Mlp | Family::Own => &["configs/papers/glorot-bengio-saturation.toml", "configs/remedies.toml"],
        Family::Cnn | Family::Recurrent => &[],
    };
    remedy(None, changes, vec![lower_lr()], None, shown)
}

pub fn dead_units(m: &Model<'_>) -> Remedy {
    let zero = (m.info.bias_init.as_deref() == Some("zero")).then(|| "zero biases".to_string());
    let leaky = activation_is(m, "leaky-relu").then(|| "leaky ReLU".to_string());
    remedy(
        None,
        vec![
            setting("start the biases at zero", &[key(m, "bias_init = \"zero\"")], zero),
            setting("use He initialization", &[key(m, "init = \"kaiming-normal\"")], he(m)),
            lower_lr(),
            setting("a leaky ReLU whose units cannot die", &[key(m, "activation = \"leaky-relu\"")], leaky),
        ],
        Vec::new(),
        None,
        &[],
    )
}

pub fn update_small(m: &Model<'_>) -> Remedy {
    let adam = (m.run.manifest.optimizer.as_deref() == Some("adam")).then(|| "Adam optimizer".to_string());
    let shown: &[&str] = match family(m) {
        Family::Mlp | Family::Own => &["configs/spiral.toml"],
        Family::Recurrent => &["configs/sequential-mnist.toml"],
        Family::Cnn => &[],
    };
    remedy(
        None,
        vec![
            change("raise the learning rate", &["optimizer.lr (ten times it)".to_string()]),
            setting("use Adam, whose steps do not scale with the gradient", &["optimizer.kind = \"adam\"".to_string()], adam),
        ],
        Vec::new(),
        None,
        shown,
    )
}

pub fn update_large(m: &Model<'_>) -> Remedy {
    remedy(None, vec![lower_lr(), clip_change(m)], Vec::new(), None, exploding_configs(m))
}

pub fn underflow(m: &Model<'_>) -> Remedy {
    let ieee = (m.run.manifest.flush_denormals == Some(false)).then(|| "IEEE arithmetic (subnormals kept)".to_string());
    let mut changes = Vec::new();
    changes.extend(batch_norm_change(m));
    changes.push(setting("keep IEEE arithmetic, to see the subnormal values themselves", &["train.flush_denormals = false".to_string()], ieee));
    changes.push(change(
        "see such gradients in the tutorial, which computes them in log space, where no float underflows",
        &["cargo run -p train -- tutorial --depth 1000".to_string()],
    ));
    let shown: &[&str] = match family(m) {
        Family::Mlp | Family::Own => &["configs/very-deep.toml"],
        Family::Cnn | Family::Recurrent => &[],
    };
    remedy(Some("Remove the vanishing that drives the gradient down (see its finding)"), changes, Vec::new(), None, shown)
}

pub fn through_time(m: &Model<'_>) -> Remedy {
    // The kind picks the changes, so that no cell is offered to itself: an LSTM is offered
    // the forget bias (unless its manifest shows one of 1 or more), a GRU the LSTM, an RNN both
    // cells.
    let fewer_steps = || change("fewer time steps", &["data.sequence_length (fewer time steps)".to_string()]);
    let changes = match m.info.kind.as_deref() {
        Some("lstm") => {
            let open = m.info.forget_bias.filter(|b| *b >= 1.0).map(|b| format!("forget-gate bias of {}", crate::text::number(b)));
            let bias = setting("open the forget gate with a bias, so that the cell keeps its past from the start", &[key(m, "forget_bias = 1.0")], open);
            return remedy(None, vec![bias], vec![fewer_steps(), lower_lr()], None, &["configs/through-time.toml", "configs/sequential-mnist.toml"]);
        }
        Some("gru") => vec![
            change("an LSTM with its forget gate opened by a bias", &[format!("{} with {}", key(m, "kind = \"lstm\""), key(m, "forget_bias = 1.0"))]),
            fewer_steps(),
        ],
        _ => vec![change(
            "a gated cell (LSTM or GRU), whose forget or update gate carries the error across time steps, with its forget gate opened by a bias",
            &[key(m, "kind = \"lstm\""), key(m, "kind = \"gru\""), key(m, "forget_bias = 1.0 (with kind = \"lstm\")")],
        )],
    };
    remedy(None, changes, Vec::new(), None, &["configs/through-time.toml", "configs/sequential-mnist.toml"])
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
        Some("relu" | "leaky-relu") => setting("He initialization draws them there", &[key(m, "init = \"kaiming-normal\"")], he(m)),
        _ => setting("Glorot's initialization draws them near it", &[key(m, "init = \"xavier-normal\"")], glorot(m)),
    };
    let shown: &[&str] = match family(m) {
        Family::Mlp | Family::Own => &["configs/init-comparison.toml", "configs/papers/he-2015.toml"],
        Family::Cnn | Family::Recurrent => &[],
    };
    remedy(
        Some(edge.as_str()),
        vec![init],
        // With the scheme already on, the layers' measured scale is not the scheme's (widths
        // that differ, a gain): the theory beside other scales is what is left to look at.
        vec![change("compare the measured factor with the theory's at other scales", &["cargo run -p train -- diagnose".to_string()])],
        Some("`cargo run -p train -- diagnose` measures the factor against the theory for any σ_w²"),
        shown,
    )
}
