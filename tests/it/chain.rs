//! The hand-solved chain (`chain` crate) on its own, without burn: every layer's forward and
//! backward values against the textbook chain rule in plain float64, deep chains whose
//! gradients no f64 can hold against their closed forms, the activations at the edges of
//! their range, and the printed and float32 forms of magnitudes at their rounding edges.

use chain::{Activation, Chain, F32Class, LogNum, solve};

/// f(z) and f'(z) by the textbook formulas, in plain f64.
fn textbook(f: Activation, z: f64) -> (f64, f64) {
    match f {
        Activation::Sigmoid => {
            let s = 1.0 / (1.0 + (-z).exp());
            (s, s * (1.0 - s))
        }
        Activation::Tanh => (z.tanh(), 1.0 - z.tanh() * z.tanh()),
        Activation::Relu => (z.max(0.0), if z > 0.0 { 1.0 } else { 0.0 }),
        Activation::LeakyRelu => {
            if z > 0.0 {
                (z, 1.0)
            } else {
                (0.01 * z, 0.01)
            }
        }
        Activation::Identity => (z, 1.0),
    }
}

/// One layer of the plain chain: z, a, f'(z), dL/dw, dL/db.
struct Plain {
    z: f64,
    a: f64,
    d: f64,
    grad_w: f64,
    grad_b: f64,
}

/// The chain forward and backward in plain f64, as the tutorial derives it: delta_n =
/// (a_n - t) f'(z_n), delta_i = delta_{i+1} w f'(z_i), dL/dw_i = delta_i a_{i-1}.
fn plain(c: &Chain) -> (Vec<Plain>, f64, f64) {
    let mut layers = Vec::new();
    let mut a = c.input;
    for _ in 0..c.depth {
        let z = c.weight * a + c.bias;
        let (value, d) = textbook(c.activation, z);
        layers.push(Plain { z, a: value, d, grad_w: 0.0, grad_b: 0.0 });
        a = value;
    }
    let loss = 0.5 * (a - c.target) * (a - c.target);
    let mut err = a - c.target;
    for i in (0..c.depth).rev() {
        let delta = err * layers[i].d;
        let input = if i == 0 { c.input } else { layers[i - 1].a };
        layers[i].grad_b = delta;
        layers[i].grad_w = delta * input;
        err = delta * c.weight;
    }
    (layers, a, loss)
}

fn close(got: f64, want: f64, what: &str) {
    let tol = 1e-12 * want.abs().max(1e-300);
    assert!((got - want).abs() <= tol, "{what}: {got:e} vs {want:e}");
}

#[test]
fn solve_matches_the_float64_chain_rule_for_every_activation() {
    // Weights of both signs, with and without bias, inputs and targets of both signs: every
    // activation's both sides are visited.
    let cases = [(0.5, 0.0, 0.5, 0.8), (1.3, 0.1, 0.7, 0.2), (-0.8, 0.0, 0.6, 0.1), (-1.1, 0.3, -0.4, 0.5), (0.9, -0.2, -1.5, -0.3)];
    for activation in Activation::ALL {
        for (weight, bias, input, target) in cases {
            for depth in 1..=6 {
                let chain = Chain { depth, weight, bias, input, target, activation };
                let s = solve(&chain);
                let (want, output, loss) = plain(&chain);
                let at = |i: usize, what: &str| format!("{activation:?} w {weight} b {bias} x {input} depth {depth} layer {} {what}", i + 1);
                assert_eq!(s.layers.len(), depth);
                for (i, (l, p)) in s.layers.iter().zip(&want).enumerate() {
                    close(l.pre_activation, p.z, &at(i, "z"));
                    close(l.activation, p.a, &at(i, "a"));
                    close(l.activation_log.to_f64(), p.a, &at(i, "a in log space"));
                    close(l.derivative, p.d, &at(i, "f'(z)"));
                    close(l.local_factor, weight * p.d, &at(i, "w f'(z)"));
                    close(l.grad_weight.to_f64(), p.grad_w, &at(i, "dL/dw"));
                    close(l.grad_bias.to_f64(), p.grad_b, &at(i, "dL/db"));
                }
                close(s.output, output, &at(depth - 1, "output"));
                close(s.loss, loss, &at(depth - 1, "loss"));
            }
        }
    }
}

