//! Conversions between the pure modules' types and the WIT bindings.

use super::bindings::exports::wso2::twitter::connector as wit;
use super::bindings::wso2::twitter::types as wt;
use crate::error::{ApiClass, ConnectorError, OAuthReason, OAuthRequest, TransportKind};
use crate::response::ResponseMeta;
use crate::tweet;

fn window(w: crate::error::RateLimitWindow) -> wt::RateLimitWindow {
    wt::RateLimitWindow {
        limit: w.limit,
        remaining: w.remaining,
        reset_at_s: w.reset_at_s,
    }
}

fn limits(l: crate::error::RateLimits) -> wt::RateLimits {
    wt::RateLimits {
        window: l.window.map(window),
        user_day: l.user_day.map(window),
        app_day: l.app_day.map(window),
        retry_after_s: l.retry_after_s,
    }
}

fn items(items: Vec<crate::error::ProblemItem>) -> Vec<wt::ProblemItem> {
    items
        .into_iter()
        .map(|e| wt::ProblemItem {
            message: e.message,
            parameters: e.parameters,
            code: e.code,
            problem_type: e.problem_type,
            parameter: e.parameter,
            value: e.value,
        })
        .collect()
}

pub(super) fn meta(m: ResponseMeta) -> wt::ResponseMeta {
    wt::ResponseMeta {
        status: m.status,
        rate_limits: limits(m.rate_limits),
        headers: m.headers,
        body: m.body,
        errors: items(m.errors),
        cost: cost(m.cost),
    }
}

pub(super) fn cost(c: crate::cost::CallCost) -> wt::CallCost {
    use crate::cost::BillingUnit as U;
    use wt::BillingUnit as W;
    wt::CallCost {
        items: c
            .items
            .into_iter()
            .map(|i| wt::CostItem {
                unit: match i.unit {
                    U::PostsRead => W::PostsRead,
                    U::UserRead => W::UserRead,
                    U::DmEventRead => W::DmEventRead,
                    U::FollowsRead => W::FollowsRead,
                    U::ListRead => W::ListRead,
                    U::MediaRead => W::MediaRead,
                    U::ContentCreate => W::ContentCreate,
                    U::ContentCreateWithUrl => W::ContentCreateWithUrl,
                    U::DmInteractionCreate => W::DmInteractionCreate,
                    U::UserInteractionCreate => W::UserInteractionCreate,
                    U::InteractionDelete => W::InteractionDelete,
                    U::ContentManage => W::ContentManage,
                },
                count: i.count,
                usd_micros: i.usd_micros,
                resources: i.resources,
            })
            .collect(),
        usd_micros: c.usd_micros,
        prices_effective: c.prices_effective,
    }
}

fn problem(p: crate::error::Problem) -> wt::ApiProblem {
    wt::ApiProblem {
        status: p.status,
        problem_type: p.problem_type,
        kind: p.kind,
        title: p.title,
        detail: p.detail,
        errors: items(p.errors),
        reason: p.reason,
        required_enrollment: p.required_enrollment,
        registration_url: p.registration_url,
        hint: p.hint,
    }
}

