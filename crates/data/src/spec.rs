//! The `[data]` table of an experiment: which dataset, and how to split and subset it.

use serde::{Deserialize, Serialize};

use crate::images::ImagesSpec;

/// The sources without a parameter, for messages.
const SOURCES: &str = "mnist-10k, digits, idx:<dir>, images:<dir>, csv:<file>, spiral, adding, tutorial";

/// The largest sequence length accepted: far beyond what a recurrent net learns over, so that a
/// typo cannot ask for more memory than the machine has.
const MAX_SEQUENCE_LENGTH: usize = 100_000;

/// The largest adding-problem split accepted (sequences x time steps).
const MAX_ADDING_VALUES: usize = 500_000_000;

/// The largest spiral dataset accepted (classes x points), far more than a toy problem
/// needs, so that a typo cannot ask for more memory than the machine has.
const MAX_SPIRAL_POINTS: usize = 10_000_000;

/// What the data source is, from the experiment's TOML `[data]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// `"mnist-10k"` | `"digits"` | `"idx:<dir>"` | `"images:<dir>"` | `"csv:<file>"` | `"spiral"`
    /// | `"adding"` | `"tutorial"`.
    pub source: String,
    /// A stratified, seeded subset of this size of the training data (before the
    /// validation split is held out), for quick runs. The test split is never subset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// How `limit` picks its examples: `stratified` (the default, seeded) or `first` (the
    /// first `limit` in the source's order, as Nielsen's `training_data[:1000]`; for a
    /// source without a test set of its own, the order of what the test split leaves).
    #[serde(default)]
    pub limit_subset: crate::Subset,
    /// Fraction of the training data held out for validation (0 means no validation split).
    #[serde(default)]
    pub valid_fraction: f64,
    /// Fraction of all the data held out for testing, for sources without their own test
    /// set (`digits`, `images:`, `csv:`, `spiral`); ignored by the others.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// `csv:` only: the label column, by header name or 0-based index (`"quality"`, `"4"`);
    /// the last column by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `spiral` only: the shape of the spirals.
    #[serde(default)]
    pub spiral: SpiralSpec,
    /// Reads every example as a sequence of this many time steps, each of `features / T`
    /// consecutive features (`mnist-10k` with 28: sequential MNIST, one image row a step), for
    /// recurrent models. Required for `adding`, whose sequences it sets the length of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_length: Option<usize>,
    /// `adding` only: how many sequences to draw.
    #[serde(default)]
    pub adding: AddingSpec,
    /// `images:` only: the size and color mode every image is brought to.
    #[serde(default, skip_serializing_if = "is_default")]
    pub images: ImagesSpec,
}

/// Whether a table is all defaults, so that the resolved config of another source does not
/// list it.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The sizes of the `adding` problem's splits, drawn from the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AddingSpec {
    /// Training sequences.
    pub train: usize,
    /// Test sequences (drawn from a stream of their own).
    pub test: usize,
}

impl Default for AddingSpec {
    fn default() -> Self {
        AddingSpec { train: 10_000, test: 1_000 }
    }
}

/// The default test fraction for sources without their own test set.
fn default_test_fraction() -> f64 {
    0.2
}

impl Default for DataSpec {
    /// The default dataset of the project: the embedded `mnist-10k`.
    fn default() -> Self {
        DataSpec {
            source: "mnist-10k".to_owned(),
            limit: None,
            limit_subset: crate::Subset::Stratified,
            valid_fraction: 0.0,
            test_fraction: default_test_fraction(),
            label: None,
            spiral: SpiralSpec::default(),
            sequence_length: None,
            adding: AddingSpec::default(),
            images: ImagesSpec::default(),
        }
    }
}

/// The shape of the `spiral` dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpiralSpec {
    /// Number of spirals, one class each.
    pub classes: usize,
    /// Points per spiral.
    pub points: usize,
    /// Standard deviation of the noise added to the angle, in radians.
    pub noise: f64,
}