#[test]
fn the_tutorial_chain_has_its_published_forward_pass_and_loss() {
    let s = solve(&Chain::tutorial(Activation::Sigmoid));
    let z: Vec<f64> = s.layers.iter().map(|l| (l.pre_activation * 1000.0).round() / 1000.0).collect();
    let a: Vec<f64> = s.layers.iter().map(|l| (l.activation * 1000.0).round() / 1000.0).collect();
    assert_eq!(z, [0.25, 0.281, 0.285]);
    assert_eq!(a, [0.562, 0.570, 0.571]);
    // 0.5 (0.5710 - 0.8)^2 = 0.0262.
    assert!((s.loss - 0.0262).abs() < 1e-4, "{}", s.loss);
    // The ReLU chain halves the input three times: 0.0625, and 0.5 (0.0625 - 0.8)^2.
    let r = solve(&Chain::tutorial(Activation::Relu));
    close(r.output, 0.0625, "relu output");
    close(r.loss, 0.5 * 0.7375 * 0.7375, "relu loss");
}

/// log10 |x| of a layer's value and its sign, from the closed form.
fn assert_log(got: LogNum, sign: i8, log10: f64, what: &str) {
    assert_eq!(got.sign, sign, "{what}: sign of {got:?}");
    assert!((got.log10_abs() - log10).abs() < 1e-9, "{what}: log10 {} vs {log10}", got.log10_abs());
}

#[test]
fn deep_piecewise_linear_chains_keep_magnitudes_no_f64_holds() {
    // ReLU, w = 0.01, x = 0.5, t = 0.8, 200 layers: a_i = 0.5e-2i (0 in f64 from layer 154
    // on), and every layer's dL/dw is (a_n - t) w^(n-1) x = -0.4e-398.
    let n = 200;
    let relu = Chain { depth: n, weight: 0.01, bias: 0.0, input: 0.5, target: 0.8, activation: Activation::Relu };
    let s = solve(&relu);
    for (i, l) in s.layers.iter().enumerate() {
        let k = (i + 1) as f64;
        assert_log(l.activation_log, 1, 0.5f64.log10() - 2.0 * k, "relu a");
        assert_log(l.grad_weight, -1, 0.4f64.log10() - 2.0 * (n as f64 - 1.0), "relu dL/dw");
        assert_log(l.grad_bias, -1, 0.8f64.log10() - 2.0 * (n as f64 - k), "relu dL/db");
        assert_eq!(l.derivative, 1.0, "an active ReLU passes the error unchanged");
    }
    assert_eq!(s.output, 0.0);
    close(s.loss, 0.32, "0.5 (0 - 0.8)^2");
    assert_eq!(s.layers[199].activation, 0.0, "1e-400 is 0 in f64");

    // Leaky ReLU on a negative input: every z is negative, a_i = x (0.01 w)^i, f' = 0.01, and
    // dL/dw_i = (a_n - t) (0.01 w)^(n-i) 0.01 a_(i-1) = +0.004 (1e-4)^(n-1).
    let n = 120;
    let leaky = Chain { depth: n, weight: 0.01, bias: 0.0, input: -0.5, target: 0.8, activation: Activation::LeakyRelu };
    for (i, l) in solve(&leaky).layers.iter().enumerate() {
        let k = (i + 1) as f64;
        assert_log(l.activation_log, -1, 0.5f64.log10() - 4.0 * k, "leaky a");
        assert_log(l.grad_weight, 1, 0.004f64.log10() - 4.0 * (n as f64 - 1.0), "leaky dL/dw");
        close(l.derivative, 0.01, "leaky f'(z < 0)");
    }

    // The identity with a negative weight: a_i = x w^i alternates in sign, and dL/dw_i =
    // (a_n - t) w^(n-1) x, which for an odd n - 1 is +0.4e-447.
    let n = 150;
    let identity = Chain { depth: n, weight: -0.001, bias: 0.0, input: 0.5, target: 0.8, activation: Activation::Identity };
    for (i, l) in solve(&identity).layers.iter().enumerate() {
        let k = i + 1;
        let sign = if k % 2 == 0 { 1 } else { -1 };
        assert_log(l.activation_log, sign, 0.5f64.log10() - 3.0 * k as f64, "identity a");
        assert_log(l.grad_weight, 1, 0.4f64.log10() - 3.0 * (n as f64 - 1.0), "identity dL/dw");
        assert_eq!(l.derivative, 1.0);
    }
}