pub(super) fn to_wit_error(e: ConnectorError) -> wt::ConnectorError {
    use wt::ConnectorError as W;
    match e {
        ConnectorError::InvalidInput { parameter, rule } => {
            W::InvalidInput(wt::InvalidInput { parameter, rule })
        }
        ConnectorError::NotInitialized => W::NotInitialized,
        ConnectorError::Api {
            class,
            problem: p,
            limits: l,
        } => W::Api(wt::ApiFailure {
            class: match class {
                ApiClass::Unauthorized => wt::ApiClass::Unauthorized,
                ApiClass::Forbidden => wt::ApiClass::Forbidden,
                ApiClass::NotFound => wt::ApiClass::NotFound,
                ApiClass::RateLimited => wt::ApiClass::RateLimited,
                ApiClass::CreditsDepleted => wt::ApiClass::CreditsDepleted,
                ApiClass::Other => wt::ApiClass::Other,
            },
            problem: problem(p),
            rate_limits: limits(l),
        }),
        ConnectorError::Transport(t) => W::Transport(wt::TransportFailure {
            kind: match t.kind {
                TransportKind::Connect => wt::TransportKind::Connect,
                TransportKind::Dns => wt::TransportKind::Dns,
                TransportKind::Tls => wt::TransportKind::Tls,
                TransportKind::Timeout => wt::TransportKind::Timeout,
                TransportKind::Reset => wt::TransportKind::Reset,
                TransportKind::Denied => wt::TransportKind::Denied,
                TransportKind::TooLarge => wt::TransportKind::TooLarge,
                TransportKind::Other => wt::TransportKind::Other,
            },
            cause: t.cause,
        }),
        ConnectorError::OAuth(f) => W::Oauth(wt::OauthFailure {
            request: match f.request {
                OAuthRequest::Refresh => wt::OauthRequest::Refresh,
                OAuthRequest::AuthorizationCode => wt::OauthRequest::AuthorizationCode,
                OAuthRequest::Revocation => wt::OauthRequest::Revocation,
            },
            reason: match f.reason {
                OAuthReason::InvalidRequest => wt::OauthReason::InvalidRequest,
                OAuthReason::InvalidClient => wt::OauthReason::InvalidClient,
                OAuthReason::InvalidGrant => wt::OauthReason::InvalidGrant,
                OAuthReason::UnauthorizedClient => wt::OauthReason::UnauthorizedClient,
                OAuthReason::UnsupportedGrantType => wt::OauthReason::UnsupportedGrantType,
                OAuthReason::InvalidScope => wt::OauthReason::InvalidScope,
                OAuthReason::OtherCode => wt::OauthReason::OtherCode,
                OAuthReason::NoRefreshToken => wt::OauthReason::NoRefreshToken,
                OAuthReason::RefreshTokenSpent => wt::OauthReason::RefreshTokenSpent,
                OAuthReason::NotAuthorized => wt::OauthReason::NotAuthorized,
            },
            code: f.code,
            description: f.description,
            status: f.status,
            hint: f.hint,
        }),
        ConnectorError::MalformedResponse(m) => W::MalformedResponse(m),
        ConnectorError::TokenStore { cause, unsaved } => {
            W::TokenStore(wt::StoreFailure { cause, unsaved })
        }
    }
}

pub(super) fn create_tweet_from_wit(
    r: wit::CreateTweetRequest,
) -> Result<tweet::CreateTweet, ConnectorError> {
    let call_to_actions = match r.media.as_ref().and_then(|m| m.call_to_actions.as_deref()) {
        Some(json) => Some(serde_json::from_str(json).map_err(|e| {
            ConnectorError::invalid(
                "media.call_to_actions",
                format!("must be a JSON object: {e}"),
            )
        })?),
        None => None,
    };
    Ok(tweet::CreateTweet {
        text: r.text,
        media: r.media.map(|m| tweet::Media {
            media_ids: m.media_ids,
            tagged_user_ids: m.tagged_user_ids,
            description: m.description,
            title: m.title,
            embeddable: m.embeddable,
            preview_media_id: m.preview_media_id,
            call_to_actions,
        }),
        poll: r.poll.map(|p| tweet::Poll {
            options: p.options,
            duration_minutes: p.duration_minutes,
            reply_settings: p.reply_settings,
        }),
        reply: r.reply.map(|p| tweet::Reply {
            in_reply_to_tweet_id: p.in_reply_to_tweet_id,
            exclude_reply_user_ids: p.exclude_reply_user_ids,
            auto_populate_reply_metadata: p.auto_populate_reply_metadata,
        }),
        quote_tweet_id: r.quote_tweet_id,
        reply_settings: r.reply_settings,
        for_super_followers_only: r.for_super_followers_only,
        direct_message_deep_link: r.direct_message_deep_link,
        geo: r.geo_place_id.map(|place_id| tweet::Geo { place_id }),
        nullcast: r.nullcast,
        community_id: r.community_id,
        share_with_followers: r.share_with_followers,
        card_uri: r.card_uri,
        edit_options: r
            .edit_previous_post_id
            .map(|previous_post_id| tweet::EditOptions { previous_post_id }),
        made_with_ai: r.made_with_ai,
        paid_partnership: r.paid_partnership,
    })
}
