//! The tutorial's chain: burn's autodiff reproduces the published gradients on both
//! backends, agrees with the hand-written chain rule at every depth, and the tool reports
//! gradients that float32 cannot hold.

use crate::common::BACKENDS;
use chain::{Activation, Chain, F32Class};
use models::tutorial::run_autodiff;
use train::tutorial;

/// The tutorial's published numbers: sigmoid dL/dw for layers 1..3, and ReLU's (the same
/// for all three layers), to 6 decimals.
pub(crate) const SIGMOID: [f64; 3] = [-0.000424, -0.003870, -0.032004];
pub(crate) const RELU: f64 = -0.092188;

#[test]
fn autodiff_reproduces_the_tutorial_on_both_backends() {
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        let s = run_autodiff(&Chain::tutorial(Activation::Sigmoid), &device);
        for (got, want) in s.grad_weight.iter().zip(SIGMOID) {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{backend:?} sigmoid: {got} vs {want}");
        }
        // The forward pass as the tutorial prints it: 0.25 -> 0.562, 0.281 -> 0.570, 0.285 -> 0.571.
        let pre: Vec<f64> = s.pre_activation.iter().map(|&v| (f64::from(v) * 1000.0).round() / 1000.0).collect();
        let post: Vec<f64> = s.activation.iter().map(|&v| (f64::from(v) * 1000.0).round() / 1000.0).collect();
        assert_eq!(pre, vec![0.25, 0.281, 0.285], "{backend:?}");
        assert_eq!(post, vec![0.562, 0.570, 0.571], "{backend:?}");
        assert!((s.loss - 0.026).abs() < 5e-4, "{backend:?} loss {}", s.loss);

        let r = run_autodiff(&Chain::tutorial(Activation::Relu), &device);
        for got in &r.grad_weight {
            assert!((f64::from(*got) - RELU).abs() < 1e-6, "{backend:?} relu: {got}");
        }
        assert!((r.output - 0.0625).abs() < 1e-7);
    }
}

#[test]
fn hand_written_backward_equals_autodiff_for_depths_1_to_20() {
    let device = train::backend::Backend::Flex.autodiff_device();
    for activation in Activation::ALL {
        for depth in 1..=20 {
            // A weight above 1 and a bias keep every activation's gradients in float32's range.
            let chain = Chain { depth, weight: 1.3, bias: 0.1, input: 0.7, target: 0.2, activation };
            let hand = chain::solve(&chain);
            let auto = run_autodiff(&chain, &device);
            for (i, layer) in hand.layers.iter().enumerate() {
                let (h, a) = (layer.grad_weight.to_f64(), f64::from(auto.grad_weight[i]));
                let tol = 1e-5 * h.abs().max(1e-6);
                assert!((h - a).abs() <= tol.max(1e-9), "{activation:?} depth {depth} layer {}: hand {h} autodiff {a}", i + 1);
                let (hb, ab) = (layer.grad_bias.to_f64(), f64::from(auto.grad_bias[i]));
                assert!((hb - ab).abs() <= (1e-5 * hb.abs()).max(1e-9), "{activation:?} depth {depth} bias {}", i + 1);
            }
        }
    }
}

#[test]
fn a_thousand_layer_sigmoid_chain_reports_what_float32_cannot_hold() {
    let chain = Chain { depth: 1000, ..Chain::tutorial(Activation::Sigmoid) };
    let results = tutorial::run(&chain, &[Activation::Sigmoid], train::backend::Backend::Flex);
    let first = &results[0].layers[0];
    assert_eq!(first.grad_autodiff, 0.0, "float32 autodiff underflows to 0");
    assert_eq!(first.f32_class, F32Class::Underflow);
    // The "about -2.9e-913", to four digits.
    assert_eq!(first.grad_hand_exact, "-2.859e-913");
    assert_eq!(chain::solve(&chain).layers[0].grad_weight.sci(1), "-2.9e-913");
    let text = tutorial::render(&chain, &results);
    assert!(text.contains("underflow: f32 holds 0, the true value is -2.859e-913"), "{text}");
}

#[test]
fn the_report_and_json_show_both_activations() {
    let chain = Chain::tutorial(Activation::Sigmoid);
    let results = tutorial::run(&chain, &[Activation::Sigmoid, Activation::Relu], train::backend::Backend::Ndarray);
    let text = tutorial::render(&chain, &results);
    for needle in ["== sigmoid ==", "== relu ==", "-0.000424", "-0.003870", "-0.032004", "-0.092188", "log scale"] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&tutorial::to_json(&chain, &results)).unwrap();
    assert_eq!(json["results"][1]["activation"], "relu");
    let g = json["results"][0]["layers"][2]["grad_autodiff"].as_f64().unwrap();
    assert!((g - SIGMOID[2]).abs() < 1e-6);
}

#[test]
fn invalid_tutorial_values_are_errors() {
    for bad in [
        Chain { depth: 0, ..Chain::tutorial(Activation::Sigmoid) },
        Chain { depth: 1001, ..Chain::tutorial(Activation::Sigmoid) },
        Chain { weight: f64::NAN, ..Chain::tutorial(Activation::Sigmoid) },
        Chain { input: f64::INFINITY, ..Chain::tutorial(Activation::Sigmoid) },
    ] {
        let e = bad.validate().unwrap_err();
        assert!(e.contains("depth") || e.contains("finite"), "{e}");
    }
}

#[test]
fn a_chain_whose_gradients_are_exactly_zero_prints_zero() {
    // A negative weight kills every ReLU: each gradient is exactly 0, in float32 and by hand.
    let chain = Chain { weight: -0.5, ..Chain::tutorial(Activation::Relu) };
    let results = tutorial::run(&chain, &[Activation::Relu], train::backend::Backend::Flex);
    assert!(results[0].layers.iter().all(|l| l.grad_autodiff == 0.0 && l.grad_hand == 0.0));
    let text = tutorial::render(&chain, &results);
    assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
}
