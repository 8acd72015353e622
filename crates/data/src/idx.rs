//! The IDX format of MNIST and its relatives: parsing image and label files (raw or gzip)
//! and finding the four files of the standard layout in a folder.
//!
//! An IDX file is a big-endian header (two zero bytes, a type code, the number of
//! dimensions, then one u32 per dimension) followed by the values. Only unsigned bytes
//! (type 0x08) occur in the image datasets, so only they are accepted: images are
//! `0x00000803` (count, rows, columns), labels `0x00000801` (count).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::DataError;
use crate::file;

/// Magic number of an IDX file of u8 values with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of u8 values with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The images of one IDX file: `count` images of `rows` x `cols` bytes, row-major, one
/// image after the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    pub pixels: Vec<u8>,
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
}

impl Images {
    /// Pixels per image.
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }
}

/// Reads an images file (`*-images-idx3-ubyte`, raw or gzip).
pub fn read_images(path: impl AsRef<Path>) -> Result<Images, DataError> {
    let path = path.as_ref();
    parse_images(&file::read(path)?, &file::display(path))
}

/// Reads a labels file (`*-labels-idx1-ubyte`, raw or gzip).
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<u8>, DataError> {
    let path = path.as_ref();
    parse_labels(&file::read(path)?, &file::display(path))
}

/// Parses the bytes of an images file, raw or gzip; `name` is used in error messages.
pub fn parse_images(bytes: &[u8], name: &str) -> Result<Images, DataError> {
    let bytes = file::decompress(bytes, name)?;
    let (dims, header) = parse(&bytes, name, IMAGES_MAGIC, "IDX u8 images with 3 dimensions")?;
    let [count, rows, cols] = [dims[0], dims[1], dims[2]];
    Ok(Images { pixels: without_header(bytes, header), count, rows, cols })
}

/// Parses the bytes of a labels file, raw or gzip; `name` is used in error messages.
pub fn parse_labels(bytes: &[u8], name: &str) -> Result<Vec<u8>, DataError> {
    let bytes = file::decompress(bytes, name)?;
    let (_, header) = parse(&bytes, name, LABELS_MAGIC, "IDX u8 labels with 1 dimension")?;
    Ok(without_header(bytes, header))
}

/// The data after the header, reusing the decompressed buffer instead of copying it.
fn without_header(bytes: Cow<'_, [u8]>, header: usize) -> Vec<u8> {
    match bytes {
        Cow::Borrowed(b) => b[header..].to_vec(),
        Cow::Owned(mut v) => {
            v.drain(..header);
            v
        }
    }
}

/// Checks the magic number and the size, and returns the dimensions and the header length.
fn parse(bytes: &[u8], name: &str, expected: u32, what: &'static str) -> Result<(Vec<usize>, usize), DataError> {
    let Some(magic) = be_u32(bytes, 0) else {
        return Err(DataError::Truncated { path: name.to_owned(), expected: 4, actual: bytes.len() });
    };
    if magic != expected {
        return Err(DataError::BadMagic { path: name.to_owned(), found: magic, expected, what });
    }
    let ndims = (expected & 0xff) as usize;
    let header = 4 + 4 * ndims;
    let dims: Vec<usize> = (0..ndims).filter_map(|d| be_u32(bytes, 4 + 4 * d)).map(|v| v as usize).collect();
    if dims.len() < ndims {
        return Err(DataError::Truncated { path: name.to_owned(), expected: header as u128, actual: bytes.len() });
    }
    // Three u32 dimensions can describe more bytes than a u64 holds, so the size is
    // computed in u128, where it cannot overflow.
    let expected_len = dims.iter().fold(1u128, |acc, &d| acc * d as u128) + header as u128;
    if (bytes.len() as u128) < expected_len {
        return Err(DataError::Truncated { path: name.to_owned(), expected: expected_len, actual: bytes.len() });
    }
    // The size fits in memory now, since the bytes are there.
    let expected_len = expected_len as usize;
    if bytes.len() > expected_len {
        return Err(DataError::TrailingBytes {
            path: name.to_owned(),
            expected: expected_len,
            extra: bytes.len() - expected_len,
        });
    }
    Ok((dims, header))
}

/// The big-endian u32 at `offset`, if the bytes reach that far.
fn be_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(offset..offset + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

/// Which half of the standard layout a file belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Train,
    Test,
}

/// Whether a file holds images or labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Images,
    Labels,
}

impl Kind {
    /// The part of the standard name after the prefix, e.g. `images-idx3-ubyte`.
    fn suffix(self) -> &'static str {
        match self {
            Kind::Images => "images-idx3-ubyte",
            Kind::Labels => "labels-idx1-ubyte",
        }
    }
}

impl Part {
    /// The standard prefix (`train`, `t10k`) and the other words accepted as the first word
    /// of a prefix.
    fn words(self) -> &'static [&'static str] {
        match self {
            Part::Train => &["train"],
            Part::Test => &["t10k", "test"],
        }
    }
}

/// The four files of a dataset in the standard layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub train_images: PathBuf,
    pub train_labels: PathBuf,
    pub test_images: PathBuf,
    pub test_labels: PathBuf,
}

