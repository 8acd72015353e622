//! The configurable CNN: stages of blocks of 3x3 convolutions (one convolution a block, or He
//! et al.'s basic block of two), downsampled by stride 2 between stages, whose activation,
//! initialization, normalization (BatchNorm2d) and residual skips (He et al.'s option B:
//! identity, or a 1x1 projection where the shape changes) are configuration, then global
//! average pooling and a linear head; with a tapped forward pass for telemetry.

use crate::init::{BiasInit, Init, draw_bias, draw_bias_of, draw_iid, draw_weight};
use crate::mlp::{ModelError, Norm, apply, watched};
use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig, Linear};
use burn::prelude::*;
use chain::Activation;
use gradflow::{Grouping, Taps};
use prng::Rng;

/// The side of every convolution's kernel in the stages.
pub const KERNEL: usize = 3;

fn invalid(field: &'static str, message: impl Into<String>) -> ModelError {
    ModelError::Invalid { field, message: message.into() }
}

/// The configuration of a [`Cnn`]: an image of `input` = `[channels, height, width]`, then
/// `channels.len()` stages of `depth` blocks each (one 3x3 convolution a block, or two with
/// [`Block::Basic`]), stage `s` with `channels[s]` channels; the first convolution of every
/// stage but the first has stride 2 (it halves the image, rounding up), every other one
/// stride 1, all padded by 1. Global average pooling and a linear layer to `output` classes
/// follow.
#[derive(Clone, Debug, PartialEq)]
pub struct CnnConfig {
    /// `[channels, height, width]` of one example.
    pub input: [usize; 3],
    /// Channels of each stage, first to last.
    pub channels: Vec<usize>,
    /// Blocks per stage: convolutions per stage with [`Block::Single`], twice as many with
    /// [`Block::Basic`].
    pub depth: usize,
    /// The form of a block (see [`Cnn`]).
    pub block: Block,
    pub output: usize,
    /// Applied after every convolution's norm (the basic block's second: after the sum).
    pub activation: Activation,
    pub init: Init,
    pub bias_init: BiasInit,
    /// `none` or `batch` (BatchNorm2d over each channel); `layer` is refused.
    pub norm: Norm,
    /// Adds every block's output to a residual stream, the single form's first convolution
    /// excepted (see [`Cnn`]).
    pub residual: bool,
    /// Seeds the initializers; convolution `i` draws from its own streams of this seed.
    pub seed: u64,
}

/// The form of one block of a [`Cnn`] (the exact forms are [`Cnn`]'s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Block {
    /// One convolution, its activation before the sum: `h' = S h + f(norm(conv(h)))`.
    #[default]
    Single,
    /// He et al.'s (2016) basic block of two convolutions, the activation after the sum:
    /// `h' = f(norm(conv2(f(norm(conv1(h))))) + S h)`.
    Basic,
}

impl Block {
    /// The name configs use.
    pub fn name(self) -> &'static str {
        match self {
            Block::Single => "single",
            Block::Basic => "basic",
        }
    }
}

/// Where one convolution sits and what it maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// 1-based stage and block within it, as the layer's name says (`s2.conv3`, `s2.b3.conv1`).
    pub stage: usize,
    pub index: usize,
    /// The block's form, and which of its convolutions this is (1-based; always 1 in a
    /// single block).
    pub block: Block,
    pub position: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub stride: usize,
    /// The side of its output image (height, width).
    pub out_size: [usize; 2],
    /// The skip added after this convolution: in a basic block only its second has one.
    pub skip: ConvSkip,
    /// The channels of the skip's source (the block's input) and the stride of a projection
    /// on it: the convolution's own in a single block, the first convolution's in a basic one.
    pub skip_channels: usize,
    pub skip_stride: usize,
}

/// What a convolution's output is added to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvSkip {
    /// Plain: nothing is added.
    #[default]
    None,
    /// The block's input itself: input and output of the same shape.
    Identity,
    /// `P h`, `P` a 1x1 convolution of the block's stride, no bias (followed by BatchNorm2d
    /// in a basic block of a net with BatchNorm).
    Projection,
}

