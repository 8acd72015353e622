//! Datasets as plain host arrays: the embedded `mnist-10k` and `digits`, any IDX dataset
//! (`idx:<dir>`), CSV tables (`csv:<file>`), synthetic spirals and the tutorial's single
//! example, split, subset and scaled by one seed. No burn: the arrays are uploaded by `train`.
//!
//! Preparation rules, in order:
//! 1. The test split is the source's own test set (`mnist-10k`, `idx:`), or else a seeded
//!    stratified `test_fraction` of all the data (`digits`, `csv:`, `spiral`).
//! 2. `limit` takes a seeded stratified subset of what remains for training.
//! 3. `valid_fraction` of that is held out, stratified, for validation.
//! 4. Pixels are divided by the largest value of the training split; CSV features are
//!    standardized with the training split's mean and standard deviation; spirals are left
//!    as drawn. Statistics never come from the validation or test split.
//!
//! The class count of an IDX dataset is the largest training label plus one; a test label
//! beyond it is an error, since the model could never predict it.

mod dataset;
mod error;
mod file;
mod prepare;
mod spec;
mod spiral;
mod split;

pub mod adding;
pub mod csv;
pub mod embedded;
pub mod idx;

use std::path::Path;

use prng::Rng;

pub use dataset::{Dataset, ImageShape, Split, Subset, Targets, Task};
pub use error::DataError;
pub use spec::{AddingSpec, DataSpec, SpiralSpec};
pub use split::stratified_subset;

use embedded::{EmbeddedFile, IdxFiles};
use idx::Images;
use prepare::{Pool, Raw, Scaling};
use spec::Source;

/// The tutorial's single example: input 0.5, target 0.8.
pub const TUTORIAL_INPUT: f32 = 0.5;
/// The tutorial's target for [`TUTORIAL_INPUT`].
pub const TUTORIAL_TARGET: f32 = 0.8;

/// Loads and prepares a dataset. `seed` drives every split, subset and the spirals' noise.
/// Relative paths are resolved against the current directory.
pub fn load(spec: &DataSpec, seed: u64) -> Result<Dataset, DataError> {
    spec.validate().map_err(DataError::Spec)?;
    let source = spec.parsed_source().map_err(DataError::Spec)?;
    let raw = match source {
        Source::Tutorial => return Ok(tutorial(spec)),
        Source::Adding => return Ok(adding_problem(spec, seed)),
        Source::Mnist10k => embedded_idx(&embedded::MNIST_10K)?,
        Source::Digits => embedded_idx(&embedded::DIGITS)?,
        Source::Idx(dir) => idx_dir(Path::new(dir))?,
        Source::Csv(path) => csv_table(Path::new(path), spec.label.as_deref())?,
        Source::Spiral => spirals(spec, seed),
    };
    prepare::prepare(raw, spec, seed)
}

/// The tutorial: one example, used for training and testing alike.
fn tutorial(spec: &DataSpec) -> Dataset {
    let task = Task::Regression { outputs: 1 };
    let example = Split {
        x: vec![TUTORIAL_INPUT],
        targets: Targets::Values { values: vec![TUTORIAL_TARGET], outputs: 1 },
        len: 1,
    };
    Dataset {
        name: spec.source.clone(),
        features: 1,
        image: None,
        task,
        train: example.clone(),
        valid: Split::empty(task),
        test: example,
        class_names: Vec::new(),
        feature_names: vec!["x".to_owned()],
    }
}

/// The adding problem's sequences, training and test each from a stream of its own, with
/// no scaling (the values are already in [0, 1]). A regression with one output.
fn adding_problem(spec: &DataSpec, seed: u64) -> Dataset {
    let steps = spec.sequence_length.expect("validated: the adding problem has a length");
    let task = Task::Regression { outputs: 1 };
    let split = |n: usize, which: u64| {
        let (x, values) = adding::generate(n, steps, &mut Rng::derive(seed, &[split::stream::ADDING, which]));
        Split { x, targets: Targets::Values { values, outputs: 1 }, len: n }
    };
    let mut train = split(spec.adding.train, 0);
    let mut valid = Split::empty(task);
    if spec.valid_fraction > 0.0 {
        // The validation split is the tail of the drawn training sequences, which are
        // independent draws: no shuffle is needed to make it a fair sample.
        let keep = train.len - ((train.len as f64 * spec.valid_fraction).round() as usize).min(train.len - 1);
        let idx: Vec<usize> = (keep..train.len).collect();
        valid = train.gather(&idx);
        train = train.gather(&(0..keep).collect::<Vec<_>>());
    }
    if let Some(limit) = spec.limit {
        train = train.gather(&(0..limit.min(train.len)).collect::<Vec<_>>());
    }
    Dataset {
        name: spec.source.clone(),
        features: steps * adding::FEATURES_PER_STEP,
        image: None,
        task,
        train,
        valid,
        test: split(spec.adding.test, 1),
        class_names: Vec::new(),
        feature_names: (1..=steps).flat_map(|t| [format!("value_{t}"), format!("marker_{t}")]).collect(),
    }
}

