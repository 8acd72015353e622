//! The `images:<dir>` source: a folder of class subfolders of PNG and JPEG files (the layout
//! of torchvision's `ImageFolder` and burn's `ImageFolderDataset`), decoded, brought to one
//! color mode and size, and laid out channel by channel (CHW).
//!
//! The classes are the subfolders in the order of their names (as torchvision sorts them),
//! and class `i` is label `i`. A file counts as an image by its extension (`.png`, `.jpg`,
//! `.jpeg`, in any case), as in torchvision; other files and hidden files are skipped, and a
//! file with an image's extension that does not decode is an error naming it.
//!
//! The decoders are `zune-png` and `zune-jpeg` (the `image` crate's own JPEG decoder) rather
//! than the `image` crate itself: `image` switches on default features of `num-traits` and
//! `simd-adler32`, which burn shares, and that would build the whole of burn a second time
//! (see "Feature unification" in ARCHITECTURE.md). For the same reason the resizing and the
//! color conversion are written here; they are a few lines each.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

use crate::DataError;
use crate::dataset::ImageShape;
use crate::file;
use crate::prepare::Pool;

/// The first bytes of every PNG file.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
/// The first bytes of every JPEG file (start-of-image marker, then the next marker's 0xff).
const JPEG_SIGNATURE: [u8; 3] = [0xff, 0xd8, 0xff];

/// The largest height or width accepted, for an image file and for `data.images.size`: far
/// beyond what a CNN here trains on, so that a damaged header or a typo cannot ask for more
/// memory than the machine has.
pub const MAX_SIDE: usize = 8192;

/// The color mode every image is brought to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// Three channels, red, green and blue (what torchvision's loader makes of every image);
    /// a grayscale file gets its value in all three.
    #[default]
    Rgb,
    /// One channel, the luma of ITU-R 601-2 (`0.299 R + 0.587 G + 0.114 B`, Pillow's `L`).
    Gray,
}

impl Color {
    /// Channels per pixel.
    pub fn channels(self) -> usize {
        match self {
            Color::Rgb => 3,
            Color::Gray => 1,
        }
    }
}

/// The `[data.images]` table: how the `images:` source decodes its files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImagesSpec {
    /// `[height, width]`: every image is resized to it (bilinear). Without it, every image
    /// must have the size of the first, and one that does not is an error naming it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<[usize; 2]>,
    /// `"rgb"` (the default) or `"gray"`.
    pub color: Color,
}

impl ImagesSpec {
    /// Checks the values without touching any file; the message names the key.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some([h, w]) = self.size
            && !((1..=MAX_SIDE).contains(&h) && (1..=MAX_SIDE).contains(&w))
        {
            return Err(format!("data.images.size must be [height, width], each in 1..={MAX_SIDE}, got [{h}, {w}]"));
        }
        Ok(())
    }
}

/// The examples of an image folder, before splitting and scaling.
pub(crate) struct Folder {
    pub pool: Pool,
    pub shape: ImageShape,
    pub class_names: Vec<String>,
}

/// Reads every image of the class subfolders of `dir`.
pub(crate) fn read_folder(dir: &Path, spec: &ImagesSpec) -> Result<Folder, DataError> {
    let classes = class_folders(dir)?;
    let channels = spec.color.channels();
    let mut x = Vec::new();
    let mut labels = Vec::new();
    // The size every image must have: the configured one, or else the first image's.
    let mut size: Option<([usize; 2], PathBuf)> = None;
    for (label, (_, folder)) in classes.iter().enumerate() {
        let files = image_files(folder)?;
        if files.is_empty() {
            return Err(DataError::Empty {
                path: file::display(folder),
                what: "the class folder holds no .png, .jpg or .jpeg file".to_owned(),
            });
        }
        for path in files {
            let image = decode(&path)?;
            let image = match (spec.size, &size) {
                (Some(target), _) => image.resized(target),
                (None, Some((first, first_path))) if image.size() != *first => {
                    return Err(DataError::ImageSize {
                        path: file::display(&path),
                        height: image.height,
                        width: image.width,
                        first: file::display(first_path),
                        first_height: first[0],
                        first_width: first[1],
                    });
                }
                _ => image,
            };
            size.get_or_insert_with(|| (image.size(), path.clone()));
            image.push_chw(spec.color, &mut x);
            labels.push(label as u32);
        }
    }
    let [height, width] = size.map(|(s, _)| s).expect("every class folder holds an image");
    let shape = ImageShape { channels, height, width };
    Ok(Folder {
        pool: Pool { x, labels, features: shape.features() },
        shape,
        class_names: classes.into_iter().map(|(name, _)| name).collect(),
    })
}

