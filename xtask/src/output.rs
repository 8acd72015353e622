//! Writing figures to files in the chosen formats, and the record of what was written.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::plot::{Figure, render};

/// Which image files to write for each figure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Vector figures (inlined into the HTML page as well).
    #[default]
    Svg,
    /// Raster figures at twice the nominal size, for slides and chat.
    Png,
    /// Both.
    Both,
}

impl Format {
    pub fn svg(self) -> bool {
        matches!(self, Format::Svg | Format::Both)
    }

    pub fn png(self) -> bool {
        matches!(self, Format::Png | Format::Both)
    }
}

/// PNG pixels per SVG pixel: sharp on high-density screens, still small files.
pub const PNG_SCALE: f64 = 2.0;

/// One figure as written.
#[derive(Clone, Debug)]
pub struct FigureFile {
    /// The file stem, e.g. `fig1-grad-norms`.
    pub slug: String,
    pub title: String,
    /// The sentence that says what the figure shows, computed from the data.
    pub reading: String,
    /// The number of data series drawn (SVG groups with `class="series"`).
    pub series: usize,
    pub svg: Option<PathBuf>,
    pub png: Option<PathBuf>,
    /// The SVG document, for inlining into a page.
    pub svg_text: String,
}

/// Renders `fig` and writes it into `dir` in `format`.
pub fn write_figure(fig: &Figure, reading: String, dir: &Path, format: Format) -> Result<FigureFile, Error> {
    let rendered = render(fig);
    let svg_text = crate::svg::to_svg(&rendered.scene);
    let mut file = FigureFile {
        slug: fig.slug.clone(),
        title: fig.title.clone(),
        reading,
        series: rendered.series,
        svg: None,
        png: None,
        svg_text,
    };
    if format.svg() {
        let path = dir.join(format!("{}.svg", fig.slug));
        write_file(&path, file.svg_text.as_bytes())?;
        file.svg = Some(path);
    }
    if format.png() {
        let path = dir.join(format!("{}.png", fig.slug));
        let bytes = crate::png::to_png(&rendered.scene, PNG_SCALE)
            .map_err(|message| Error::Render { path: path.clone(), message })?;
        write_file(&path, &bytes)?;
        file.png = Some(path);
    }
    Ok(file)
}

/// Writes a file, naming it in the error.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|cause| Error::Write { path: path.to_path_buf(), cause })
}

/// Creates a folder and its parents, naming it in the error.
pub fn create_dir(path: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(path).map_err(|cause| Error::Write { path: path.to_path_buf(), cause })
}

/// The file name of a path, for links relative to the page.
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// A report or comparison page, as both `index.html` and `report.md` show it (the
/// Markdown leaves out the image format and the appendix).
pub struct Page<'a> {
    pub title: String,
    /// Facts under the title: label and value.
    pub facts: Vec<(String, String)>,
    /// Warnings a reader must see first (an interrupted run, skipped lines).
    pub notes: Vec<String>,
    pub headline: &'a [crate::headline::Headline],
    /// Whether the headline table has a Run column (comparisons).
    pub with_run: bool,
    pub figures: &'a [FigureFile],
    /// The diagnosis of a report's run, shown first (none for comparisons and diagnose folders).
    pub diagnosis: Option<&'a runfolder::Diagnosis>,
    pub format: Format,
    /// Text shown at the end, each in a collapsible block: the config, the manifest.
    pub appendix: Vec<(String, String)>,
}