impl ConvShape {
    /// The layer's name in every file and view: `s<stage>.conv<index>` in a single block,
    /// `s<stage>.b<index>.conv<position>` in a basic one.
    pub fn name(&self) -> String {
        match self.block {
            Block::Single => format!("s{}.conv{}", self.stage, self.index),
            Block::Basic => format!("s{}.b{}.conv{}", self.stage, self.index, self.position),
        }
    }
}

/// The side of a 3x3 convolution's output, padding 1: `floor((n + 2 - 3) / stride) + 1`.
fn out_side(n: usize, stride: usize) -> usize {
    (n + 2 - KERNEL) / stride + 1
}

impl CnnConfig {
    /// Every convolution, first to last.
    pub fn convs(&self) -> Vec<ConvShape> {
        let per_block = match self.block {
            Block::Single => 1,
            Block::Basic => 2,
        };
        let mut out = Vec::with_capacity(self.channels.len() * self.depth * per_block);
        let (mut c, mut size) = (self.input[0], [self.input[1], self.input[2]]);
        for (s, &channels) in self.channels.iter().enumerate() {
            for j in 0..self.depth {
                let stride = if s > 0 && j == 0 { 2 } else { 1 };
                let out_size = size.map(|n| out_side(n, stride));
                // The single form's first convolution is the stem, with nothing to skip; a
                // basic block always has its skip, projected where it changes the shape.
                let skipped = self.residual && (self.block == Block::Basic || !out.is_empty());
                let skip = match (skipped, c == channels && stride == 1) {
                    (false, _) => ConvSkip::None,
                    (true, true) => ConvSkip::Identity,
                    (true, false) => ConvSkip::Projection,
                };
                let shape = ConvShape {
                    stage: s + 1,
                    index: j + 1,
                    block: self.block,
                    position: 1,
                    in_channels: c,
                    out_channels: channels,
                    stride,
                    out_size,
                    skip,
                    skip_channels: c,
                    skip_stride: stride,
                };
                match self.block {
                    Block::Single => out.push(shape),
                    Block::Basic => {
                        out.push(ConvShape { skip: ConvSkip::None, ..shape });
                        out.push(ConvShape { position: 2, in_channels: channels, stride: 1, ..shape });
                    }
                }
                (c, size) = (channels, out_size);
            }
        }
        out
    }

    /// The number of trainable parameters: convolutions with their biases, the norms' scale
    /// and shift, the projections (with their norms in basic blocks) and the head.
    pub fn num_params(&self) -> usize {
        let convs: usize = self
            .convs()
            .iter()
            .map(|c| {
                let conv = c.out_channels * c.in_channels * KERNEL * KERNEL + c.out_channels;
                let norm = if self.norm == Norm::Batch { 2 * c.out_channels } else { 0 };
                let projection = if c.skip == ConvSkip::Projection { c.out_channels * c.skip_channels } else { 0 };
                let projection_norm = if self.projection_norm(c) { 2 * c.out_channels } else { 0 };
                conv + norm + projection + projection_norm
            })
            .sum();
        let last = self.channels.last().copied().unwrap_or(0);
        convs + last * self.output + self.output
    }

