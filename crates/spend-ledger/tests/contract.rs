//! One contract for every ledger, run on each: real SQLite files and a
//! real Redis server (`INTEGRATOR_TEST_REDIS_URL`, or one of the test's
//! own), two instances on one store standing in for two processes.

use std::sync::Arc;

use spend_ledger::{
    period, Budget, Limits, MemoryLedger, RedisLedger, Reservation, Spend, SpendItem, SpendLedger,
    SqliteLedger, RESERVATION_TTL_S,
};
use token_store::testing::RedisServer;
use x_pricing::BillingUnit;

/// 2026-12-02T06:30:00Z.
const NOW: i64 = 1_796_193_000;

fn post() -> Spend {
    Spend {
        operation: "createTweet".into(),
        items: vec![SpendItem {
            unit: BillingUnit::ContentCreate,
            count: 1,
            usd_micros: 15_000,
            resources: vec![],
        }],
    }
}

fn read_user(id: &str) -> Spend {
    Spend {
        operation: "getMe".into(),
        items: vec![SpendItem {
            unit: BillingUnit::UserRead,
            count: 1,
            usd_micros: 10_000,
            resources: vec![id.into()],
        }],
    }
}

fn day_limit(usd_micros: u64) -> Limits {
    Limits {
        per_day: Some(usd_micros),
        per_month: None,
    }
}

fn unique(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Five cents a day: three $0.015 posts go, the fourth is refused before
/// it is sent, naming the budget and when it resets.
fn a_budget_lets_through_what_fits_and_refuses_the_rest(l: &dyn SpendLedger) {
    let key = unique("budget");
    let limits = day_limit(50_000);
    for _ in 0..3 {
        let r = l.reserve(&key, &limits, 15_000, NOW).unwrap().unwrap();
        assert_eq!(l.settle(&r, &post()).unwrap().charged, 15_000);
    }
    let e = l.reserve(&key, &limits, 15_000, NOW).unwrap().unwrap_err();
    assert_eq!((e.budget, e.spent, e.limit), (Budget::Day, 45_000, 50_000));
    assert_eq!(e.resets_at_s, period::day_ends(period::day_of(NOW)));
    // The next UTC day starts afresh; the month keeps counting.
    let tomorrow = period::day_ends(period::day_of(NOW));
    assert!(l.reserve(&key, &limits, 15_000, tomorrow).unwrap().is_ok());
    let month = Limits {
        per_day: None,
        per_month: Some(50_000),
    };
    let e = l
        .reserve(&key, &month, 15_000, tomorrow)
        .unwrap()
        .unwrap_err();
    assert_eq!(e.budget, Budget::Month);
    let t = l.totals(&key, NOW).unwrap();
    assert_eq!((t.day, t.month), (45_000, 45_000));
}

/// A call that failed before X could bill it gives its reservation back;
/// one whose holder died stops counting after the TTL.
fn reservations_are_given_back_or_lapse(l: &dyn SpendLedger) {
    let key = unique("held");
    let limits = day_limit(20_000);
    let r = l.reserve(&key, &limits, 15_000, NOW).unwrap().unwrap();
    assert!(l.reserve(&key, &limits, 15_000, NOW).unwrap().is_err());
    l.release(&r).unwrap();
    let _dead = l.reserve(&key, &limits, 15_000, NOW).unwrap().unwrap();
    assert!(l.reserve(&key, &limits, 15_000, NOW + 60).unwrap().is_err());
    let later = NOW + RESERVATION_TTL_S + 1;
    assert!(l.reserve(&key, &limits, 15_000, later).unwrap().is_ok());
    assert_eq!(l.totals(&key, NOW).unwrap().day, 0);
}

/// X charges a resource once per UTC day: so does the ledger.
fn a_re_read_of_the_same_user_in_a_day_costs_zero(l: &dyn SpendLedger) {
    let key = unique("reads");
    let limits = Limits::default();
    let r = l.reserve(&key, &limits, 10_000, NOW).unwrap().unwrap();
    assert_eq!(l.settle(&r, &read_user("7")).unwrap().charged, 10_000);
    let r = l.reserve(&key, &limits, 10_000, NOW).unwrap().unwrap();
    let again = l.settle(&r, &read_user("7")).unwrap();
    assert_eq!((again.charged, again.items[0].count), (0, 0));
    let r = l.reserve(&key, &limits, 10_000, NOW).unwrap().unwrap();
    assert_eq!(l.settle(&r, &read_user("8")).unwrap().charged, 10_000);
    let tomorrow = period::day_ends(period::day_of(NOW));
    let r = l.reserve(&key, &limits, 10_000, tomorrow).unwrap().unwrap();
    assert_eq!(l.settle(&r, &read_user("7")).unwrap().charged, 10_000);

    // A call no budget holds is only recorded, deduplicated alike.
    let unheld = Reservation::unheld(&key, NOW);
    assert!(!unheld.is_held());
    assert_eq!(l.settle(&unheld, &read_user("8")).unwrap().charged, 0);
    assert_eq!(l.settle(&unheld, &read_user("9")).unwrap().charged, 10_000);

    let rows = l.usage(Some(&key), period::day_of(NOW)).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].day, "2026-12-02");
    assert_eq!((rows[0].calls, rows[0].usd_micros), (5, 30_000));
    assert_eq!(rows[1].day, "2026-12-03");
    assert!(l
        .usage(Some(&key), period::day_of(tomorrow) + 1)
        .unwrap()
        .is_empty());
}