impl Default for SpiralSpec {
    fn default() -> Self {
        SpiralSpec { classes: 3, points: 200, noise: 0.2 }
    }
}

/// A source with its parameter, as parsed from `DataSpec::source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source<'a> {
    Mnist10k,
    Digits,
    Idx(&'a str),
    Images(&'a str),
    Csv(&'a str),
    Spiral,
    Adding,
    Tutorial,
}

impl DataSpec {
    /// The parsed source, or the message for a source that is not known.
    pub(crate) fn parsed_source(&self) -> Result<Source<'_>, String> {
        let source = self.source.as_str();
        let param = |scheme: &str| source.strip_prefix(scheme).filter(|p| !p.trim().is_empty());
        match source {
            "mnist-10k" => Ok(Source::Mnist10k),
            "digits" => Ok(Source::Digits),
            "spiral" => Ok(Source::Spiral),
            "adding" => Ok(Source::Adding),
            "tutorial" => Ok(Source::Tutorial),
            _ => {
                if let Some(dir) = param("idx:") {
                    Ok(Source::Idx(dir))
                } else if let Some(dir) = param("images:") {
                    Ok(Source::Images(dir))
                } else if let Some(file) = param("csv:") {
                    Ok(Source::Csv(file))
                } else if ["idx:", "images:", "csv:"].iter().any(|scheme| source.starts_with(scheme)) {
                    Err(format!(
                        "data.source {source:?} needs a path after the colon, e.g. \"idx:data/fashion\", \"images:photos\" or \"csv:table.csv\""
                    ))
                } else {
                    Err(format!("data.source must be one of {SOURCES}, got {source:?}"))
                }
            }
        }
    }

    /// Whether the source takes its test split with `test_fraction`.
    fn uses_test_fraction(source: Source<'_>) -> bool {
        matches!(source, Source::Digits | Source::Images(_) | Source::Csv(_) | Source::Spiral)
    }

    /// Checks the values without touching any file. The message names the key, e.g.
    /// `data.valid_fraction must be in [0, 1), got 1.5`.
    pub fn validate(&self) -> Result<(), String> {
        let source = self.parsed_source()?;
        for (key, value) in [("valid_fraction", self.valid_fraction), ("test_fraction", self.test_fraction)] {
            if !(0.0..1.0).contains(&value) {
                return Err(format!("data.{key} must be in [0, 1), got {value}"));
            }
        }
        // The validation split is taken from what the test split leaves, so the two
        // fractions together must leave some training data.
        if Self::uses_test_fraction(source) && self.valid_fraction + self.test_fraction >= 1.0 {
            return Err(format!(
                "data.valid_fraction + data.test_fraction must be below 1, got {} + {}",
                self.valid_fraction, self.test_fraction
            ));
        }
        if self.limit == Some(0) {
            return Err("data.limit must be at least 1 (leave it out for all the data)".to_owned());
        }
        if self.label.is_some() && !matches!(source, Source::Csv(_)) {
            return Err(format!("data.label applies only to csv: sources, not to {:?}", self.source));
        }
        match (source, self.sequence_length) {
            (_, Some(0)) => return Err("data.sequence_length must be at least 1".to_owned()),
            (_, Some(t)) if t > MAX_SEQUENCE_LENGTH => {
                return Err(format!("data.sequence_length must be at most {MAX_SEQUENCE_LENGTH}, got {t}"));
            }
            (Source::Adding, None) => {
                return Err("data.sequence_length is missing: the adding problem needs its length T, e.g. 50".to_owned());
            }
            (Source::Adding, Some(1)) => {
                return Err("data.sequence_length must be at least 2 for the adding problem (a marker in each half)".to_owned());
            }
            (Source::Tutorial, Some(_)) => {
                return Err("data.sequence_length does not apply to the tutorial's single number".to_owned());
            }
            _ => {}
        }
        if source == Source::Adding {
            let a = &self.adding;
            for (key, n) in [("train", a.train), ("test", a.test)] {
                if n == 0 {
                    return Err(format!("data.adding.{key} must be at least 1, got 0"));
                }
                let t = self.sequence_length.unwrap_or(2);
                if n.checked_mul(t).is_none_or(|v| v > MAX_ADDING_VALUES) {
                    return Err(format!(
                        "data.adding.{key} x data.sequence_length must be at most {MAX_ADDING_VALUES}, got {n} x {t}"
                    ));
                }
            }
        } else if self.adding != AddingSpec::default() {
            return Err(format!("data.adding applies only to the adding source, not to {:?}", self.source));
        }
        if let Source::Images(_) = source {
            self.images.validate()?;
        } else if self.images != ImagesSpec::default() {
            return Err(format!("data.images applies only to images: sources, not to {:?}", self.source));
        }
        if source == Source::Spiral {
            let s = &self.spiral;
            if s.classes < 2 {
                return Err(format!("data.spiral.classes must be at least 2, got {}", s.classes));
            }
            if s.points == 0 {
                return Err("data.spiral.points must be at least 1, got 0".to_owned());
            }
            if s.classes.checked_mul(s.points).is_none_or(|n| n > MAX_SPIRAL_POINTS) {
                return Err(format!(
                    "data.spiral.classes x data.spiral.points must be at most {MAX_SPIRAL_POINTS}, got {} x {}",
                    s.classes, s.points
                ));
            }
            if !(s.noise.is_finite() && s.noise >= 0.0) {
                return Err(format!("data.spiral.noise must be a finite number >= 0, got {}", s.noise));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(source: &str) -> DataSpec {
        DataSpec { source: source.to_owned(), ..DataSpec::default() }
    }

    #[test]
    fn sources_parse() {
        assert_eq!(spec("idx:/a b").parsed_source(), Ok(Source::Idx("/a b")));
        assert_eq!(spec("csv:t.csv").parsed_source(), Ok(Source::Csv("t.csv")));
        assert_eq!(spec("images:pics").parsed_source(), Ok(Source::Images("pics")));
        assert!(spec("images: ").validate().unwrap_err().contains("needs a path"));
        assert!(spec("idx:").validate().unwrap_err().contains("needs a path"));
        assert!(spec("mnist").validate().unwrap_err().contains("data.source must be one of"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |f: fn(&mut DataSpec), key: &str| {
            let mut s = spec("spiral");
            f(&mut s);
            let e = s.validate().unwrap_err();
            assert!(e.contains(key), "{e}");
        };
        bad(|s| s.valid_fraction = 1.5, "data.valid_fraction must be in [0, 1), got 1.5");
        bad(|s| s.test_fraction = f64::NAN, "data.test_fraction");
        bad(|s| (s.valid_fraction, s.test_fraction) = (0.5, 0.5), "must be below 1");
        bad(|s| s.limit = Some(0), "data.limit");
        bad(|s| s.spiral.classes = 1, "data.spiral.classes");
        bad(|s| s.spiral.points = 0, "data.spiral.points");
        bad(|s| s.spiral.noise = -0.1, "data.spiral.noise");
        bad(|s| s.spiral.points = usize::MAX, "at most");
        bad(|s| s.label = Some("y".into()), "data.label");
        bad(|s| s.images.size = Some([28, 28]), "data.images applies only to images: sources");
        let images = |size| DataSpec { images: ImagesSpec { size: Some(size), ..ImagesSpec::default() }, ..spec("images:x") };
        assert!(images([0, 28]).validate().unwrap_err().contains("data.images.size"));
        assert!(images([28, 100_000]).validate().unwrap_err().contains("got [28, 100000]"));
        assert_eq!(images([32, 24]).validate(), Ok(()));
        assert_eq!(spec("spiral").validate(), Ok(()));
        // A source with its own test set ignores test_fraction, so the sum is not checked.
        let mnist = DataSpec { valid_fraction: 0.5, test_fraction: 0.6, ..spec("mnist-10k") };
        assert_eq!(mnist.validate(), Ok(()));
    }
}
