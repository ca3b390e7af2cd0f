//! uploadMedia: the bytes, their type and category checked against X's
//! limits before anything is sent, and the requests of X's v2 upload: one
//! `POST /2/media/upload` for an image or subtitles, else `initialize`,
//! `append` in chunks, `finalize`, then `GET /2/media/upload` while X
//! processes a video or GIF.

use base64::Engine;
use serde_json::{json, Value};

use crate::error::ConnectorError;
use crate::validate;

/// `media_category`: the spec's `InitializeMediaUploadRequest` enum.
pub const CATEGORIES: &[&str] = &[
    "amplify_video",
    "tweet_gif",
    "tweet_image",
    "tweet_video",
    "dm_gif",
    "dm_image",
    "dm_video",
    "subtitles",
];

/// `media_type`: the spec's enum.
pub const TYPES: &[&str] = &[
    "video/mp4",
    "video/webm",
    "video/mp2t",
    "video/quicktime",
    "text/srt",
    "text/vtt",
    "image/jpeg",
    "image/gif",
    "image/bmp",
    "image/png",
    "image/webp",
    "image/pjpeg",
    "image/tiff",
    "model/gltf-binary",
    "model/vnd.usdz+zip",
];

/// Bytes per `append`: twitter-api-v2's default, well under the 5 MB X
/// takes per chunk, so one slow chunk costs little to resend.
pub const CHUNK_BYTES: usize = 1 << 20;

/// X's size limits (docs.x.com, "Media best practices"): images 5 MB, GIFs
/// 15 MB, videos 512 MB. Subtitles and 3D models are held to the image
/// limit here (X does not state one).
fn limit(category: &str) -> usize {
    match category {
        "tweet_gif" | "dm_gif" => 15 << 20,
        "tweet_video" | "dm_video" | "amplify_video" => 512 << 20,
        _ => 5 << 20,
    }
}

/// A media type from the first bytes, for the common formats.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    Some(match bytes {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [b'B', b'M', ..] => "image/bmp",
        [_, _, _, _, b'f', b't', b'y', b'p', b'q', b't', ..] => "video/quicktime",
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => "video/mp4",
        [0x1A, 0x45, 0xDF, 0xA3, ..] => "video/webm",
        [b'W', b'E', b'B', b'V', b'T', b'T', ..] => "text/vtt",
        _ => return None,
    })
}

/// The category X expects for a media type, when none is given.
fn category_for(media_type: &str) -> &'static str {
    match media_type {
        "image/gif" => "tweet_gif",
        t if t.starts_with("video/") => "tweet_video",
        t if t.starts_with("text/") => "subtitles",
        _ => "tweet_image",
    }
}

