//! Reading a tensor's values where they already are: burn-flex keeps every tensor in host
//! memory, and a contiguous one can be read in place, without the copy (and, for a tensor
//! that something else still holds, the allocation and second copy) of `into_data`.

use burn::backend::flex::FlexTensor;
use burn::backend::{BackendTensor, DType, DispatchTensorKind};
use burn::prelude::Tensor;

/// The float32 values of a flex tensor, read in place. It holds the tensor's buffer (shared,
/// as a clone of the tensor would), so the values stay as they were when it was taken: an
/// operation that would write into that buffer in place (such as [`crate::sgd_update`])
/// writes into a new one while this exists.
pub struct HostValues {
    tensor: FlexTensor,
    start: usize,
    end: usize,
}

impl AsRef<[f32]> for HostValues {
    fn as_ref(&self) -> &[f32] {
        &self.tensor.storage::<f32>()[self.start..self.end]
    }
}

/// The values of `t` in place, when `t` is a contiguous float32 tensor of the flex backend
/// outside the autodiff graph (such as `Tensor::inner` or a gradient gives); `None` for any
/// other tensor, which the caller reads with `into_data`.
pub fn host_values<const D: usize>(t: &Tensor<D>) -> Option<HostValues> {
    match t.clone().into_dispatch().kind {
        DispatchTensorKind::Flex(BackendTensor::Float(tensor)) if tensor.dtype() == DType::F32 => {
            let (start, end) = tensor.layout().contiguous_offsets()?;
            Some(HostValues { tensor, start, end })
        }
        _ => None,
    }
}
