//! The generic entry point's side: WSO2 4.x operation and parameter names,
//! as name/value strings, turned into the typed requests.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::config::{self, ConnectionParams};
use crate::connector::GetMeRequest;
use crate::error::ConnectorError;
use crate::retry::{self, RetryParams};
use crate::secret::Secret;
use crate::tweet::{CreateTweet, EditOptions, Geo, Media, Poll, Reply};
use crate::validate;

use crate::ops::request::{self, Call, FLOW_PARAMETERS};

pub const INIT_PARAMETERS: &[&str] = &[
    "connectionName",
    "apiUrl",
    "timeout",
    "clientId",
    "clientSecret",
    "accessToken",
    "refreshToken",
    "retryCount",
    "retryDelay",
    "waitOnRateLimit",
    "maxRetryWait",
];
/// Every operation and its parameters (X's names; WSO2's aliases are in
/// the catalog), as the runtime's descriptor lists them.
pub fn operations() -> Vec<(&'static str, Vec<&'static str>)> {
    std::iter::once(("init", INIT_PARAMETERS.to_vec()))
        .chain(
            crate::ops::catalog::OPERATIONS
                .iter()
                .map(|o| (o.name, o.params.iter().map(|p| p.name).collect())),
        )
        .collect()
}

pub enum Operation {
    Init(ConnectionParams),
    CreateTweet(Box<CreateTweet>),
    DeleteTweet(String),
    GetMe(GetMeRequest),
    /// An operation of the catalog, built and checked.
    Call(Call),
}

struct Params<'a> {
    values: &'a [(String, String)],
}

impl<'a> Params<'a> {
    /// Refuses names the operation does not declare, and repeats.
    fn check(
        op: &str,
        values: &'a [(String, String)],
        declared: &[&str],
    ) -> Result<Self, ConnectorError> {
        for (i, (name, _)) in values.iter().enumerate() {
            if !declared.contains(&name.as_str()) && !FLOW_PARAMETERS.contains(&name.as_str()) {
                return Err(ConnectorError::invalid(
                    name,
                    format!(
                        "is not a parameter of {op} (it takes: {})",
                        declared.join(", ")
                    ),
                ));
            }
            if values[..i].iter().any(|(n, _)| n == name) {
                return Err(ConnectorError::invalid(name, "is given more than once"));
            }
        }
        Ok(Params { values })
    }

    /// The value, if given; WSO2 flows leave unset parameters as empty strings.
    fn get(&self, name: &str) -> Option<&'a str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    fn id(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.trim().to_string())
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, ConnectorError> {
        self.get(name)
            .map(|v| validate::boolean(name, v))
            .transpose()
    }

    fn number(&self, name: &str) -> Result<Option<u32>, ConnectorError> {
        self.get(name)
            .map(|v| retry::parse_number(name, v))
            .transpose()
    }

    fn json<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ConnectorError> {
        self.get(name)
            .map(|v| {
                serde_json::from_str(v).map_err(|e| {
                    ConnectorError::invalid(
                        name,
                        format!("must be a JSON object of the documented shape: {e}"),
                    )
                })
            })
            .transpose()
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.get(name).map(validate::comma_list).unwrap_or_default()
    }
}