/// Whether the category takes this type.
fn fits(category: &str, media_type: &str) -> bool {
    match category {
        "tweet_gif" | "dm_gif" => media_type == "image/gif",
        "tweet_image" | "dm_image" => {
            media_type.starts_with("image/") || media_type.starts_with("model/")
        }
        "subtitles" => media_type.starts_with("text/"),
        _ => media_type.starts_with("video/"),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub category: String,
    pub additional_owners: Vec<String>,
    pub shared: Option<bool>,
}

fn local<'a>(values: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    values
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

impl Upload {
    /// The upload uploadMedia's parameters describe (already checked
    /// against their catalog rules), or what is wrong with it.
    pub fn plan(values: &[(&'static str, String)]) -> Result<Upload, ConnectorError> {
        let b64 = local(values, "media").unwrap_or_default();
        // Flows wrap long base64 lines; whitespace is not data.
        let clean: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        // Refused before it is decoded: nothing X takes is this large.
        let largest = limit("tweet_video");
        if clean.len() / 4 * 3 > largest + 3 {
            return Err(ConnectorError::invalid(
                "media",
                format!("is over {largest} bytes, the most X takes (a video)"),
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(clean.as_bytes())
            .map_err(|e| {
                ConnectorError::invalid(
                    "media",
                    format!("must be base64 (RFC 4648, with padding): {e}"),
                )
            })?;
        Upload::of_bytes(bytes, values)
    }

    /// The upload of `bytes`, with the other options of `values`.
    pub fn of_bytes(
        bytes: Vec<u8>,
        values: &[(&'static str, String)],
    ) -> Result<Upload, ConnectorError> {
        if bytes.is_empty() {
            return Err(ConnectorError::invalid(
                "media",
                "is required: the media as base64 (or media_file, a file the integrator runtime reads from its media directory)",
            ));
        }
        let media_type = match local(values, "media_type") {
            Some(t) => t.to_string(),
            None => sniff(&bytes)
                .ok_or_else(|| {
                    ConnectorError::invalid(
                        "media_type",
                        "is required: the bytes are not a PNG, JPEG, GIF, WebP, BMP, MP4, QuickTime, WebM or WebVTT file the connector recognises",
                    )
                })?
                .to_string(),
        };
        let category = local(values, "media_category")
            .map(str::to_string)
            .unwrap_or_else(|| category_for(&media_type).to_string());
        if !fits(&category, &media_type) {
            return Err(ConnectorError::invalid(
                "media_category",
                format!("`{category}` does not take media of type {media_type}"),
            ));
        }
        let max = limit(&category);
        if bytes.len() > max {
            return Err(ConnectorError::invalid(
                "media",
                format!(
                    "is {} bytes; X takes at most {max} for {category}",
                    bytes.len()
                ),
            ));
        }
        let additional_owners = local(values, "additional_owners")
            .map(validate::comma_list)
            .unwrap_or_default();
        let shared = local(values, "shared")
            .map(|v| validate::boolean("shared", v))
            .transpose()?;
        Ok(Upload {
            bytes,
            media_type,
            category,
            additional_owners,
            shared,
        })
    }

    /// One `POST /2/media/upload` does: an image or subtitles (the simple
    /// request takes no `shared`).
    pub fn is_simple(&self) -> bool {
        matches!(
            self.category.as_str(),
            "tweet_image" | "dm_image" | "subtitles"
        ) && self.shared.is_none()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// The spec's `MediaUploadRequest`, as JSON.
    pub fn simple_body(&self) -> Vec<u8> {
        let mut v = json!({ "media": Self::b64(&self.bytes), "media_category": self.category });
        if !self.additional_owners.is_empty() {
            v["additional_owners"] = json!(self.additional_owners.join(","));
        }
        v.to_string().into_bytes()
    }

    /// `InitializeMediaUploadRequest`.
    pub fn initialize_body(&self) -> Vec<u8> {
        let mut v = json!({
            "media_type": self.media_type,
            "media_category": self.category,
            "total_bytes": self.bytes.len(),
        });
        if !self.additional_owners.is_empty() {
            v["additional_owners"] = json!(self.additional_owners);
        }
        if let Some(shared) = self.shared {
            v["shared"] = json!(shared);
        }
        v.to_string().into_bytes()
    }

    /// `AppendMediaUploadRequest` bodies, one per chunk, in order.
    pub fn append_bodies(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.bytes
            .chunks(CHUNK_BYTES)
            .enumerate()
            .map(|(i, chunk)| {
                json!({ "media": Self::b64(chunk), "segment_index": i })
                    .to_string()
                    .into_bytes()
            })
    }
}

/// Where X's processing of an upload stands (`data.processing_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processing {
    /// Ready to post (no processing, or `succeeded`).
    Done,
    /// `pending` / `in_progress`: ask again after this many seconds.
    Wait(u64),
    /// `failed`, with X's words if any.
    Failed(String),
}

/// Longest wait between two status checks, whatever X says.
pub const MAX_CHECK_AFTER_SECS: u64 = 60;

pub fn processing(answer: &Value) -> Processing {
    let Some(info) = answer.pointer("/data/processing_info") else {
        return Processing::Done;
    };
    match info.get("state").and_then(Value::as_str) {
        Some("failed") => Processing::Failed(
            info.pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("X could not process the media")
                .to_string(),
        ),
        Some("pending" | "in_progress") => Processing::Wait(
            info.get("check_after_secs")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, MAX_CHECK_AFTER_SECS),
        ),
        _ => Processing::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(pairs: &[(&'static str, &str)]) -> Result<Upload, ConnectorError> {
        let v: Vec<(&'static str, String)> =
            pairs.iter().map(|(a, b)| (*a, b.to_string())).collect();
        Upload::plan(&v)
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn type_and_category_from_the_bytes() {
        let png = plan(&[("media", &b64(b"\x89PNG\r\n\x1a\nrest"))]).unwrap();
        assert_eq!(
            (png.media_type.as_str(), png.category.as_str()),
            ("image/png", "tweet_image")
        );
        assert!(png.is_simple());
        let mp4 = plan(&[("media", &b64(b"\0\0\0\x18ftypmp42rest"))]).unwrap();
        assert_eq!(
            (mp4.media_type.as_str(), mp4.category.as_str()),
            ("video/mp4", "tweet_video")
        );
        assert!(!mp4.is_simple());
        let gif = plan(&[("media", &b64(b"GIF89a...."))]).unwrap();
        assert_eq!(gif.category, "tweet_gif");
    }

    #[test]
    fn limits_are_checked_before_anything_is_sent() {
        let e = |pairs: &[(&'static str, &str)]| match plan(pairs) {
            Err(ConnectorError::InvalidInput { parameter, .. }) => parameter,
            other => panic!("{other:?}"),
        };
        assert_eq!(e(&[("media", "not base64!")]), "media");
        assert_eq!(e(&[("media", "")]), "media");
        assert_eq!(e(&[("media", &b64(b"plain text"))]), "media_type");
        assert_eq!(
            e(&[
                ("media", &b64(b"GIF89a")),
                ("media_category", "tweet_video")
            ]),
            "media_category"
        );
        let big = vec![0xFFu8; (5 << 20) + 1];
        let mut jpeg = vec![0xFF, 0xD8, 0xFF];
        jpeg.extend(&big);
        assert_eq!(e(&[("media", &b64(&jpeg))]), "media");
    }

    #[test]
    fn chunks_cover_the_bytes_in_order() {
        let mut bytes = b"\0\0\0\x18ftypmp42".to_vec();
        bytes.resize(CHUNK_BYTES * 2 + 10, 7);
        let up = plan(&[("media", &b64(&bytes))]).unwrap();
        let parts: Vec<Value> = up
            .append_bodies()
            .map(|b| serde_json::from_slice(&b).unwrap())
            .collect();
        assert_eq!(parts.len(), 3);
        let mut joined = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            assert_eq!(p["segment_index"], i);
            joined.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(p["media"].as_str().unwrap())
                    .unwrap(),
            );
        }
        assert_eq!(joined, bytes);
    }

    #[test]
    fn processing_states() {
        assert_eq!(processing(&json!({"data":{"id":"1"}})), Processing::Done);
        assert_eq!(
            processing(
                &json!({"data":{"processing_info":{"state":"pending","check_after_secs":5}}})
            ),
            Processing::Wait(5)
        );
        assert_eq!(
            processing(
                &json!({"data":{"processing_info":{"state":"in_progress","check_after_secs":9999}}})
            ),
            Processing::Wait(MAX_CHECK_AFTER_SECS)
        );
        assert!(matches!(
            processing(&json!({"data":{"processing_info":{"state":"failed"}}})),
            Processing::Failed(_)
        ));
    }
}
