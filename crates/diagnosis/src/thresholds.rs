//! Every threshold the diagnosis holds a measurement against: a named constant with the
//! sentence that says why, and [`TABLE`], which the README's table and the report page are
//! made from, so that the numbers cannot drift from the code.

/// A measurement must show a finding in this many consecutive measurements of one source
/// (logged training steps, or probes) before it is raised.
pub const MIN_CONSECUTIVE: usize = 2;

/// A layer gets less than this share of the last layer's weight gradient: vanishing.
pub const VANISHING_RATIO: f64 = 1e-2;
/// Below this share the vanishing is severe.
pub const VANISHING_SEVERE_RATIO: f64 = 1e-4;
/// A layer gets more than this multiple of the last layer's weight gradient: exploding.
pub const EXPLODING_RATIO: f64 = 1e2;
/// Above this multiple the exploding is severe.
pub const EXPLODING_SEVERE_RATIO: f64 = 1e4;
/// The global gradient norm of a logged step over the median of the earlier ones: a spike.
pub const SPIKE_FACTOR: f64 = 1e2;
/// The earlier logged steps a spike is measured against, at least.
pub const SPIKE_HISTORY: usize = 3;
/// A sigmoid or tanh layer with at least this share of outputs in the flat tails: saturated.
pub const SATURATION_SHARE: f64 = 0.5;
/// At or above this share the saturation is severe.
pub const SATURATION_SEVERE_SHARE: f64 = 0.9;
/// A ReLU-family layer with at least this share of units that fire for no probe example.
pub const DEAD_SHARE: f64 = 0.5;
/// At or above this share the dead units are severe.
pub const DEAD_SEVERE_SHARE: f64 = 0.9;
/// An update-to-weight ratio below this is too small.
pub const UPDATE_LOW: f64 = 1e-5;
/// A logged step whose loss is below this share of the first logged step's has converged:
/// its small updates are no finding.
pub const CONVERGED_LOSS_SHARE: f64 = 1e-3;
/// An update-to-weight ratio above this is too large.
pub const UPDATE_HIGH: f64 = 1e-1;
/// A layer with at least this share of its gradient entries lost to float32's range.
pub const UNDERFLOW_SHARE: f64 = 0.01;
/// A model whose gradient entries reach below 10^this has a gradient at float32's floor.
pub const UNDERFLOW_FLOOR_DECADE: i32 = -30;
/// Gradient entries below 10^this would be 0 in float16 (its smallest subnormal is 6.0e-8).
pub const FLOAT16_DECADE: i32 = -8;
/// Activation variance that changes by more than this factor across the hidden layers at
/// initialization, along a geometric fit: a poor initialization.
pub const POOR_INIT_SPREAD: f64 = 1e2;
/// The fit of activation variance needs at least this many hidden layers.
pub const POOR_INIT_MIN_LAYERS: usize = 3;
/// The error at the first time step over the error at the last below this: vanishing
/// through time.
pub const TIME_RATIO: f64 = 1e-2;
/// Below this the vanishing through time is severe.
pub const TIME_SEVERE_RATIO: f64 = 1e-4;

/// One row of the thresholds' table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    /// The constant's name.
    pub name: &'static str,
    /// Its value, as the table shows it.
    pub value: f64,
    /// The findings it applies to.
    pub kinds: &'static str,
    /// Why this value.
    pub why: &'static str,
}

