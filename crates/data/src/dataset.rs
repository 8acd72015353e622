//! The prepared dataset: splits as plain row-major host arrays, the task, and the seeded
//! orders drawn from it (batches per epoch, the probe set).

use prng::Rng;

use crate::split::{self, stream};

/// How a subset of the training data is chosen (`data.limit_subset`, `telemetry.probe_subset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subset {
    /// Every class gets its share, the members drawn with the seed.
    #[default]
    Stratified,
    /// The first examples, in order: what a script that slices `data[:n]` measures.
    First,
}

impl Subset {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            Subset::Stratified => "stratified",
            Subset::First => "first",
        }
    }
}

/// The shape of one image of a dataset whose examples are images: `channels` planes of
/// `height` rows of `width` pixels. An example's features are its pixels channel by channel,
/// each channel row by row (CHW), so `features == channels * height * width` and a batch of
/// `n` examples reshapes to burn's and PyTorch's convolution layout `[n, channels, height, width]`
/// without moving a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    /// A grayscale image of `height` x `width` pixels (one channel).
    pub fn gray(height: usize, width: usize) -> ImageShape {
        ImageShape { channels: 1, height, width }
    }

    /// Values per image: `channels * height * width`.
    pub fn features(self) -> usize {
        self.channels * self.height * self.width
    }

    /// The shape of a batch of `n` images in convolution layout: `[n, channels, height, width]`.
    pub fn batch(self, n: usize) -> [usize; 4] {
        [n, self.channels, self.height, self.width]
    }
}

impl std::fmt::Display for ImageShape {
    /// `1x28x28` (channels x height x width).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// What the model is asked to predict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// One class out of `classes`; targets are class indices.
    Classification { classes: usize },
    /// `outputs` real numbers per example.
    Regression { outputs: usize },
}

/// The targets of a split.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One class index per example.
    Classes(Vec<u32>),
    /// `outputs` values per example, row-major.
    Values { values: Vec<f32>, outputs: usize },
}

impl Targets {
    /// The targets of the examples at `indices`, in that order.
    fn gather(&self, indices: &[usize]) -> Targets {
        match self {
            Targets::Classes(labels) => Targets::Classes(indices.iter().map(|&i| labels[i]).collect()),
            Targets::Values { values, outputs } => Targets::Values {
                values: indices.iter().flat_map(|&i| &values[i * outputs..(i + 1) * outputs]).copied().collect(),
                outputs: *outputs,
            },
        }
    }
}

/// One split (train, validation or test): `len` examples, features row-major in `x`.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub x: Vec<f32>,
    pub targets: Targets,
    pub len: usize,
}

impl Split {
    /// A split without examples, for the validation split when there is none.
    pub fn empty(task: Task) -> Split {
        let targets = match task {
            Task::Classification { .. } => Targets::Classes(Vec::new()),
            Task::Regression { outputs } => Targets::Values { values: Vec::new(), outputs },
        };
        Split { x: Vec::new(), targets, len: 0 }
    }

    /// Whether the split has no examples.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Features per example (0 for an empty split).
    pub fn features(&self) -> usize {
        self.x.len().checked_div(self.len).unwrap_or(0)
    }

    /// The features of example `i`.
    ///
    /// # Panics
    /// When `i >= len`, like slice indexing.
    pub fn row(&self, i: usize) -> &[f32] {
        let f = self.features();
        &self.x[i * f..(i + 1) * f]
    }

    /// The class labels, for a classification split.
    pub fn labels(&self) -> Option<&[u32]> {
        match &self.targets {
            Targets::Classes(labels) => Some(labels),
            Targets::Values { .. } => None,
        }
    }

    /// The examples at `indices`, in that order (a batch, the probe set).
    ///
    /// # Panics
    /// When an index is `>= len`, like slice indexing.
    pub fn gather(&self, indices: &[usize]) -> Split {
        let f = self.features();
        let mut x = Vec::with_capacity(indices.len() * f);
        for &i in indices {
            x.extend_from_slice(&self.x[i * f..(i + 1) * f]);
        }
        Split { x, targets: self.targets.gather(indices), len: indices.len() }
    }
}

/// A dataset ready for training: prepared splits and what they mean.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The source as configured: `mnist-10k`, `idx:/path`, `csv:file.csv`, ...
    pub name: String,
    /// Features per example.
    pub features: usize,
    /// The shape of an example when the examples are images (`mnist-10k`, `digits`, `idx:`,
    /// `images:`), whose product is `features`; `None` for tables, spirals and sequences
    /// drawn as such (`csv:`, `spiral`, `adding`, `tutorial`).
    pub image: Option<ImageShape>,
    pub task: Task,
    pub train: Split,
    /// Empty when the configuration asks for no validation split.
    pub valid: Split,
    pub test: Split,
    /// Class index to the label as the source writes it (`"0"`..`"9"` for images, the
    /// label text of a CSV file); empty for regression.
    pub class_names: Vec<String>,
    /// One name per feature (CSV header, `pixel_<row>_<col>`, `x`/`y`).
    pub feature_names: Vec<String>,
}

impl Dataset {
    /// The number of classes, for a classification task.
    pub fn classes(&self) -> Option<usize> {
        match self.task {
            Task::Classification { classes } => Some(classes),
            Task::Regression { .. } => None,
        }
    }

    /// The order in which epoch `epoch` (counted from 1) visits the training examples: a
    /// permutation of `0..train.len`, different for every epoch and the same for the same
    /// seed and epoch.
    pub fn batch_order(&self, seed: u64, epoch: usize) -> Vec<usize> {
        Rng::derive(seed, &[stream::BATCHES, epoch as u64]).permutation(self.train.len)
    }

    /// The probe set of the telemetry: `min(n, train.len)` training indices, a fixed
    /// stratified subset for a classification task (a plain random one for regression),
    /// sorted.
    pub fn probe_indices(&self, n: usize, seed: u64) -> Vec<usize> {
        self.probe_subset(Subset::Stratified, n, seed)
    }

    /// The probe set chosen by `subset`: [`Dataset::probe_indices`], or the first
    /// `min(n, train.len)` training examples (Nielsen measures on `training_data[:1000]`).
    pub fn probe_subset(&self, subset: Subset, n: usize, seed: u64) -> Vec<usize> {
        if subset == Subset::First {
            return (0..n.min(self.train.len)).collect();
        }
        let mut rng = Rng::derive(seed, &[stream::PROBE]);
        match self.train.labels() {
            Some(labels) => split::subset(labels, n, &mut rng),
            None => split::random_subset(self.train.len, n.min(self.train.len), &mut rng),
        }
    }
}