// JSON shapes of the WSO2 object parameters: unknown keys are refused, as
// X refuses them (`additionalProperties: false`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaJson {
    media_ids: Vec<String>,
    #[serde(default)]
    tagged_user_ids: Vec<String>,
    description: Option<String>,
    title: Option<String>,
    embeddable: Option<bool>,
    preview_media_id: Option<String>,
    call_to_actions: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PollJson {
    options: Vec<String>,
    duration_minutes: u32,
    reply_settings: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyJson {
    in_reply_to_tweet_id: String,
    #[serde(default)]
    exclude_reply_user_ids: Vec<String>,
    auto_populate_reply_metadata: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GeoJson {
    place_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditOptionsJson {
    previous_post_id: String,
}

pub fn parse(operation: &str, values: &[(String, String)]) -> Result<Operation, ConnectorError> {
    // `init` has no endpoint; every other operation is a catalog row, whose
    // parameters are the ones declared (the typed three included).
    let (op, declared): (&str, Vec<&str>) = if operation == "init" {
        ("init", INIT_PARAMETERS.to_vec())
    } else if let Some(spec) = crate::ops::find(operation) {
        if !crate::ops::TYPED.contains(&spec.name) {
            return request::build(spec, values).map(Operation::Call);
        }
        (spec.name, spec.params.iter().map(|p| p.name).collect())
    } else {
        let names: Vec<&str> = operations().iter().map(|(n, _)| *n).collect();
        return Err(ConnectorError::invalid(
            "operation",
            format!(
                "`{operation}` is not an operation of this connector ({})",
                names.join(", ")
            ),
        ));
    };
    let p = Params::check(op, values, &declared)?;
    Ok(match op {
        "init" => Operation::Init(ConnectionParams {
            connection_name: p.string("connectionName"),
            api_url: p.string("apiUrl"),
            timeout: p.get("timeout").map(config::parse_timeout).transpose()?,
            client_id: p.string("clientId").unwrap_or_default(),
            client_secret: p.string("clientSecret").map(Secret::new),
            access_token: p.string("accessToken").map(Secret::new),
            refresh_token: p.string("refreshToken").map(Secret::new),
            retry: RetryParams {
                count: p.number("retryCount")?,
                delay_ms: p.number("retryDelay")?,
                wait_on_rate_limit: p.boolean("waitOnRateLimit")?,
                max_wait_ms: p.number("maxRetryWait")?,
            },
        }),
        "createTweet" => Operation::CreateTweet(Box::new(CreateTweet {
            // Text is sent as given (not trimmed): whitespace can be content.
            text: p
                .values
                .iter()
                .find(|(n, _)| n == "text")
                .map(|(_, v)| v.clone()),
            media: p.json::<MediaJson>("media")?.map(|m| Media {
                media_ids: m.media_ids,
                tagged_user_ids: m.tagged_user_ids,
                description: m.description,
                title: m.title,
                embeddable: m.embeddable,
                preview_media_id: m.preview_media_id,
                call_to_actions: m.call_to_actions,
            }),
            poll: p.json::<PollJson>("poll")?.map(|x| Poll {
                options: x.options,
                duration_minutes: x.duration_minutes,
                reply_settings: x.reply_settings,
            }),
            reply: p.json::<ReplyJson>("reply")?.map(|r| Reply {
                in_reply_to_tweet_id: r.in_reply_to_tweet_id,
                exclude_reply_user_ids: r.exclude_reply_user_ids,
                auto_populate_reply_metadata: r.auto_populate_reply_metadata,
            }),
            quote_tweet_id: p.id("quote_tweet_id"),
            reply_settings: p.id("reply_settings"),
            for_super_followers_only: p.boolean("for_super_followers_only")?,
            direct_message_deep_link: p.string("direct_message_deep_link"),
            geo: p.json::<GeoJson>("geo")?.map(|g| Geo {
                place_id: g.place_id,
            }),
            nullcast: p.boolean("nullcast")?,
            community_id: p.id("community_id"),
            share_with_followers: p.boolean("share_with_followers")?,
            card_uri: p.string("card_uri"),
            edit_options: p
                .json::<EditOptionsJson>("edit_options")?
                .map(|e| EditOptions {
                    previous_post_id: e.previous_post_id,
                }),
            made_with_ai: p.boolean("made_with_ai")?,
            paid_partnership: p.boolean("paid_partnership")?,
        })),
        "deleteTweet" => Operation::DeleteTweet(p.id("id").unwrap_or_default()),
        _ => Operation::GetMe(GetMeRequest {
            expansions: p.list("expansions"),
            tweet_fields: p.list("tweet_fields"),
            user_fields: p.list("user_fields"),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn bad_param(op: &str, pairs: &[(&str, &str)]) -> String {
        match parse(op, &kv(pairs)) {
            Err(ConnectorError::InvalidInput { parameter, .. }) => parameter,
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("accepted {pairs:?}"),
        }
    }

    #[test]
    fn create_tweet_from_wso2_strings() {
        let op = parse(
            "createTweet",
            &kv(&[
                ("text", "hello"),
                ("poll", r#"{"options":["a","b"],"duration_minutes":60}"#),
                ("reply", r#"{"in_reply_to_tweet_id":"123"}"#),
                ("for_super_followers_only", "false"),
                ("geo", ""),
                ("responseVariable", "tweet"),
            ]),
        )
        .unwrap();
        let Operation::CreateTweet(t) = op else {
            panic!()
        };
        assert_eq!(t.text.as_deref(), Some("hello"));
        assert_eq!(t.poll.unwrap().options, vec!["a", "b"]);
        assert_eq!(t.reply.unwrap().in_reply_to_tweet_id, "123");
        assert_eq!(t.for_super_followers_only, Some(false));
        assert!(t.geo.is_none());
    }

    #[test]
    fn refuses_unknown_repeated_and_malformed() {
        assert_eq!(bad_param("createTweet", &[("txt", "x")]), "txt");
        assert_eq!(
            bad_param("createTweet", &[("text", "a"), ("text", "b")]),
            "text"
        );
        assert_eq!(
            bad_param("createTweet", &[("text", "a"), ("media", "{nope")]),
            "media"
        );
        assert_eq!(
            bad_param(
                "createTweet",
                &[("media", r#"{"media_ids":["1"],"extra":1}"#)]
            ),
            "media"
        );
        assert_eq!(
            bad_param("createTweet", &[("text", "a"), ("nullcast", "yes")]),
            "nullcast"
        );
        assert_eq!(bad_param("getMe", &[("id", "1")]), "id");
        assert_eq!(
            bad_param("init", &[("clientId", "c"), ("timeout", "soon")]),
            "timeout"
        );
        assert_eq!(bad_param("retweet", &[]), "operation");
    }

    #[test]
    fn get_me_lists() {
        let Operation::GetMe(r) = parse(
            "getMe",
            &kv(&[
                ("user_fields", "created_at, description"),
                ("tweet_fields", ""),
            ]),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(r.user_fields, vec!["created_at", "description"]);
        assert!(r.tweet_fields.is_empty());
    }
}
