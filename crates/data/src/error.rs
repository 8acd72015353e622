//! The one error type of the crate: every way a dataset can fail to load.
//!
//! Each message is a single line that starts with the file it is about (the path as the
//! user gave it) and says what is wrong, so that it can be shown as is. Values taken from
//! the input are printed with `{:?}` so that a stray control character cannot break the line.

/// Why a dataset could not be loaded. Callers match on the variant; the `Display` text is
/// the message for the user.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The `[data]` settings are invalid (see [`crate::DataSpec::validate`]); no file involved.
    #[error("{0}")]
    Spec(String),

    /// A file or folder was not found under any of the names that were tried. `what` says
    /// what was looked for: `file`, `folder`, `training images file`, ...
    #[error("{path}: {what} not found (tried {tried})")]
    NotFound { path: String, what: String, tried: String },

    /// More than one file in a folder could be the one that is needed.
    #[error("{path}: several files could be the {what}: {candidates}")]
    Ambiguous { path: String, what: String, candidates: String },

    /// The file exists but could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// The name ends in `.gz` but the content does not start with the gzip magic bytes.
    #[error(
        "{path}: not a gzip file (the name ends in .gz but the content does not start with the gzip magic bytes 1f 8b)"
    )]
    NotGzip { path: String },

    /// The content starts like gzip but does not decompress.
    #[error("{path}: corrupt or truncated gzip data: {detail}")]
    Gzip { path: String, detail: String },

    /// The first four bytes are not the IDX magic number that was expected.
    #[error("{path}: wrong IDX magic number 0x{found:08x}, expected 0x{expected:08x} ({what})")]
    BadMagic { path: String, found: u32, expected: u32, what: &'static str },

    /// The file is shorter than its header says.
    #[error("{path}: truncated file: expected {expected} bytes, got {actual}")]
    Truncated { path: String, expected: u128, actual: usize },

    /// The file is longer than its header says, so header and data disagree.
    #[error("{path}: {extra} unexpected bytes after the {expected} bytes the header describes")]
    TrailingBytes { path: String, expected: usize, extra: usize },

    /// An images file and its labels file hold different numbers of records.
    #[error("{labels_path}: {labels} labels, but {images_path} holds {images} images")]
    CountMismatch { images_path: String, images: usize, labels_path: String, labels: usize },

    /// The test images do not have the shape of the training images.
    #[error("{path}: images are {rows}x{cols}, but the training images are {train_rows}x{train_cols}")]
    ShapeMismatch { path: String, rows: usize, cols: usize, train_rows: usize, train_cols: usize },

    /// A label is not one of the classes (the training labels declare the class count).
    #[error("{path}: label {label} at index {record} is outside the {classes} classes of the training labels")]
    LabelOutOfRange { path: String, record: usize, label: u32, classes: usize },

    /// A feature cell of a CSV file is not a finite number.
    #[error("{path}: line {line}, column {column} ({name:?}): {value:?} is not a finite number")]
    NotNumeric { path: String, line: usize, column: usize, name: String, value: String },

    /// A label cell of a CSV file is empty.
    #[error("{path}: line {line}, column {column} ({name:?}): the label is empty")]
    EmptyLabel { path: String, line: usize, column: usize, name: String },

    /// A CSV row has a different number of fields than the first row.
    #[error("{path}: line {line} has {got} fields, expected {expected} like the first row")]
    Ragged { path: String, line: usize, expected: usize, got: usize },

    /// A quoted CSV field is not closed on its line.
    #[error("{path}: line {line}: a quoted field is not closed on its line")]
    UnterminatedQuote { path: String, line: usize },

    /// The CSV reader could not read a record (for UTF-8 text with rows of any length,
    /// which is what the reader is given, the `csv` crate reports no error today).
    #[error("{path}: line {line}: {detail}")]
    Csv { path: String, line: usize, detail: String },

    /// The requested label column does not exist.
    #[error("{path}: {detail}")]
    LabelColumn { path: String, detail: String },

    /// A text file is not UTF-8.
    #[error("{path}: not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 { path: String, offset: usize },

    /// A file with an image's extension in an `images:` folder is neither PNG nor JPEG.
    #[error("{path}: not a PNG or JPEG image (the content starts with neither signature)")]
    NotAnImage { path: String },

    /// A PNG or JPEG file of an `images:` folder does not decode.
    #[error("{path}: cannot decode the {format} file: {detail}")]
    Decode { path: String, format: &'static str, detail: String },

    /// An image of an `images:` folder has another size than the first, and no size to
    /// resize to is configured.
    #[error(
        "{path}: the image is {height}x{width} (height x width), but {first} is {first_height}x{first_width}; set data.images.size = [height, width] to resize every image"
    )]
    ImageSize { path: String, height: usize, width: usize, first: String, first_height: usize, first_width: usize },

    /// There is nothing to learn from: no records, no features, or an empty training split.
    #[error("{path}: empty dataset: {what}")]
    Empty { path: String, what: String },
}
