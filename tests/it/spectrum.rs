//! The Jacobian's singular values: `meanfield`'s SVD against matrices of known spectrum and an
//! independent one-sided Jacobi SVD, the spectrum's summary and free probability's spread,
//! `train`'s host Jacobians against burn's autodiff, and `train diagnose --spectrum` against
//! chi_1 at width 256.

use crate::common::scratch;
use burn::prelude::*;
use chain::Activation;
use clap::Parser;
use meanfield::linalg::singular_values;
use meanfield::spectrum::{Summary, WeightLaw};
use models::{BiasInit, Init, MlpConfig};
use prng::Rng;
use train::backend::Backend;
use train::cli::{Cli, Command};
use train::diagnose;
use train::jacobian::{Matrix, host_layers, layer_jacobians};

/// The singular values by the one-sided Jacobi method (Hestenes 1958): rotate pairs of
/// columns until they are orthogonal; the columns' norms are then the singular values. Slow
/// and simple, and sharing nothing with the crate's bidiagonalization.
fn jacobi_svd(a: &[f64], m: usize, n: usize) -> Vec<f64> {
    let mut cols: Vec<Vec<f64>> = (0..n).map(|j| (0..m).map(|i| a[i * n + j]).collect()).collect();
    for _ in 0..100 {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let alpha: f64 = cols[p].iter().map(|x| x * x).sum();
                let beta: f64 = cols[q].iter().map(|x| x * x).sum();
                let gamma: f64 = cols[p].iter().zip(&cols[q]).map(|(x, y)| x * y).sum();
                if gamma.abs() <= 1e-15 * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                for i in 0..m {
                    let (x, y) = (cols[p][i], cols[q][i]);
                    cols[p][i] = c * x - s * y;
                    cols[q][i] = s * x + c * y;
                }
            }
        }
        if !rotated {
            break;
        }
    }
    let mut s: Vec<f64> = cols.iter().map(|c| c.iter().map(|x| x * x).sum::<f64>().sqrt()).collect();
    s.sort_by(|a, b| b.total_cmp(a));
    s.truncate(m.min(n));
    s
}

/// A random n x n orthogonal matrix: the product of n Householder reflections of Gaussian
/// vectors.
fn orthogonal(n: usize, rng: &mut Rng) -> Vec<f64> {
    let mut q: Vec<f64> = (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 }).collect();
    for _ in 0..n {
        let v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let vv: f64 = v.iter().map(|x| x * x).sum();
        // Q <- Q (I - 2 v v^T / v^T v).
        for row in q.chunks_exact_mut(n) {
            let t: f64 = row.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>() * 2.0 / vv;
            row.iter_mut().zip(&v).for_each(|(a, b)| *a -= t * b);
        }
    }
    q
}

fn gaussian(m: usize, n: usize, rng: &mut Rng) -> Vec<f64> {
    (0..m * n).map(|_| rng.normal()).collect()
}

fn max_error(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

#[test]
fn singular_values_match_known_spectra_and_a_direct_svd() {
    // By hand: [[3, 0], [4, 5]] has A^T A = [[25, 20], [20, 25]], eigenvalues 45 and 5.
    let s = singular_values(&[3.0, 0.0, 4.0, 5.0], 2, 2);
    assert!(max_error(&s, &[45f64.sqrt(), 5f64.sqrt()]) < 1e-14, "{s:?}");
    assert_eq!(singular_values(&[0.0; 6], 2, 3), vec![0.0, 0.0]);
    assert!(max_error(&singular_values(&[-2.5], 1, 1), &[2.5]) < 1e-15);
    assert!(singular_values(&[], 0, 4).is_empty());
    // A rank-one matrix u v^T has one singular value, |u| |v|, and zeros.
    let s = singular_values(&[1.0, 2.0, 2.0, 4.0, 3.0, 6.0], 3, 2);
    assert!((s[0] - 14f64.sqrt() * 5f64.sqrt()).abs() < 1e-14 && s[1].abs() < 1e-14, "{s:?}");

    // U diag(s) V^T with random orthogonal U and V, for a tall, a wide and a square shape,
    // with zeros and values over 11 decades: each comes back to about eps times the largest.
    let mut rng = Rng::new(7);
    for (m, n) in [(9, 6), (6, 9), (12, 12)] {
        let k = m.min(n);
        let want: Vec<f64> = (0..k).map(|i| if i >= k - 2 { 0.0 } else { 10f64.powf(3.0 - 11.0 * i as f64 / (k - 3) as f64) }).collect();
        let (u, v) = (orthogonal(m, &mut rng), orthogonal(n, &mut rng));
        let mut a = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                a[i * n + j] = (0..k).map(|l| u[i * m + l] * want[l] * v[j * n + l]).sum();
            }
        }
        let got = singular_values(&a, m, n);
        assert!(max_error(&got, &want) < 1e-12 * want[0], "{m}x{n}: {got:?} against {want:?}");
    }

    // Gaussian matrices of several shapes against the Jacobi SVD.
    for (m, n) in [(1, 5), (5, 1), (2, 3), (10, 10), (30, 17), (17, 30), (64, 64)] {
        let a = gaussian(m, n, &mut rng);
        let (got, want) = (singular_values(&a, m, n), jacobi_svd(&a, m, n));
        assert!(max_error(&got, &want) < 1e-12 * want[0], "{m}x{n}: {got:?} against {want:?}");
    }
    // Scale does not matter: entries of 1e-200 and of 1e200 give the same values, scaled.
    let a = gaussian(8, 8, &mut rng);
    let base = singular_values(&a, 8, 8);
    for scale in [1e-200, 1e200] {
        let scaled: Vec<f64> = a.iter().map(|v| v * scale).collect();
        let got: Vec<f64> = singular_values(&scaled, 8, 8).iter().map(|v| v / scale).collect();
        assert!(max_error(&got, &base) < 1e-13 * base[0], "scale {scale}: {got:?}");
    }
}

