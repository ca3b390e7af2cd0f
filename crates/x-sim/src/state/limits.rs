//! Rate-limit budgets as X keeps them: a 15-minute window per endpoint
//! (`x-rate-limit-*`, on every response of the endpoint) and, where the
//! access tier has them, 24-hour budgets per user and per app
//! (`x-user-limit-24hour-*`, `x-app-limit-24hour-*`). A request that finds
//! any budget spent gets 429 with every header, the others untouched.
//! Tiers: X's published per-endpoint budgets (Pro; Free, whose 24-hour caps
//! are what users meet first).

use std::time::{Duration, SystemTime};

use serde_json::json;

use super::{unix, Reply, State};
use crate::{endpoint, Endpoint};

/// Which budget, and so which headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budgeted {
    /// `x-rate-limit-*`: the endpoint's window (15 minutes).
    Window,
    /// `x-user-limit-24hour-*`.
    UserDay,
    /// `x-app-limit-24hour-*`.
    AppDay,
}

impl Budgeted {
    fn prefix(self) -> &'static str {
        match self {
            Budgeted::Window => "x-rate-limit",
            Budgeted::UserDay => "x-user-limit-24hour",
            Budgeted::AppDay => "x-app-limit-24hour",
        }
    }
}

/// An X API access tier, as far as the simulated endpoints go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// POST 17 / 24 h per user and per app, DELETE 17 / 24 h, me 25 / 24 h
    /// (X's docs, Dec 2025). The 15-minute windows are not published for
    /// Free; the simulator gives them room (50, 50, 75), so the 24-hour
    /// caps are what runs out, as users report.
    Free,
    /// POST 100 / 24 h per user and 1,667 / 24 h per app, DELETE
    /// 5 / 15 min, me 250 / 24 h (a legacy plan since February 2026).
    Basic,
    /// POST 100 / 15 min per user, DELETE 50 / 15 min, me 75 / 15 min.
    Pro,
    /// Pay-per-use (since February 2026; the sandbox's default): Pro's
    /// 15-minute windows, POST 10,000 / 24 h per app, and credits
    /// ([`DEFAULT_CREDITS_MICROS`] unless set) charged at X's prices, a 402
    /// once they are gone.
    Payg,
    /// Not an X tier: 15-minute windows of a million requests, so load tests
    /// never meet them; the headers are still sent. The simulator's default.
    Unlimited,
}

impl std::str::FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Tier, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "free" => Ok(Tier::Free),
            "basic" => Ok(Tier::Basic),
            "pro" => Ok(Tier::Pro),
            "payg" => Ok(Tier::Payg),
            other => Err(format!("unknown tier `{other}` (payg, free, basic or pro)")),
        }
    }
}

pub(super) struct Budget {
    pub(super) limit: u32,
    pub(super) remaining: u32,
    pub(super) window: Duration,
    pub(super) reset: SystemTime,
}

impl Budget {
    fn new(limit: u32, window: Duration) -> Budget {
        Budget {
            limit,
            remaining: limit,
            window,
            reset: SystemTime::now() + window,
        }
    }
}

/// The pay-per-use sandbox's credits unless set: five dollars.
pub const DEFAULT_CREDITS_MICROS: i64 = 5_000_000;