#[test]
fn a_dead_relu_chain_has_exactly_zero_gradients() {
    // A negative weight on a positive input: z_1 < 0, and every layer after it is 0.
    let s = solve(&Chain { weight: -0.5, ..Chain::tutorial(Activation::Relu) });
    for l in &s.layers {
        assert_eq!((l.grad_weight, l.grad_bias, l.derivative), (LogNum::ZERO, LogNum::ZERO, 0.0));
        assert_eq!(l.activation, 0.0);
    }
    assert!(s.log10_ratio_to_last().iter().all(|r| r.is_nan()), "no ratio to a last gradient of 0");
}

#[test]
fn ratios_to_the_last_layer_are_decades() {
    let s = solve(&Chain::tutorial(Activation::Sigmoid));
    let (want, _, _) = plain(&Chain::tutorial(Activation::Sigmoid));
    let last = want[2].grad_w;
    for (r, p) in s.log10_ratio_to_last().iter().zip(&want) {
        close(*r, (p.grad_w / last).abs().log10(), "log10 ratio");
    }
    // With a zero input, layer 1's gradient is exactly 0 while the others are not: -inf.
    let c = Chain { depth: 3, weight: 1.0, bias: 0.5, input: 0.0, target: 0.0, activation: Activation::Relu };
    let r = solve(&c).log10_ratio_to_last();
    assert_eq!(r[0], f64::NEG_INFINITY);
    assert!(r[1].is_finite() && r[2] == 0.0, "{r:?}");
}

#[test]
fn activations_hold_their_values_at_the_edges_of_f64() {
    let cases: [(Activation, f64, f64); 12] = [
        (Activation::Sigmoid, 0.0, 0.5),
        (Activation::Sigmoid, 2.0, 0.8807970779778823),
        (Activation::Sigmoid, -2.0, 0.11920292202211755),
        // e^800 overflows f64, e^-800 underflows: the value is still 1 or 0, never NaN.
        (Activation::Sigmoid, 800.0, 1.0),
        (Activation::Sigmoid, -800.0, 0.0),
        (Activation::Tanh, 1.0, 0.7615941559557649),
        (Activation::Relu, -2.0, 0.0),
        (Activation::Relu, 3.0, 3.0),
        (Activation::LeakyRelu, -2.0, -0.02),
        (Activation::LeakyRelu, 3.0, 3.0),
        (Activation::LeakyRelu, 0.0, 0.0),
        (Activation::Identity, -7.5, -7.5),
    ];
    for (f, z, want) in cases {
        close(f.value(z), want, &format!("{f:?}({z})"));
    }
    // f'(0): ReLU's is taken as 0, as burn and PyTorch do.
    for (f, want) in [
        (Activation::Sigmoid, 0.25),
        (Activation::Tanh, 1.0),
        (Activation::Relu, 0.0),
        (Activation::LeakyRelu, 0.01),
        (Activation::Identity, 1.0),
    ] {
        close(f.derivative(0.0), want, &format!("{f:?}'(0)"));
    }
    // ln f'(z) where f'(z) itself underflows: sigma'(-800) = e^-800 (1 + e^-800)^-2, and
    // tanh'(400) = 4 e^-800 (1 + e^-800)^-2.
    close(Activation::Sigmoid.ln_derivative(-800.0), -800.0, "ln sigma'(-800)");
    close(Activation::Sigmoid.ln_derivative(800.0), -800.0, "ln sigma'(800)");
    close(Activation::Tanh.ln_derivative(400.0), 4f64.ln() - 800.0, "ln tanh'(400)");
    close(Activation::Tanh.ln_derivative(-400.0), 4f64.ln() - 800.0, "ln tanh'(-400)");
    assert_eq!(Activation::Relu.ln_derivative(-1.0), f64::NEG_INFINITY);
    close(Activation::LeakyRelu.ln_derivative(-1.0), 0.01f64.ln(), "ln leaky'(-1)");
    // Against the textbook derivative on both sides of 0.
    for f in Activation::ALL {
        for z in [-3.0, -0.5, 0.3, 2.0] {
            close(f.derivative(z), textbook(f, z).1, &format!("{f:?}'({z})"));
        }
    }
}