/// The feature names of an image: `pixel_<row>_<col>` for one channel, `red_<row>_<col>`,
/// `green_…` and `blue_…` for three, in the CHW order of the features.
pub(crate) fn feature_names(shape: ImageShape) -> Vec<String> {
    let planes: &[&str] = if shape.channels == 1 { &["pixel"] } else { &["red", "green", "blue"] };
    planes
        .iter()
        .flat_map(|p| (0..shape.height).flat_map(move |r| (0..shape.width).map(move |c| format!("{p}_{r}_{c}"))))
        .collect()
}

/// The class subfolders of `dir` by name, sorted; hidden folders are skipped.
fn class_folders(dir: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let mut classes = Vec::new();
    for entry in list(dir)? {
        if entry.is_dir() && let Some(name) = visible_name(&entry) {
            classes.push((name, entry));
        }
    }
    if classes.is_empty() {
        return Err(DataError::Empty {
            path: file::display(dir),
            what: "no class folders (the layout is <dir>/<class>/<image>.png)".to_owned(),
        });
    }
    Ok(classes)
}

/// The image files of a class folder (by extension), sorted by name.
fn image_files(folder: &Path) -> Result<Vec<PathBuf>, DataError> {
    let is_image = |p: &Path| {
        let ext = p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
    };
    Ok(list(folder)?.into_iter().filter(|p| visible_name(p).is_some() && is_image(p) && !p.is_dir()).collect())
}

/// The entries of a folder, sorted by name; a missing folder is [`DataError::NotFound`].
fn list(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let io = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::NotFound { path: file::display(dir), what: "folder".to_owned(), tried: file::absolute(dir) }
        } else {
            DataError::Io { path: file::display(dir), source }
        }
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        entries.push(entry.map_err(io)?.path());
    }
    entries.sort();
    Ok(entries)
}

/// The file name, unless it is hidden (`.DS_Store`, `.ipynb_checkpoints`) or not UTF-8.
fn visible_name(path: &Path) -> Option<String> {
    path.file_name().and_then(|n| n.to_str()).filter(|n| !n.starts_with('.')).map(str::to_owned)
}

/// A decoded image: `height` rows of `width` pixels of `components` interleaved 8-bit values
/// (1 gray, 2 gray and alpha, 3 RGB, 4 RGB and alpha).
struct Decoded {
    pixels: Vec<f32>,
    height: usize,
    width: usize,
    components: usize,
}

/// Decodes a PNG or JPEG file, told apart by its first bytes, not by its name.
fn decode(path: &Path) -> Result<Decoded, DataError> {
    let bytes = file::read(path)?;
    let name = file::display(path);
    // Damaged headers must not make the decoder allocate gigabytes.
    let options = DecoderOptions::default().set_max_width(MAX_SIDE).set_max_height(MAX_SIDE);
    let fail = |format: &'static str, detail: String| DataError::Decode {
        path: name.clone(),
        format,
        detail: detail.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    let (pixels, (width, height), colorspace) = if bytes.starts_with(&PNG_SIGNATURE) {
        // 16-bit files keep their top 8 bits, like Pillow's conversion to 8-bit modes.
        let mut decoder = zune_png::PngDecoder::new_with_options(ZCursor::new(&bytes), options.png_set_strip_to_8bit(true));
        let result = decoder.decode().map_err(|e| fail("PNG", format!("{e:?}")))?;
        let pixels = result.u8().ok_or_else(|| fail("PNG", "the samples are not 8-bit".to_owned()))?;
        let dims = decoder.dimensions().ok_or_else(|| fail("PNG", "no image header".to_owned()))?;
        (pixels, dims, decoder.colorspace())
    } else if bytes.starts_with(&JPEG_SIGNATURE) {
        let options = options.jpeg_set_out_colorspace(ColorSpace::RGB);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&bytes), options);
        let pixels = decoder.decode().map_err(|e| fail("JPEG", format!("{e:?}")))?;
        let dims = decoder.dimensions().ok_or_else(|| fail("JPEG", "no image header".to_owned()))?;
        (pixels, dims, decoder.output_colorspace())
    } else {
        return Err(DataError::NotAnImage { path: name });
    };
    let components = match colorspace {
        Some(ColorSpace::Luma) => 1,
        Some(ColorSpace::LumaA) => 2,
        Some(ColorSpace::RGB) => 3,
        Some(ColorSpace::RGBA) => 4,
        other => return Err(fail("image", format!("unsupported color space {other:?}"))),
    };
    if width == 0 || height == 0 || pixels.len() != width * height * components {
        return Err(fail("image", format!("{} values for {width}x{height} pixels of {components}", pixels.len())));
    }
    Ok(Decoded { pixels: pixels.into_iter().map(f32::from).collect(), height, width, components })
}

