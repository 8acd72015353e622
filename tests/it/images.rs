//! Feature tests of the `images:<dir>` source on folders of PNG and JPEG files generated
//! here: classes, shape, color modes, the CHW layout, resizing, the seeded split, and every
//! kind of bad folder or file as a one-line error naming it.

use std::path::{Path, PathBuf};

use crate::common::scratch;
use data::{Color, DataSpec, ImageShape, ImagesSpec, Task};
use zune_core::bit_depth::BitDepth;
use zune_core::colorspace::ColorSpace;
use zune_core::options::EncoderOptions;

/// The bytes of a PNG file of `height` x `width` pixels of `colorspace`, 8 bits a sample.
fn png(height: usize, width: usize, colorspace: ColorSpace, pixels: &[u8]) -> Vec<u8> {
    png_of_depth(height, width, colorspace, BitDepth::Eight, pixels)
}

fn png_of_depth(height: usize, width: usize, colorspace: ColorSpace, depth: BitDepth, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    zune_png::PngEncoder::new(pixels, EncoderOptions::new(width, height, colorspace, depth))
        .encode(&mut out)
        .expect("encode a PNG in memory");
    out
}

/// Image `i` of the test folders, 4 rows of 5 RGB pixels: red is `5 i + 1` everywhere (so
/// the example can be found after the split), green is `10 r + c` at row `r`, column `c`,
/// blue is 255 (the largest value, which the pixels are scaled by).
fn rgb_pixels(i: usize) -> Vec<u8> {
    (0..4).flat_map(|r| (0..5).flat_map(move |c| [(5 * i + 1) as u8, (10 * r + c) as u8, 255])).collect()
}

/// A folder of three classes (`dog`, `bird`, `cat`, made in that order) of 10 images each,
/// image `i` being [`rgb_pixels`]`(i)`; `cat` holds a text file and a hidden file too.
fn three_classes(name: &str) -> PathBuf {
    let dir = scratch(name);
    for (k, class) in ["dog", "bird", "cat"].iter().enumerate() {
        let folder = dir.join(class);
        std::fs::create_dir(&folder).expect("a class folder");
        for j in 0..10 {
            let i = 10 * k + j;
            std::fs::write(folder.join(format!("{j:02}.png")), png(4, 5, ColorSpace::RGB, &rgb_pixels(i))).expect("write");
        }
    }
    std::fs::write(dir.join("cat/notes.txt"), "not an image, and not named like one").expect("write");
    std::fs::write(dir.join("cat/.DS_Store"), [0u8, 1, 2]).expect("write");
    dir
}

fn images_spec(dir: &Path, images: ImagesSpec) -> DataSpec {
    DataSpec { source: format!("images:{}", dir.display()), images, ..DataSpec::default() }
}

/// The message of a load that must fail, checked to be one line that names `path`.
fn error_naming(spec: &DataSpec, path: &Path) -> String {
    let msg = data::load(spec, 7).expect_err("the load must fail").to_string();
    assert!(!msg.contains('\n'), "the message must be one line: {msg}");
    assert!(msg.contains(&path.display().to_string()), "the message must name {}: {msg}", path.display());
    msg
}

