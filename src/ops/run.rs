//! Running a catalog operation: one request, or the pages of a list read,
//! or the requests of a media upload; each priced by its row's unit.

use serde_json::Value;

use super::media::{self, Processing, Upload};
use super::pages::{Pages, Stop};
use super::request::Call;
use super::{Area, OperationSpec, Shape};
use crate::connector::Connector;
use crate::cost::{self, CallCost};
use crate::error::{ApiClass, ConnectorError, Problem};
use crate::http::HttpClient;
use crate::response::{self, ResponseMeta};
use crate::token::{Clock, TokenStore};

/// Longest a media upload waits for X to finish processing it.
pub const MAX_PROCESSING_SECS: u64 = 600;

/// The ids of an answer's `data` (one object or a list).
fn data_ids(v: &Value) -> Vec<String> {
    let id = |d: &Value| d.get("id").and_then(Value::as_str).map(str::to_string);
    match v.get("data") {
        Some(Value::Array(items)) => items.iter().filter_map(id).collect(),
        Some(d) => id(d).into_iter().collect(),
        None => Vec::new(),
    }
}

/// What the answer of a catalog operation costs: its row's unit per
/// request for writes, per resource returned for reads (and the posts
/// expanded beside them).
pub fn cost_of(spec: &OperationSpec, answer: &Value) -> CallCost {
    let t = cost::prices();
    if spec.shape == Shape::Write {
        return CallCost::write(t, spec.unit);
    }
    let posts = cost::included_posts_of(answer.get("includes"));
    CallCost::read(t, spec.unit, data_ids(answer), posts)
}

/// The sentence a 403 gets, beside X's words: the X rule a write broke
/// when `rule` names one, else the scopes the operation needs, so the user
/// knows what to ask for when authorizing again. Not for the tier's 403
/// (it says where to enroll) nor for duplicate text.
pub fn explain_forbidden(
    operation: &str,
    rule: Option<&str>,
    mut e: ConnectorError,
) -> ConnectorError {
    if let ConnectorError::Api {
        class: ApiClass::Forbidden,
        problem,
        ..
    } = &mut e
    {
        let tier = problem.reason.is_some() || problem.required_enrollment.is_some();
        if problem.hint.is_none() && !tier && problem.kind != "duplicate-content" {
            let scopes = super::scopes(operation).join(" ");
            problem.hint = Some(match rule {
                Some(rule) => {
                    format!("{rule}; if this is not that, check the token has the scopes {scopes}")
                }
                None => format!(
                    "{operation} needs the OAuth 2.0 scopes {scopes}: if the token was granted fewer, authorize again asking for them"
                ),
            });
        }
    }
    e
}

/// The upload's numeric id (it goes into paths and queries).
fn media_id(answer: &Value) -> Result<String, ConnectorError> {
    answer
        .pointer("/data/id")
        .and_then(Value::as_str)
        .filter(|id| crate::validate::id("data.id", id).is_ok())
        .map(str::to_string)
        .ok_or_else(|| {
            ConnectorError::MalformedResponse("the upload's answer has no numeric `data.id`".into())
        })
}

impl<H: HttpClient, S: TokenStore, C: Clock> Connector<H, S, C> {
    /// Runs a call [`super::request::build`] made.
    pub fn run(&mut self, call: &Call) -> Result<ResponseMeta, ConnectorError> {
        let spec = call.spec;
        self.begin_call();
        let result = match (spec.area, spec.shape) {
            (Area::Media, _) => self.upload(call),
            (_, Shape::Many { paginated: true }) => self.read_pages(call),
            _ => self.once(call),
        };
        result.map_err(|e| explain_forbidden(spec.name, None, e))
    }

    fn once(&mut self, call: &Call) -> Result<ResponseMeta, ConnectorError> {
        let resp = self.call(call.spec.method.http(), &call.path, call.body.as_deref())?;
        let (v, mut meta) = response::checked(&resp)?;
        meta.cost = cost_of(call.spec, &v);
        Ok(meta)
    }

