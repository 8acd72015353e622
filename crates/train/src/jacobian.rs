//! The Jacobians of a plain MLP at initialization and their singular values, for
//! `train diagnose --spectrum`: each hidden layer's J_l = dh^l/dh^{l-1} = D_l W_l^T and the
//! input-output Jacobian of hidden layers 2 to l, J_l ... J_2, per example.
//!
//! They are formed on the host in f64 from the model's own weights (read back from burn)
//! and the example's pre-activations, not by autodiff: a Jacobian of N outputs would take N
//! backward passes per example and layer, and float32 products of 50 layers lose the small
//! singular values that the spread is about. `tests/it/spectrum.rs` checks the product of
//! every layer's J against burn's autodiff (one backward pass per output), so the formula
//! and the weights read here are the ones the model computes with.

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use meanfield::Activation;
use meanfield::linalg::singular_values;
use models::Mlp;
use rayon::prelude::*;

/// A dense matrix in f64, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    /// The product self * other.
    pub fn mul(&self, other: &Matrix) -> Matrix {
        assert_eq!(self.cols, other.rows, "a {}x{} matrix times a {}x{} one", self.rows, self.cols, other.rows, other.cols);
        let mut data = vec![0.0; self.rows * other.cols];
        // i-k-j order: the innermost loop runs along rows of both, contiguous and vectorized.
        for (i, out) in data.chunks_exact_mut(other.cols).enumerate() {
            for (k, &a) in self.data[i * self.cols..(i + 1) * self.cols].iter().enumerate() {
                if a != 0.0 {
                    out.iter_mut().zip(&other.data[k * other.cols..(k + 1) * other.cols]).for_each(|(o, b)| *o += a * b);
                }
            }
        }
        Matrix { rows: self.rows, cols: other.cols, data }
    }

    /// The singular values, descending.
    pub fn singular_values(&self) -> Vec<f64> {
        singular_values(&self.data, self.rows, self.cols)
    }
}

/// One linear layer of the MLP in f64: `weight` in burn's `[fan_in, fan_out]` layout.
#[derive(Clone, Debug)]
pub struct HostLayer {
    pub fan_in: usize,
    pub fan_out: usize,
    pub weight: Vec<f64>,
    pub bias: Vec<f64>,
}

/// The model's linear layers, read back from its tensors. Only a plain MLP (no norm, no
/// skip) has the Jacobians this module forms.
pub fn host_layers(model: &Mlp) -> Result<Vec<HostLayer>> {
    if !model.batch_norms.is_empty() || !model.layer_norms.is_empty() || !model.projections.is_empty() {
        bail!("the Jacobian's spectrum is formed for plain MLPs: this one has a norm or skips");
    }
    model
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let [fan_in, fan_out] = l.weight.val().dims();
            let read = |t: Tensor<1>| -> Result<Vec<f64>> {
                let v: Vec<f32> = t
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))
                    .with_context(|| format!("cannot read the parameters of layers.{i}"))?;
                Ok(v.into_iter().map(f64::from).collect())
            };
            let weight = read(l.weight.val().reshape([fan_in * fan_out]))?;
            let bias = match &l.bias {
                Some(b) => read(b.val())?,
                None => vec![0.0; fan_out],
            };
            Ok(HostLayer { fan_in, fan_out, weight, bias })
        })
        .collect()
}

/// Every layer's Jacobian at the input `x`: entry l is dh^{l+1}/dh^l (`fan_out x fan_in`),
/// h^0 = x, hidden layers through `phi` and the output layer through `output` (the identity
/// for logits).
pub fn layer_jacobians(layers: &[HostLayer], phi: Activation, output: Activation, x: &[f64]) -> Vec<Matrix> {
    let mut h = x.to_vec();
    let mut out = Vec::with_capacity(layers.len());
    for (l, layer) in layers.iter().enumerate() {
        assert_eq!(h.len(), layer.fan_in, "layer {} takes {} inputs, got {}", l + 1, layer.fan_in, h.len());
        let act = if l + 1 == layers.len() { output } else { phi };
        let mut z = layer.bias.clone();
        for (j, &hj) in h.iter().enumerate() {
            z.iter_mut().zip(&layer.weight[j * layer.fan_out..(j + 1) * layer.fan_out]).for_each(|(zi, w)| *zi += hj * w);
        }
        // J[i][j] = phi'(z_i) W[j][i].
        let mut data = vec![0.0; layer.fan_out * layer.fan_in];
        for (i, &zi) in z.iter().enumerate() {
            let d = act.derivative(zi);
            for j in 0..layer.fan_in {
                data[i * layer.fan_in + j] = d * layer.weight[j * layer.fan_out + i];
            }
        }
        out.push(Matrix { rows: layer.fan_out, cols: layer.fan_in, data });
        h = z.iter().map(|&v| act.value(v)).collect();
    }
    out
}

/// The singular values of hidden layer l's Jacobian and of the input-output Jacobian from
/// h^1 to h^l, pooled over the examples, for l = 2 ..= the number of hidden layers (the
/// first layer, from the data's 784 inputs, and the output layer are not square, and the
/// theory's spread is for square layers).
#[derive(Clone, Debug, PartialEq)]
pub struct HiddenSpectra {
    /// The hidden layer, 1-based (2 = the first one measured).
    pub layer: usize,
    pub layer_values: Vec<f64>,
    pub end_to_end_values: Vec<f64>,
}

/// [`HiddenSpectra`] for every hidden layer from 2, over the examples (rows of `xs`), the
/// examples side by side on the current rayon pool.
pub fn hidden_spectra(layers: &[HostLayer], phi: Activation, xs: &[Vec<f64>]) -> Vec<HiddenSpectra> {
    let hidden = layers.len().saturating_sub(1);
    let per_example: Vec<Vec<(Vec<f64>, Vec<f64>)>> = xs
        .par_iter()
        .map(|x| {
            let js = layer_jacobians(&layers[..hidden], phi, phi, x);
            let mut product: Option<Matrix> = None;
            js.iter()
                .skip(1)
                .map(|j| {
                    let p = match product.take() {
                        None => j.clone(),
                        Some(p) => j.mul(&p),
                    };
                    let values = (j.singular_values(), p.singular_values());
                    product = Some(p);
                    values
                })
                .collect()
        })
        .collect();
    (2..=hidden)
        .map(|layer| {
            let mut s = HiddenSpectra { layer, layer_values: Vec::new(), end_to_end_values: Vec::new() };
            for example in &per_example {
                let (l, e) = &example[layer - 2];
                s.layer_values.extend(l);
                s.end_to_end_values.extend(e);
            }
            s
        })
        .collect()
}