#[test]
fn activations_are_named_as_configs_write_them() {
    let names: Vec<&str> = Activation::ALL.iter().map(|a| a.name()).collect();
    assert_eq!(names, ["sigmoid", "tanh", "relu", "leaky-relu", "identity"]);
    for a in Activation::ALL {
        assert_eq!(Activation::from_name(a.name()), Some(a));
        // serde writes the same name (a config's `activation = "leaky-relu"`).
        assert_eq!(serde_json::to_value(a).expect("serializes"), a.name());
    }
    assert_eq!(Activation::from_name("Sigmoid"), None);
    assert_eq!(Activation::from_name("gelu"), None);
}

#[test]
fn log_numbers_multiply_with_signs_and_zeros() {
    let (two, minus_three) = (LogNum::from_f64(2.0), LogNum::from_f64(-3.0));
    assert_eq!((two.sign, minus_three.sign, LogNum::from_f64(0.0)), (1, -1, LogNum::ZERO));
    close(two.mul(minus_three).to_f64(), -6.0, "2 x -3");
    close(minus_three.mul(minus_three).to_f64(), 9.0, "-3 x -3");
    close(minus_three.mul(two).to_f64(), -6.0, "-3 x 2");
    close(two.mul(two).to_f64(), 4.0, "2 x 2");
    assert_eq!(two.mul(LogNum::ZERO), LogNum::ZERO);
    // Zero times anything is zero, even times an infinite magnitude.
    let inf = LogNum::from_f64(f64::INFINITY);
    assert_eq!(LogNum::ZERO.mul(inf), LogNum::ZERO);
    assert_eq!(inf.mul(LogNum::ZERO).log10_abs(), f64::NEG_INFINITY);
    // log10 and back, beyond f64's range.
    close(LogNum::from_f64(-0.001).log10_abs(), -3.0, "log10 0.001");
    let tiny = LogNum::from_log10(-913.5);
    assert_eq!((tiny.sign, tiny.to_f64()), (1, 0.0));
    close(tiny.log10_abs(), -913.5, "log10 from_log10");
    close(LogNum::from_log10(2.0).to_f64(), 100.0, "10^2");
    assert_eq!(LogNum::from_log10(f64::NEG_INFINITY), LogNum::ZERO);
    assert_eq!(LogNum::ZERO.log10_abs(), f64::NEG_INFINITY);
}