    /// Checks the shapes and the initializers. `field` names the config key at fault.
    pub fn validate(&self) -> Result<(), ModelError> {
        let [c, h, w] = self.input;
        if c == 0 || h == 0 || w == 0 {
            return Err(invalid("input", format!("an image of {c}x{h}x{w} (channels x height x width) has no pixels")));
        }
        if self.output == 0 {
            return Err(invalid("output", "must be at least 1"));
        }
        if self.channels.is_empty() {
            return Err(invalid("channels", "needs at least one stage"));
        }
        if let Some(s) = self.channels.iter().position(|&c| c == 0) {
            return Err(invalid("channels", format!("stage {} has 0 channels", s + 1)));
        }
        if self.depth == 0 {
            return Err(invalid("depth", "must be at least 1 (the blocks of each stage)"));
        }
        if h < KERNEL || w < KERNEL {
            return Err(invalid("input", format!("the {h}x{w} image is smaller than the {KERNEL}x{KERNEL} kernel")));
        }
        for conv in self.convs().iter().filter(|c| c.index == 1) {
            let [oh, ow] = conv.out_size;
            if oh < KERNEL || ow < KERNEL {
                return Err(invalid(
                    "channels",
                    format!(
                        "stage {} works on a {oh}x{ow} image (the {h}x{w} input halved {} times), smaller than the \
                         {KERNEL}x{KERNEL} kernel: use at most {} stages",
                        conv.stage,
                        conv.stage - 1,
                        conv.stage - 1
                    ),
                ));
            }
        }
        if self.norm == Norm::Layer {
            return Err(invalid("norm", "a CNN takes `none` or `batch` (BatchNorm2d over each channel)"));
        }
        if self.residual && self.convs().iter().all(|c| c.skip == ConvSkip::None) {
            return Err(invalid(
                "residual",
                "the first convolution has no skip and there is no other: give more than one convolution (`depth` or `channels`)",
            ));
        }
        self.init.validate().map_err(|m| invalid("init", m))?;
        match self.bias_init {
            BiasInit::Constant { value } if !value.is_finite() => {
                return Err(invalid("bias_init", format!("value must be finite, got {value}")));
            }
            BiasInit::SameAsWeight if matches!(self.init, Init::Orthogonal { .. }) => {
                return Err(invalid("bias_init", "same-as-weight is not defined for orthogonal weights"));
            }
            BiasInit::Drawn(Init::Orthogonal { .. }) => {
                return Err(invalid("bias_init", "orthogonal is not defined for a bias vector"));
            }
            BiasInit::Drawn(ref init) => init.validate().map_err(|m| invalid("bias_init", m))?,
            _ => {}
        }
        Ok(())
    }

    /// Whether the projection on convolution `c`'s skip has a BatchNorm2d of its own: in a
    /// basic block of a net with BatchNorm, as in He et al.'s option B. The single form keeps
    /// its bare projection, so that the runs recorded with it rerun as they were.
    fn projection_norm(&self, c: &ConvShape) -> bool {
        c.skip == ConvSkip::Projection && c.block == Block::Basic && self.norm == Norm::Batch
    }

    /// How the watcher groups the parameters: convolution `i` with its norm and its skip's
    /// projection (and the projection's norm) is the layer [`ConvShape::name`], and the head
    /// is `head`.
    pub fn grouping(&self) -> Grouping {
        self.convs().iter().enumerate().fold(Grouping::default(), |g, (i, c)| {
            let members = [format!("convs.{i}"), format!("norms.{i}"), format!("projections.{i}"), format!("projection_norms.{i}")];
            g.group(c.name(), &members.iter().map(String::as_str).collect::<Vec<_>>())
        })
    }

    /// Builds the model on `device`, every parameter drawn now from the seed: a convolution's
    /// weight from `init` with PyTorch's fans (fan in `C_in * 9`, fan out `C_out * 9`), its
    /// bias from `bias_init`, a projection from `init` (fan in the skip's channels), the head
    /// as the MLP's output layer.
    ///
    /// # Panics
    /// If the configuration does not [`validate`](Self::validate): callers validate user input first.
    pub fn init(&self, device: &Device) -> Cnn {
        if let Err(e) = self.validate() {
            panic!("CnnConfig::init on an invalid config ({e}); validate user input first");
        }
        let shapes = self.convs();
        let area = KERNEL * KERNEL;
        let convs = shapes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (fan_in, fan_out) = (c.in_channels * area, c.out_channels * area);
                let mut rng = Rng::derive(self.seed, &[i as u64, 0]);
                let weight = draw_filters(&self.init, c.out_channels, c.in_channels, area, &mut rng);
                let mut rng = Rng::derive(self.seed, &[i as u64, 1]);
                let bias = draw_bias_of(&self.bias_init, &self.init, fan_in, fan_out, c.out_channels, &mut rng);
                Conv {
                    weight: Param::from_data(TensorData::new(weight, [c.out_channels, c.in_channels, KERNEL, KERNEL]), device),
                    bias: Param::from_data(TensorData::new(bias, [c.out_channels]), device),
                }
            })
            .collect();
        let norms = if self.norm == Norm::Batch { shapes.iter().map(|c| BatchNormConfig::new(c.out_channels).init(device)).collect() } else { Vec::new() };
        let projections = shapes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (c.skip == ConvSkip::Projection).then(|| {
                    let mut rng = Rng::derive(self.seed, &[i as u64, 2]);
                    let weight = draw_filters(&self.init, c.out_channels, c.skip_channels, 1, &mut rng);
                    Param::from_data(TensorData::new(weight, [c.out_channels, c.skip_channels, 1, 1]), device)
                })
            })
            .collect();
        let projection_norms = if self.norm == Norm::Batch {
            shapes.iter().map(|c| self.projection_norm(c).then(|| BatchNormConfig::new(c.out_channels).init(device))).collect()
        } else {
            Vec::new()
        };
        let last = *self.channels.last().expect("validated: at least one stage");
        let k = shapes.len() as u64;
        let mut rng = Rng::derive(self.seed, &[k, 0]);
        let weight = draw_weight(&self.init, last, self.output, &mut rng);
        let mut rng = Rng::derive(self.seed, &[k, 1]);
        let bias = draw_bias(&self.bias_init, &self.init, last, self.output, &mut rng);
        let head = Linear {
            weight: Param::from_data(TensorData::new(weight, [last, self.output]), device),
            bias: Some(Param::from_data(TensorData::new(bias, [self.output]), device)),
        };
        Cnn { convs, norms, projections, projection_norms, head, shapes, input: self.input, activation: self.activation }
    }
}

