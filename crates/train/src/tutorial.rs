//! `train tutorial`: the classic chain of one-neuron layers, with burn's autodiff next to
//! the hand-written chain rule, and a log-scale picture of how the gradient shrinks.

use crate::backend::Backend;
use gradflow::view::log_bar;
use chain::{Activation, Chain, F32Class, LogNum, Solution};
use models::tutorial::{AutodiffChain, run_autodiff};
use serde::Serialize;
use std::fmt::Write as _;

/// One activation's results.
#[derive(Clone, Debug, Serialize)]
pub struct TutorialResult {
    pub activation: Activation,
    pub output: f64,
    pub loss: f64,
    pub loss_autodiff: f32,
    pub layers: Vec<TutorialLayer>,
}

/// One layer's numbers, layer 1 nearest the input.
#[derive(Clone, Debug, Serialize)]
pub struct TutorialLayer {
    pub layer: usize,
    pub pre_activation: f64,
    pub activation: f64,
    /// dL/dw from burn's autodiff (float32).
    pub grad_autodiff: f32,
    /// dL/dw from the hand-written chain rule, as an f64 (0 where even f64 underflows).
    pub grad_hand: f64,
    /// The hand-written gradient in scientific notation at any magnitude.
    pub grad_hand_exact: String,
    /// log10 |dL/dw| from the hand-written pass (-inf as null when exactly zero).
    pub log10_abs_grad: Option<f64>,
    /// |autodiff - hand-written|.
    pub difference: f64,
    /// w f'(z): the factor by which this layer scales the error it passes back.
    pub local_factor: f64,
    /// log10 |grad / grad of the last layer|.
    pub log10_ratio_to_last: Option<f64>,
    /// How the true gradient fares in float32: normal, subnormal, underflow (to 0) or zero.
    pub f32_class: F32Class,
}

/// Solves `chain` both ways for each activation.
pub fn run(chain: &Chain, activations: &[Activation], backend: Backend) -> Vec<TutorialResult> {
    let device = backend.autodiff_device();
    activations
        .iter()
        .map(|&activation| {
            let c = Chain { activation, ..chain.clone() };
            let hand = chain::solve(&c);
            let auto = run_autodiff(&c, &device);
            combine(activation, &hand, &auto)
        })
        .collect()
}

fn combine(activation: Activation, hand: &Solution, auto: &AutodiffChain) -> TutorialResult {
    let ratios = hand.log10_ratio_to_last();
    let finite = |v: f64| v.is_finite().then_some(v);
    TutorialResult {
        activation,
        output: hand.output,
        loss: hand.loss,
        loss_autodiff: auto.loss,
        layers: hand
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let g = l.grad_weight;
                TutorialLayer {
                    layer: i + 1,
                    pre_activation: l.pre_activation,
                    activation: l.activation,
                    grad_autodiff: auto.grad_weight[i],
                    grad_hand: g.to_f64(),
                    grad_hand_exact: g.sci(3),
                    log10_abs_grad: finite(g.log10_abs()),
                    difference: (f64::from(auto.grad_weight[i]) - g.to_f64()).abs(),
                    local_factor: l.local_factor,
                    log10_ratio_to_last: finite(ratios[i]),
                    f32_class: g.f32_class(),
                }
            })
            .collect(),
    }
}

/// The layers to print for a chain of `n`: all of a short chain, the ends of a long one.
fn printed(n: usize) -> Vec<Option<usize>> {
    if n <= 24 {
        return (0..n).map(Some).collect();
    }
    let mut v: Vec<Option<usize>> = (0..8).map(Some).collect();
    v.push(None);
    v.extend((n - 8..n).map(Some));
    v
}

/// The human-readable report.
pub fn render(chain: &Chain, results: &[TutorialResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "The tutorial's chain: {} layer(s) of one neuron, input {}, target {}, every weight {}, bias {}, \
         the activation after every layer, loss 0.5*(out - target)^2.",
        chain.depth, chain.input, chain.target, chain.weight, chain.bias
    );
    for r in results {
        let _ = writeln!(s, "\n== {} ==", r.activation.name());
        let _ = writeln!(s, "forward pass:");
        let _ = writeln!(s, "  {:>5}  {:>14}  {:>14}", "layer", "z = w*a + b", "a = f(z)");
        for i in printed(r.layers.len()) {
            match i {
                Some(i) => {
                    let l = &r.layers[i];
                    let _ = writeln!(s, "  {:>5}  {:>14.6}  {:>14.6}", l.layer, l.pre_activation, l.activation);
                }
                None => {
                    let _ = writeln!(s, "  {:>5}", "...");
                }
            }
        }
        let _ = writeln!(s, "  output {:.6}, loss {:.6} (burn: {:.6})", r.output, r.loss, r.loss_autodiff);
        let _ = writeln!(s, "backward pass, dL/dw per layer:");
        let _ = writeln!(
            s,
            "  {:>5}  {:>13}  {:>14}  {:>9}  {:>9}  {:>13}",
            "layer", "burn autodiff", "by hand (f64)", "|diff|", "w*f'(z)", "vs last layer"
        );
        for i in printed(r.layers.len()) {
            let Some(i) = i else {
                let _ = writeln!(s, "  {:>5}", "...");
                continue;
            };
            let l = &r.layers[i];
            let ratio = l.log10_ratio_to_last.map_or("-".to_string(), |v| LogNum::from_log10(v).sci(2));
            let _ = write!(
                s,
                // One more decimal by hand: ReLU's exact -0.0921875 would otherwise print as
                // -0.092187 beside burn's float32 -0.092188 and look like a disagreement.
                "  {:>5}  {:>13.6}  {:>14.7}  {:>9.1e}  {:>9.4}  {:>13}",
                l.layer, l.grad_autodiff, l.grad_hand, l.difference, l.local_factor, ratio
            );
            match l.f32_class {
                F32Class::Underflow => {
                    let _ = write!(s, "  underflow: f32 holds 0, the true value is {}", l.grad_hand_exact);
                }
                F32Class::Subnormal => {
                    let _ = write!(s, "  subnormal in f32 (below 1.18e-38): {}", l.grad_hand_exact);
                }
                F32Class::Zero | F32Class::Normal if l.grad_hand == 0.0 && l.log10_abs_grad.is_some() => {
                    let _ = write!(s, "  below f64 too: {}", l.grad_hand_exact);
                }
                _ => {}
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(s, "\ngradient magnitude |dL/dw| per layer (log scale, 1e-12 to 1e2):");
    for r in results {
        for i in printed(r.layers.len()) {
            let Some(i) = i else {
                let _ = writeln!(s, "  {:<10} ...", "");
                continue;
            };
            let l = &r.layers[i];
            let magnitude = l.log10_abs_grad.map_or(0.0, |v| 10f64.powf(v));
            let _ = writeln!(
                s,
                "  {:<10} L{:<4} {} {}",
                r.activation.name(),
                l.layer,
                log_bar(magnitude, 28),
                LogNum::from_log10(l.log10_abs_grad.unwrap_or(f64::NEG_INFINITY)).sci(2)
            );
        }
    }
    s
}

/// The JSON document for scripts.
pub fn to_json(chain: &Chain, results: &[TutorialResult]) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        chain: &'a Chain,
        results: &'a [TutorialResult],
    }
    serde_json::to_string_pretty(&Doc { chain, results }).expect("plain numbers and strings serialize")
}
