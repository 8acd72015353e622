//! The mean-field theory (`meanfield`): the Gauss-Hermite rule against the Gaussian's moments,
//! chi_1 against the closed forms of the piecewise-linear activations, and tanh's edge of
//! chaos against an independent brute-force integral and the published value.

use meanfield::{Activation, Error, FixedPoint, Rule, Theory, depth_scale};

/// E_{z~N(0,1)}[g(z)] by the trapezoidal rule on [-40, 40] with step 1e-3: a reference that
/// shares no code with the crate (spectrally accurate for smooth g).
fn brute_force(g: impl Fn(f64) -> f64) -> f64 {
    let h = 1e-3;
    let n = (40.0 / h) as i64;
    let s: f64 = (-n..=n).map(|k| k as f64 * h).map(|z| g(z) * (-z * z / 2.0).exp()).sum();
    s * h / (2.0 * std::f64::consts::PI).sqrt()
}

#[test]
fn the_rule_integrates_the_gaussians_moments_exactly() {
    for n in [1usize, 2, 3, 7, 20, 64, 256, 300] {
        let rule = Rule::new(n);
        assert_eq!(rule.nodes.len(), n);
        assert!(rule.nodes.windows(2).all(|w| w[0] < w[1]), "{n} nodes ascend");
        // E[z^(2k)] = (2k - 1)!!, exact for degree <= 2n - 1 (checked up to degree 30 where
        // the double factorial still has every digit in f64).
        let mut double_factorial = 1.0f64;
        for k in 0..=15usize {
            if k > 0 {
                double_factorial *= (2 * k - 1) as f64;
            }
            if 2 * k < 2 * n {
                let got = rule.expect(|z| z.powi(2 * k as i32));
                assert!((got / double_factorial - 1.0).abs() < 1e-12, "n {n}: E[z^{}] = {got}, not {double_factorial}", 2 * k);
                let odd = rule.expect(|z| z.powi(2 * k as i32 + 1));
                assert!(odd.abs() < 1e-9 * double_factorial.max(1.0), "n {n}: odd moment {odd}");
            }
        }
    }
    // Smooth functions converge fast: E[cos z] = e^-1/2 and E[e^z] = e^1/2.
    let rule = Rule::new(40);
    assert!((rule.expect(f64::cos) - (-0.5f64).exp()).abs() < 1e-14);
    assert!((rule.expect(f64::exp) - 0.5f64.exp()).abs() < 1e-13);
}

#[test]
fn piecewise_linear_chi1_is_the_closed_form() {
    let theory = Theory::default();
    for &sw2 in &[0.5, 1.0, 1.9, 2.0, 2.5, 4.0] {
        for &sb2 in &[0.0, 0.05, 1.0] {
            let relu = theory.predict(Activation::Relu, sw2, sb2).unwrap();
            assert_eq!(relu.chi1, sw2 / 2.0, "ReLU: chi_1 = sigma_w^2 / 2");
            let linear = theory.predict(Activation::Identity, sw2, sb2).unwrap();
            assert_eq!(linear.chi1, sw2, "identity: chi_1 = sigma_w^2");
            let leaky = theory.predict(Activation::LeakyRelu { slope: 0.2 }, sw2, sb2).unwrap();
            assert!((leaky.chi1 - sw2 * (1.0 + 0.04) / 2.0).abs() < 1e-15);
            assert_eq!(relu.depth_scale, depth_scale(sw2 / 2.0));
        }
    }
    // The closed forms are what the quadrature of phi and phi' converges to (slowly, at a
    // kink: the rule is exact only for smooth integrands).
    let rule = Rule::new(256);
    let q = 1.7f64;
    let relu2 = rule.expect(|z| Activation::Relu.value(q.sqrt() * z).powi(2));
    assert!((relu2 - q / 2.0).abs() < 1e-3 * q, "E[relu(sqrt(q) z)^2] = {relu2}, not q/2");
    let leaky_d = rule.expect(|z| Activation::LeakyRelu { slope: 0.2 }.derivative(z).powi(2));
    assert!((leaky_d - 0.52).abs() < 0.02, "E[leaky'^2] = {leaky_d}");
    let theory = Theory::default();
    assert_eq!(theory.second_moment(Activation::Relu, q), q / 2.0);
    assert_eq!(theory.second_moment(Activation::Identity, q), q);
    // The edge is 1 / c whatever the bias: He et al.'s 2 for ReLU.
    for sb2 in [0.0, 0.3] {
        assert_eq!(theory.critical_weight_var(Activation::Relu, sb2).unwrap(), Some(2.0));
        assert_eq!(theory.critical_weight_var(Activation::Identity, sb2).unwrap(), Some(1.0));
        let a = 0.01;
        assert_eq!(theory.critical_weight_var(Activation::LeakyRelu { slope: a }, sb2).unwrap(), Some(2.0 / (1.0 + a * a)));
    }
}

