//! Global gradient-norm clipping for any module, as PyTorch's `clip_grad_norm_` does it.
//!
//! burn's `GradientClippingConfig::Norm` clips each parameter tensor by its own norm; the
//! clipping that the literature (Pascanu et al. 2013) and PyTorch mean scales every gradient
//! by one factor from the norm of all of them.

use crate::host::{flat, read_all};
use crate::params::{AtParam, PathVisitor};
use crate::reduce::gradient_sums;
use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// The global L2 norm of the gradients in `grads` of `model`'s parameters, in f64.
pub fn global_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    struct Collect<'a>(&'a GradientsParams, Vec<Tensor<1>>);
    impl AtParam for Collect<'_> {
        fn at<const D: usize>(&mut self, _path: &[String], param: &Param<Tensor<D>>) {
            self.1.extend(self.0.get::<D>(param.id).map(flat));
        }
    }
    let mut v = PathVisitor::new(Collect(grads, Vec::new()));
    model.visit(&mut v);
    read_all(v.f.1).iter().map(|g| gradient_sums(g.as_ref()).0).sum::<f64>().sqrt()
}

/// Scales every gradient of `model`'s parameters by `max_norm / (total + 1e-6)` when their
/// global norm `total` exceeds `max_norm` (PyTorch's `clip_grad_norm_`). Returns the norm
/// after clipping.
pub fn clip_global_norm<M: Module>(model: &M, grads: &mut GradientsParams, total: f64, max_norm: f64) -> f64 {
    if total <= max_norm {
        return total;
    }
    let scale = max_norm / (total + 1e-6);
    struct Scale<'a>(&'a mut GradientsParams, f64);
    impl AtParam for Scale<'_> {
        fn at<const D: usize>(&mut self, _path: &[String], param: &Param<Tensor<D>>) {
            if let Some(g) = self.0.remove::<D>(param.id) {
                self.0.register::<D>(param.id, g.mul_scalar(self.1));
            }
        }
    }
    model.visit(&mut PathVisitor::new(Scale(grads, scale)));
    total * scale
}