#[test]
fn the_summary_and_free_probabilitys_spread() {
    // sigma = 1..5: sigma^2 = 1, 4, 9, 16, 25 (mean 11, variance 74.8), quantiles by linear
    // interpolation between order statistics.
    let s = Summary::of(&[5.0, 1.0, 4.0, 2.0, 3.0]).unwrap();
    assert_eq!((s.count, s.mean_sq, s.mean, s.max), (5, 11.0, 3.0, 5.0));
    assert!((s.p10.unwrap() - 1.4).abs() < 1e-12 && s.p50 == Some(3.0) && (s.p90.unwrap() - 4.6).abs() < 1e-12, "{s:?}");
    assert!((s.spread - 74.8 / 121.0).abs() < 1e-12, "{}", s.spread);
    // A quantile within the rounding of the largest value is not reported.
    let s = Summary::of(&[1e-300, 1e-300, 1e-300, 1.0]).unwrap();
    assert_eq!((s.p10, s.p50), (None, None));
    assert!(Summary::of(&[]).is_none());

    // The spread per layer: ReLU's phi'^2 is 0 or 1, so mu_2 / mu_1^2 - 1 = 1, plus 1 for
    // i.i.d. weights (Marchenko-Pastur); a linear orthogonal layer has none.
    let theory = meanfield::Theory::default();
    let relu = meanfield::Activation::Relu;
    assert_eq!(theory.jacobian_spread(relu, 1.0, WeightLaw::Iid), 2.0);
    assert_eq!(theory.jacobian_spread(relu, 1.0, WeightLaw::Orthogonal), 1.0);
    assert_eq!(theory.jacobian_spread(meanfield::Activation::Identity, 3.0, WeightLaw::Orthogonal), 0.0);
    // tanh near q = 0 is linear: phi' = 1 - x^2 + ..., mu_2 / mu_1^2 - 1 = 8 q^2 + O(q^3) (from
    // E[(1 - qz^2)^4] / E[(1 - qz^2)^2]^2 with the next order: 4q^2 Var(z^2) = 8q^2).
    let tanh = meanfield::Activation::Tanh;
    let small = theory.jacobian_spread(tanh, 1e-3, WeightLaw::Orthogonal);
    assert!((small / 8e-6 - 1.0).abs() < 0.05, "{small}");
    // At the edge of chaos with sigma_b^2 = 0.05 (q* = 0.570): mu_2 / mu_1^2 - 1 against a
    // brute-force integral.
    let q: f64 = 0.570047881641;
    let brute = |k: i32| -> f64 {
        let h = 1e-3;
        (-40_000..=40_000)
            .map(|i| i as f64 * h)
            .map(|z: f64| (1.0 - (q.sqrt() * z).tanh().powi(2)).powi(2 * k) * (-z * z / 2.0).exp())
            .sum::<f64>()
            * h
            / (2.0 * std::f64::consts::PI).sqrt()
    };
    let want = brute(2) / brute(1).powi(2) - 1.0;
    let got = theory.jacobian_spread(tanh, q, WeightLaw::Orthogonal);
    assert!((got - want).abs() < 1e-9, "{got} against {want}");

    // A Gaussian 400 x 400 matrix of variance 1/n: Marchenko-Pastur has mean sigma^2 1,
    // spread 1 and mean sigma 8 / (3 pi).
    let mut rng = Rng::new(3);
    let n = 400;
    let a: Vec<f64> = (0..n * n).map(|_| rng.normal() / (n as f64).sqrt()).collect();
    let s = Summary::of(&singular_values(&a, n, n)).unwrap();
    assert!((s.mean_sq - 1.0).abs() < 0.02, "{s:?}");
    assert!((s.spread - 1.0).abs() < 0.05, "{s:?}");
    assert!((s.mean / (8.0 / (3.0 * std::f64::consts::PI)) - 1.0).abs() < 0.01, "{s:?}");
}

