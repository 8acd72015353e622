//! The backends a run can pick at run time (`train --backend`, the examples' `--backend`):
//! burn's two CPU backends, always compiled in, and its GPU backends, compiled in by the
//! `wgpu` and `cuda` features (off by default, so that the default build keeps one build of
//! burn). Here, in the library, so that `train` and the examples open devices the same way.

use burn::prelude::*;
use std::sync::OnceLock;

/// A burn backend. Results agree to float tolerance on all of them; the kernels crate's fast
/// paths run on flex alone, the others run burn's own operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// burn-flex: burn's maintained CPU backend (SIMD, gemm, threads). The default.
    #[default]
    Flex,
    /// burn-ndarray: the older CPU backend (deprecated upstream, removed in burn 0.23).
    Ndarray,
    /// burn's wgpu backend (Vulkan, Metal or DirectX; Mesa's lavapipe on a machine without a
    /// GPU, with CUBECL_WGPU_DEFAULT_DEVICE=Cpu). Needs a build with `--features wgpu`.
    Wgpu,
    /// burn's CUDA backend, on the first NVIDIA GPU. Needs a build with `--features cuda`.
    Cuda,
}

/// Why a backend cannot be used: one line, naming the missing feature or driver.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend's cargo feature was off in this build.
    #[error("backend `{backend}` is not compiled into this build: rebuild with `--features {backend}` (`cargo build -p train --release --features {backend}`)")]
    NotCompiled {
        /// The backend's name, which is also its feature's.
        backend: &'static str,
    },
    /// A name that is no backend's.
    #[error("unknown backend `{0}`: expected flex, ndarray, wgpu or cuda")]
    Unknown(String),
    /// The backend is compiled in but its device could not be opened.
    #[error("backend `{backend}` has no usable device ({hint}): {message}")]
    NoDevice {
        /// The backend's name.
        backend: &'static str,
        /// What to check or install.
        hint: &'static str,
        /// What the device said (cubecl's panic message, on one line).
        message: String,
    },
}

impl std::str::FromStr for Backend {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Backend, BackendError> {
        Backend::ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| BackendError::Unknown(s.to_string()))
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Backend {
    /// Every backend, compiled in or not.
    pub const ALL: [Backend; 4] = [Backend::Flex, Backend::Ndarray, Backend::Wgpu, Backend::Cuda];

    /// The name `--backend` takes and the manifest's `backend` holds.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// Whether this build has the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Flex | Backend::Ndarray => true,
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// Checks that the backend is compiled in and that its device works, by running one small
    /// operation on it: a missing driver or adapter surfaces here as a one-line error instead
    /// of a panic deep in the first step. The CPU backends always pass.
    pub fn open(self) -> Result<(), BackendError> {
        if !self.is_compiled() {
            return Err(BackendError::NotCompiled { backend: self.name() });
        }
        if matches!(self, Backend::Flex | Backend::Ndarray) {
            return Ok(());
        }
        let hint = match self {
            Backend::Cuda => "is NVIDIA's driver installed and a GPU visible? nvidia-smi lists them",
            _ => {
                "is a Vulkan driver installed? Without a GPU: apt-get install mesa-vulkan-drivers libvulkan1 and CUBECL_WGPU_DEFAULT_DEVICE=Cpu"
            }
        };
        // Probed once per process: the probe swaps the process's panic hook, which must not
        // race with a second probe (the second would keep the silent hook for good).
        static PROBES: [OnceLock<Result<(), String>>; 2] = [OnceLock::new(), OnceLock::new()];
        let slot = &PROBES[usize::from(self == Backend::Cuda)];
        match slot.get_or_init(|| self.probe()) {
            Ok(()) => Ok(()),
            Err(message) => Err(BackendError::NoDevice { backend: self.name(), hint, message: message.clone() }),
        }
    }

    /// Runs one small operation on the device. cubecl reports a missing adapter or driver by
    /// panicking when the device is first used: the panic is caught, with its message kept
    /// out of the terminal (it becomes the error's message instead).
    fn probe(self) -> Result<(), String> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let probe = std::panic::catch_unwind(|| {
            let device = self.plain_device();
            Tensor::<1>::ones([4], &device).sum().into_scalar::<f32>()
        });
        std::panic::set_hook(previous);
        match probe {
            Ok(4.0) => Ok(()),
            Ok(sum) => Err(format!("a test sum of four ones gave {sum}")),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the device panicked".to_string());
                // One line: cubecl's messages carry the error's debug print over several.
                Err(message.split_whitespace().collect::<Vec<_>>().join(" "))
            }
        }
    }

    /// The memory the backend's device may hold, in bytes, where burn reports it (cubecl's
    /// `max_memory`: CUDA reports it, wgpu does not); `None` for the CPU backends and for a
    /// device that gives no figure. Opens the device: call [`Backend::open`] first.
    pub fn device_memory(self) -> Option<u64> {
        match self {
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            Backend::Wgpu | Backend::Cuda if self.is_compiled() => match self.plain_device().as_dispatch() {
                burn::backend::DispatchDevice::Cube(device) => device.client().properties().memory.max_memory(),
                #[allow(unreachable_patterns)]
                _ => None,
            },
            _ => None,
        }
    }

    /// The device without autodiff: data, evaluation, telemetry reductions. Call
    /// [`Backend::open`] first: for a GPU backend that this build lacks, this panics with the
    /// error `open` would have returned.
    #[allow(deprecated)] // Device::ndarray is deprecated in 0.22 but is still a supported backend.
    pub fn plain_device(self) -> Device {
        match self {
            Backend::Flex => Device::flex(),
            Backend::Ndarray => Device::ndarray(),
            #[cfg(feature = "wgpu")]
            // The default adapter: the most capable GPU, or the one CUBECL_WGPU_DEFAULT_DEVICE
            // names (`Cpu` for lavapipe, which wgpu never picks on its own).
            Backend::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Device::cuda(0),
            #[allow(unreachable_patterns)]
            other => panic!("{}", BackendError::NotCompiled { backend: other.name() }),
        }
    }

    /// The same device with autodiff: models under training live here.
    pub fn autodiff_device(self) -> Device {
        self.plain_device().autodiff()
    }
}