    /// Follows `next_token` up to `maxPages` pages; a 429 after the first
    /// page ends it with what was read, the token to go on from and when.
    fn read_pages(&mut self, call: &Call) -> Result<ResponseMeta, ConnectorError> {
        let mut pages = Pages::default();
        let mut token: Option<String> = None;
        let mut last: Option<ResponseMeta> = None;
        let stop = loop {
            // A later page that cannot be read ends the read like one
            // that failed: with the pages read before it.
            let page = self
                .call(http::Method::GET, &call.page(token.as_deref()), None)
                .and_then(|resp| response::checked(&resp));
            match page {
                Ok((v, meta)) => {
                    last = Some(meta);
                    token = pages.add(v);
                    if token.is_none() {
                        break None;
                    }
                    if pages.pages() >= call.max_pages {
                        break Some(Stop::MaxPages);
                    }
                }
                Err(ConnectorError::Api {
                    class: ApiClass::RateLimited,
                    limits,
                    ..
                }) if last.is_some() => {
                    if let Some(m) = last.as_mut() {
                        m.rate_limits = limits.clone();
                    }
                    break Some(Stop::RateLimited {
                        retry_after_s: limits.retry_after_s,
                    });
                }
                // What was read is billed: it is returned, with the failure.
                Err(e) if last.is_some() => {
                    break Some(Stop::Failed {
                        kind: e.kind(),
                        message: e.to_string(),
                    })
                }
                Err(e) => return Err(e),
            }
        };
        // The loop ends only after a page was read (or returns the error).
        let Some(mut meta) = last else {
            return Err(ConnectorError::MalformedResponse("no page was read".into()));
        };
        let merged = pages.finish(stop);
        meta.errors = response::items(&merged);
        meta.cost = cost_of(call.spec, &merged);
        meta.body = merged.to_string();
        Ok(meta)
    }

    /// X's v2 media upload of checked bytes (the typed entry's way in).
    pub fn upload_media(&mut self, up: &Upload) -> Result<ResponseMeta, ConnectorError> {
        let spec = super::find("uploadMedia").ok_or(ConnectorError::NotInitialized)?;
        self.begin_call();
        self.upload_planned(spec, up)
            .map_err(|e| explain_forbidden(spec.name, None, e))
    }

    fn upload(&mut self, call: &Call) -> Result<ResponseMeta, ConnectorError> {
        self.upload_planned(call.spec, &Upload::plan(&call.local)?)
    }

    /// X's v2 media upload; returns the last answer, whose `data.id` is the
    /// `media_id` createTweet takes.
    fn upload_planned(
        &mut self,
        spec: &'static OperationSpec,
        up: &Upload,
    ) -> Result<ResponseMeta, ConnectorError> {
        let post = http::Method::POST;
        let (mut v, mut meta) = if up.is_simple() {
            let resp = self.call(post, "/2/media/upload", Some(&up.simple_body()))?;
            response::checked(&resp)?
        } else {
            let resp = self.call(
                post.clone(),
                "/2/media/upload/initialize",
                Some(&up.initialize_body()),
            )?;
            let (init, _) = response::checked(&resp)?;
            let id = media_id(&init)?;
            for body in up.append_bodies() {
                self.call(
                    post.clone(),
                    &format!("/2/media/upload/{id}/append"),
                    Some(&body),
                )?;
            }
            let resp = self.call(post, &format!("/2/media/upload/{id}/finalize"), None)?;
            response::checked(&resp)?
        };
        // The wait is wall time, the status requests included.
        let started_ms = self.token_source().clock().now_ms();
        loop {
            match media::processing(&v) {
                Processing::Done => break,
                Processing::Failed(why) => {
                    return Err(ConnectorError::api(
                        ApiClass::Other,
                        Problem {
                            status: meta.status,
                            kind: "media-processing-failed".into(),
                            detail: Some(why),
                            ..Problem::default()
                        },
                    ))
                }
                Processing::Wait(secs) => {
                    let clock = self.token_source().clock();
                    let waited = clock.now_ms().saturating_sub(started_ms) / 1000;
                    if waited + secs > MAX_PROCESSING_SECS {
                        let id = media_id(&v).unwrap_or_default();
                        return Err(ConnectorError::api(
                            ApiClass::Other,
                            Problem {
                                status: meta.status,
                                kind: "media-processing-timeout".into(),
                                detail: Some(format!(
                                    "X was still processing media {id} after {waited} s; ask GET /2/media/upload?media_id={id} later"
                                )),
                                ..Problem::default()
                            },
                        ));
                    }
                    clock.sleep(std::time::Duration::from_secs(secs));
                    let id = media_id(&v)?;
                    let resp = self.call(
                        http::Method::GET,
                        &format!("/2/media/upload?media_id={id}&command=STATUS"),
                        None,
                    )?;
                    (v, meta) = response::checked(&resp)?;
                }
            }
        }
        meta.cost = cost_of(spec, &v);
        Ok(meta)
    }
}