#[test]
fn the_host_jacobians_are_the_models_own_by_autodiff() {
    // The product of every layer's Jacobian (first and output layers too) at one input, against
    // d(output_k)/dx from burn's autodiff, one backward pass per output.
    for (act, phi) in [(Activation::Tanh, meanfield::Activation::Tanh), (Activation::Sigmoid, meanfield::Activation::Sigmoid)] {
        let device = Backend::Flex.autodiff_device();
        let config = MlpConfig::deep(6, 3, 5, 4, act)
            .with_init(Init::KaimingNormal { gain: 1.5 })
            .with_bias_init(BiasInit::Drawn(Init::Normal { mean: 0.0, std: 0.3 }))
            .with_seed(11);
        let model = config.init(&device);
        let x: Vec<f32> = vec![0.3, -1.2, 0.8, 0.05, -0.4, 1.1];
        let layers = host_layers(&model).unwrap();
        let xs: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let js = layer_jacobians(&layers, phi, meanfield::Activation::Identity, &xs);
        assert_eq!(js.iter().map(|j| (j.rows, j.cols)).collect::<Vec<_>>(), vec![(5, 6), (5, 5), (5, 5), (4, 5)]);
        let host = js.iter().skip(1).fold(js[0].clone(), |p, j| j.mul(&p));
        for k in 0..4 {
            let input = Tensor::<2>::from_data(TensorData::new(x.clone(), [1, 6]), &device).require_grad();
            let out = model.forward(input.clone());
            let grads = out.slice([0..1, k..k + 1]).sum().backward();
            let row: Vec<f32> = input.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
            for (j, &g) in row.iter().enumerate() {
                let want = host.data[k * 6 + j];
                assert!((f64::from(g) - want).abs() < 1e-5 * (1.0 + want.abs()), "{act:?}: d out_{k} / dx_{j}: autodiff {g}, host {want}");
            }
        }
    }
    // The product itself against a hand-computed one.
    let a = Matrix { rows: 2, cols: 3, data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] };
    let b = Matrix { rows: 3, cols: 1, data: vec![1.0, 0.0, -1.0] };
    assert_eq!(a.mul(&b).data, vec![-2.0, -2.0]);
}

fn diagnose_args(flags: &[&str]) -> diagnose::DiagnoseArgs {
    let argv = ["train", "diagnose"].iter().chain(flags).copied();
    match Cli::try_parse_from(argv).unwrap().command {
        Some(Command::Diagnose(a)) => a,
        other => panic!("parsed as {other:?}"),
    }
}

/// The rows of a `diagnose_spectrum.csv`: (weight_var, layer, jacobian, fields by name).
fn spectrum_rows(dir: &std::path::Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join(gradflow::runfolder::diagnose::SPECTRUM)).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header, gradflow::runfolder::diagnose::SPECTRUM_COLUMNS);
    lines.map(|l| header.iter().map(|h| h.to_string()).zip(l.split(',').map(str::to_string)).collect()).collect()
}

