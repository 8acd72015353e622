//! From raw examples to a prepared dataset: the test, `limit` and validation subsets, then
//! scaling or standardization with statistics of the training split only.

use prng::Rng;

use crate::dataset::{Dataset, ImageShape, Split, Targets, Task};
use crate::split::{self, stream};
use crate::{DataError, DataSpec};

/// Examples before preparation: `labels.len()` rows of `features` values in `x`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pool {
    pub x: Vec<f32>,
    pub labels: Vec<u32>,
    pub features: usize,
}

impl Pool {
    fn len(&self) -> usize {
        self.labels.len()
    }

    /// The examples at the sorted, distinct `indices`. Taking all of them moves the data
    /// instead of copying it, which is the common case of a source with its own test set.
    fn select(self, indices: &[usize]) -> Pool {
        if indices.len() == self.len() { self } else { self.subset(indices) }
    }

    /// Splits off a stratified `fraction` of the examples, drawn from `rng`: `(rest, part)`.
    fn split_off(self, fraction: f64, rng: &mut Rng) -> (Pool, Pool) {
        let (rest, part) = split::stratified_split(&self.labels, fraction, rng);
        let part = self.subset(&part);
        (self.select(&rest), part)
    }

    /// A copy of the examples at `indices`.
    fn subset(&self, indices: &[usize]) -> Pool {
        let f = self.features;
        let mut x = Vec::with_capacity(indices.len() * f);
        for &i in indices {
            x.extend_from_slice(&self.x[i * f..(i + 1) * f]);
        }
        Pool { x, labels: indices.iter().map(|&i| self.labels[i]).collect(), features: f }
    }

    fn into_split(self) -> Split {
        let len = self.len();
        Split { x: self.x, targets: Targets::Classes(self.labels), len }
    }
}

/// How features are brought to a common scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scaling {
    /// Divide by the largest value of the training split (pixels to [0, 1]).
    Max,
    /// Subtract the mean and divide by the standard deviation of each feature in the
    /// training split.
    Standardize,
    /// Leave the values as they are (the spirals are already centred in the unit disc).
    None,
}

/// A loaded source before preparation.
pub(crate) struct Raw {
    /// The file or folder the data came from, for messages.
    pub origin: String,
    pub train: Pool,
    /// The source's own test set, if it has one.
    pub test: Option<Pool>,
    pub scaling: Scaling,
    /// The shape of an example, when the examples are images.
    pub image: Option<ImageShape>,
    pub class_names: Vec<String>,
    pub feature_names: Vec<String>,
}

/// Splits, subsets and scales a source into a dataset.
pub(crate) fn prepare(raw: Raw, spec: &DataSpec, seed: u64) -> Result<Dataset, DataError> {
    let total = raw.train.len();
    let (pool, test) = match raw.test {
        Some(test) => (raw.train, test),
        None => raw.train.split_off(spec.test_fraction, &mut Rng::derive(seed, &[stream::TEST])),
    };
    let pool = match spec.limit {
        Some(limit) if limit < pool.len() => {
            let keep = match spec.limit_subset {
                crate::Subset::Stratified => split::subset(&pool.labels, limit, &mut Rng::derive(seed, &[stream::LIMIT])),
                crate::Subset::First => (0..limit).collect(),
            };
            pool.select(&keep)
        }
        _ => pool,
    };
    let (train, valid) = if spec.valid_fraction > 0.0 {
        pool.split_off(spec.valid_fraction, &mut Rng::derive(seed, &[stream::VALID]))
    } else {
        (pool, Pool::default()) // No validation split: an empty pool.
    };
    if train.len() == 0 {
        return Err(DataError::Empty {
            path: raw.origin,
            what: format!("no training examples are left of {total} after the test and validation splits"),
        });
    }

    let mut splits = [train, valid, test];
    match raw.scaling {
        Scaling::Max => scale_by_max(&mut splits),
        Scaling::Standardize => standardize(&mut splits),
        Scaling::None => {}
    }
    let [train, valid, test] = splits;
    Ok(Dataset {
        name: spec.source.clone(),
        features: train.features,
        image: raw.image,
        task: Task::Classification { classes: raw.class_names.len() },
        train: train.into_split(),
        valid: valid.into_split(),
        test: test.into_split(),
        class_names: raw.class_names,
        feature_names: raw.feature_names,
    })
}

/// Divides every split by the largest value of the training split (the first), so that
/// the training data spans [0, 1] whatever the data's range (255 for MNIST, 16 for digits).
fn scale_by_max(splits: &mut [Pool; 3]) {
    let max = splits[0].x.iter().copied().fold(0.0f32, f32::max);
    // All-zero training data has nothing to scale; dividing would make NaNs.
    if max > 0.0 {
        for s in splits.iter_mut() {
            s.x.iter_mut().for_each(|v| *v /= max);
        }
    }
}

/// Standardizes every feature with the mean and standard deviation (population) of the
/// training split (the first). A constant feature is only centred: its deviation is 0.
fn standardize(splits: &mut [Pool; 3]) {
    let f = splits[0].features;
    let n = splits[0].len() as f64;
    if f == 0 || n == 0.0 {
        return;
    }
    let mut mean = vec![0.0f64; f];
    for row in splits[0].x.chunks_exact(f) {
        mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0f64; f];
    for row in splits[0].x.chunks_exact(f) {
        var.iter_mut().zip(row).zip(&mean).for_each(|((s, &v), m)| *s += (v as f64 - m).powi(2));
    }
    let scale: Vec<f64> = var.iter().map(|s| (s / n).sqrt()).map(|sd| if sd > 0.0 { 1.0 / sd } else { 1.0 }).collect();
    for s in splits.iter_mut() {
        for row in s.x.chunks_exact_mut(f) {
            for ((v, m), k) in row.iter_mut().zip(&mean).zip(&scale) {
                *v = ((*v as f64 - m) * k) as f32;
            }
        }
    }
}
