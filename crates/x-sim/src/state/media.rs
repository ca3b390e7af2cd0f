//! X's v2 media upload: one-request uploads, and the upload sessions of
//! `initialize` / `append` / `finalize`, with videos and GIFs processed over
//! a few status polls (`check_after_secs`). A media id is usable in a post
//! once it is uploaded and processed.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use super::api::{invalid_request, not_found};
use super::{Reply, State};

/// X's limit per `append` chunk.
pub const MAX_CHUNK_BYTES: usize = 5 << 20;

pub(super) struct Upload {
    category: String,
    total: usize,
    segments: BTreeMap<u64, usize>,
    finalized: bool,
    /// Status polls left before processing succeeds.
    polls_left: u32,
}

impl Upload {
    pub(super) fn ready(&self) -> bool {
        self.finalized && self.polls_left == 0
    }

    fn processed(&self) -> bool {
        matches!(
            self.category.as_str(),
            "tweet_video" | "tweet_gif" | "dm_video" | "dm_gif" | "amplify_video"
        )
    }
}

fn decode(v: &Value) -> Result<Vec<u8>, Reply> {
    let b64 = v["media"].as_str().unwrap_or("");
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| invalid_request(format!("`media` is not base64: {e}"), "media", ""))
}

impl State {
    pub fn add_media(&mut self, ids: &[&str]) {
        for id in ids {
            let up = Upload {
                category: "tweet_image".into(),
                total: 1,
                segments: BTreeMap::new(),
                finalized: true,
                polls_left: 0,
            };
            self.uploads.insert(id.to_string(), up);
        }
    }

    fn media_answer(&self, id: &str, up: &Upload) -> Value {
        let mut data = json!({
            "id": id, "media_key": format!("7_{id}"), "size": up.total, "expires_after_secs": 86_400
        });
        if up.finalized && up.processed() {
            let done = up.polls_left == 0;
            data["processing_info"] = if done {
                json!({"state": "succeeded", "progress_percent": 100})
            } else {
                json!({"state": if up.polls_left == self.media_polls { "pending" } else { "in_progress" },
                       "check_after_secs": 1,
                       "progress_percent": 100 - 100 * up.polls_left / (self.media_polls + 1)})
            };
        }
        json!({ "data": data })
    }

    pub(super) fn media(
        &mut self,
        operation: &str,
        path: &[(&'static str, String)],
        query: Option<&str>,
        body: &Value,
    ) -> Reply {
        let id = path
            .iter()
            .find(|(n, _)| *n == "id")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let result: Result<Value, Reply> = (|| match operation {
            "mediaUpload" => {
                let bytes = decode(body)?;
                let category = body["media_category"].as_str().unwrap_or("").to_string();
                if !matches!(category.as_str(), "tweet_image" | "dm_image" | "subtitles") {
                    return Err(invalid_request(
                        format!("`media_category` {category} needs the chunked upload"),
                        "media_category",
                        &category,
                    ));
                }
                if bytes.len() > 5 << 20 {
                    return Err(invalid_request(
                        "the image is over 5 MB".into(),
                        "media",
                        "",
                    ));
                }
                let id = self.social.next_id();
                let up = Upload {
                    category,
                    total: bytes.len(),
                    segments: BTreeMap::new(),
                    finalized: true,
                    polls_left: 0,
                };
                self.stats.media_bytes += bytes.len() as u64;
                let answer = self.media_answer(&id, &up);
                self.uploads.insert(id, up);
                Ok(answer)
            }
            "initializeMediaUpload" => {
                let total = body["total_bytes"].as_u64().unwrap_or(0) as usize;
                let category = body["media_category"]
                    .as_str()
                    .unwrap_or("tweet_image")
                    .to_string();
                if body["media_type"].as_str().is_none() || total == 0 {
                    return Err(invalid_request(
                        "`media_type` and `total_bytes` are required".into(),
                        "total_bytes",
                        "",
                    ));
                }
                let id = self.social.next_id();
                let up = Upload {
                    category,
                    total,
                    segments: BTreeMap::new(),
                    finalized: false,
                    polls_left: 0,
                };
                let answer = json!({"data": {"id": id, "media_key": format!("7_{id}"), "expires_after_secs": 86_400}});
                self.uploads.insert(id, up);
                Ok(answer)
            }
            "appendMediaUpload" => {
                let bytes = decode(body)?;
                let Some(index) = body["segment_index"].as_u64().filter(|i| *i <= 999) else {
                    return Err(invalid_request(
                        "`segment_index` must be 0 to 999".into(),
                        "segment_index",
                        "",
                    ));
                };
                if bytes.len() > MAX_CHUNK_BYTES {
                    return Err(invalid_request(
                        "a chunk may hold at most 5 MB".into(),
                        "media",
                        "",
                    ));
                }
                let Some(up) = self.uploads.get_mut(&id).filter(|u| !u.finalized) else {
                    return Err(not_found("media", &id));
                };
                up.segments.insert(index, bytes.len());
                self.stats.media_bytes += bytes.len() as u64;
                self.stats.media_appends += 1;
                Ok(
                    json!({"data": {"expires_at": super::unix(std::time::SystemTime::now()) + 86_400}}),
                )
            }
            "finalizeMediaUpload" => {
                let polls = self.media_polls;
                let Some(up) = self.uploads.get_mut(&id).filter(|u| !u.finalized) else {
                    return Err(not_found("media", &id));
                };
                let got: usize = up.segments.values().sum();
                let in_order = up.segments.keys().copied().eq(0..up.segments.len() as u64);
                if got != up.total || !in_order {
                    return Err(invalid_request(
                        format!(
                            "received {got} of {} bytes (segments {:?})",
                            up.total,
                            up.segments.keys().collect::<Vec<_>>()
                        ),
                        "id",
                        &id,
                    ));
                }
                up.finalized = true;
                if up.processed() {
                    up.polls_left = polls;
                }
                let up = &self.uploads[&id];
                Ok(self.media_answer(&id, up))
            }
            "getMediaUploadStatus" => {
                let id = super::query_of(query)
                    .get("media_id")
                    .cloned()
                    .unwrap_or_default();
                self.stats.media_status_polls += 1;
                let Some(up) = self.uploads.get_mut(&id).filter(|u| u.finalized) else {
                    return Err(not_found("media", &id));
                };
                up.polls_left = up.polls_left.saturating_sub(1);
                let up = &self.uploads[&id];
                Ok(self.media_answer(&id, up))
            }
            other => Err(not_found("route", other)),
        })();
        result.map_or_else(|r| r, |v| Reply::json(200, v))
    }
}