const MIN15: Duration = Duration::from_secs(15 * 60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

impl State {
    /// A budget of `limit` requests per `window` for an endpoint: a window
    /// of 24 hours or more is the per-user 24-hour budget, else the
    /// endpoint's window.
    pub fn set_rate_limit(&mut self, key: Endpoint, limit: u32, window: Duration) {
        let which = if window >= DAY {
            Budgeted::UserDay
        } else {
            Budgeted::Window
        };
        self.set_budget(key, which, limit, window);
    }

    pub fn set_budget(&mut self, key: Endpoint, which: Budgeted, limit: u32, window: Duration) {
        self.budgets
            .insert((key, which), Budget::new(limit, window));
    }

    /// Every simulated endpoint's budgets as the tier has them.
    pub fn set_tier(&mut self, tier: Tier) {
        self.budgets.clear();
        let endpoints = [
            endpoint::CREATE_TWEET,
            endpoint::DELETE_TWEET,
            endpoint::GET_ME,
        ];
        self.credits = None;
        match tier {
            Tier::Pro | Tier::Payg => {
                self.route_windows(tier);
                for (key, limit) in endpoints.into_iter().zip([100, 50, 75]) {
                    self.set_budget(key, Budgeted::Window, limit, MIN15);
                }
                if tier == Tier::Payg {
                    self.set_budget(endpoint::CREATE_TWEET, Budgeted::AppDay, 10_000, DAY);
                    self.set_credits(DEFAULT_CREDITS_MICROS);
                }
            }
            Tier::Basic => {
                self.route_windows(tier);
                self.set_budget(endpoint::CREATE_TWEET, Budgeted::UserDay, 100, DAY);
                self.set_budget(endpoint::CREATE_TWEET, Budgeted::AppDay, 1_667, DAY);
                self.set_budget(endpoint::DELETE_TWEET, Budgeted::Window, 5, MIN15);
                self.set_budget(endpoint::GET_ME, Budgeted::UserDay, 250, DAY);
            }
            Tier::Unlimited => {
                self.route_windows(tier);
                for key in endpoints {
                    self.set_budget(key, Budgeted::Window, 1_000_000, MIN15);
                }
            }
            Tier::Free => {
                self.route_windows(tier);
                for (key, (window, day)) in
                    endpoints.into_iter().zip([(50, 17), (50, 17), (75, 25)])
                {
                    self.set_budget(key, Budgeted::Window, window, MIN15);
                    self.set_budget(key, Budgeted::UserDay, day, DAY);
                    self.set_budget(key, Budgeted::AppDay, day, DAY);
                }
            }
        }
    }

    /// Pay-per-use billing with this balance (micro-dollars; 0 or less:
    /// every billed request gets the 402).
    /// The 15-minute window of every other endpoint (X's documented
    /// per-user limits; effectively none on the unlimited tier).
    fn route_windows(&mut self, tier: Tier) {
        for route in crate::routes::ROUTES {
            let limit = if tier == Tier::Unlimited {
                1_000_000
            } else {
                route.window
            };
            self.set_budget(
                Endpoint::Api(route.operation_id),
                Budgeted::Window,
                limit,
                MIN15,
            );
        }
    }

    pub fn set_credits(&mut self, balance_micros: i64) {
        match self.credits.as_mut() {
            Some(c) => c.balance_micros = balance_micros,
            None => self.credits = Some(super::billing::Credits::new(balance_micros)),
        }
    }

    /// The balance left, with billing on.
    pub fn credits(&self) -> Option<i64> {
        self.credits.as_ref().map(|c| c.balance_micros)
    }

    /// Counts one request against the endpoint's budgets: its headers, or
    /// the 429 (with the headers) when any budget is spent.
    pub(super) fn rate_headers(&mut self, key: Endpoint) -> Result<Vec<(String, String)>, Reply> {
        let now = SystemTime::now();
        let mut mine: Vec<(Budgeted, &mut Budget)> = self
            .budgets
            .iter_mut()
            .filter(|((k, _), _)| *k == key)
            .map(|((_, w), b)| (*w, b))
            .collect();
        mine.sort_by_key(|(w, _)| *w as u8);
        for (_, b) in mine.iter_mut() {
            if now >= b.reset {
                b.remaining = b.limit;
                b.reset = now + b.window;
            }
        }
        let over = mine.iter().any(|(_, b)| b.remaining == 0);
        if !over {
            for (_, b) in mine.iter_mut() {
                b.remaining -= 1;
            }
        }
        let headers: Vec<(String, String)> = mine
            .iter()
            .flat_map(|(w, b)| {
                let p = w.prefix();
                [
                    (format!("{p}-limit"), b.limit.to_string()),
                    (format!("{p}-remaining"), b.remaining.to_string()),
                    (format!("{p}-reset"), unix(b.reset).to_string()),
                ]
            })
            .collect();
        if over {
            let mut r = Reply::problem(
                429,
                json!({"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}),
            );
            r.headers.extend(headers);
            return Err(r);
        }
        Ok(headers)
    }
}