#[test]
fn piecewise_linear_nets_have_no_finite_fixed_point_at_or_above_the_edge() {
    let theory = Theory::default();
    let fp = |sw2, sb2| theory.fixed_point(Activation::Relu, sw2, sb2).unwrap();
    // Below the edge: q* = sigma_b^2 / (1 - sigma_w^2 / 2), and iterating the map gets there.
    assert_eq!(fp(1.0, 0.3), FixedPoint::Finite(0.6));
    let q = theory.variance_trajectory(Activation::Relu, 1.0, 0.3, 5.0, 60);
    assert!((q[59] - 0.6).abs() < 1e-12, "the map converges to q*: {}", q[59]);
    assert_eq!(fp(1.0, 0.0), FixedPoint::Finite(0.0), "no bias: the signal dies away");
    // At the edge without bias the map is the identity; with bias, or above the edge, q grows.
    assert_eq!(fp(2.0, 0.0), FixedPoint::Neutral);
    assert_eq!(fp(2.0, 0.1), FixedPoint::Unbounded);
    assert_eq!(fp(2.5, 0.0), FixedPoint::Unbounded);
    let q = theory.variance_trajectory(Activation::Relu, 2.5, 0.0, 1.0, 11);
    assert!((q[10] - 1.25f64.powi(10)).abs() < 1e-9, "q grows by sigma_w^2 / 2 a layer: {}", q[10]);
    let q = theory.variance_trajectory(Activation::Relu, 2.0, 0.1, 1.0, 11);
    assert!((q[10] - 2.0).abs() < 1e-12, "at the edge with bias q grows linearly: {}", q[10]);
    assert_eq!(FixedPoint::Unbounded.finite(), None);
    // chi_1 is defined, and exact, in every case.
    assert_eq!(theory.predict(Activation::Relu, 2.5, 0.0).unwrap().chi1, 1.25);
    assert_eq!(theory.predict(Activation::Relu, 2.0, 0.0).unwrap().depth_scale, f64::INFINITY);
}

#[test]
fn tanh_and_sigmoid_fixed_points_are_where_iterating_the_map_goes() {
    let theory = Theory::default();
    for (phi, sw2, sb2) in [
        (Activation::Tanh, 1.5, 0.05),
        (Activation::Tanh, 4.0, 0.05),
        (Activation::Tanh, 2.0, 0.0),
        (Activation::Sigmoid, 1.0, 0.0),
        (Activation::Sigmoid, 16.0, 1.0),
        (Activation::Sigmoid, 103.0, 0.05),
    ] {
        let q_star = theory.fixed_point(phi, sw2, sb2).unwrap().finite().unwrap();
        let q = theory.variance_trajectory(phi, sw2, sb2, 1.0, 400);
        assert!((q[399] / q_star - 1.0).abs() < 1e-9, "{phi:?} {sw2} {sb2}: bisection {q_star}, iteration {}", q[399]);
        // And the map's value there, by brute force, is q* again.
        let v = sw2 * brute_force(|z| phi.value(q_star.sqrt() * z).powi(2)) + sb2;
        assert!((v / q_star - 1.0).abs() < 1e-9, "{phi:?}: V(q*) = {v}, q* = {q_star}");
    }
    // tanh without bias: q* = 0 up to sigma_w^2 = 1, where chi_1 = sigma_w^2.
    let p = theory.predict(Activation::Tanh, 0.8, 0.0).unwrap();
    assert_eq!(p.fixed_point, FixedPoint::Finite(0.0));
    assert!((p.chi1 - 0.8).abs() < 1e-15);
}

#[test]
fn the_quadrature_is_seamless_where_it_hands_over_to_the_rule_in_x() {
    let theory = Theory::default();
    let q = meanfield::GAUSS_HERMITE_UP_TO_Q;
    for phi in [Activation::Tanh, Activation::Sigmoid] {
        for q in [q * 0.999, q * 1.001, 30.0, 100.0] {
            let want = brute_force(|z| phi.derivative(q.sqrt() * z).powi(2));
            let got = theory.derivative_moment(phi, q);
            assert!((got / want - 1.0).abs() < 1e-9, "{phi:?} q {q}: E[phi'^2] {got}, brute force {want}");
            let want = brute_force(|z| phi.value(q.sqrt() * z).powi(2));
            let got = theory.second_moment(phi, q);
            assert!((got / want - 1.0).abs() < 1e-9, "{phi:?} q {q}: E[phi^2] {got}, brute force {want}");
        }
    }
}

