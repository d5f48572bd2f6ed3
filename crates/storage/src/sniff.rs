//! Content-type detection for stored files: magic bytes first (what the file is), then the
//! extension of the cloud path (what it claims to be), else `application/octet-stream`. The
//! client's own `Content-Type` for the part is never trusted: `wx.uploadFile` does not set a
//! meaningful one, and a browser-facing download must not be turned into HTML by an uploader.

/// How many leading bytes [`sniff`] looks at.
pub const SNIFF_LEN: usize = 512;

/// The content type of a file, from its first bytes (up to [`SNIFF_LEN`]) and its extension.
pub fn content_type(head: &[u8], extension: Option<&str>) -> &'static str {
    sniff(head)
        .or_else(|| extension.and_then(by_extension))
        .unwrap_or("application/octet-stream")
}

/// The content type recognised from magic bytes, if any.
pub fn sniff(b: &[u8]) -> Option<&'static str> {
    let starts = |m: &[u8]| b.starts_with(m);
    let at = |off: usize, m: &[u8]| b.len() >= off + m.len() && &b[off..off + m.len()] == m;
    if starts(b"\xFF\xD8\xFF") {
        return Some("image/jpeg");
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some("image/gif");
    }
    if starts(b"RIFF") && at(8, b"WEBP") {
        return Some("image/webp");
    }
    if starts(b"RIFF") && at(8, b"WAVE") {
        return Some("audio/wav");
    }
    if starts(b"RIFF") && at(8, b"AVI ") {
        return Some("video/x-msvideo");
    }
    if starts(b"BM") && b.len() >= 14 && at(6, b"\0\0\0\0") {
        return Some("image/bmp");
    }
    if starts(b"\0\0\x01\0") {
        return Some("image/x-icon");
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Some("image/tiff");
    }
    if at(4, b"ftyp") {
        let brand = b.get(8..12).unwrap_or_default();
        return Some(match brand {
            b"heic" | b"heix" | b"heim" | b"heis" | b"mif1" | b"msf1" => "image/heic",
            b"avif" | b"avis" => "image/avif",
            b"M4A " | b"M4B " => "audio/mp4",
            b"qt  " => "video/quicktime",
            b"3gp4" | b"3gp5" | b"3gp6" | b"3g2a" => "video/3gpp",
            _ => "video/mp4",
        });
    }
    if starts(b"\x1A\x45\xDF\xA3") {
        return Some("video/webm");
    }
    if starts(b"FLV\x01") {
        return Some("video/x-flv");
    }
    if starts(b"ID3") || (b.len() >= 2 && b[0] == 0xFF && (b[1] & 0xE6) == 0xE2) {
        return Some("audio/mpeg");
    }
    if b.len() >= 2 && b[0] == 0xFF && (b[1] & 0xF6) == 0xF0 {
        return Some("audio/aac");
    }
    if starts(b"OggS") {
        return Some("audio/ogg");
    }
    if starts(b"fLaC") {
        return Some("audio/flac");
    }
    if starts(b"#!AMR") {
        return Some("audio/amr");
    }
    if starts(b"#!SILK_V3") || starts(b"\x02#!SILK_V3") {
        return Some("audio/silk");
    }
    if starts(b"%PDF-") {
        return Some("application/pdf");
    }
    if starts(b"PK\x03\x04") {
        return Some("application/zip");
    }
    if starts(b"\x1F\x8B") {
        return Some("application/gzip");
    }
    if starts(b"7z\xBC\xAF\x27\x1C") {
        return Some("application/x-7z-compressed");
    }
    if starts(b"Rar!\x1A\x07") {
        return Some("application/vnd.rar");
    }
    if starts(b"wOFF") {
        return Some("font/woff");
    }
    if starts(b"wOF2") {
        return Some("font/woff2");
    }
    None
}

/// The content type for a (lowercase) extension, if known.
pub fn by_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "jpg" | "jpeg" | "jfif" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "ico" => "image/x-icon",
        "svg" => "image/svg+xml",
        "heic" => "image/heic",
        "avif" => "image/avif",
        "tif" | "tiff" => "image/tiff",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "avi" => "video/x-msvideo",
        "flv" => "video/x-flv",
        "3gp" => "video/3gpp",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "wav" => "audio/wav",
        "ogg" | "oga" => "audio/ogg",
        "flac" => "audio/flac",
        "amr" => "audio/amr",
        "silk" => "audio/silk",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "json" => "application/json",
        "txt" | "log" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "xml" => "application/xml",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        _ => return None,
    })
}

/// Whether a browser would run this type as active content from our origin; such files are
/// served with `Content-Disposition: attachment` and a sandboxing CSP.
pub fn is_active(content_type: &str) -> bool {
    let t = content_type.split(';').next().unwrap_or("").trim();
    matches!(
        t,
        "text/html" | "image/svg+xml" | "application/xml" | "text/xml" | "application/xhtml+xml"
    ) || t == "text/javascript"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_win_over_extension() {
        assert_eq!(
            content_type(b"\xFF\xD8\xFF\xE0\0\x10JFIF", Some("png")),
            "image/jpeg"
        );
        assert_eq!(
            content_type(b"\x89PNG\r\n\x1a\n\0\0", Some("txt")),
            "image/png"
        );
        assert_eq!(content_type(b"GIF89a....", None), "image/gif");
        assert_eq!(content_type(b"RIFF\x10\0\0\0WEBPVP8 ", None), "image/webp");
        assert_eq!(
            content_type(b"\0\0\0\x20ftypisom\0\0\x02\0", None),
            "video/mp4"
        );
        assert_eq!(content_type(b"\0\0\0\x18ftypheic", None), "image/heic");
        assert_eq!(content_type(b"ID3\x04\0\0\0\0", None), "audio/mpeg");
        assert_eq!(content_type(b"\xFF\xFB\x90\x44", None), "audio/mpeg");
        assert_eq!(content_type(b"%PDF-1.7\n", None), "application/pdf");
        assert_eq!(content_type(b"#!SILK_V3", None), "audio/silk");
    }

    #[test]
    fn falls_back_to_extension_then_octet_stream() {
        assert_eq!(
            content_type(b"hello", Some("txt")),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type(b"{}", Some("json")), "application/json");
        assert_eq!(content_type(b"hello", None), "application/octet-stream");
        assert_eq!(content_type(b"", Some("weird")), "application/octet-stream");
        assert!(is_active("text/html; charset=utf-8"));
        assert!(is_active("image/svg+xml"));
        assert!(!is_active("image/png"));
    }
}