/// `out` filters of `inputs x area` weights, `[out, inputs, k, k]` row-major, drawn with
/// PyTorch's fans for a convolution (fan in `inputs * area`, fan out `out * area`). An
/// orthogonal draw is made on the `[out, inputs * area]` matrix that PyTorch's `orthogonal_`
/// flattens a convolution's weight into.
fn draw_filters(init: &Init, out: usize, inputs: usize, area: usize, rng: &mut Rng) -> Vec<f32> {
    match init {
        Init::Orthogonal { .. } => draw_weight(init, out, inputs * area, rng),
        _ => draw_iid(init, inputs * area, out * area, out * inputs * area, rng),
    }
}

/// One 3x3 convolution's parameters, in PyTorch's layout `[C_out, C_in, 3, 3]`.
#[derive(Module, Debug)]
pub struct Conv {
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
}

/// A CNN of stages of blocks of 3x3 convolutions. In the single form ([`Block::Single`]),
/// convolution `i` (0-based here, named `s<stage>.conv<index>` in every file and view) is a
/// block and computes, from its input `h`:
///
/// ```text
/// z  = conv(h, W, stride) + b       tapped: delta_norm = dL/dz, per example
/// n  = norm(z)                      none | BatchNorm2d (norms.i)
/// a  = f(n)                         tapped: act_mean, act_std, saturation, dead channels
/// h' = a                            plain, and always the first convolution
/// h' = h + a                        residual, where the shape is kept
/// h' = P h + a                      residual, where channels or size change: P a 1x1
///                                   convolution of the same stride (projections.i, no bias)
///                                   tapped: stream_delta_norm = dL/dh'
/// ```
///
/// In the basic form ([`Block::Basic`], He et al. 2016, section 3.3), a block is two
/// convolutions `i` and `i + 1` (named `s<stage>.b<index>.conv1` and `.conv2`), the activation
/// after the sum:
///
/// ```text
/// z1 = conv(h, W1, stride) + b1     tapped as conv1: delta_norm = dL/dz1
/// a1 = f(norm(z1))                  tapped as conv1: activation health
/// z2 = conv(a1, W2, 1) + b2         tapped as conv2: delta_norm = dL/dz2
/// h' = f(norm(z2))                  plain
/// h' = f(norm(z2) + S h)            residual: S the identity where the shape is kept, else
///                                   a 1x1 projection of the block's stride (projections.i+1),
///                                   with its own BatchNorm2d where the net has BatchNorm
///                                   (projection_norms.i+1); h' tapped as conv2: its
///                                   activation health, and stream_delta_norm = dL/dh'
/// ```
///
/// then `g = mean over height and width of h` and the head `y = g V + c` (logits), tapped as
/// `head`. A convolution's activation health is per channel: a dead channel (never above 0
/// at any position of any example) is a dead unit.
#[derive(Module, Debug)]
pub struct Cnn {
    pub convs: Vec<Conv>,
    /// One per convolution when the norm is `batch`, else empty.
    pub norms: Vec<BatchNorm>,
    /// One per convolution when the model is residual (`Some` where the skip is projected),
    /// else `None`.
    pub projections: Vec<Option<Param<Tensor<4>>>>,
    /// One per convolution when the norm is `batch` (`Some` after a basic block's
    /// projection), else empty.
    pub projection_norms: Vec<Option<BatchNorm>>,
    pub head: Linear,
    #[module(skip)]
    pub shapes: Vec<ConvShape>,
    #[module(skip)]
    pub input: [usize; 3],
    #[module(skip)]
    pub activation: Activation,
}

