//! Pay-per-use X through the built component, against the simulator's
//! billing (X's prices, credits, the 402 when they are gone).

mod common;

use common::*;
use integrator::bindings::wso2::twitter::types::{ApiClass, BillingUnit, ConnectorError};
use x_sim::endpoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credits_that_run_out_are_a_typed_402_never_refreshed_or_retried() {
    let h = Harness::new().await;
    // Two cents: a post ($0.015) leaves half a cent, the next post is let
    // through on it and takes the balance below zero, as X's can go.
    h.sim.set_credits(20_000);
    let mut c = h.ready().await;
    c.create_tweet(&text_tweet("first")).await.unwrap();
    c.create_tweet(&text_tweet("second")).await.unwrap();
    assert_eq!(h.sim.credits(), Some(-10_000));

    let f = failure(c.create_tweet(&text_tweet("third")).await.unwrap_err());
    let ConnectorError::Api(a) = &f.error else {
        panic!("{:?}", f.error)
    };
    assert_eq!(a.class, ApiClass::CreditsDepleted);
    assert_eq!(a.problem.status, 402);
    assert_eq!(a.problem.kind, "credits-depleted");
    assert!(f.detail.contains("add credits"), "{}", f.detail);
    assert_eq!(kind_name(&f.error), "credits-depleted");

    let stats = h.sim.stats();
    // One request for the refused post: no refresh, no retry.
    assert_eq!(stats.requests_to(endpoint::CREATE_TWEET), 3);
    assert_eq!(stats.refreshes, 0);
    assert_eq!(stats.charges.refused, 1);
    assert_eq!(stats.charges.total_micros, 30_000);
    // The instance serves the next call once credits are added.
    h.sim.set_credits(1_000_000);
    c.create_tweet(&text_tweet("after topping up"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_reports_what_x_bills_for_it() {
    let h = Harness::new().await;
    h.sim.set_credits(5_000_000);
    let mut c = h.ready().await;

    let plain = c.create_tweet(&text_tweet("no link here")).await.unwrap();
    let linked = c
        .create_tweet(&text_tweet("read https://example.com/a first"))
        .await
        .unwrap();
    let (p, l) = (&plain.meta.cost, &linked.meta.cost);
    assert_eq!((p.usd_micros, l.usd_micros), (15_000, 200_000));
    assert_eq!(p.items[0].unit, BillingUnit::ContentCreate);
    assert_eq!(l.items[0].unit, BillingUnit::ContentCreateWithUrl);
    assert_eq!(p.prices_effective, "2026-02-06");

    let me = c.get_me(&get_me_request()).await.unwrap();
    assert_eq!(me.meta.cost.usd_micros, 10_000);
    assert_eq!(me.meta.cost.items[0].unit, BillingUnit::UserRead);
    assert_eq!(
        me.meta.cost.items[0].resources,
        std::slice::from_ref(&me.user.id)
    );

    let deleted = c.delete_tweet(&plain.id).await.unwrap();
    assert_eq!(deleted.meta.cost.usd_micros, 10_000);
    assert_eq!(
        deleted.meta.cost.items[0].unit,
        BillingUnit::InteractionDelete
    );

    // The simulator billed, by its own rules, what the connector reported.
    let reported: u64 = [p, l, &me.meta.cost, &deleted.meta.cost]
        .iter()
        .map(|c| c.usd_micros)
        .sum();
    let charges = h.sim.stats().charges;
    assert_eq!(charges.total_micros, reported);
    assert_eq!(charges.by_unit["Content: Create (with URL)"], (1, 200_000));
    assert_eq!(h.sim.credits(), Some(5_000_000 - reported as i64));
}