impl Decoded {
    fn size(&self) -> [usize; 2] {
        [self.height, self.width]
    }

    /// The image resized to `[height, width]` by bilinear interpolation with pixel centres
    /// aligned (PyTorch's `interpolate(mode="bilinear", align_corners=False)`, OpenCV's
    /// `INTER_LINEAR`). It does not average over the pixels it skips, so shrinking by more
    /// than half aliases fine detail; an image of the target size is returned as it is.
    fn resized(self, [height, width]: [usize; 2]) -> Decoded {
        if self.size() == [height, width] {
            return self;
        }
        let k = self.components;
        // Source coordinate of a destination index, and its two neighbours with weights.
        let taps = |out: usize, len: usize| -> Vec<(usize, usize, f32)> {
            let scale = len as f64 / out as f64;
            (0..out)
                .map(|i| {
                    let s = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
                    let lo = (s.floor() as usize).min(len - 1);
                    let hi = (lo + 1).min(len - 1);
                    (lo, hi, (s - lo as f64) as f32)
                })
                .collect()
        };
        let (rows, cols) = (taps(height, self.height), taps(width, self.width));
        let at = |r: usize, c: usize, ch: usize| self.pixels[(r * self.width + c) * k + ch];
        let mut pixels = Vec::with_capacity(height * width * k);
        for &(r0, r1, fr) in &rows {
            for &(c0, c1, fc) in &cols {
                for ch in 0..k {
                    let top = at(r0, c0, ch) * (1.0 - fc) + at(r0, c1, ch) * fc;
                    let bottom = at(r1, c0, ch) * (1.0 - fc) + at(r1, c1, ch) * fc;
                    pixels.push(top * (1.0 - fr) + bottom * fr);
                }
            }
        }
        Decoded { pixels, height, width, components: k }
    }

    /// Appends the image in `color`, channel by channel (CHW), dropping any alpha.
    fn push_chw(&self, color: Color, out: &mut Vec<f32>) {
        let k = self.components;
        let rgb = |p: &[f32]| if k >= 3 { [p[0], p[1], p[2]] } else { [p[0]; 3] };
        match color {
            Color::Gray => out.extend(self.pixels.chunks_exact(k).map(|p| {
                if k >= 3 {
                    let [r, g, b] = rgb(p);
                    0.299 * r + 0.587 * g + 0.114 * b
                } else {
                    p[0]
                }
            })),
            Color::Rgb => {
                for ch in 0..3 {
                    out.extend(self.pixels.chunks_exact(k).map(|p| rgb(p)[ch]));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(height: usize, width: usize, components: usize, pixels: Vec<f32>) -> Decoded {
        Decoded { pixels, height, width, components }
    }

    #[test]
    fn bilinear_resize_follows_pytorch_align_corners_false() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 10.], [20., 30.]]]]), size=(4, 4),
        // mode="bilinear", align_corners=False) gives these rows (computed by hand from its
        // definition: source coordinate (i + 0.5) / 2 - 0.5, clamped at 0).
        let up = image(2, 2, 1, vec![0.0, 10.0, 20.0, 30.0]).resized([4, 4]);
        let expect = [
            [0.0, 2.5, 7.5, 10.0],
            [5.0, 7.5, 12.5, 15.0],
            [15.0, 17.5, 22.5, 25.0],
            [20.0, 22.5, 27.5, 30.0],
        ];
        assert_eq!(up.pixels, expect.concat());
        // Halving averages each 2x2 block (the source coordinate falls between its pixels).
        let down = image(2, 4, 1, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]).resized([1, 2]);
        assert_eq!(down.pixels, [5.0, 9.0]);
    }

    #[test]
    fn colors_are_converted_and_laid_out_by_channel() {
        // Two RGBA pixels: pure red and pure white, alpha dropped.
        let px = image(1, 2, 4, vec![255.0, 0.0, 0.0, 7.0, 255.0, 255.0, 255.0, 0.0]);
        let mut rgb = Vec::new();
        px.push_chw(Color::Rgb, &mut rgb);
        assert_eq!(rgb, [255.0, 255.0, 0.0, 255.0, 0.0, 255.0]);
        let mut gray = Vec::new();
        px.push_chw(Color::Gray, &mut gray);
        assert!((gray[0] - 0.299 * 255.0).abs() < 1e-3 && (gray[1] - 255.0).abs() < 1e-3, "{gray:?}");
        // A gray pixel with alpha becomes three equal channels.
        let mut from_gray = Vec::new();
        image(1, 1, 2, vec![9.0, 1.0]).push_chw(Color::Rgb, &mut from_gray);
        assert_eq!(from_gray, [9.0, 9.0, 9.0]);
    }
}
