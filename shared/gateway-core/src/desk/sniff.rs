//! What an agent's file is, from its first bytes (never from the name or the `Content-Type`
//! the browser sent), and WeChat's limits for it.
//!
//! WeChat's temporary media upload (新增临时素材, `media/upload`) takes, per type
//! (<https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/New_temporary_materials.html>):
//! image 10 MB (PNG, JPEG, JPG, GIF), voice 2 MB (AMR, MP3), video 10 MB (MP4), thumb 64 KB
//! (JPG). "MB" is read as MiB, as for the downloads ([`crate::media::limits`]); "64 KB" as
//! 64 KiB.

use crate::media::MediaKind;

const MIB: u64 = 1024 * 1024;

/// A file format the desk sends to WeChat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `FF D8 FF`.
    Jpeg,
    /// `89 50 4E 47 0D 0A 1A 0A`.
    Png,
    /// `GIF87a` or `GIF89a`.
    Gif,
    /// `#!AMR\n` (narrowband) or `#!AMR-WB\n` (wideband).
    Amr,
    /// An ID3v2 tag (`ID3`) or an MPEG audio layer III frame header.
    Mp3,
    /// An ISO base media file (`ftyp` at offset 4) of an MP4 brand.
    Mp4,
}

/// MP4 brands (the `ftyp` box's major brand): ISO base media and MPEG-4 video. Not HEIF/AVIF
/// images, QuickTime or 3GP.
const MP4_BRANDS: [&[u8; 4]; 11] = [
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ",
    b"MSNV",
];

impl Format {
    /// The `Content-Type` it is stored and sent with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Gif => "image/gif",
            Format::Amr => "audio/amr",
            Format::Mp3 => "audio/mpeg",
            Format::Mp4 => "video/mp4",
        }
    }

    /// The file name extension WeChat reads the format from.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Gif => "gif",
            Format::Amr => "amr",
            Format::Mp3 => "mp3",
            Format::Mp4 => "mp4",
        }
    }

    /// The WeChat type a file of this format is sent as, unless asked for as a thumbnail.
    pub fn kind(self) -> MediaKind {
        match self {
            Format::Jpeg | Format::Png | Format::Gif => MediaKind::Image,
            Format::Amr | Format::Mp3 => MediaKind::Voice,
            Format::Mp4 => MediaKind::Video,
        }
    }

    /// Whether WeChat takes this format as `kind`.
    pub fn fits(self, kind: MediaKind) -> bool {
        match kind {
            MediaKind::Thumb => self == Format::Jpeg,
            other => self.kind() == other,
        }
    }
}

/// The format of `bytes` by its magic numbers; `None` for anything WeChat does not take.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some(Format::Gif)
    } else if starts(b"#!AMR\n") || starts(b"#!AMR-WB\n") {
        Some(Format::Amr)
    } else if starts(b"ID3") || is_mp3_frame(bytes) {
        Some(Format::Mp3)
    } else if bytes.len() >= 12
        && &bytes[4..8] == b"ftyp"
        && MP4_BRANDS.iter().any(|b| &bytes[8..12] == *b)
    {
        Some(Format::Mp4)
    } else {
        None
    }
}

/// An MPEG audio frame header of layer III: 11 sync bits, a version other than the reserved
/// one, layer bits `01`, a bitrate index other than `1111` and a sample rate index other than
/// `11`.
fn is_mp3_frame(bytes: &[u8]) -> bool {
    let [a, b, c, ..] = bytes else {
        return false;
    };
    *a == 0xFF
        && b & 0xE0 == 0xE0
        && (b >> 3) & 0b11 != 0b01
        && (b >> 1) & 0b11 == 0b01
        && c >> 4 != 0b1111
        && (c >> 2) & 0b11 != 0b11
}

/// WeChat's limit for an upload of `kind`, in bytes.
pub fn wechat_limit(kind: MediaKind) -> u64 {
    match kind {
        MediaKind::Image | MediaKind::Video => 10 * MIB,
        MediaKind::Voice => 2 * MIB,
        MediaKind::Thumb => 64 * 1024,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_is_known_by_its_first_bytes() {
        let mp4 = |brand: &[u8; 4]| {
            let mut v = vec![0, 0, 0, 0x20];
            v.extend_from_slice(b"ftyp");
            v.extend_from_slice(brand);
            v.extend_from_slice(&[0; 8]);
            v
        };
        for (bytes, format) in [
            (vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10], Some(Format::Jpeg)),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), Some(Format::Png)),
            (b"GIF89a\x01\0".to_vec(), Some(Format::Gif)),
            (b"GIF87a".to_vec(), Some(Format::Gif)),
            (b"#!AMR\n\x3c".to_vec(), Some(Format::Amr)),
            (b"#!AMR-WB\n".to_vec(), Some(Format::Amr)),
            (b"ID3\x04\0\0".to_vec(), Some(Format::Mp3)),
            // MPEG-1 layer III, 128 kbit/s, 44.1 kHz.
            (vec![0xFF, 0xFB, 0x90, 0x64], Some(Format::Mp3)),
            (mp4(b"isom"), Some(Format::Mp4)),
            (mp4(b"mp42"), Some(Format::Mp4)),
            // HEIC is an ISO file too, but an image WeChat does not take.
            (mp4(b"heic"), None),
            (mp4(b"qt  "), None),
            // MPEG layer II, a free bitrate index, a reserved sample rate: not layer III audio.
            (vec![0xFF, 0xFD, 0x90, 0x64], None),
            (vec![0xFF, 0xFB, 0xF0, 0x64], None),
            (vec![0xFF, 0xFB, 0x9C, 0x64], None),
            (b"<svg xmlns=".to_vec(), None),
            (b"<!DOCTYPE html>".to_vec(), None),
            (b"%PDF-1.7".to_vec(), None),
            (b"RIFF\0\0\0\0WEBPVP8 ".to_vec(), None),
            (vec![], None),
            (vec![0xFF], None),
        ] {
            assert_eq!(sniff(&bytes), format, "{bytes:02x?}");
        }
    }

    #[test]
    fn the_kind_follows_the_format_and_a_thumbnail_is_a_jpeg() {
        assert_eq!(Format::Png.kind(), MediaKind::Image);
        assert_eq!(Format::Amr.kind(), MediaKind::Voice);
        assert_eq!(Format::Mp4.kind(), MediaKind::Video);
        assert!(Format::Jpeg.fits(MediaKind::Thumb));
        assert!(!Format::Png.fits(MediaKind::Thumb));
        assert!(!Format::Mp3.fits(MediaKind::Image));
        assert!(Format::Gif.fits(MediaKind::Image));
    }

    #[test]
    fn the_limits_are_wechats() {
        assert_eq!(wechat_limit(MediaKind::Image), 10_485_760);
        assert_eq!(wechat_limit(MediaKind::Voice), 2_097_152);
        assert_eq!(wechat_limit(MediaKind::Video), 10_485_760);
        assert_eq!(wechat_limit(MediaKind::Thumb), 65_536);
    }
}