/// An embedded IDX dataset.
fn embedded_idx(files: &IdxFiles) -> Result<Raw, DataError> {
    let parse = |images: &EmbeddedFile, labels: &EmbeddedFile| -> Result<Labelled, DataError> {
        Ok(Labelled {
            images: idx::parse_images(images.bytes, images.name)?,
            images_name: images.name.to_owned(),
            labels: idx::parse_labels(labels.bytes, labels.name)?,
            labels_name: labels.name.to_owned(),
        })
    };
    let train = parse(&files.train_images, &files.train_labels)?;
    let test = files.test.as_ref().map(|(images, labels)| parse(images, labels)).transpose()?;
    idx_raw(train.images_name.clone(), train, test)
}

/// An IDX dataset in the standard four-file layout in `dir`.
fn idx_dir(dir: &Path) -> Result<Raw, DataError> {
    let layout = idx::find_layout(dir)?;
    let read = |images: &Path, labels: &Path| -> Result<Labelled, DataError> {
        Ok(Labelled {
            images: idx::read_images(images)?,
            images_name: file::display(images),
            labels: idx::read_labels(labels)?,
            labels_name: file::display(labels),
        })
    };
    let train = read(&layout.train_images, &layout.train_labels)?;
    let test = read(&layout.test_images, &layout.test_labels)?;
    idx_raw(file::display(dir), train, Some(test))
}

/// An images file with its labels, and their names for messages.
struct Labelled {
    images: Images,
    images_name: String,
    labels: Vec<u8>,
    labels_name: String,
}

impl Labelled {
    /// Checks that images and labels belong together and that there are images.
    fn check(&self) -> Result<(), DataError> {
        let images = &self.images;
        if images.count != self.labels.len() {
            return Err(DataError::CountMismatch {
                images_path: self.images_name.clone(),
                images: images.count,
                labels_path: self.labels_name.clone(),
                labels: self.labels.len(),
            });
        }
        if images.count == 0 || images.pixels_per_image() == 0 {
            return Err(DataError::Empty {
                path: self.images_name.clone(),
                what: format!("{} images of {}x{} pixels", images.count, images.rows, images.cols),
            });
        }
        Ok(())
    }

    fn into_pool(self) -> Pool {
        Pool {
            x: self.images.pixels.iter().map(|&p| p as f32).collect(),
            labels: self.labels.iter().map(|&l| l as u32).collect(),
            features: self.images.pixels_per_image(),
        }
    }
}

/// Checks an IDX training set and optional test set against each other and makes them raw
/// examples. The training labels declare the class count (largest label plus one).
fn idx_raw(origin: String, train: Labelled, test: Option<Labelled>) -> Result<Raw, DataError> {
    train.check()?;
    let classes = train.labels.iter().copied().max().map_or(0, |m| m as usize + 1);
    let (rows, cols) = (train.images.rows, train.images.cols);
    if let Some(test) = &test {
        test.check()?;
        if (test.images.rows, test.images.cols) != (rows, cols) {
            return Err(DataError::ShapeMismatch {
                path: test.images_name.clone(),
                rows: test.images.rows,
                cols: test.images.cols,
                train_rows: rows,
                train_cols: cols,
            });
        }
        if let Some((record, &label)) = test.labels.iter().enumerate().find(|&(_, &l)| l as usize >= classes) {
            return Err(DataError::LabelOutOfRange {
                path: test.labels_name.clone(),
                record,
                label: label as u32,
                classes,
            });
        }
    }
    Ok(Raw {
        origin,
        train: train.into_pool(),
        test: test.map(Labelled::into_pool),
        scaling: Scaling::Max,
        image: Some(ImageShape::gray(rows, cols)),
        class_names: (0..classes).map(|c| c.to_string()).collect(),
        feature_names: (0..rows).flat_map(|r| (0..cols).map(move |c| format!("pixel_{r}_{c}"))).collect(),
    })
}

/// A CSV table; it has no test set of its own.
fn csv_table(path: &Path, label: Option<&str>) -> Result<Raw, DataError> {
    let table = csv::read_table(path, label)?;
    Ok(Raw {
        origin: file::display(path),
        train: Pool { x: table.x, labels: table.labels, features: table.feature_names.len() },
        test: None,
        scaling: Scaling::Standardize,
        image: None,
        class_names: table.class_names,
        feature_names: table.feature_names,
    })
}

/// The spirals of the configuration, drawn from the seed's spiral stream.
fn spirals(spec: &DataSpec, seed: u64) -> Raw {
    let s = &spec.spiral;
    let (x, labels) = spiral::generate(s.classes, s.points, s.noise, &mut Rng::derive(seed, &[split::stream::SPIRAL]));
    Raw {
        origin: spec.source.clone(),
        train: Pool { x, labels, features: 2 },
        test: None,
        scaling: Scaling::None,
        image: None,
        class_names: (0..s.classes).map(|c| c.to_string()).collect(),
        feature_names: vec!["x".to_owned(), "y".to_owned()],
    }
}
