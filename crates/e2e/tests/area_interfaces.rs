//! The typed area interfaces (`tweets`, `users`, `lists`,
//! `direct-messages`, `media`) through the built component: the same
//! operations as `invoke`, with records instead of name/value strings, and
//! media as bytes instead of base64.

mod common;

use common::*;
use integrator::bindings::exports::wso2::twitter::{direct_messages, lists, media, tweets, users};
use integrator::bindings::wso2::twitter::reads::{Page, Selection, Window};
use integrator::engine::allowance::{self, Allowance};
use serde_json::Value;
use x_sim::Endpoint;

const ME: &str = "1564781240977719296";
const USER_1: &str = "2000000000000000001";
const MENTION: &str = "1860000000000000001";

fn select() -> Selection {
    Selection {
        expansions: vec![],
        tweet_fields: vec![],
        user_fields: vec![],
        media_fields: vec![],
        place_fields: vec![],
        poll_fields: vec![],
        list_fields: vec![],
        dm_event_fields: vec![],
    }
}

fn page(max_results: Option<u32>, max_pages: Option<u32>) -> Page {
    Page {
        max_results,
        pagination_token: None,
        max_pages,
    }
}

/// No time window.
fn anytime() -> Window {
    Window {
        start_time: None,
        end_time: None,
        since_id: None,
        until_id: None,
    }
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_area_is_typed_and_goes_the_same_way_as_invoke() {
    let h = Harness::new().await;
    let mut c = h.ready().await;
    let one = Allowance::ONE;

    // users: three pages of followers merged, as maxPages does.
    let followers = c
        .call_area(one, async |s, b| {
            b.wso2_twitter_users()
                .call_get_related_users(
                    s,
                    ME,
                    users::Relation::Followers,
                    &page(Some(10), Some(3)),
                    &select(),
                )
                .await
        })
        .await
        .unwrap();
    assert_eq!(followers.result_count, x_sim::SEEDED_FOLLOWERS as u32);
    assert_eq!(
        json(&followers.data).as_array().unwrap().len(),
        x_sim::SEEDED_FOLLOWERS
    );
    assert!(followers.next_token.is_none());
    assert_eq!(
        h.sim
            .stats()
            .requests_to(Endpoint::Api("getUsersFollowers")),
        3
    );
    let muted = c
        .call_area(one, async |s, b| {
            b.wso2_twitter_users()
                .call_relate(s, ME, users::Relation::Muting, USER_1, false)
                .await
        })
        .await
        .unwrap();
    assert_eq!(json(&muted.data)["muting"], true);
    let e = c
        .call_area(one, async |s, b| {
            b.wso2_twitter_users()
                .call_relate(s, ME, users::Relation::Followers, USER_1, false)
                .await
        })
        .await
        .unwrap_err();
    assert_eq!(kind_of(e), "invalid-input");

    // tweets: a like, with its cost in X's unit.
    let liked = c
        .call_area(one, async |s, b| {
            b.wso2_twitter_tweets()
                .call_like_tweet(s, ME, MENTION, false)
                .await
        })
        .await
        .unwrap();
    assert_eq!(json(&liked.data)["liked"], true);
    assert_eq!(
        integrator::costs::unit(liked.meta.cost.items[0].unit),
        x_pricing::BillingUnit::UserInteractionCreate
    );
    let likes = c
        .call_area(one, async |s, b| {
            b.wso2_twitter_tweets()
                .call_get_timeline(
                    s,
                    ME,
                    tweets::Timeline::Liked,
                    &[],
                    &anytime(),
                    &page(Some(5), None),
                    &select(),
                )
                .await
        })
        .await
        .unwrap();
    assert_eq!(json(&likes.data)[0]["id"], MENTION);
    // `exclude` where X does not take it is refused, naming it.
    let e = c
        .call_area(one, async |s, b| {
            b.wso2_twitter_tweets()
                .call_get_timeline(
                    s,
                    ME,
                    tweets::Timeline::Mentions,
                    &["replies".into()],
                    &anytime(),
                    &page(None, None),
                    &select(),
                )
                .await
        })
        .await
        .unwrap_err();
    assert_eq!(kind_of(e), "invalid-input");
    let found = c
        .call_area(one, async |s, b| {
            b.wso2_twitter_tweets()
                .call_search_tweets(
                    s,
                    "rust",
                    Some("recency"),
                    &anytime(),
                    &page(Some(10), None),
                    &select(),
                )
                .await
        })
        .await
        .unwrap();
    assert_eq!(found.result_count, 1);

    // lists: created, renamed, deleted.
    let created = c
        .call_area(one, async |s, b| {
            let fields = lists::ListFields {
                name: Some("typed".into()),
                description: None,
                private: Some(true),
            };
            b.wso2_twitter_lists().call_create_list(s, &fields).await
        })
        .await
        .unwrap();
    let id = json(&created.data)["id"].as_str().unwrap().to_string();
    c.call_area(one, async |s, b| {
        b.wso2_twitter_lists().call_delete_list(s, &id).await
    })
    .await
    .unwrap();

    // direct messages: to a user, then into the conversation.
    let sent = c
        .call_area(one, async |s, b| {
            let to = direct_messages::Recipient::Participant(USER_1.into());
            b.wso2_twitter_direct_messages()
                .call_send_direct_message(s, &to, Some("hi"), &[])
                .await
        })
        .await
        .unwrap();
    let conversation = json(&sent.data)["dm_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    c.call_area(one, async |s, b| {
        let to = direct_messages::Recipient::Conversation(conversation.clone());
        b.wso2_twitter_direct_messages()
            .call_send_direct_message(s, &to, Some("again"), &[])
            .await
    })
    .await
    .unwrap();

    // media: bytes, no base64; then a post with it.
    let mut gif = b"GIF89a".to_vec();
    gif.resize(1_200_000, 3);
    let uploaded = c
        .call_area(allowance::of_upload(gif.len()), async |s, b| {
            let options = media::UploadOptions {
                media_type: None,
                media_category: None,
                additional_owners: vec![],
                shared: None,
            };
            b.wso2_twitter_media()
                .call_upload_media(s, &gif, &options)
                .await
        })
        .await
        .unwrap();
    let media_id = json(&uploaded.data)["id"].as_str().unwrap().to_string();
    assert_eq!(h.sim.stats().media_bytes, gif.len() as u64);
    c.invoke(
        "createTweet",
        &kv(&[
            ("text", "typed upload"),
            ("media", &format!(r#"{{"media_ids":["{media_id}"]}}"#)),
        ]),
    )
    .await
    .unwrap();

    // A broken value is refused before anything is sent, naming it.
    let before = h.sim.stats().total_requests();
    let e = c
        .call_area(one, async |s, b| {
            b.wso2_twitter_tweets()
                .call_get_tweet_by_id(s, "1/../2", &select())
                .await
        })
        .await
        .unwrap_err();
    let integrator::bindings::wso2::twitter::types::ConnectorError::InvalidInput(i) =
        connector_error(e)
    else {
        panic!("not invalid-input")
    };
    assert_eq!(i.parameter, "id");
    assert_eq!(h.sim.stats().total_requests(), before);
    assert!(
        h.sim.stats().request_violations.is_empty(),
        "{:?}",
        h.sim.stats().request_violations
    );
}
