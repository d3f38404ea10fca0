//! Photo and signature checks: the type is decided by the content (JPEG, PNG or
//! WebP — never by the file name or the client's Content-Type), the image must
//! decode within memory and size limits (no decompression bombs), and a JPEG
//! thumbnail at most 320 px on its longer side is made. CPU-heavy: call off the
//! async runtime.

use image::{ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Longest side of a thumbnail, in pixels.
pub const THUMB_SIZE: u32 = 320;
/// Largest accepted width or height, in pixels.
pub const MAX_DIMENSION: u32 = 12_000;

/// A checked image and its thumbnail.
#[derive(Debug, Clone)]
pub struct Processed {
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: &'static str,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// JPEG thumbnail bytes.
    pub thumbnail: Vec<u8>,
}

/// Why an upload was refused; the message is fit for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// Not a JPEG, PNG or WebP file.
    #[error("must be a JPEG, PNG or WebP image")]
    UnsupportedType,
    /// Claims to be an image but does not decode (truncated, corrupt, too large).
    #[error("is not a readable image: {0}")]
    Unreadable(String),
}

/// Identifies, decodes and thumbnails `bytes`. Fails with [`MediaError`].
pub fn process(bytes: &[u8]) -> Result<Processed, MediaError> {
    let format = image::guess_format(bytes).map_err(|_| MediaError::UnsupportedType)?;
    let content_type = match format {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Png => "image/png",
        ImageFormat::WebP => "image/webp",
        _ => return Err(MediaError::UnsupportedType),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| MediaError::Unreadable(e.to_string()))?;
    let (width, height) = (img.width(), img.height());
    let thumb = img.thumbnail(THUMB_SIZE, THUMB_SIZE).to_rgb8();
    let mut thumbnail = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut thumbnail, 80)
        .encode_image(&thumb)
        .map_err(|e| MediaError::Unreadable(e.to_string()))?;
    Ok(Processed {
        content_type,
        width,
        height,
        thumbnail,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small PNG for tests.
    pub fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn accepts_images_by_content_and_thumbnails_them() {
        let p = process(&png(1000, 500)).unwrap();
        assert_eq!(
            (p.content_type, p.width, p.height),
            ("image/png", 1000, 500)
        );
        let t = image::load_from_memory(&p.thumbnail).unwrap();
        assert_eq!((t.width(), t.height()), (320, 160));
        assert_eq!(
            image::guess_format(&p.thumbnail).unwrap(),
            ImageFormat::Jpeg
        );
    }

    #[test]
    fn refuses_other_content_and_broken_images() {
        assert_eq!(
            process(b"GIF89a....").unwrap_err(),
            MediaError::UnsupportedType
        );
        assert_eq!(
            process(b"%PDF-1.7").unwrap_err(),
            MediaError::UnsupportedType
        );
        let mut truncated = png(200, 200);
        truncated.truncate(100);
        assert!(matches!(
            process(&truncated),
            Err(MediaError::Unreadable(_))
        ));
    }
}