#[test]
fn tanh_edge_of_chaos_at_sigma_b2_005_is_1_76() {
    // Schoenholz et al. 2017 ("Deep information propagation", ICLR) run their tanh
    // experiments at sigma_b^2 = 0.05, where their phase diagram (fig. 1) puts the critical
    // sigma_w^2 at about 1.76. Computed here: 1.76095 (q* = 0.57005). Checked independently: chi_1
    // there, with q* found by iterating the map and the expectations by brute force, is 1.
    let theory = Theory::default();
    let sw2 = theory.critical_weight_var(Activation::Tanh, 0.05).unwrap().unwrap();
    assert!((sw2 - 1.76095).abs() < 5e-5, "critical sigma_w^2 {sw2}");
    // The golden values: mpmath 1.3 at 30 digits (adaptive tanh-sinh quadrature of the
    // Gaussian integrals, `findroot` on q = V(q) and on chi_1 = 1) gives the edge at
    // sigma_w^2 = 1.760954639607 with q* = 0.570047881641 there, and q* = 0.570045037854 at
    // sigma_w^2 = 1.76095 (an earlier comment here and REPRODUCTIONS.md said 0.5696, a misquote:
    // the crate has always computed 0.57005).
    assert!((sw2 - 1.760954639607).abs() < 1e-9, "critical sigma_w^2 {sw2}");
    let q_star = |sw2: f64| theory.fixed_point(Activation::Tanh, sw2, 0.05).unwrap().finite().unwrap();
    assert!((q_star(sw2) - 0.570047881641).abs() < 1e-10, "q* at the edge {}", q_star(sw2));
    assert!((q_star(1.76095) - 0.570045037854).abs() < 1e-10, "q* at 1.76095 {}", q_star(1.76095));
    let mut q = 1.0f64;
    for _ in 0..300 {
        q = sw2 * brute_force(|z| (q.sqrt() * z).tanh().powi(2)) + 0.05;
    }
    let chi1 = sw2 * brute_force(|z| (1.0 - (q.sqrt() * z).tanh().powi(2)).powi(2));
    assert!((chi1 - 1.0).abs() < 1e-9, "chi_1 at the critical point: {chi1}");
    // chi_1 grows with sigma_w^2 through the edge: ordered below, chaotic above.
    let below = theory.predict(Activation::Tanh, 1.5, 0.05).unwrap();
    let above = theory.predict(Activation::Tanh, 2.0, 0.05).unwrap();
    assert!(below.chi1 < 1.0 && below.depth_scale > 0.0);
    assert!(above.chi1 > 1.0 && above.depth_scale < 0.0);
    // Without bias the edge is exactly 1 (Poole et al. 2016), and it moves up with sigma_b^2.
    assert_eq!(theory.critical_weight_var(Activation::Tanh, 0.0).unwrap(), Some(1.0));
    let higher = theory.critical_weight_var(Activation::Tanh, 0.3).unwrap().unwrap();
    assert!(higher > sw2 && higher < 3.0, "{higher}");
    // The sigmoid's edge lies far out, where its q* is about 50: sigma' <= 1/4 needs sigma_w^2 ~ 100.
    let sigmoid = theory.critical_weight_var(Activation::Sigmoid, 0.0).unwrap().unwrap();
    assert!((90.0..120.0).contains(&sigmoid), "sigmoid's edge {sigmoid}");
    let p = theory.predict(Activation::Sigmoid, sigmoid, 0.0).unwrap();
    assert!((p.chi1 - 1.0).abs() < 1e-9);
}

#[test]
fn depth_scale_and_bad_input() {
    assert!((depth_scale((-0.1f64).exp()) - 10.0).abs() < 1e-12);
    assert!((depth_scale(0.1f64.exp()) + 10.0).abs() < 1e-12);
    assert_eq!(depth_scale(1.0), f64::INFINITY);
    let theory = Theory::default();
    assert_eq!(theory.predict(Activation::Tanh, 1.0, -0.1).unwrap_err(), Error::BiasVar(-0.1));
    assert_eq!(theory.predict(Activation::Tanh, 0.0, 0.1).unwrap_err(), Error::WeightVar(0.0));
    assert_eq!(theory.predict(Activation::LeakyRelu { slope: 1.5 }, 1.0, 0.1).unwrap_err(), Error::Slope(1.5));
    assert!(Error::BiasVar(-0.1).to_string().contains("sigma_b^2"));
}
