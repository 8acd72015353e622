//! The CPU backends the project runs on, chosen at run time with `--backend`.

use burn::prelude::Device;

/// A burn backend. Both are compiled in; results agree to float tolerance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Backend {
    /// burn-flex: burn's maintained CPU backend (SIMD, gemm, threads). The default.
    #[default]
    Flex,
    /// burn-ndarray: the older CPU backend (deprecated upstream, removed in burn 0.23).
    Ndarray,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
        }
    }

    /// The device without autodiff: data, evaluation, telemetry reductions.
    #[allow(deprecated)] // Device::ndarray is deprecated in 0.22 but is still a supported backend.
    pub fn plain_device(self) -> Device {
        match self {
            Backend::Flex => Device::flex(),
            Backend::Ndarray => Device::ndarray(),
        }
    }

    /// The same device with autodiff: models under training live here.
    pub fn autodiff_device(self) -> Device {
        self.plain_device().autodiff()
    }
}
