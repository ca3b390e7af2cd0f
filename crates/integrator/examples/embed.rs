//! The connector driven from Rust, without flows: load the built component,
//! initialize a connection, call typed operations, read typed errors.
//!
//! ```sh
//! ./build.sh && cargo run --release -p integrator --example embed
//! ```
//!
//! X is played by the simulator here; against X, leave `api_url` out and
//! give the app's client id and a refresh token from `integrator auth
//! login`. Tokens go to `RuntimeOptions::token_store` (memory by default:
//! give a durable one, `token_store::StoreSpec::open`, so rotated tokens outlive the
//! process).

use integrator::bindings::exports::wso2::twitter::connector as wit;
use integrator::bindings::wso2::twitter::types::{ApiClass, ConnectorError};
use integrator::{CallError, Runtime, RuntimeOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = x_sim::Simulator::start().await?;
    sim.add_client("my-app", None);
    let tokens = sim.issue_tokens("my-app");

    let runtime = Runtime::new(RuntimeOptions::default())?;
    let connector = runtime.load_bytes(&std::fs::read("dist/twitter-connector.wasm")?)?;
    let mut x = runtime.instantiate(&connector).await?;
    let connection = x
        .init(&wit::ConnectionConfig {
            connection_name: Some("embedded".into()),
            api_url: Some(sim.url()),
            timeout_ms: None,
            client_id: "my-app".into(),
            client_secret: None,
            access_token: None,
            refresh_token: Some(tokens.refresh_token),
            retry: None,
        })
        .await?;
    println!(
        "connection `{}` to {}",
        connection.connection_name, connection.api_origin
    );

    let me = x
        .get_me(&wit::GetMeRequest {
            expansions: vec![],
            tweet_fields: vec![],
            user_fields: vec!["created_at".into()],
        })
        .await?;
    println!("signed in as @{}", me.user.username);

    let post = x.create_tweet(&text("Hello from Rust")).await?;
    println!("posted {}: {}", post.id, post.text);

    // X refuses the same text twice: a typed error, not a string to parse.
    match x.create_tweet(&text("Hello from Rust")).await {
        Err(CallError::Connector(f)) => match &f.error {
            ConnectorError::Api(a) if a.class == ApiClass::Forbidden => {
                println!("refused as expected ({}): {}", a.problem.kind, f.message)
            }
            other => anyhow::bail!("unexpected error: {other:?}"),
        },
        other => anyhow::bail!("expected a refusal, got {other:?}"),
    }
    let deleted = x.delete_tweet(&post.id).await?;
    println!("deleted: {}", deleted.deleted);
    Ok(())
}

fn text(t: &str) -> wit::CreateTweetRequest {
    wit::CreateTweetRequest {
        text: Some(t.into()),
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
    }
}