#[test]
fn an_image_folder_loads_its_classes_in_name_order_channel_by_channel() {
    let dir = three_classes("images-rgb");
    let ds = data::load(&images_spec(&dir, ImagesSpec::default()), 3).expect("the folder loads");
    // torchvision's ImageFolder order: class folders sorted by name; the text and hidden
    // files are skipped.
    assert_eq!(ds.class_names, ["bird", "cat", "dog"]);
    assert_eq!(ds.task, Task::Classification { classes: 3 });
    assert_eq!(ds.image, Some(ImageShape { channels: 3, height: 4, width: 5 }));
    assert_eq!(ds.features, 60);
    assert_eq!((ds.feature_names[0].as_str(), ds.feature_names[59].as_str()), ("red_0_0", "blue_3_4"));
    // No test set of its own: test_fraction (0.2) of the 30, stratified, 2 per class.
    assert_eq!((ds.train.len, ds.test.len), (24, 6));
    let test_labels = ds.test.labels().expect("classes");
    assert!((0..3).all(|c| test_labels.iter().filter(|&&l| l == c).count() == 2), "{test_labels:?}");

    // Every example is its file, scaled by 255, in CHW order, with the label of its folder.
    let mut seen = Vec::new();
    for split in [&ds.train, &ds.test] {
        for (e, &label) in split.labels().expect("classes").iter().enumerate() {
            let row = split.row(e);
            let i = ((row[0] * 255.0).round() as usize - 1) / 5;
            let made_in = i / 10; // the folders were made dog, bird, cat
            assert_eq!(label, [2, 0, 1][made_in], "image {i}");
            let want: Vec<f32> = [(0..20).map(|_| (5 * i + 1) as f32).collect::<Vec<_>>(), (0..4).flat_map(|r| (0..5).map(move |c| (10 * r + c) as f32)).collect(), vec![255.0; 20]]
                .concat()
                .iter()
                .map(|v| v / 255.0)
                .collect();
            assert_eq!(row, want, "image {i}");
            seen.push(i);
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..30).collect::<Vec<_>>());

    // The split is the seed's: the same again, another with another seed.
    let again = data::load(&images_spec(&dir, ImagesSpec::default()), 3).expect("loads");
    let other = data::load(&images_spec(&dir, ImagesSpec::default()), 4).expect("loads");
    assert_eq!(again, ds);
    assert_ne!(other.test.x, ds.test.x);

    // Gray: one channel of ITU-R 601-2 luma, scaled by the training split's largest value.
    // (Every image in the training split, so that the largest value is known.)
    let gray = ImagesSpec { color: Color::Gray, ..ImagesSpec::default() };
    let gray = data::load(&DataSpec { test_fraction: 0.0, ..images_spec(&dir, gray) }, 3).expect("loads");
    assert_eq!(gray.image, Some(ImageShape::gray(4, 5)));
    assert_eq!(gray.feature_names[6], "pixel_1_1");
    let luma = |i: usize, r: usize, c: usize| 0.299 * (5 * i + 1) as f32 + 0.587 * (10 * r + c) as f32 + 0.114 * 255.0;
    let max = luma(29, 3, 4);
    let row = gray.train.row(0);
    let i = (0..30).find(|&i| (luma(i, 0, 0) / max - row[0]).abs() < 1e-4).expect("the luma of some image");
    assert!((luma(i, 1, 1) / max - row[6]).abs() < 1e-5, "{} against {}", luma(i, 1, 1) / max, row[6]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn gray_rgba_sixteen_bit_and_jpeg_files_mix_in_one_folder() {
    let dir = scratch("images-mixed");
    for class in ["a", "b"] {
        std::fs::create_dir(dir.join(class)).expect("a class folder");
    }
    // A gray PNG, an RGBA PNG whose alpha is dropped, a 16-bit gray PNG (its top 8 bits are
    // kept: 0xab00 + 0xcd is 0xab = 171) and a JPEG of one flat color.
    std::fs::write(dir.join("a/gray.png"), png(2, 3, ColorSpace::Luma, &[0, 50, 100, 150, 200, 250])).expect("write");
    let rgba: Vec<u8> = (0..6).flat_map(|p| [p * 40, 7, 255, 3]).collect();
    std::fs::write(dir.join("a/rgba.PNG"), png(2, 3, ColorSpace::RGBA, &rgba)).expect("write");
    let wide: Vec<u8> = (0..6).flat_map(|_| [0xab, 0xcd]).collect();
    std::fs::write(dir.join("b/deep.png"), png_of_depth(2, 3, ColorSpace::Luma, BitDepth::Sixteen, &wide)).expect("write");
    let mut jpeg = Vec::new();
    let flat: Vec<u8> = (0..6).flat_map(|_| [200u8, 100, 50]).collect();
    jpeg_encoder::Encoder::new(&mut jpeg, 100).encode(&flat, 3, 2, jpeg_encoder::ColorType::Rgb).expect("encode a JPEG");
    std::fs::write(dir.join("b/flat.jpeg"), &jpeg).expect("write");

    // All four in the training split, so that the raw values can be checked after scaling.
    let spec = DataSpec { test_fraction: 0.0, ..images_spec(&dir, ImagesSpec::default()) };
    let ds = data::load(&spec, 1).expect("the folder loads");
    assert_eq!((ds.train.len, ds.image), (4, Some(ImageShape { channels: 3, height: 2, width: 3 })));
    // Files in name order within a class: a/gray.png, a/rgba.PNG, b/deep.png, b/flat.jpeg.
    let raw = |e: usize| ds.train.row(e).iter().map(|v| v * 255.0).collect::<Vec<_>>();
    let near = |got: &[f32], want: &[f32], tol: f32| got.iter().zip(want).all(|(g, w)| (g - w).abs() <= tol);
    let gray: Vec<f32> = [0.0, 50.0, 100.0, 150.0, 200.0, 250.0].repeat(3);
    assert!(near(&raw(0), &gray, 1e-3), "{:?}", raw(0));
    let rgba_chw: Vec<f32> = [(0..6).map(|p| (p * 40) as f32).collect::<Vec<_>>(), vec![7.0; 6], vec![255.0; 6]].concat();
    assert!(near(&raw(1), &rgba_chw, 1e-3), "{:?}", raw(1));
    assert!(near(&raw(2), &[171.0; 18], 1e-3), "{:?}", raw(2));
    // JPEG is lossy: a flat color at quality 100 comes back within a few levels.
    let flat_chw: Vec<f32> = [vec![200.0; 6], vec![100.0; 6], vec![50.0; 6]].concat();
    assert!(near(&raw(3), &flat_chw, 3.0), "{:?}", raw(3));
    assert_eq!(ds.train.labels(), Some(&[0, 0, 1, 1][..]));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn images_of_another_size_are_resized_or_named() {
    let dir = scratch("images-sizes");
    for class in ["x", "y"] {
        std::fs::create_dir(dir.join(class)).expect("a class folder");
        std::fs::write(dir.join(class).join("small.png"), png(2, 2, ColorSpace::Luma, &[0, 10, 20, 30])).expect("write");
    }
    let big: Vec<u8> = (0..16).map(|v| v * 10).collect();
    let odd = dir.join("y").join("wide.png");
    std::fs::write(&odd, png(4, 4, ColorSpace::Luma, &big)).expect("write");

    // Without a size, the image that differs from the first is named with both sizes.
    let gray = ImagesSpec { color: Color::Gray, ..ImagesSpec::default() };
    let msg = error_naming(&images_spec(&dir, gray.clone()), &odd);
    assert!(msg.contains("4x4") && msg.contains("2x2") && msg.contains("x/small.png") && msg.contains("data.images.size"), "{msg}");

    // With one, every image is resized to it: the 2x2 ones are upsampled bilinearly, the
    // 4x4 one halved (each output pixel the mean of a 2x2 block).
    let spec = DataSpec { test_fraction: 0.0, ..images_spec(&dir, ImagesSpec { size: Some([2, 2]), ..gray }) };
    let ds = data::load(&spec, 1).expect("resized");
    assert_eq!((ds.image, ds.train.len), (Some(ImageShape::gray(2, 2)), 3));
    // y/wide.png sorts last; its blocks' means are 25, 45, 105, 125, and 125 is the largest value.
    let wide: Vec<f32> = ds.train.row(2).iter().map(|v| v * 125.0).collect();
    assert!(wide.iter().zip([25.0, 45.0, 105.0, 125.0]).all(|(g, w)| (g - w).abs() < 1e-3), "{wide:?}");
    let resized = ImagesSpec { size: Some([3, 7]), color: Color::Rgb };
    let ds = data::load(&DataSpec { test_fraction: 0.0, ..images_spec(&dir, resized) }, 1).expect("resized");
    assert_eq!((ds.image, ds.features), (Some(ImageShape { channels: 3, height: 3, width: 7 }), 63));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_image_folders_are_one_line_errors_naming_the_file() {
    let dir = three_classes("images-bad");
    let spec = images_spec(&dir, ImagesSpec::default());

    // A file named like a PNG that is text.
    let fake = dir.join("bird/05.png");
    std::fs::write(&fake, "hello").expect("write");
    assert!(error_naming(&spec, &fake).contains("not a PNG or JPEG image"));

    // A PNG cut short.
    let whole = png(4, 5, ColorSpace::RGB, &rgb_pixels(0));
    std::fs::write(&fake, &whole[..whole.len() / 2]).expect("write");
    assert!(error_naming(&spec, &fake).contains("cannot decode the PNG file"));
    std::fs::write(&fake, &whole).expect("write");

    // A JPEG cut short.
    let jpeg_path = dir.join("cat/zz.jpg");
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 90).encode(&rgb_pixels(1), 5, 4, jpeg_encoder::ColorType::Rgb).expect("encode");
    std::fs::write(&jpeg_path, &jpeg[..40]).expect("write");
    assert!(error_naming(&spec, &jpeg_path).contains("cannot decode the JPEG file"));
    std::fs::remove_file(&jpeg_path).expect("remove");

    // A class folder without images.
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    std::fs::write(empty.join("readme.md"), "no images here").expect("write");
    assert!(error_naming(&spec, &empty).contains("no .png, .jpg or .jpeg file"));
    std::fs::remove_dir_all(&empty).expect("remove");
    assert!(data::load(&spec, 7).is_ok(), "the folder is whole again");

    // A folder without class folders, and one that does not exist.
    let flat = scratch("images-flat");
    std::fs::write(flat.join("a.png"), png(1, 1, ColorSpace::Luma, &[1])).expect("write");
    assert!(error_naming(&images_spec(&flat, ImagesSpec::default()), &flat).contains("no class folders"));
    let missing = flat.join("nowhere");
    assert!(error_naming(&images_spec(&missing, ImagesSpec::default()), &missing).contains("folder not found"));

    // Settings for images on another source, and a size out of range, name their key.
    let wrong = DataSpec { images: ImagesSpec { color: Color::Gray, size: None }, ..DataSpec::default() };
    assert!(data::load(&wrong, 1).expect_err("not an images source").to_string().contains("data.images applies only"));
    let zero = images_spec(&dir, ImagesSpec { size: Some([0, 4]), ..ImagesSpec::default() });
    assert!(data::load(&zero, 1).expect_err("a zero height").to_string().contains("data.images.size"));
    // The table reads from TOML and rejects unknown keys.
    let toml_spec: DataSpec = toml::from_str("source = \"images:x\"\nimages = { size = [8, 6], color = \"gray\" }").expect("parses");
    assert_eq!(toml_spec.images, ImagesSpec { size: Some([8, 6]), color: Color::Gray });
    assert!(toml::from_str::<DataSpec>("source = \"images:x\"\nimages = { colour = \"gray\" }").is_err());
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(flat);
}

#[test]
fn an_image_folder_trains_and_its_resolved_config_reruns_it() {
    let dir = three_classes("images-train");
    let text = format!(
        r#"
name = "images"
seed = 5
[data]
source = 'images:{}'
images = {{ size = [4, 5], color = "gray" }}
[train]
epochs = 1
batch_size = 8
[optimizer]
kind = "sgd"
lr = 0.1
[telemetry]
probe = 12
[models.relu]
preset = "deep-relu"
depth = 2
width = 8
"#,
        dir.display()
    );
    let exp = crate::common::experiment(&text, &[]);
    let out = scratch("images-run").join("run");
    let summary = crate::common::run_in(&exp, &out, train::backend::Backend::Flex).expect("trains");
    assert_eq!(summary.status, gradflow::runfolder::Status::Completed, "{:?}", summary.reason);
    let read = |name: &str| std::fs::read_to_string(out.join(name)).expect("a file of the run");
    let manifest: gradflow::runfolder::Manifest = serde_json::from_str(&read(gradflow::runfolder::MANIFEST)).expect("json");
    let dataset = manifest.dataset.expect("the dataset");
    assert_eq!((dataset.features, dataset.classes), (Some(20), Some(3)));
    assert_eq!(dataset.image, Some(gradflow::runfolder::ImageInfo { channels: 1, height: 4, width: 5 }));
    // The resolved config keeps the images table: it reads back with the same data, and is
    // saved again as it is.
    let saved = read(gradflow::runfolder::CONFIG);
    assert!(saved.contains("color = \"gray\""), "{saved}");
    let again = train::config::parse(&saved, &[]).expect("the saved config parses");
    assert_eq!((&again.data, again.to_toml()), (&exp.data, saved));
    let _ = std::fs::remove_dir_all(out.parent().expect("the scratch folder"));
    let _ = std::fs::remove_dir_all(dir);
}
