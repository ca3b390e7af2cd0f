//! The WASI side: `wasi:http/incoming-handler` in, the connector's exports
//! out. Thin: reading the request, writing the response, and converting
//! the connector's records.

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit", "wit"],
        world: "example:x-gateway/gateway",
        generate_all,
    });
}

use bindings::exports::wasi::http::incoming_handler::Guest;
use bindings::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use bindings::wso2::twitter::connector as x;
use bindings::wso2::twitter::types::ConnectorError;

use crate::{error_body, route, Failure, Route};

/// A post's text is at most a few KiB (280 weighted characters); more is
/// refused before it is read.
const MAX_BODY: usize = 64 * 1024;

struct Gateway;

bindings::export!(Gateway with_types_in bindings);

impl Guest for Gateway {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Post => "POST".to_string(),
            Method::Delete => "DELETE".to_string(),
            Method::Other(m) => m,
            other => format!("{other:?}").to_uppercase(),
        };
        let path = request.path_with_query().unwrap_or_default();
        let (status, body, allow) = match route(&method, &path) {
            Route::Me => answer(get_me(), 200),
            Route::Post => match read_body(&request) {
                Ok(text) => answer(create(text), 201),
                Err(e) => (
                    400,
                    error_body(&e, "send the post's text as the body"),
                    None,
                ),
            },
            Route::Delete(id) => answer(delete(id), 200),
            Route::WrongMethod(allowed) => (
                405,
                error_body("method not allowed", &format!("use {allowed}")),
                Some(allowed),
            ),
            Route::NotFound => (
                404,
                error_body("not found", "GET /me, POST /tweets, DELETE /tweets/{id}"),
                None,
            ),
        };
        respond(out, status, &body, allow);
    }
}

type Answer = (u16, String, Option<&'static str>);

fn answer(result: Result<String, x::Error>, ok_status: u16) -> Answer {
    match result {
        Ok(body) => (ok_status, body, None),
        Err(e) => {
            let failure = match e.details() {
                ConnectorError::InvalidInput(_) => Failure::InvalidInput,
                ConnectorError::NotInitialized => Failure::NotConfigured,
                ConnectorError::Api(a) => Failure::Api {
                    status: a.problem.status,
                },
                ConnectorError::Transport(_) => Failure::Transport,
                ConnectorError::Oauth(_) => Failure::OAuth,
                ConnectorError::MalformedResponse(_) => Failure::Malformed,
                ConnectorError::TokenStore(_) => Failure::TokenStore,
            };
            (
                failure.status(),
                error_body(&e.message(), &e.detail()),
                None,
            )
        }
    }
}

fn get_me() -> Result<String, x::Error> {
    let me = x::get_me(&x::GetMeRequest {
        expansions: vec![],
        tweet_fields: vec![],
        user_fields: vec![],
    })?;
    Ok(serde_json::json!({
        "id": me.user.id,
        "username": me.user.username,
        "name": me.user.name,
    })
    .to_string())
}

fn create(text: String) -> Result<String, x::Error> {
    let posted = x::create_tweet(&x::CreateTweetRequest {
        text: Some(text),
        media: None,
        poll: None,
        reply: None,
        quote_tweet_id: None,
        reply_settings: None,
        for_super_followers_only: None,
        direct_message_deep_link: None,
        geo_place_id: None,
        nullcast: None,
        community_id: None,
        share_with_followers: None,
        card_uri: None,
        edit_previous_post_id: None,
        made_with_ai: None,
        paid_partnership: None,
    })?;
    Ok(serde_json::json!({ "id": posted.id, "text": posted.text }).to_string())
}

fn delete(id: &str) -> Result<String, x::Error> {
    let done = x::delete_tweet(id)?;
    Ok(serde_json::json!({ "deleted": done.deleted }).to_string())
}

/// The request body as UTF-8 text, at most [`MAX_BODY`] bytes.
fn read_body(request: &IncomingRequest) -> Result<String, String> {
    let body = request.consume().map_err(|()| "no body".to_string())?;
    let stream = body.stream().map_err(|()| "no body".to_string())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(16 * 1024) {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_BODY {
                    return Err(format!("the body is over {MAX_BODY} bytes"));
                }
            }
            Err(bindings::wasi::io::streams::StreamError::Closed) => break,
            Err(e) => return Err(format!("reading the body: {e:?}")),
        }
    }
    String::from_utf8(bytes).map_err(|_| "the body is not UTF-8".to_string())
}

fn respond(out: ResponseOutparam, status: u16, body: &str, allow: Option<&str>) {
    let mut headers = vec![("content-type".to_string(), b"application/json".to_vec())];
    if let Some(allow) = allow {
        headers.push(("allow".to_string(), allow.as_bytes().to_vec()));
    }
    let fields = Fields::from_list(&headers).expect("static header names");
    let response = OutgoingResponse::new(fields);
    response.set_status_code(status).expect("a valid status");
    let outgoing = response.body().expect("the body, taken once");
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().expect("the stream, taken once");
    // blocking_write_and_flush takes at most 4096 bytes a call.
    for chunk in body.as_bytes().chunks(4096) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            return; // The client went away; nothing left to tell it.
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
}