#[test]
fn diagnose_measures_the_spectrum_beside_chi_and_free_probability() {
    // tanh at the edge of chaos (sigma_b^2 = 0.05), width 256, Gaussian and orthogonal.
    let mut spreads = Vec::new();
    for init in ["normal", "orthogonal"] {
        let out = scratch(&format!("spectrum-{init}"));
        let a = diagnose_args(&[
            "--activation", "tanh", "--weight-var", "1.76095", "--bias-var", "0.05", "--depth", "10", "--width", "256",
            "--probe", "20", "--spectrum", "3", "--seeds", "1", "--skip", "1", "--init", init, "--quiet", "--out",
            out.to_str().unwrap(),
        ]);
        let d = diagnose::run(&a).unwrap();
        assert_eq!((d.info.init.as_deref(), d.info.spectrum_examples), (Some(init), 3));
        let rows = spectrum_rows(&out);
        // One row per hidden layer from 2 and Jacobian.
        assert_eq!(rows.len(), 2 * 9);
        let num = |r: &std::collections::BTreeMap<String, String>, c: &str| r[c].parse::<f64>().unwrap();
        // Each layer's mean squared singular value is chi(q^l): over layers 3 to 10 the ratio
        // averages to 1 within 3% (one layer's is within about 4%: 3 examples of 256 units).
        let layer_rows: Vec<_> = rows.iter().filter(|r| r["jacobian"] == "layer").collect();
        assert!(layer_rows.iter().all(|r| r["count"] == "768"));
        let ratios: Vec<f64> = layer_rows.iter().skip(1).map(|r| num(r, "mean_sq") / num(r, "predicted_mean_sq")).collect();
        let mean_ratio = ratios.iter().sum::<f64>() / ratios.len() as f64;
        assert!((mean_ratio - 1.0).abs() < 0.03, "{init}: mean sigma^2 / chi per layer {ratios:?}");
        assert!(ratios.iter().all(|r| (r - 1.0).abs() < 0.1), "{init}: {ratios:?}");
        // The input-output Jacobian of layers 2 to 10: its mean sigma^2 is the product of the
        // chi's, and its spread free probability's.
        let last = rows.iter().find(|r| r["jacobian"] == "input-output" && r["layer"] == "10").unwrap();
        let (mean_sq, want) = (num(last, "mean_sq"), num(last, "predicted_mean_sq"));
        assert!((mean_sq / want - 1.0).abs() < 0.15, "{init}: {mean_sq} against {want}");
        spreads.push((num(last, "spread"), num(last, "predicted_spread")));
    }
    // ReLU cannot be made isometric: half of D's entries are 0, so even orthogonal weights add
    // mu_2 / mu_1^2 - 1 = 1 a layer (19 over layers 2 to 20), and the products' many zero
    // singular values (rank-deficient matrices) must not upset the SVD.
    let out = scratch("spectrum-relu");
    let a = diagnose_args(&[
        "--activation", "relu", "--weight-var", "2", "--bias-var", "0", "--depth", "20", "--width", "128", "--probe", "20",
        "--spectrum", "2", "--seeds", "1", "--init", "orthogonal", "--quiet", "--out", out.to_str().unwrap(),
    ]);
    diagnose::run(&a).unwrap();
    let rows = spectrum_rows(&out);
    let last = rows.iter().find(|r| r["jacobian"] == "input-output" && r["layer"] == "20").unwrap();
    let (relu, relu_theory): (f64, f64) = (last["spread"].parse().unwrap(), last["predicted_spread"].parse().unwrap());
    assert_eq!(relu_theory, 19.0);
    assert!((relu / relu_theory - 1.0).abs() < 0.35, "ReLU orthogonal: spread {relu}");
    // Pennington et al.: orthogonal weights keep the spectrum far more concentrated than
    // Gaussian ones at the same chi_1 = 1 (predicted 9 x 1.30 against 9 x 0.30).
    let ((gauss, gauss_theory), (orth, orth_theory)) = (spreads[0], spreads[1]);
    assert!(gauss > 2.5 * orth, "Gaussian spread {gauss}, orthogonal {orth}");
    assert!((gauss / gauss_theory - 1.0).abs() < 0.35 && (orth / orth_theory - 1.0).abs() < 0.35, "{spreads:?}");
}

