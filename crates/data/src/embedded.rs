//! The datasets compiled into the binary, so that it trains on real data anywhere, with no
//! download and no data folder next to it. Provenance, licences and checksums are in
//! `data/README.md` at the root of the repository.

/// One embedded file: its path relative to the repository root (used in messages) and
/// its bytes (gzipped IDX).
#[derive(Clone, Copy, Debug)]
pub struct EmbeddedFile {
    pub name: &'static str,
    pub bytes: &'static [u8],
}

/// Embeds a file of the repository's `data/` folder under its repository path.
macro_rules! embed {
    ($path:literal) => {
        EmbeddedFile { name: concat!("data/", $path), bytes: include_bytes!(concat!("../../../data/", $path)) }
    };
}

// Each file is included once, here, and referenced by name below, so that no file is
// compiled into the binary twice.
const MNIST_TRAIN_IMAGES: EmbeddedFile = embed!("mnist-10k/train-10k-images-idx3-ubyte.gz");
const MNIST_TRAIN_LABELS: EmbeddedFile = embed!("mnist-10k/train-10k-labels-idx1-ubyte.gz");
const MNIST_TEST_IMAGES: EmbeddedFile = embed!("mnist-10k/t10k-images-idx3-ubyte.gz");
const MNIST_TEST_LABELS: EmbeddedFile = embed!("mnist-10k/t10k-labels-idx1-ubyte.gz");
const DIGITS_IMAGES: EmbeddedFile = embed!("digits/digits-images-idx3-ubyte.gz");
const DIGITS_LABELS: EmbeddedFile = embed!("digits/digits-labels-idx1-ubyte.gz");

/// The files of one IDX dataset; `test` (images, labels) is `None` when it has no test set.
#[derive(Clone, Copy, Debug)]
pub struct IdxFiles {
    pub train_images: EmbeddedFile,
    pub train_labels: EmbeddedFile,
    pub test: Option<(EmbeddedFile, EmbeddedFile)>,
}

/// MNIST: the first 10,000 training images and the official 10,000 test images.
pub const MNIST_10K: IdxFiles = IdxFiles {
    train_images: MNIST_TRAIN_IMAGES,
    train_labels: MNIST_TRAIN_LABELS,
    test: Some((MNIST_TEST_IMAGES, MNIST_TEST_LABELS)),
};

/// UCI optdigits as in scikit-learn: 1,797 images of 8x8 values 0..16, no test set.
pub const DIGITS: IdxFiles = IdxFiles { train_images: DIGITS_IMAGES, train_labels: DIGITS_LABELS, test: None };

/// The files of `mnist-10k`: train images, train labels, test images, test labels.
pub const MNIST_10K_FILES: [EmbeddedFile; 4] =
    [MNIST_TRAIN_IMAGES, MNIST_TRAIN_LABELS, MNIST_TEST_IMAGES, MNIST_TEST_LABELS];

/// The files of `digits`: images, labels.
pub const DIGITS_FILES: [EmbeddedFile; 2] = [DIGITS_IMAGES, DIGITS_LABELS];

/// Every embedded file.
pub fn files() -> impl Iterator<Item = EmbeddedFile> {
    MNIST_10K_FILES.into_iter().chain(DIGITS_FILES)
}

/// The bytes of an embedded file by its name (`data/mnist-10k/t10k-images-idx3-ubyte.gz`,
/// or without the leading `data/`).
pub fn bytes(name: &str) -> Option<&'static [u8]> {
    let name = name.strip_prefix("data/").unwrap_or(name);
    files().find(|f| f.name.strip_prefix("data/") == Some(name)).map(|f| f.bytes)
}