#[test]
fn float32_classes_follow_ieee_rounding() {
    let min_normal = f64::from(f32::MIN_POSITIVE); // 2^-126
    let min_sub = f64::from(f32::from_bits(1)); // 2^-149
    let cases = [
        (0.0, F32Class::Zero),
        (1.0, F32Class::Normal),
        (-1e30, F32Class::Normal),
        (min_normal, F32Class::Normal),
        (-min_normal, F32Class::Normal),
        (min_normal * 0.75, F32Class::Subnormal),
        (min_sub, F32Class::Subnormal),
        (-min_sub, F32Class::Subnormal),
        // Above half the smallest subnormal, float32 rounds up to it.
        (min_sub * 0.5000001, F32Class::Subnormal),
        // Below half it rounds to 0.
        (min_sub * 0.4999999, F32Class::Underflow),
        (1e-300, F32Class::Underflow),
    ];
    for (v, want) in cases {
        assert_eq!(LogNum::from_f64(v).f32_class(), want, "{v:e}");
        // What the class says is what storing the number in float32 does.
        let stored = v as f32;
        let expect = if v == 0.0 {
            F32Class::Zero
        } else if stored == 0.0 {
            F32Class::Underflow
        } else if stored.is_subnormal() {
            F32Class::Subnormal
        } else {
            F32Class::Normal
        };
        assert_eq!(want, expect, "{v:e} as f32 is {stored:e}");
    }
    assert_eq!(LogNum::from_log10(-913.0).f32_class(), F32Class::Underflow);
}

#[test]
fn magnitudes_print_in_scientific_notation_at_their_rounding_edges() {
    let cases: [(LogNum, usize, &str); 12] = [
        (LogNum::from_f64(-0.000424), 2, "-4.24e-4"),
        (LogNum::from_f64(0.032004), 3, "3.200e-2"),
        (LogNum::from_f64(123.0), 1, "1.2e2"),
        (LogNum::from_f64(1.0), 2, "1.00e0"),
        // A mantissa that rounds up to 10 carries into the exponent.
        (LogNum::from_f64(9.9996e-5), 3, "1.000e-4"),
        (LogNum::from_f64(-9.96), 1, "-1.0e1"),
        (LogNum::from_f64(9.94), 1, "9.9e0"),
        (LogNum::from_f64(0.0999), 0, "1e-1"),
        // Far beyond f64: the first gradient of the 1000-layer sigmoid chain.
        (LogNum { sign: -1, ln_abs: (2.859e-3f64).ln() - 910.0 * std::f64::consts::LN_10 }, 3, "-2.859e-913"),
        (LogNum::from_log10(-913.0), 1, "1.0e-913"),
        (LogNum::from_log10(400.5), 2, "3.16e400"),
        (LogNum::ZERO, 3, "0"),
    ];
    for (x, digits, want) in cases {
        assert_eq!(x.sci(digits), want, "{x:?} to {digits} digits");
    }
}

#[test]
fn invalid_chains_name_the_offending_field() {
    let ok = Chain::tutorial(Activation::Tanh);
    assert_eq!(ok.validate(), Ok(()));
    assert_eq!(Chain { depth: 1, ..ok.clone() }.validate(), Ok(()));
    assert_eq!(Chain { depth: 1000, ..ok.clone() }.validate(), Ok(()));
    assert_eq!(Chain { depth: 0, ..ok.clone() }.validate(), Err("depth must be in 1..=1000, got 0".to_owned()));
    assert_eq!(Chain { depth: 1001, ..ok.clone() }.validate(), Err("depth must be in 1..=1000, got 1001".to_owned()));
    let bad = [
        ("weight", Chain { weight: f64::NAN, ..ok.clone() }),
        ("bias", Chain { bias: f64::INFINITY, ..ok.clone() }),
        ("input", Chain { input: f64::NEG_INFINITY, ..ok.clone() }),
        ("target", Chain { target: f64::NAN, ..ok.clone() }),
    ];
    for (field, chain) in bad {
        let e = chain.validate().expect_err("a non-finite value is an error");
        assert!(e.starts_with(&format!("{field} must be a finite number")), "{e}");
    }
}