/// One convolution: the kernels crate's, which on flex runs the forward pass and both
/// backward products as matrix products over unfolded patches and elsewhere is burn's own
/// `conv2d` (the same numbers within 1e-5, `tests/it/conv.rs`).
fn conv(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, stride: usize, padding: usize) -> Tensor<4> {
    kernels::conv2d(x, weight, bias, [stride, stride], [padding, padding])
}

impl Cnn {
    /// The logits of a batch of flattened images `[n, channels * height * width]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_tapped(x, &Taps::off())
    }

    /// The logits, with every convolution tapped when `taps` are on (its name's tap gives
    /// dL/dz of its output and the health of its activation, per channel, and a residual
    /// one's stream dL/dh'), and the head tapped as `head`.
    pub fn forward_tapped(&self, x: Tensor<2>, taps: &Taps) -> Tensor<2> {
        let [c, h, w] = self.input;
        let n = x.dims()[0];
        let mut h = x.reshape([n, c, h, w]);
        let f = self.activation;
        // A basic block's input, kept from its first convolution for the skip after its second.
        let mut block_input = None;
        for (i, (layer, shape)) in self.convs.iter().zip(&self.shapes).enumerate() {
            let name = taps.is_on().then(|| shape.name());
            if shape.block == Block::Basic && shape.position == 1 {
                block_input = self.shapes.get(i + 1).is_some_and(|s| s.skip != ConvSkip::None).then(|| h.clone());
            }
            let mut source = || match shape.block {
                Block::Single => h.clone(),
                Block::Basic => block_input.take().expect("a basic block's second convolution follows its first"),
            };
            let skip = match shape.skip {
                ConvSkip::None => None,
                ConvSkip::Identity => Some(source()),
                ConvSkip::Projection => {
                    let p = self.projections[i].as_ref().expect("a projected skip has its projection");
                    let s = conv(source(), p.val(), None, shape.skip_stride, 0);
                    match self.projection_norms.get(i).and_then(Option::as_ref) {
                        Some(norm) => Some(norm.forward(s)),
                        None => Some(s),
                    }
                }
            };
            let mut z = conv(h, layer.weight.val(), Some(layer.bias.val()), shape.stride, 1);
            if let Some(name) = &name {
                z = taps.tap(name, z);
            }
            let z = match self.norms.get(i) {
                Some(norm) => norm.forward(z),
                None => z,
            };
            // The basic block adds its skip before the activation, the single one after it.
            let (z, skip) = match (shape.block, skip) {
                (Block::Basic, Some(s)) => (z + s, None),
                (_, skip) => (z, skip),
            };
            let a = apply(f, z);
            if let Some(name) = &name {
                // Per channel: the rows are every example's every position, the columns the
                // channels, so that a unit is a channel.
                let [n, ch, ph, pw] = a.dims();
                let channels = a.clone().detach().permute([0, 2, 3, 1]).reshape([n * ph * pw, ch]);
                taps.activation(name, channels, watched(Some(f)));
            }
            let stream = match skip {
                None => a,
                Some(s) => s + a,
            };
            h = match &name {
                Some(name) if shape.skip != ConvSkip::None => taps.stream(name, stream),
                _ => stream,
            };
        }
        let [n, ch, _, _] = h.dims();
        let pooled: Tensor<2> = h.mean_dim(3).mean_dim(2).reshape([n, ch]);
        let z = crate::mlp::affine(&self.head, pooled, None);
        if taps.is_on() { taps.tap("head", z) } else { z }
    }
}