/// Two stores' worth of callers (two processes) race 32 posts at a budget
/// that holds 10: exactly 10 are let through.
fn racing_callers_cannot_overspend_together(a: Arc<dyn SpendLedger>, b: Arc<dyn SpendLedger>) {
    let key = unique("race");
    let limits = day_limit(150_000);
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            let key = key.clone();
            std::thread::spawn(
                move || match l.reserve(&key, &limits, 15_000, NOW).unwrap() {
                    Ok(r) => {
                        l.settle(&r, &post()).unwrap();
                        true
                    }
                    Err(_) => false,
                },
            )
        })
        .collect();
    let through = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(through, 10);
    assert_eq!(a.totals(&key, NOW).unwrap().day, 150_000);
}

fn contract(a: Arc<dyn SpendLedger>, b: Arc<dyn SpendLedger>) {
    a_budget_lets_through_what_fits_and_refuses_the_rest(&*a);
    reservations_are_given_back_or_lapse(&*a);
    a_re_read_of_the_same_user_in_a_day_costs_zero(&*a);
    racing_callers_cannot_overspend_together(a, b);
}

#[test]
fn memory() {
    let l: Arc<dyn SpendLedger> = Arc::new(MemoryLedger::new());
    contract(l.clone(), l);
}

#[test]
fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let a: Arc<dyn SpendLedger> = Arc::new(SqliteLedger::open(&path).unwrap());
    let b: Arc<dyn SpendLedger> = Arc::new(SqliteLedger::open(&path).unwrap());
    contract(a, b);
}

#[test]
fn redis() {
    let server = RedisServer::shared();
    let a: Arc<dyn SpendLedger> = Arc::new(RedisLedger::open(server.url()).unwrap());
    let b: Arc<dyn SpendLedger> = Arc::new(RedisLedger::open(server.url()).unwrap());
    contract(a, b);
}

#[test]
fn a_redis_password_is_never_shown() {
    // A password may hold `@`: all of it, to the last one, is hidden.
    let l = RedisLedger::open("redis://u:p@ss-w0rd@127.0.0.1:1/0").unwrap();
    let e = l
        .reserve("k", &Limits::default(), 1, NOW)
        .unwrap_err()
        .to_string();
    for shown in [e, l.describe()] {
        assert!(
            !shown.contains("ss-w0rd") && !shown.contains("p@"),
            "{shown}"
        );
        assert!(shown.contains("redis://u:***@127.0.0.1:1/0"), "{shown}");
    }
}

#[test]
fn redis_down_is_an_error_naming_it_not_a_refusal() {
    let l = RedisLedger::open("redis://127.0.0.1:1/0").unwrap();
    let e = l.reserve("k", &Limits::default(), 1, NOW).unwrap_err();
    assert!(e.to_string().contains("redis redis://127.0.0.1:1/0"), "{e}");
}
