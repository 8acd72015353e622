//! Feature tests of the `data` crate: the embedded datasets, the IDX and CSV loaders on
//! generated and real files, every kind of bad input, and the seeded splits and orders.

use std::io::Write;
use std::path::{Path, PathBuf};

use data::{DataError, DataSpec, Dataset, ImageShape, Targets, Task};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A fresh, empty folder for one test, unique to this process and test name.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("data-it-{}-{name}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clear the scratch folder");
    }
    std::fs::create_dir_all(&dir).expect("create the scratch folder");
    dir
}

/// The bytes of an IDX images file whose pixel `p` of image `i` is `pixel(i, p)`.
fn idx_images(count: usize, rows: usize, cols: usize, pixel: impl Fn(usize, usize) -> u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + count * rows * cols);
    for v in [0x0803, count as u32, rows as u32, cols as u32] {
        out.extend_from_slice(&u32::to_be_bytes(v));
    }
    for i in 0..count {
        out.extend((0..rows * cols).map(|p| pixel(i, p)));
    }
    out
}

/// The bytes of an IDX labels file.
fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    for v in [0x0801, labels.len() as u32] {
        out.extend_from_slice(&u32::to_be_bytes(v));
    }
    out.extend_from_slice(labels);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("compress in memory");
    enc.finish().expect("compress in memory")
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write a test file");
}

/// Labels 0..10 in turn.
fn cyclic_labels(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 10) as u8).collect()
}

/// A small valid dataset in the standard layout: 50 training images of 4x3 (raw files)
/// and 20 test images (gzip), labels 0..9 in turn, pixels up to 200.
fn small_idx_dir(name: &str) -> PathBuf {
    let dir = scratch(name);
    let pixel = |i: usize, p: usize| ((i * 7 + p * 13) % 201) as u8;
    write(&dir.join("train-images-idx3-ubyte"), &idx_images(50, 4, 3, pixel));
    write(&dir.join("train-labels-idx1-ubyte"), &idx_labels(&cyclic_labels(50)));
    write(&dir.join("t10k-images-idx3-ubyte.gz"), &gzip(&idx_images(20, 4, 3, pixel)));
    write(&dir.join("t10k-labels-idx1-ubyte.gz"), &gzip(&idx_labels(&cyclic_labels(20))));
    dir
}

fn spec(source: impl Into<String>) -> DataSpec {
    DataSpec { source: source.into(), ..DataSpec::default() }
}

fn idx_spec(dir: &Path) -> DataSpec {
    spec(format!("idx:{}", dir.display()))
}

fn csv_spec(path: &Path) -> DataSpec {
    spec(format!("csv:{}", path.display()))
}

/// The error of a load that must fail, checked to be a single line.
fn load_err(spec: &DataSpec) -> (DataError, String) {
    let err = data::load(spec, 7).expect_err("the load must fail");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "the message must be one line: {msg}");
    (err, msg)
}

/// Asserts that `msg` contains every part.
fn assert_mentions(msg: &str, parts: &[&str]) {
    for part in parts {
        assert!(msg.contains(part), "expected {part:?} in the message: {msg}");
    }
}

/// The repository root, found from this file's path or the test crate's folder.
fn repo_root() -> PathBuf {
    let here = Path::new(file!());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let starts = [here.to_path_buf(), manifest.join(here), manifest.to_path_buf()];
    starts
        .iter()
        .flat_map(|s| s.ancestors().map(Path::to_path_buf).collect::<Vec<_>>())
        .find(|d| d.join("data/README.md").is_file() && d.join("crates/data").is_dir())
        .expect("the repository root holds data/README.md")
}

fn labels(split: &data::Split) -> &[u32] {
    split.labels().expect("a classification split")
}

fn class_counts(labels: &[u32], classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
}

fn max(x: &[f32]) -> f32 {
    x.iter().copied().fold(f32::MIN, f32::max)
}

// ---------------------------------------------------------------------------------------
// IDX
// ---------------------------------------------------------------------------------------