/// Finds the four files of the standard MNIST layout in `dir`.
///
/// A file matches when its name, without an optional `.gz`, is `<prefix>-images-idx3-ubyte`
/// or `<prefix>-labels-idx1-ubyte` (the Kaggle spelling `<prefix>-images.idx3-ubyte` too),
/// where the prefix is `train` or `t10k`/`test`, possibly followed by more words
/// (`train-10k-images-idx3-ubyte.gz`). When several files match, the one with the plain
/// prefix wins, and a labels file with the same prefix as the images is preferred.
pub fn find_layout(dir: impl AsRef<Path>) -> Result<Layout, DataError> {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::NotFound { path: file::display(dir), what: "folder".to_owned(), tried: file::absolute(dir) }
        } else {
            DataError::Io { path: file::display(dir), source }
        }
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| DataError::Io { path: file::display(dir), source })?;
        // Names that are not UTF-8 cannot follow the standard layout, so they are skipped.
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    // Directory order is arbitrary; sorting makes the choice and the messages reproducible.
    names.sort();

    let find = |part, kind, prefer: Option<&str>| -> Result<PathBuf, DataError> {
        let (name, _) = choose(dir, &names, part, kind, prefer)?;
        Ok(dir.join(name))
    };
    let (train_images, train_prefix) = choose(dir, &names, Part::Train, Kind::Images, None)?;
    let (test_images, test_prefix) = choose(dir, &names, Part::Test, Kind::Images, None)?;
    Ok(Layout {
        train_labels: find(Part::Train, Kind::Labels, Some(&train_prefix))?,
        test_labels: find(Part::Test, Kind::Labels, Some(&test_prefix))?,
        train_images: dir.join(train_images),
        test_images: dir.join(test_images),
    })
}

/// Picks the file for one part and kind among `names`; returns its name and prefix.
fn choose(
    dir: &Path,
    names: &[String],
    part: Part,
    kind: Kind,
    prefer: Option<&str>,
) -> Result<(String, String), DataError> {
    let matches: Vec<(&String, &str)> = names
        .iter()
        .filter_map(|name| prefix_of(name, kind).filter(|p| belongs_to(p, part)).map(|p| (name, p)))
        .collect();
    let pick = |p: &str| matches.iter().filter(|(_, prefix)| *prefix == p).collect::<Vec<_>>();
    let plain = part.words()[0];
    let preferred = prefer.map(pick).filter(|m| !m.is_empty()).unwrap_or_else(|| pick(plain));
    let chosen = if preferred.is_empty() { matches.iter().collect::<Vec<_>>() } else { preferred };
    match chosen.as_slice() {
        [(name, prefix)] => Ok(((*name).clone(), (*prefix).to_owned())),
        [] => {
            let suffix = kind.suffix();
            Err(DataError::NotFound {
                path: file::display(dir),
                what: format!("{} file", describe(part, kind)),
                tried: format!(
                    "{plain}-{suffix}, {plain}-{suffix}.gz and <prefix>-{suffix}[.gz] with a prefix starting with {}",
                    part.words().join(" or ")
                ),
            })
        }
        several => Err(DataError::Ambiguous {
            path: file::display(dir),
            what: format!("{} file", describe(part, kind)),
            candidates: several.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Words for a part and kind, `training images` or `test labels`, for messages.
fn describe(part: Part, kind: Kind) -> String {
    let part = match part {
        Part::Train => "training",
        Part::Test => "test",
    };
    let kind = match kind {
        Kind::Images => "images",
        Kind::Labels => "labels",
    };
    format!("{part} {kind}")
}

/// The prefix of a file name of the given kind (`train-10k` in `train-10k-images-idx3-ubyte.gz`).
fn prefix_of(name: &str, kind: Kind) -> Option<&str> {
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    let suffix = kind.suffix();
    let kaggle = suffix.replacen("-idx", ".idx", 1);
    stem.strip_suffix(suffix)
        .or_else(|| stem.strip_suffix(kaggle.as_str()))?
        .strip_suffix('-')
        .filter(|p| !p.is_empty())
}

/// Whether a prefix names the given part: its first word (split at `-`, `_` or `.`) is one
/// of the part's words.
fn belongs_to(prefix: &str, part: Part) -> bool {
    let first = prefix.split(['-', '_', '.']).next().unwrap_or(prefix);
    part.words().contains(&first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn parses_images_and_labels() {
        let images = parse_images(&idx(IMAGES_MAGIC, &[2, 2, 3], &[1; 12]), "x").unwrap();
        assert_eq!((images.count, images.rows, images.cols, images.pixels.len()), (2, 2, 3, 12));
        assert_eq!(parse_labels(&idx(LABELS_MAGIC, &[3], &[0, 1, 2]), "y").unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn rejects_sizes_that_do_not_match_the_header() {
        let short = parse_images(&idx(IMAGES_MAGIC, &[2, 2, 3], &[1; 11]), "x").unwrap_err();
        assert!(matches!(short, DataError::Truncated { expected: 28, actual: 27, .. }), "{short}");
        let long = parse_labels(&idx(LABELS_MAGIC, &[1], &[1, 2]), "y").unwrap_err();
        assert!(matches!(long, DataError::TrailingBytes { extra: 1, .. }), "{long}");
        let huge = parse_images(&idx(IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX], &[]), "z").unwrap_err();
        assert!(matches!(huge, DataError::Truncated { .. }), "{huge}");
        let header = parse_images(&[0, 0, 8, 3, 0, 0], "h").unwrap_err();
        assert!(matches!(header, DataError::Truncated { expected: 16, actual: 6, .. }), "{header}");
    }

    #[test]
    fn file_name_prefixes() {
        assert_eq!(prefix_of("train-images-idx3-ubyte", Kind::Images), Some("train"));
        assert_eq!(prefix_of("train-10k-images-idx3-ubyte.gz", Kind::Images), Some("train-10k"));
        assert_eq!(prefix_of("t10k-labels.idx1-ubyte", Kind::Labels), Some("t10k"));
        assert_eq!(prefix_of("train-images-idx3-ubyte", Kind::Labels), None);
        assert_eq!(prefix_of("-images-idx3-ubyte", Kind::Images), None);
        assert!(belongs_to("train-10k", Part::Train));
        assert!(belongs_to("test", Part::Test));
        assert!(!belongs_to("training", Part::Train));
    }
}