/// Every threshold, in the order the README and the report list them.
pub const TABLE: [Threshold; 21] = [
    Threshold {
        name: "MIN_CONSECUTIVE",
        value: MIN_CONSECUTIVE as f64,
        kinds: "all but diverged",
        why: "One logged training step is one batch of 32 to 128 examples: a finding needs its condition in two consecutive measurements (logged steps and the probes of 1,000 fixed examples, in time order), so that one noisy batch raises nothing.",
    },
    Threshold {
        name: "VANISHING_RATIO",
        value: VANISHING_RATIO,
        kinds: "vanishing",
        why: "Under one learning rate, a layer with 1/100 of the last layer's gradient learns 100 times slower; the report's Stalled column uses the same ratio.",
    },
    Threshold {
        name: "VANISHING_SEVERE_RATIO",
        value: VANISHING_SEVERE_RATIO,
        kinds: "vanishing",
        why: "Four orders of magnitude: at a learning rate that suits the last layer, the first layer's weights barely move in a whole run (the default sigmoid net's layer 1 gets about 1e-6).",
    },
    Threshold {
        name: "EXPLODING_RATIO",
        value: EXPLODING_RATIO,
        kinds: "exploding",
        why: "The mirror of VANISHING_RATIO, and the report's Exploding column, on the weight gradient or on the error signal ‖δ‖ (which does not grow with the first layer's fan-in): a first layer with 100 times the last layer's gradient takes steps 100 times larger. A model that clips its global gradient norm gets a note instead: the clip bounds every step, which is what clipping is for.",
    },
    Threshold {
        name: "EXPLODING_SEVERE_RATIO",
        value: EXPLODING_SEVERE_RATIO,
        kinds: "exploding",
        why: "The mirror of VANISHING_SEVERE_RATIO: four orders of magnitude, where one step of the first layer is as large as ten thousand of the last layer's.",
    },
    Threshold {
        name: "SPIKE_FACTOR",
        value: SPIKE_FACTOR,
        kinds: "exploding",
        why: "A global gradient norm 100 times the median of the earlier logged steps is no batch-to-batch noise (which moves it by a few times), and one SGD step of that size throws the weights far.",
    },
    Threshold {
        name: "SPIKE_HISTORY",
        value: SPIKE_HISTORY as f64,
        kinds: "exploding",
        why: "A median of fewer than three earlier steps is no baseline.",
    },
    Threshold {
        name: "SATURATION_SHARE",
        value: SATURATION_SHARE,
        kinds: "saturation",
        why: "\"Mostly in the flat tails\": more than half of the outputs where sigmoid's derivative is below 0.0099 (outputs < 0.01 or > 0.99) or tanh's below 0.06 (|tanh| > 0.97).",
    },
    Threshold {
        name: "SATURATION_SEVERE_SHARE",
        value: SATURATION_SEVERE_SHARE,
        kinds: "saturation",
        why: "Nine outputs in ten in the tails pass almost no gradient: Glorot and Bengio's top layer at initialization.",
    },
    Threshold {
        name: "DEAD_SHARE",
        value: DEAD_SHARE,
        kinds: "dead-units",
        why: "More than half of a layer's units silent for every one of the probe's 1,000 examples; a healthy He-initialized ReLU net has at most about 10% (the default run's ReLU net: 0 to 11%).",
    },
    Threshold {
        name: "DEAD_SEVERE_SHARE",
        value: DEAD_SEVERE_SHARE,
        kinds: "dead-units",
        why: "Nine units in ten dead: the layer passes almost no gradient to the layers before it.",
    },
    Threshold {
        name: "UPDATE_LOW",
        value: UPDATE_LOW,
        kinds: "update-too-small",
        why: "Two orders of magnitude below Karpathy's rule of thumb (CS231n, \"Neural Networks Part 3\": the update over the weight should be about 1e-3): the layer takes 100 times as many steps to change as it should.",
    },
    Threshold {
        name: "CONVERGED_LOSS_SHARE",
        value: CONVERGED_LOSS_SHARE,
        kinds: "update-too-small",
        why: "A model whose training loss has fallen a thousandfold from its first step has learned what it can (the tutorial's ReLU chain reaches its target exactly): its steps shrink with its gradient, as they should, and are no finding.",
    },
    Threshold {
        name: "UPDATE_HIGH",
        value: UPDATE_HIGH,
        kinds: "update-too-large",
        why: "Two orders of magnitude above the same rule of thumb: each step changes the weights by a tenth of their size.",
    },
    Threshold {
        name: "UNDERFLOW_SHARE",
        value: UNDERFLOW_SHARE,
        kinds: "underflow",
        why: "One gradient entry in a hundred lost to float32's range is a measurable share of the layer, not a rounding curiosity; the same share starts the float16 note.",
    },
    Threshold {
        name: "UNDERFLOW_FLOOR_DECADE",
        value: 1e-30,
        kinds: "underflow",
        why: "Zeros count as underflow only in a layer with 1% (UNDERFLOW_SHARE) or more of its entries below 1e-30, eight decades from float32's smallest normal (1.18e-38), or in a layer of nothing but zeros on the input side of one that does: structural zeros (a weight on an always-black MNIST pixel, on a dead unit) sit in layers whose smallest entries are far above it.",
    },
    Threshold {
        name: "FLOAT16_DECADE",
        value: 1e-8,
        kinds: "underflow (note)",
        why: "float16's smallest subnormal is 6.0e-8: every entry below 1e-8 would be 0 in float16 without loss scaling.",
    },
    Threshold {
        name: "POOR_INIT_SPREAD",
        value: POOR_INIT_SPREAD,
        kinds: "poor-init",
        why: "Activation variance that shrinks or grows 100-fold across the hidden layers at initialization, along a geometric fit, where the mean-field χ₁ of the activation at the measured weight scale agrees (for activations it knows): the scale is off the edge of chaos (He et al. 2015's 30-layer ReLU net with Xavier's scale loses 2^29 of it). At the edge, finite width alone drifts the variance down (He's scale on 50 layers of 64 units: ×0.9 a layer), which no initialization removes.",
    },
    Threshold {
        name: "POOR_INIT_MIN_LAYERS",
        value: POOR_INIT_MIN_LAYERS as f64,
        kinds: "poor-init",
        why: "A geometric trend needs three layers to be told from two points.",
    },
    Threshold {
        name: "TIME_RATIO",
        value: TIME_RATIO,
        kinds: "vanishing-through-time",
        why: "The time twin of VANISHING_RATIO: the first time step gets 1/100 of the error at the last, so the model hardly learns from early inputs.",
    },
    Threshold {
        name: "TIME_SEVERE_RATIO",
        value: TIME_SEVERE_RATIO,
        kinds: "vanishing-through-time",
        why: "Four orders of magnitude: the vanilla RNN of configs/through-time.toml, which never learns the adding problem, starts at 5e-12 and ends between 2.6e-5 and 2.7e-3 (its value at the end moves by orders with the rounding of its tanh).",
    },
];

/// The table as Markdown (the README's and `report.md`'s).
pub fn markdown_table() -> String {
    let mut out = String::from("| threshold | value | findings | why |\n|---|---:|---|---|\n");
    for t in TABLE {
        out.push_str(&format!("| `{}` | {} | {} | {} |\n", t.name, value_text(t.value), t.kinds, t.why.replace('|', "\\|")));
    }
    out
}

/// A threshold's value as the tables show it: 1e-2 for a power of ten, else 0.5 or 2.
pub fn value_text(v: f64) -> String {
    let e = v.abs().log10();
    if v != 0.0 && e.fract() == 0.0 && e.abs() >= 2.0 { format!("{v:e}") } else { format!("{v}") }
}