#[test]
fn idx_folder_with_raw_and_gzip_files_loads_and_scales_by_the_training_maximum() {
    let dir = small_idx_dir("idx-ok");
    let ds = data::load(&idx_spec(&dir), 1).expect("a valid IDX folder loads");
    assert_eq!((ds.train.len, ds.valid.len, ds.test.len, ds.features), (50, 0, 20, 12));
    // The files' 4 rows of 3 columns are the image's height and width, in that order.
    assert_eq!(ds.image, Some(ImageShape { channels: 1, height: 4, width: 3 }));
    assert_eq!(ds.task, Task::Classification { classes: 10 });
    assert_eq!(ds.class_names, (0..10).map(|c| c.to_string()).collect::<Vec<_>>());
    assert_eq!(ds.feature_names.len(), 12);
    assert_eq!(max(&ds.train.x), 1.0);
    // Pixel 1 of image 0 is 13, scaled by the training maximum, 200.
    assert_eq!(ds.train.row(0)[1], 13.0 / 200.0);
    assert_eq!(labels(&ds.test), &cyclic_labels(20).iter().map(|&l| l as u32).collect::<Vec<_>>()[..]);
    assert_eq!(ds.name, format!("idx:{}", dir.display()));

    // The low-level readers see the same files.
    let images = data::idx::read_images(dir.join("t10k-images-idx3-ubyte.gz")).expect("gzip images");
    assert_eq!((images.count, images.rows, images.cols, images.pixels.len()), (20, 4, 3, 240));
    assert_eq!(data::idx::read_labels(dir.join("train-labels-idx1-ubyte")).expect("raw labels").len(), 50);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idx_file_names_with_a_prefix_or_gzip_without_gz_are_accepted() {
    let dir = scratch("idx-prefix");
    write(&dir.join("train-60k-images-idx3-ubyte.gz"), &gzip(&idx_images(10, 2, 2, |i, _| i as u8)));
    write(&dir.join("train-60k-labels-idx1-ubyte.gz"), &gzip(&idx_labels(&cyclic_labels(10))));
    // Gzip content under a name without .gz is recognised by its magic bytes.
    write(&dir.join("t10k-images.idx3-ubyte"), &gzip(&idx_images(10, 2, 2, |i, _| i as u8)));
    write(&dir.join("t10k-labels.idx1-ubyte"), &idx_labels(&cyclic_labels(10)));
    let layout = data::idx::find_layout(&dir).expect("prefixed names are found");
    assert!(layout.train_images.ends_with("train-60k-images-idx3-ubyte.gz"));
    assert!(layout.test_labels.ends_with("t10k-labels.idx1-ubyte"));
    let ds = data::load(&idx_spec(&dir), 1).expect("loads");
    assert_eq!((ds.train.len, ds.test.len, ds.features), (10, 10, 4));

    // Two different training image files are ambiguous.
    write(&dir.join("train-other-images-idx3-ubyte"), &idx_images(10, 2, 2, |_, _| 0));
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::Ambiguous { .. }), "{msg}");
    assert_mentions(&msg, &["train-60k-images-idx3-ubyte.gz", "train-other-images-idx3-ubyte"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idx_missing_file_names_the_folder_and_the_names_tried() {
    let dir = small_idx_dir("idx-missing");
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).expect("remove");
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::NotFound { .. }), "{msg}");
    assert_mentions(
        &msg,
        &[&dir.display().to_string(), "t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz", "<prefix>"],
    );

    let gone = dir.join("no-such-folder");
    let (err, msg) = load_err(&idx_spec(&gone));
    assert!(matches!(err, DataError::NotFound { .. }), "{msg}");
    assert_mentions(&msg, &[&gone.display().to_string(), "not found"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idx_wrong_magic_number() {
    let dir = small_idx_dir("idx-magic");
    let images = dir.join("train-images-idx3-ubyte");
    write(&images, &idx_labels(&[1, 2, 3]));
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::BadMagic { found: 0x0801, expected: 0x0803, .. }), "{msg}");
    assert_mentions(&msg, &[&images.display().to_string(), "wrong IDX magic number 0x00000801, expected 0x00000803"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idx_truncated_file_says_expected_and_actual_bytes() {
    let dir = small_idx_dir("idx-truncated");
    let images = dir.join("train-images-idx3-ubyte");
    let mut bytes = idx_images(50, 4, 3, |_, _| 1);
    bytes.truncate(16 + 599);
    write(&images, &bytes);
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::Truncated { expected: 616, actual: 615, .. }), "{msg}");
    assert_mentions(&msg, &[&images.display().to_string(), "truncated", "expected 616 bytes, got 615"]);

    // A header cut short is truncated too.
    write(&images, &bytes[..10]);
    let (_, msg) = load_err(&idx_spec(&dir));
    assert_mentions(&msg, &[&images.display().to_string(), "expected 16 bytes, got 10"]);

    // Bytes beyond what the header describes are an error as well.
    write(&images, &[idx_images(50, 4, 3, |_, _| 1), vec![0; 3]].concat());
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::TrailingBytes { extra: 3, .. }), "{msg}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idx_image_and_label_counts_differ() {
    let dir = small_idx_dir("idx-count");
    let labels_path = dir.join("train-labels-idx1-ubyte");
    write(&labels_path, &idx_labels(&cyclic_labels(49)));
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::CountMismatch { images: 50, labels: 49, .. }), "{msg}");
    assert_mentions(&msg, &[&labels_path.display().to_string(), "49 labels", "train-images-idx3-ubyte", "50 images"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idx_test_label_outside_the_training_classes() {
    let dir = small_idx_dir("idx-label");
    let labels_path = dir.join("t10k-labels-idx1-ubyte.gz");
    let mut test_labels = cyclic_labels(20);
    test_labels[5] = 12;
    write(&labels_path, &gzip(&idx_labels(&test_labels)));
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::LabelOutOfRange { label: 12, classes: 10, record: 5, .. }), "{msg}");
    assert_mentions(&msg, &[&labels_path.display().to_string(), "label 12", "outside the 10 classes"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idx_test_images_of_another_shape() {
    let dir = small_idx_dir("idx-shape");
    let images = dir.join("t10k-images-idx3-ubyte.gz");
    write(&images, &gzip(&idx_images(20, 3, 4, |_, _| 1)));
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::ShapeMismatch { .. }), "{msg}");
    assert_mentions(&msg, &[&images.display().to_string(), "3x4", "4x3"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idx_gz_name_without_gzip_content_and_corrupt_gzip() {
    let dir = small_idx_dir("idx-gzip");
    let images = dir.join("t10k-images-idx3-ubyte.gz");
    write(&images, &idx_images(20, 4, 3, |_, _| 1));
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::NotGzip { .. }), "{msg}");
    assert_mentions(&msg, &[&images.display().to_string(), "not a gzip file"]);

    let compressed = gzip(&idx_images(20, 4, 3, |i, p| (i * p) as u8));
    write(&images, &compressed[..compressed.len() / 2]);
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::Gzip { .. }), "{msg}");
    assert_mentions(&msg, &[&images.display().to_string(), "corrupt or truncated gzip"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idx_empty_dataset() {
    let dir = small_idx_dir("idx-empty");
    let images = dir.join("train-images-idx3-ubyte");
    write(&images, &idx_images(0, 4, 3, |_, _| 0));
    write(&dir.join("train-labels-idx1-ubyte"), &idx_labels(&[]));
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::Empty { .. }), "{msg}");
    assert_mentions(&msg, &[&images.display().to_string(), "empty dataset"]);
    let _ = std::fs::remove_dir_all(dir);
}

/// A full-MNIST-sized file (60,000 images of 28x28) parses correctly. The timings that
/// show linear scaling come from `cargo run --release -p data --example load_speed`;
/// tests do not time anything.
#[test]
fn idx_60000_images_parse() {
    let dir = scratch("idx-60k");
    let n = 60_000;
    let pixel = |i: usize, p: usize| ((i + p * 3) % 256) as u8;
    let train_labels = cyclic_labels(n);
    write(&dir.join("train-images-idx3-ubyte.gz"), &gzip(&idx_images(n, 28, 28, pixel)));
    write(&dir.join("train-labels-idx1-ubyte.gz"), &gzip(&idx_labels(&train_labels)));
    write(&dir.join("t10k-images-idx3-ubyte"), &idx_images(10_000, 28, 28, pixel));
    write(&dir.join("t10k-labels-idx1-ubyte"), &idx_labels(&cyclic_labels(10_000)));
    let ds = data::load(&idx_spec(&dir), 3).expect("60,000 images load");
    assert_eq!((ds.train.len, ds.test.len, ds.features), (n, 10_000, 784));
    assert_eq!(ds.train.x.len(), n * 784);
    for i in [0, 1, 29_999, n - 1] {
        let expected: Vec<f32> = (0..784).map(|p| pixel(i, p) as f32 / 255.0).collect();
        assert_eq!(ds.train.row(i), &expected[..], "image {i}");
        assert_eq!(labels(&ds.train)[i], train_labels[i] as u32);
    }
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------
// Embedded datasets
// ---------------------------------------------------------------------------------------

#[test]
fn mnist_10k_is_embedded_with_its_known_sizes() {
    let ds = data::load(&spec("mnist-10k"), 42).expect("the embedded MNIST loads");
    assert_eq!((ds.train.len, ds.valid.len, ds.test.len, ds.features), (10_000, 0, 10_000, 784));
    assert_eq!(ds.image, Some(ImageShape::gray(28, 28)));
    assert_eq!(ds.task, Task::Classification { classes: 10 });
    assert_eq!(ds.class_names, (0..10).map(|c| c.to_string()).collect::<Vec<_>>());
    assert_eq!((ds.train.x.len(), ds.test.x.len()), (7_840_000, 7_840_000));
    assert_eq!(max(&ds.train.x), 1.0);
    assert!(ds.train.x.iter().chain(&ds.test.x).all(|&v| (0.0..=1.0).contains(&v)));
    // Every digit is there, roughly a tenth each.
    for split in [&ds.train, &ds.test] {
        assert!(class_counts(labels(split), 10).iter().all(|&c| (800..1_200).contains(&c)));
    }
}

#[test]
fn digits_is_embedded_with_its_known_sizes_and_split_by_test_fraction() {
    let ds = data::load(&spec("digits"), 42).expect("the embedded digits load");
    assert_eq!(ds.train.len + ds.test.len, 1_797);
    assert_eq!(ds.test.len, 359); // round(0.2 * 1797)
    assert_eq!((ds.features, ds.task), (64, Task::Classification { classes: 10 }));
    assert_eq!(ds.image, Some(ImageShape::gray(8, 8)));
    // Values 0..16 scaled by their own maximum, not by 255.
    assert_eq!(max(&ds.train.x), 1.0);
}

#[test]
fn embedded_bytes_match_the_checksums_in_the_data_readme() {
    use sha2::{Digest, Sha256};
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("data/README.md")).expect("data/README.md");
    let listed = |name: &str, bytes: &[u8]| {
        let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        let line = format!("{hex}  {name}");
        assert!(readme.contains(&line), "data/README.md must list {line}");
    };
    let embedded: Vec<_> = data::embedded::files().collect();
    assert_eq!(embedded.len(), 6);
    for file in embedded {
        let name = file.name.strip_prefix("data/").expect("names start with data/");
        listed(name, file.bytes);
        // The embedded bytes are the files of the repository.
        assert_eq!(std::fs::read(root.join(file.name)).expect("the data file"), file.bytes);
        assert_eq!(data::embedded::bytes(file.name), Some(file.bytes));
    }
    for name in ["tabular/iris.csv", "tabular/winequality-red.csv", "digits/digits.csv.gz"] {
        listed(name, &std::fs::read(root.join("data").join(name)).expect("the data file"));
    }
    for licence in ["CC BY-SA 3.0", "CC BY 4.0"] {
        assert!(readme.contains(licence), "data/README.md must state the licence {licence}");
    }
}

#[test]
fn digits_csv_and_digits_idx_hold_the_same_classes() {
    let table =
        data::csv::read_table(repo_root().join("data/digits/digits.csv.gz"), None).expect("gzip CSV without header");
    assert_eq!((table.rows, table.feature_names.len()), (1_797, 64));
    assert_eq!(table.class_names, (0..10).map(|c| c.to_string()).collect::<Vec<_>>());
    let idx_labels = data::idx::parse_labels(data::embedded::DIGITS_FILES[1].bytes, "digits labels").expect("labels");
    let idx_labels: Vec<u32> = idx_labels.iter().map(|&l| l as u32).collect();
    assert_eq!(class_counts(&table.labels, 10), class_counts(&idx_labels, 10));
}

// ---------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------

#[test]
fn iris_csv_loads_with_header_and_standardized_features() {
    let path = repo_root().join("data/tabular/iris.csv");
    let table = data::csv::read_table(&path, None).expect("iris");
    assert_eq!((table.rows, table.feature_names.len()), (150, 4));
    assert_eq!(table.feature_names[0], "sepal_length");
    assert_eq!(table.label_name, "species");
    assert_eq!(table.class_names, ["0", "1", "2"]);

    let ds = data::load(&csv_spec(&path), 5).expect("iris loads");
    assert_eq!((ds.train.len, ds.test.len, ds.features), (120, 30, 4));
    // Stratified: 10 of each class in the test split.
    assert_eq!(class_counts(labels(&ds.test), 3), [10, 10, 10]);
    // Standardized with training statistics: mean 0 and deviation 1 on the training split.
    for f in 0..4 {
        let column: Vec<f64> = (0..ds.train.len).map(|i| ds.train.row(i)[f] as f64).collect();
        let mean = column.iter().sum::<f64>() / column.len() as f64;
        let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / column.len() as f64;
        assert!(mean.abs() < 1e-5 && (var.sqrt() - 1.0).abs() < 1e-5, "feature {f}: mean {mean}, sd {}", var.sqrt());
    }
}

#[test]
fn wine_csv_maps_quality_3_to_8_to_six_classes() {
    let path = repo_root().join("data/tabular/winequality-red.csv");
    let table = data::csv::read_table(&path, None).expect("wine");
    assert_eq!((table.rows, table.feature_names.len()), (1_599, 11));
    assert_eq!(table.feature_names[0], "fixed acidity");
    assert_eq!(table.label_name, "quality");
    assert_eq!(table.class_names, ["3", "4", "5", "6", "7", "8"]);
    assert_eq!(class_counts(&table.labels, 6), [10, 53, 681, 638, 199, 18]);

    // The label column by name and by 0-based index give the same table.
    assert_eq!(data::csv::read_table(&path, Some("quality")).expect("by name"), table);
    assert_eq!(data::csv::read_table(&path, Some("11")).expect("by index"), table);
    // Another column as the label.
    let by_alcohol = data::csv::read_table(&path, Some("alcohol")).expect("alcohol as label");
    assert_eq!(by_alcohol.feature_names.last().map(String::as_str), Some("quality"));

    // The same table separated by semicolons reads the same.
    let dir = scratch("wine-semicolon");
    let semi = dir.join("wine.csv");
    let text = std::fs::read_to_string(&path).expect("wine text");
    write(&semi, text.replace(',', ";").as_bytes());
    assert_eq!(data::csv::read_table(&semi, None).expect("semicolons"), table);

    let ds = data::load(&DataSpec { label: Some("quality".into()), ..csv_spec(&path) }, 9).expect("wine loads");
    assert_eq!(ds.task, Task::Classification { classes: 6 });
    assert_eq!(ds.class_names, ["3", "4", "5", "6", "7", "8"]);
    assert_eq!(ds.test.len, 320);
    // Each class's test share is within one example of its exact share.
    let exact = [10, 53, 681, 638, 199, 18].map(|c| c as f64 * 320.0 / 1599.0);
    for (got, want) in class_counts(labels(&ds.test), 6).iter().zip(exact) {
        assert!((*got as f64 - want).abs() <= 1.0, "{got} vs {want}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn csv_string_labels_headerless_files_and_constant_columns() {
    let dir = scratch("csv-strings");
    let path = dir.join("flowers.csv");
    let rows: String =
        (0..30).map(|i| format!("{},{},7,{}\n", i, i * 2, ["versicolor", "setosa", "virginica"][i % 3])).collect();
    write(&path, rows.as_bytes());
    let ds = data::load(&csv_spec(&path), 1).expect("headerless CSV with string labels");
    assert_eq!(ds.class_names, ["setosa", "versicolor", "virginica"]);
    assert_eq!(ds.feature_names, ["column 1", "column 2", "column 3"]);
    assert_eq!((ds.train.len, ds.test.len, ds.features), (24, 6, 3));
    // The constant column is centred, not divided by its zero deviation.
    assert!(ds.train.x.iter().chain(&ds.test.x).all(|v| v.is_finite()));
    assert!((0..ds.train.len).all(|i| ds.train.row(i)[2] == 0.0));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn csv_non_numeric_cell_names_line_column_and_header() {
    let dir = scratch("csv-nan");
    let path = dir.join("bad.csv");
    write(&path, b"\"a\",\"b\",\"label\"\n1,2,0\n3,oops,1\n");
    let (err, msg) = load_err(&csv_spec(&path));
    assert!(matches!(err, DataError::NotNumeric { line: 3, column: 2, .. }), "{msg}");
    assert_mentions(&msg, &[&path.display().to_string(), "line 3, column 2", "\"b\"", "\"oops\""]);

    // An empty feature cell is not a number either.
    write(&path, b"a;b;label\n1;2;0\n\n3;;1\n");
    let (_, msg) = load_err(&csv_spec(&path));
    assert_mentions(&msg, &[&path.display().to_string(), "line 4, column 2", "not a finite number"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn csv_ragged_row() {
    let dir = scratch("csv-ragged");
    let path = dir.join("ragged.csv");
    write(&path, b"a,b,label\n1,2,0\n3,4,1\n5,1\n");
    let (err, msg) = load_err(&csv_spec(&path));
    assert!(matches!(err, DataError::Ragged { line: 4, expected: 3, got: 2, .. }), "{msg}");
    assert_mentions(&msg, &[&path.display().to_string(), "line 4 has 2 fields, expected 3"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn csv_missing_empty_and_not_gzip_files() {
    let dir = scratch("csv-files");
    let missing = dir.join("absent.csv");
    let (err, msg) = load_err(&csv_spec(&missing));
    assert!(matches!(err, DataError::NotFound { .. }), "{msg}");
    assert_mentions(&msg, &[&missing.display().to_string(), "not found", "tried"]);

    let header_only = dir.join("header.csv");
    write(&header_only, b"a,b,label\n");
    let (err, msg) = load_err(&csv_spec(&header_only));
    assert!(matches!(err, DataError::Empty { .. }), "{msg}");
    assert_mentions(&msg, &[&header_only.display().to_string(), "empty dataset"]);

    let blank = dir.join("blank.csv");
    write(&blank, b"\n\n");
    let (_, msg) = load_err(&csv_spec(&blank));
    assert_mentions(&msg, &[&blank.display().to_string(), "empty dataset"]);

    let fake_gz = dir.join("table.csv.gz");
    write(&fake_gz, b"a,label\n1,0\n");
    let (err, msg) = load_err(&csv_spec(&fake_gz));
    assert!(matches!(err, DataError::NotGzip { .. }), "{msg}");
    assert_mentions(&msg, &[&fake_gz.display().to_string(), "not a gzip file"]);

    let quote = dir.join("quote.csv");
    write(&quote, b"\"a,label\n1,0\n");
    let (err, msg) = load_err(&csv_spec(&quote));
    assert!(matches!(err, DataError::UnterminatedQuote { line: 1, .. }), "{msg}");

    let ok = dir.join("ok.csv");
    write(&ok, b"a,label\n1,0\n2,1\n");
    let (err, msg) = load_err(&DataSpec { label: Some("klass".into()), ..csv_spec(&ok) });
    assert!(matches!(err, DataError::LabelColumn { .. }), "{msg}");
    assert_mentions(&msg, &[&ok.display().to_string(), "\"klass\"", "a, label"]);
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------
// Splits, subsets and orders
// ---------------------------------------------------------------------------------------

#[test]
fn splits_are_stratified() {
    let ds = data::load(&DataSpec { valid_fraction: 0.1, ..spec("digits") }, 11).expect("digits");
    let all: Vec<u32> = [labels(&ds.train), labels(&ds.valid), labels(&ds.test)].concat();
    assert_eq!(all.len(), 1_797);
    let total = class_counts(&all, 10);
    for split in [&ds.train, &ds.valid, &ds.test] {
        let counts = class_counts(labels(split), 10);
        for (c, (&got, &of)) in counts.iter().zip(&total).enumerate() {
            let want = of as f64 * split.len as f64 / all.len() as f64;
            assert!((got as f64 - want).abs() <= 1.5, "class {c}: {got} vs {want:.1} of {}", split.len);
        }
    }
    assert_eq!(ds.valid.len, 144); // round(0.1 * 1438)
}

#[test]
fn splits_are_deterministic_per_seed() {
    let spec = DataSpec { valid_fraction: 0.2, ..spec("digits") };
    let a = data::load(&spec, 1).expect("digits");
    let b = data::load(&spec, 1).expect("digits");
    let c = data::load(&spec, 2).expect("digits");
    assert_eq!(a, b);
    assert_ne!(a.test.x, c.test.x);
    assert_ne!(a.valid.x, c.valid.x);
    // The splits are disjoint and cover the data: their sizes add up.
    assert_eq!(a.train.len + a.valid.len + a.test.len, 1_797);
}

#[test]
fn limit_subsets_training_data_only_and_stratified() {
    let ds = data::load(&DataSpec { limit: Some(1_000), valid_fraction: 0.1, ..spec("mnist-10k") }, 4).expect("mnist");
    assert_eq!((ds.train.len, ds.valid.len, ds.test.len), (900, 100, 10_000));
    let full = data::load(&spec("mnist-10k"), 4).expect("mnist");
    let full_counts = class_counts(labels(&full.train), 10);
    let limited: Vec<u32> = [labels(&ds.train), labels(&ds.valid)].concat();
    for (got, of) in class_counts(&limited, 10).iter().zip(full_counts) {
        assert!((*got as f64 - of as f64 / 10.0).abs() <= 1.0, "{got} of {of}");
    }
    // A limit above the data size takes everything.
    let all = data::load(&DataSpec { limit: Some(1_000_000), ..spec("digits") }, 4).expect("digits");
    assert_eq!(all.train.len, 1_438);
}

#[test]
fn stratified_subset_is_sorted_seeded_and_proportional() {
    let labels: Vec<u32> = (0..1_000).map(|i| if i % 4 == 0 { 1 } else { 0 }).collect();
    let a = data::stratified_subset(&labels, 100, 3);
    assert_eq!(a, data::stratified_subset(&labels, 100, 3));
    assert_ne!(a, data::stratified_subset(&labels, 100, 4));
    assert!(a.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(a.iter().filter(|&&i| labels[i] == 1).count(), 25);
}

#[test]
fn batch_order_differs_per_epoch_and_repeats_per_seed() {
    let ds = data::load(&spec("digits"), 1).expect("digits");
    let e1 = ds.batch_order(7, 1);
    let mut sorted = e1.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..ds.train.len).collect::<Vec<_>>());
    assert_eq!(e1, ds.batch_order(7, 1));
    assert_ne!(e1, ds.batch_order(7, 2));
    assert_ne!(e1, ds.batch_order(8, 1));
}

#[test]
fn probe_indices_are_a_fixed_stratified_subset() {
    let ds = data::load(&spec("mnist-10k"), 1).expect("mnist");
    let probe = ds.probe_indices(1_000, 1);
    assert_eq!(probe.len(), 1_000);
    assert_eq!(probe, ds.probe_indices(1_000, 1));
    assert!(probe.windows(2).all(|w| w[0] < w[1]));
    let probe_labels: Vec<u32> = probe.iter().map(|&i| labels(&ds.train)[i]).collect();
    let full = class_counts(labels(&ds.train), 10);
    for (got, of) in class_counts(&probe_labels, 10).iter().zip(full) {
        assert!((*got as f64 - of as f64 / 10.0).abs() <= 1.0);
    }
    assert_eq!(ds.probe_indices(1_000_000, 1).len(), 10_000);
    let batch = ds.train.gather(&probe[..3]);
    assert_eq!((batch.len, batch.x.len()), (3, 3 * 784));
    assert_eq!(batch.row(2), ds.train.row(probe[2]));
}

// ---------------------------------------------------------------------------------------
// Spirals, tutorial, configuration
// ---------------------------------------------------------------------------------------

#[test]
fn spirals_have_the_configured_shape() {
    let mut s = spec("spiral");
    s.spiral.classes = 4;
    s.spiral.points = 50;
    let ds = data::load(&s, 3).expect("spirals");
    assert_eq!((ds.features, ds.task), (2, Task::Classification { classes: 4 }));
    assert_eq!((ds.train.len, ds.test.len), (160, 40));
    assert_eq!(class_counts(labels(&ds.test), 4), [10, 10, 10, 10]);
    assert!(ds.train.x.chunks(2).all(|p| p[0].hypot(p[1]) <= 1.0 + 1e-6));
    assert_eq!(data::load(&s, 3).expect("spirals"), ds);
    assert_ne!(data::load(&s, 4).expect("spirals").train.x, ds.train.x);

    s.spiral.classes = 1;
    let (err, msg) = load_err(&s);
    assert!(matches!(err, DataError::Spec(_)), "{msg}");
    assert_mentions(&msg, &["data.spiral.classes"]);
}

#[test]
fn tutorial_is_the_single_regression_example() {
    let ds: Dataset = data::load(&spec("tutorial"), 0).expect("tutorial");
    assert_eq!((ds.features, ds.task), (1, Task::Regression { outputs: 1 }));
    assert_eq!((ds.train.len, ds.valid.len, ds.test.len), (1, 0, 1));
    assert_eq!(ds.train.x, [0.5]);
    assert_eq!(ds.train.targets, Targets::Values { values: vec![0.8], outputs: 1 });
    assert_eq!(ds.test, ds.train);
    assert!(ds.valid.is_empty());
    assert_eq!(ds.batch_order(1, 1), [0]);
    assert_eq!(ds.probe_indices(1_000, 1), [0]);
}

#[test]
fn data_spec_reads_from_toml_with_defaults_and_rejects_unknown_keys() {
    let s: DataSpec = toml::from_str("source = \"spiral\"\n[spiral]\nclasses = 5\n").expect("valid TOML");
    assert_eq!((s.spiral.classes, s.spiral.points, s.spiral.noise), (5, 200, 0.2));
    assert_eq!((s.valid_fraction, s.test_fraction, s.limit, s.label.as_deref()), (0.0, 0.2, None, None));
    assert!(toml::from_str::<DataSpec>("source = \"digits\"\nbogus = 1\n").is_err());
    assert!(toml::from_str::<DataSpec>("source = \"spiral\"\n[spiral]\narms = 2\n").is_err());
    // The resolved spec writes back and reads the same.
    let text = toml::to_string(&s).expect("serializes");
    assert_eq!(toml::from_str::<DataSpec>(&text).expect("round trip"), s);

    let bad = DataSpec { valid_fraction: 1.5, ..spec("digits") };
    assert_eq!(bad.validate(), Err("data.valid_fraction must be in [0, 1), got 1.5".to_owned()));
    let (err, msg) = load_err(&spec("imagenet"));
    assert!(matches!(err, DataError::Spec(_)), "{msg}");
    assert_mentions(&msg, &["data.source", "\"imagenet\""]);
}

// ---------------------------------------------------------------------------------------
// Geometry of the spirals, statistics of the training split only, splits and batches
// ---------------------------------------------------------------------------------------

/// The spirals of `classes` x `points` with `noise`, every split together: (x, y, class).
fn spiral_points(classes: usize, points: usize, noise: f64, seed: u64) -> Vec<(f64, f64, u32)> {
    let s = DataSpec {
        spiral: data::SpiralSpec { classes, points, noise },
        test_fraction: 0.25,
        ..spec("spiral")
    };
    let ds = data::load(&s, seed).expect("spirals");
    [&ds.train, &ds.test]
        .into_iter()
        .flat_map(|split| (0..split.len).map(move |i| (split.row(i)[0] as f64, split.row(i)[1] as f64, labels(split)[i])))
        .collect()
}

#[test]
fn noiseless_spirals_sit_on_their_arms() {
    // Point i of class c has radius r = i / (points - 1) and angle 4c + 4r, at (r sin, r cos).
    let points = 5;
    let all = spiral_points(3, points, 0.0, 1);
    assert_eq!(all.len(), 15);
    for c in 0..3u32 {
        let mut radii: Vec<f64> = all.iter().filter(|p| p.2 == c).map(|p| p.0.hypot(p.1)).collect();
        radii.sort_by(f64::total_cmp);
        for (i, r) in radii.iter().enumerate() {
            assert!((r - i as f64 / 4.0).abs() < 1e-6, "class {c}: radius {r} for point {i}");
        }
    }
    for &(x, y, c) in &all {
        let r = x.hypot(y);
        let theta = 4.0 * f64::from(c) + 4.0 * r;
        assert!((x - r * theta.sin()).abs() < 1e-5 && (y - r * theta.cos()).abs() < 1e-5, "({x}, {y}) of class {c}");
    }
    // A spiral of one point is the origin.
    assert!(spiral_points(2, 1, 0.3, 1).iter().all(|p| p.0 == 0.0 && p.1 == 0.0));
}

#[test]
fn spiral_noise_turns_the_angle_by_its_standard_deviation() {
    let all = spiral_points(2, 2_000, 0.1, 7);
    // The angle's error against the noiseless arm, for points far enough out to measure it.
    let errors: Vec<f64> = all
        .iter()
        .filter(|p| p.0.hypot(p.1) > 0.2)
        .map(|&(x, y, c)| {
            let r = x.hypot(y);
            let d = x.atan2(y) - (4.0 * f64::from(c) + 4.0 * r);
            (d + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
        })
        .collect();
    let n = errors.len() as f64;
    let mean = errors.iter().sum::<f64>() / n;
    let sd = (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(mean.abs() < 0.01 && (sd - 0.1).abs() < 0.01, "mean {mean}, sd {sd} of {n} points");
}

#[test]
fn scaling_and_standardization_use_the_training_split_only() {
    // IDX: test pixels brighter than any training pixel scale above 1.
    let dir = scratch("idx-scale");
    write(&dir.join("train-images-idx3-ubyte"), &idx_images(10, 1, 2, |i, p| (10 * i + p) as u8)); // max 91
    write(&dir.join("train-labels-idx1-ubyte"), &idx_labels(&cyclic_labels(10)));
    write(&dir.join("t10k-images-idx3-ubyte"), &idx_images(10, 1, 2, |_, _| 182));
    write(&dir.join("t10k-labels-idx1-ubyte"), &idx_labels(&cyclic_labels(10)));
    let ds = data::load(&idx_spec(&dir), 1).expect("loads");
    assert!(ds.test.x.iter().all(|&v| v == 2.0), "182 / 91 = 2: {:?}", &ds.test.x[..2]);
    assert_eq!(ds.feature_names, ["pixel_0_0", "pixel_0_1"]);

    // All-black training images have nothing to scale by: the values stay, and no NaN.
    write(&dir.join("train-images-idx3-ubyte"), &idx_images(10, 1, 2, |_, _| 0));
    let ds = data::load(&idx_spec(&dir), 1).expect("loads");
    assert!(ds.train.x.iter().all(|&v| v == 0.0) && ds.test.x.iter().all(|&v| v == 182.0));
    let _ = std::fs::remove_dir_all(dir);

    // CSV: the test split is standardized with the training split's mean and deviation,
    // which are not the test split's own: every split is one affine image of the raw column.
    let dir = scratch("csv-scale");
    let path = dir.join("t.csv");
    let raw: Vec<f64> = (0..100).map(|i| ((i * i) % 97) as f64).collect();
    let rows: String = raw.iter().enumerate().map(|(i, v)| format!("{v},{}\n", i % 2)).collect();
    write(&path, format!("v,label\n{rows}").as_bytes());
    let ds = data::load(&csv_spec(&path), 3).expect("loads");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sd = |v: &[f64]| (v.iter().map(|x| (x - mean(v)).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let train: Vec<f64> = ds.train.x.iter().map(|&v| f64::from(v)).collect();
    let test: Vec<f64> = ds.test.x.iter().map(|&v| f64::from(v)).collect();
    assert!(mean(&train).abs() < 1e-5 && (sd(&train) - 1.0).abs() < 1e-5);
    assert!(mean(&test).abs() > 1e-3, "the test split keeps its own offset: mean {}", mean(&test));
    let mut z: Vec<f64> = [train, test].concat();
    z.sort_by(f64::total_cmp);
    let mut r = raw.clone();
    r.sort_by(f64::total_cmp);
    let scale = (r[99] - r[0]) / (z[99] - z[0]);
    for (zk, rk) in z.iter().zip(&r) {
        assert!((r[0] + scale * (zk - z[0]) - rk).abs() < 1e-3, "{zk} does not map to {rk}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn stratified_shares_round_by_the_largest_remainder() {
    // 50, 30 and 20 examples, 7 places: exact shares 3.5, 2.1 and 1.4; the floors 3, 2, 1 leave
    // one place, which goes to the largest remainder (class 0).
    let labels: Vec<u32> = (0..100).map(|i| if i < 50 { 0 } else if i < 80 { 1 } else { 2 }).collect();
    let s = data::stratified_subset(&labels, 7, 1);
    assert_eq!(class_counts(&s.iter().map(|&i| labels[i]).collect::<Vec<_>>(), 3), [4, 2, 1]);
    // Equal remainders go to the lower class: 3 classes of 10, 4 places.
    let labels: Vec<u32> = (0..30).map(|i| i / 10).collect();
    for seed in 0..5 {
        let s = data::stratified_subset(&labels, 4, seed);
        assert_eq!(class_counts(&s.iter().map(|&i| labels[i]).collect::<Vec<_>>(), 3), [2, 1, 1], "seed {seed}");
    }
    // Labels need not be small or contiguous.
    let sparse = [7u32, 1_000_000, 7, 1_000_000];
    assert_eq!(data::stratified_subset(&sparse, 2, 3).iter().map(|&i| sparse[i]).collect::<Vec<_>>().len(), 2);
    let picked: Vec<u32> = data::stratified_subset(&sparse, 2, 3).iter().map(|&i| sparse[i]).collect();
    assert!(picked.contains(&7) && picked.contains(&1_000_000), "{picked:?}");
}

#[test]
fn a_validation_split_that_leaves_no_training_data_is_an_error() {
    // One example is kept, and the validation split takes it.
    let s = DataSpec { limit: Some(1), valid_fraction: 0.9, ..spec("mnist-10k") };
    let (err, msg) = load_err(&s);
    assert!(matches!(err, DataError::Empty { .. }), "{msg}");
    assert_mentions(&msg, &["data/mnist-10k", "no training examples are left of 10000"]);
    // A limit as large as the training data takes it all, in its order.
    let all = data::load(&DataSpec { limit: Some(1_438), ..spec("digits") }, 2).expect("digits");
    assert_eq!(all, data::load(&spec("digits"), 2).expect("digits"));
}

#[test]
fn only_image_sources_carry_an_image_shape() {
    let shape = |s: DataSpec| data::load(&s, 3).expect("the source loads").image;
    for source in ["spiral", "tutorial"] {
        assert_eq!(shape(spec(source)), None, "{source}");
    }
    assert_eq!(shape(DataSpec { sequence_length: Some(5), ..spec("adding") }), None);
    assert_eq!(shape(csv_spec(&repo_root().join("data/tabular/iris.csv"))), None);
    // Splitting, subsetting and reading as a sequence keep the shape, and the shape accounts
    // for every feature, in the convolution layout of a batch.
    let digits = data::load(&DataSpec { limit: Some(100), valid_fraction: 0.1, sequence_length: Some(8), ..spec("digits") }, 3)
        .expect("digits");
    let image = digits.image.expect("digits are images");
    assert_eq!((image.features(), image.batch(5), image.to_string()), (digits.features, [5, 1, 8, 8], "1x8x8".to_owned()));
}

/// A regression dataset of `n` examples with 2 features and 2 outputs, built by hand as a
/// user of the crate can.
fn regression(n: usize) -> Dataset {
    let split = |n: usize| data::Split {
        x: (0..2 * n).map(|v| v as f32).collect(),
        targets: Targets::Values { values: (0..2 * n).map(|v| -(v as f32)).collect(), outputs: 2 },
        len: n,
    };
    Dataset {
        name: "hand".into(),
        features: 2,
        image: None,
        task: Task::Regression { outputs: 2 },
        train: split(n),
        valid: data::Split::empty(Task::Regression { outputs: 2 }),
        test: split(3),
        class_names: Vec::new(),
        feature_names: vec!["a".into(), "b".into()],
    }
}

#[test]
fn splits_gather_rows_and_targets_together() {
    let ds = regression(10);
    assert_eq!((ds.classes(), ds.train.features(), ds.valid.features()), (None, 2, 0));
    assert!(ds.valid.is_empty() && !ds.train.is_empty());
    assert_eq!(ds.train.labels(), None);
    assert_eq!(ds.train.row(3), [6.0, 7.0]);
    let batch = ds.train.gather(&[4, 1, 4]);
    assert_eq!((batch.len, batch.x), (3, vec![8.0, 9.0, 2.0, 3.0, 8.0, 9.0]));
    assert_eq!(batch.targets, Targets::Values { values: vec![-8.0, -9.0, -2.0, -3.0, -8.0, -9.0], outputs: 2 });
    assert_eq!(data::Split::empty(Task::Classification { classes: 3 }).labels(), Some(&[][..]));

    let digits = data::load(&spec("digits"), 1).expect("digits");
    assert_eq!(digits.classes(), Some(10));
    let batch = digits.train.gather(&[5, 0]);
    assert_eq!(batch.labels(), Some(&[labels(&digits.train)[5], labels(&digits.train)[0]][..]));
    assert_eq!(batch.row(0), digits.train.row(5));
}

#[test]
fn a_regression_probe_is_a_seeded_random_subset() {
    let ds = regression(100);
    let probe = ds.probe_indices(10, 4);
    assert_eq!(probe.len(), 10);
    assert!(probe.windows(2).all(|w| w[0] < w[1]) && probe.iter().all(|&i| i < 100), "{probe:?}");
    assert_eq!(probe, ds.probe_indices(10, 4));
    assert_ne!(probe, ds.probe_indices(10, 5));
    assert_ne!(probe, (0..10).collect::<Vec<_>>(), "a random subset, not the first rows");
    assert_eq!(ds.probe_indices(1_000, 4), (0..100).collect::<Vec<_>>());
    // The batch order is the seed's permutation for that epoch, whatever the task.
    let order = ds.batch_order(4, 1);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    assert_ne!(order, sorted);
}

#[test]
fn unreadable_files_and_multi_member_gzip() {
    // A folder where a file should be: it exists but cannot be read.
    let dir = small_idx_dir("idx-folder");
    let images = dir.join("train-images-idx3-ubyte");
    std::fs::remove_file(&images).expect("remove");
    std::fs::create_dir(&images).expect("a folder in its place");
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::Io { .. }), "{msg}");
    assert_mentions(&msg, &[&images.display().to_string(), "cannot read"]);
    // The folder of the dataset is not a folder.
    let (err, msg) = load_err(&idx_spec(&dir.join("t10k-labels-idx1-ubyte.gz")));
    assert!(matches!(err, DataError::Io { .. }), "{msg}");
    let _ = std::fs::remove_dir_all(dir);

    // gzip files may hold several members one after the other (as `cat a.gz b.gz` makes).
    let dir = small_idx_dir("idx-members");
    let bytes = idx_labels(&cyclic_labels(50));
    let (head, tail) = bytes.split_at(20);
    write(&dir.join("train-labels-idx1-ubyte"), &[gzip(head), gzip(tail)].concat());
    let ds = data::load(&idx_spec(&dir), 1).expect("two gzip members read as one file");
    assert_eq!(labels(&ds.train), &cyclic_labels(50).iter().map(|&l| u32::from(l)).collect::<Vec<_>>()[..]);
    // A gzip file too short for a trailer is corrupt, not a crash.
    write(&dir.join("train-labels-idx1-ubyte"), &gzip(&bytes)[..12]);
    let (err, msg) = load_err(&idx_spec(&dir));
    assert!(matches!(err, DataError::Gzip { .. }), "{msg}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn data_spec_limits_are_inclusive_where_documented() {
    let spiral = |classes, points, noise| DataSpec { spiral: data::SpiralSpec { classes, points, noise }, ..spec("spiral") };
    assert_eq!(spiral(2, 1, 0.0).validate(), Ok(()));
    assert_eq!(spiral(2, 5_000_000, 0.0).validate(), Ok(()), "exactly the largest spiral dataset");
    assert!(spiral(2, 5_000_001, 0.0).validate().unwrap_err().contains("at most 10000000"));
    assert!(spiral(3, 5, f64::INFINITY).validate().unwrap_err().contains("data.spiral.noise"));
    assert!(spiral(3, 5, f64::NAN).validate().unwrap_err().contains("data.spiral.noise"));
    // Fractions in [0, 1): 0 is allowed, 1 is not, and test + valid must leave training data.
    assert_eq!(DataSpec { valid_fraction: 0.0, test_fraction: 0.0, ..spec("digits") }.validate(), Ok(()));
    assert!(DataSpec { test_fraction: 1.0, ..spec("digits") }.validate().unwrap_err().contains("data.test_fraction"));
    assert!(DataSpec { valid_fraction: -0.1, ..spec("digits") }.validate().unwrap_err().contains("data.valid_fraction"));
    let sum = DataSpec { valid_fraction: 0.4, test_fraction: 0.6, ..spec("csv:t.csv") }.validate().unwrap_err();
    assert!(sum.contains("must be below 1, got 0.4 + 0.6"), "{sum}");
    assert_eq!(DataSpec { valid_fraction: 0.5, test_fraction: 0.49, ..spec("digits") }.validate(), Ok(()));
    // The label column is a csv: setting; a source needs its path.
    assert_eq!(DataSpec { label: Some("y".into()), ..spec("csv:t.csv") }.validate(), Ok(()));
    assert!(DataSpec { label: Some("y".into()), ..spec("digits") }.validate().unwrap_err().contains("only to csv"));
    for bare in ["idx:", "csv:", "idx:  "] {
        assert!(spec(bare).validate().unwrap_err().contains("needs a path after the colon"), "{bare:?}");
    }
    assert_eq!(spec("mnist-10k").validate(), Ok(()));
    assert_eq!(spec("tutorial").validate(), Ok(()));
}

#[test]
fn a_missing_relative_path_names_the_absolute_one_tried() {
    // Relative paths are resolved against the current directory, and the message says where
    // that led, so that a run started from another folder is not a puzzle.
    let relative = Path::new("no-such-dataset-folder").join(format!("run-{}", std::process::id()));
    let (err, msg) = load_err(&idx_spec(&relative));
    assert!(matches!(err, DataError::NotFound { .. }), "{msg}");
    let absolute = std::env::current_dir().expect("a current directory").join(&relative);
    assert!(msg.starts_with(&format!("{}: folder not found", relative.display())), "{msg}");
    assert!(msg.ends_with(&format!("(tried {})", absolute.display())), "{msg}");

    let file = relative.with_extension("csv");
    let (_, msg) = load_err(&csv_spec(&file));
    assert!(msg.contains(&format!("(tried {})", std::env::current_dir().expect("cwd").join(&file).display())), "{msg}");
}

#[test]
fn a_seed_draws_the_same_spirals_in_every_version() {
    // Printed by `data::load` at commit c96ce4f: seed 11, 3 spirals of 4 points, noise 0.2,
    // the default test fraction. The noise is part of the dataset, so that a config and a
    // seed mean the same data forever, as they mean the same initial weights.
    let s = DataSpec { spiral: data::SpiralSpec { classes: 3, points: 4, noise: 0.2 }, ..spec("spiral") };
    let ds = data::load(&s, 11).expect("spirals");
    let train = [
        0.330939, 0.03988091, 0.2345866, -0.6240301, -0.8204152, -0.57176816, -0.0, -0.0, 0.3134785, 0.588367, 0.9998304,
        0.018414143, 0.0, 0.0, 0.021195026, -0.3326588, -0.6506269, -0.14535841, -0.4974089, 0.8675162,
    ];
    let test = [-0.0, 0.0, -0.16234319, 0.2911285];
    for (got, want) in [(&ds.train.x, &train[..]), (&ds.test.x, &test[..])] {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
    }
    assert_eq!(labels(&ds.train), [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]);
    assert_eq!(labels(&ds.test), [0, 1]);
}

#[test]
fn idx_plain_names_win_and_labels_follow_their_images_prefix() {
    let dir = scratch("idx-prefer");
    let pixel = |i: usize, p: usize| (i + p) as u8;
    // Two training image files: the plain name wins over the prefixed one.
    write(&dir.join("train-images-idx3-ubyte"), &idx_images(10, 2, 2, pixel));
    write(&dir.join("train-big-images-idx3-ubyte"), &idx_images(30, 2, 2, pixel));
    write(&dir.join("train-labels-idx1-ubyte"), &idx_labels(&cyclic_labels(10)));
    write(&dir.join("train-big-labels-idx1-ubyte"), &idx_labels(&cyclic_labels(30)));
    // The test images carry a prefix; of two labels files, the one with the same prefix wins
    // over the plain one.
    write(&dir.join("t10k-5k-images-idx3-ubyte"), &idx_images(5, 2, 2, pixel));
    write(&dir.join("t10k-5k-labels-idx1-ubyte"), &idx_labels(&cyclic_labels(5)));
    write(&dir.join("t10k-labels-idx1-ubyte"), &idx_labels(&cyclic_labels(7)));
    let layout = data::idx::find_layout(&dir).expect("one choice each");
    assert_eq!(layout.train_images, dir.join("train-images-idx3-ubyte"));
    assert_eq!(layout.train_labels, dir.join("train-labels-idx1-ubyte"));
    assert_eq!(layout.test_images, dir.join("t10k-5k-images-idx3-ubyte"));
    assert_eq!(layout.test_labels, dir.join("t10k-5k-labels-idx1-ubyte"));
    let ds = data::load(&idx_spec(&dir), 1).expect("loads");
    assert_eq!((ds.train.len, ds.test.len), (10, 5));

    // A missing file and an ambiguous one say which of the four they are.
    std::fs::remove_file(dir.join("t10k-5k-images-idx3-ubyte")).expect("remove");
    let (_, msg) = load_err(&idx_spec(&dir));
    assert_mentions(&msg, &["test images file not found"]);
    std::fs::remove_file(dir.join("train-images-idx3-ubyte")).expect("remove");
    write(&dir.join("train-other-images-idx3-ubyte"), &idx_images(10, 2, 2, pixel));
    let (_, msg) = load_err(&idx_spec(&dir));
    assert_mentions(&msg, &["several files could be the training images file"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn csv_labels_infinities_and_separators_at_their_edges() {
    let dir = scratch("csv-edges");
    let path = dir.join("t.csv");
    let read = |text: &str, label: Option<&str>| {
        write(&path, text.as_bytes());
        data::csv::read_table(&path, label)
    };
    // An empty label names its 1-based column; an infinite or NaN feature is not a number.
    let err = read("a,b,label\n1,2,x\n3,4,\n", None).expect_err("an empty label");
    assert!(matches!(err, DataError::EmptyLabel { line: 3, column: 3, .. }), "{err}");
    assert!(err.to_string().contains("line 3, column 3 (\"label\"): the label is empty"), "{err}");
    for bad in ["inf", "NaN", "-inf"] {
        let err = read(&format!("a,b,label\n1,2,x\n3,{bad},y\n"), None).expect_err("not finite");
        assert!(err.to_string().contains(&format!("{bad:?} is not a finite number")), "{err}");
    }
    // The label by index: the last index is a column, one past it is not.
    let table = "a,b,c\n1,2,x\n3,4,y\n";
    assert_eq!(read(table, Some("2")).expect("the last column").label_name, "c");
    let err = read(table, Some("3")).expect_err("one past the last").to_string();
    assert!(err.contains("index 3 is out of range: the file has 3 columns (indices 0 to 2)"), "{err}");
    // A label that names no column lists the columns, the first twelve of a wide table.
    let err = read(table, Some("nope")).expect_err("no such column").to_string();
    assert!(err.contains("(columns: a, b, c)"), "{err}");
    let wide: Vec<String> = (0..13).map(|i| format!("c{i}")).collect();
    let row: Vec<String> = (0..13).map(|i| i.to_string()).collect();
    let err = read(&format!("{}\n{}\n", wide.join(","), row.join(",")), Some("nope")).expect_err("no such column").to_string();
    assert!(err.contains("c11, ... (13 columns)") && !err.contains("c12"), "{err}");
    // The separator is the one the header holds more of outside quotes, commas on a tie.
    let semi = read("\"x,1\";\"y,2\";label\n1;2;0\n3;4;1\n", None).expect("semicolons, commas quoted");
    assert_eq!(semi.feature_names, ["x,1", "y,2"]);
    let comma = read("a;b,label\n1,0\n2,1\n", None).expect("one of each: commas");
    assert_eq!((comma.feature_names, comma.label_name), (vec!["a;b".to_string()], "label".to_string()));
    let _ = std::fs::remove_dir_all(dir);
}
