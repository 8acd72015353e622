//! Reading a file whole and undoing gzip compression, shared by the IDX and CSV readers.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::DataError;

/// The two bytes every gzip member starts with (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Deflate never expands data by more than about 1032 times, so a size hint above that
/// ratio comes from a damaged trailer and must not be trusted for an allocation.
const MAX_DEFLATE_RATIO: usize = 1032;

/// The path as the user wrote it, for error messages.
pub(crate) fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Reads a whole file, turning a missing file into [`DataError::NotFound`] with the
/// absolute name that was tried (relative paths are resolved against the current directory).
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::NotFound { path: display(path), what: "file".to_owned(), tried: absolute(path) }
        } else {
            DataError::Io { path: display(path), source }
        }
    })
}

/// The absolute form of a path, or the path itself when the current directory is unknown.
pub(crate) fn absolute(path: &Path) -> String {
    match std::path::absolute(path) {
        Ok(abs) => abs.display().to_string(),
        Err(_) => display(path),
    }
}

/// Returns the content of a file, decompressed when it is gzip.
///
/// Gzip is recognised by its magic bytes, not by the name, so a compressed file without
/// `.gz` still works; a name ending in `.gz` whose content is not gzip is an error, since
/// it most likely is a damaged or mislabelled download.
pub(crate) fn decompress<'a>(bytes: &'a [u8], name: &str) -> Result<Cow<'a, [u8]>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        if name.ends_with(".gz") {
            return Err(DataError::NotGzip { path: name.to_owned() });
        }
        return Ok(Cow::Borrowed(bytes));
    }
    // The trailer's last four bytes hold the uncompressed size modulo 2^32 (of the last
    // member); it lets the output be allocated once instead of growing by doubling.
    let hint = match bytes.len().checked_sub(4) {
        Some(start) if bytes.len() >= 18 => {
            let mut isize = [0u8; 4];
            isize.copy_from_slice(&bytes[start..]);
            (u32::from_le_bytes(isize) as usize).min(bytes.len().saturating_mul(MAX_DEFLATE_RATIO))
        }
        _ => 0,
    };
    let mut out = Vec::with_capacity(hint);
    MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip { path: name.to_owned(), detail: e.to_string() })?;
    Ok(Cow::Owned(out))
}