#[test]
fn the_report_draws_the_spectrum_and_xtask_spectrum_puts_folders_side_by_side() {
    let dir = scratch("spectrum-report");
    let mut runs = Vec::new();
    for init in ["normal", "orthogonal"] {
        let run = dir.join(init);
        let a = diagnose_args(&[
            "--activation", "tanh", "--weight-var", "1.0,1.76", "--bias-var", "0.05", "--depth", "6", "--width", "32",
            "--probe", "10", "--spectrum", "2", "--seeds", "2", "--skip", "1", "--init", init, "--quiet", "--out",
            run.to_str().unwrap(),
        ]);
        diagnose::run(&a).unwrap();
        runs.push(run);
    }
    // One folder's report: figures 1 and 2, and figure 3 from diagnose_spectrum.csv, whose
    // reading quotes the deepest layer's medians over the two seeds.
    let s = xtask::write_report(&runs[0], Some(&dir.join("report")), xtask::Format::Svg).unwrap();
    let slugs: Vec<&str> = s.figures.iter().map(|f| f.slug.as_str()).collect();
    assert_eq!(slugs, [xtask::diagnose::SLUGS[0], xtask::diagnose::SLUGS[1], xtask::diagnose::spectrum::SLUG]);
    let rows = spectrum_rows(&runs[0]);
    let deepest: Vec<f64> = rows
        .iter()
        .filter(|r| r["weight_var"] == "1.76" && r["layer"] == "6" && r["jacobian"] == "input-output")
        .map(|r| r["max"].parse().unwrap())
        .collect();
    assert_eq!(deepest.len(), 2);
    let median = 0.5 * (deepest[0] + deepest[1]);
    let reading = &s.figures[2].reading;
    assert!(reading.contains(&format!("largest singular value is {}", xtask::numfmt::sig(median))), "{reading} vs {median}");
    let md = std::fs::read_to_string(&s.markdown).unwrap();
    assert!(md.contains("The Jacobian's singular values"), "{md}");
    // Two folders in one figure, each curve named by its initialization.
    let out = dir.join("side-by-side");
    let s = xtask::diagnose::spectrum::write_spectrum(&runs, &out, xtask::Format::Svg).unwrap();
    assert_eq!(s.figures.len(), 1);
    let reading = &s.figures[0].reading;
    assert!(reading.contains("tanh normal, σ_w² = 1.76") && reading.contains("tanh orthogonal, σ_w² = 1.76"), "{reading}");
    // A folder written without --spectrum is an error naming the missing file.
    let plain = dir.join("plain");
    diagnose::run(&diagnose_args(&[
        "--depth", "4", "--width", "8", "--probe", "10", "--seeds", "1", "--skip", "1", "--quiet", "--out", plain.to_str().unwrap(),
    ]))
    .unwrap();
    let e = format!("{:#}", xtask::diagnose::spectrum::write_spectrum(&[plain], &dir.join("none"), xtask::Format::Svg).unwrap_err());
    assert!(e.contains("diagnose_spectrum.csv"), "{e}");
    // --spectrum asks for no more examples than the probe set has.
    let e = format!("{:#}", diagnose::run(&diagnose_args(&["--probe", "3", "--spectrum", "4"])).unwrap_err());
    assert!(e.contains("--spectrum 4") && e.contains("--probe 3"), "{e}");
}

#[test]
fn glorot_and_bengios_average_singular_values_are_half_and_four_fifths() {
    // Their section 4.2.1: the layer Jacobian's average singular value is about 0.5 with the
    // standard initialization U(+-1/sqrt(n)) (sigma_w^2 = 1/3) and 0.8 with the normalized one
    // (sigma_w^2 = 1 between equal widths), tanh. The first is the quarter-circle law's mean
    // 8 / (3 pi) times sqrt(1/3) = 0.490, tanh being nearly linear at q ~ 0.
    let out = scratch("spectrum-glorot-bengio");
    let a = diagnose_args(&[
        "--activation", "tanh", "--weight-var", "0.3333333333333333,1", "--bias-var", "0", "--depth", "5", "--width", "256",
        "--probe", "20", "--spectrum", "2", "--seeds", "1", "--skip", "1", "--init", "uniform", "--quiet", "--out",
        out.to_str().unwrap(),
    ]);
    diagnose::run(&a).unwrap();
    let rows = spectrum_rows(&out);
    let mean_sigma = |w: &str| {
        let v: Vec<f64> = rows.iter().filter(|r| r["weight_var"] == w && r["jacobian"] == "layer").map(|r| r["mean"].parse().unwrap()).collect();
        assert_eq!(v.len(), 4, "layers 2 to 5");
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (standard, normalized) = (mean_sigma("0.3333333333333333"), mean_sigma("1"));
    let theory = 8.0 / (3.0 * std::f64::consts::PI) * (1.0f64 / 3.0).sqrt();
    assert!((standard / theory - 1.0).abs() < 0.03, "standard: {standard}, theory {theory}");
    assert!((normalized - 0.8).abs() < 0.03, "normalized: {normalized}");
}
