//! The WIT side: `wasi:keyvalue` as the [`CasStore`], and the exported
//! `token-store`.

use std::cell::Cell;

use crate::cas_store::{self, CasStore, FamilyKey, KvStore, StoreError, TokenSet};

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "token-store-keyvalue",
        generate_all,
    });
}

use bindings::exports::wso2::twitter::token_store as wit;
use bindings::wasi::keyvalue::{atomics, store};

/// The store `X_KEYVALUE_STORE` names, else `default` (Spin's default
/// store's name).
const DEFAULT_STORE: &str = "default";

thread_local! {
    static WARNED: Cell<bool> = const { Cell::new(false) };
}

struct WasiKeyValue(store::Bucket);

fn describe(e: store::Error) -> String {
    match e {
        store::Error::NoSuchStore => {
            "no such store (check X_KEYVALUE_STORE and the host's grant)".into()
        }
        store::Error::AccessDenied => "access denied".into(),
        store::Error::Other(m) => m,
    }
}

impl CasStore for WasiKeyValue {
    type Ticket = atomics::Cas;

    fn current(&self, key: &str) -> Result<(Option<Vec<u8>>, atomics::Cas), String> {
        let cas = atomics::Cas::new(&self.0, key).map_err(describe)?;
        let value = cas.current().map_err(describe)?;
        Ok((value, cas))
    }

    fn swap(&self, cas: atomics::Cas, value: Vec<u8>) -> Result<bool, String> {
        match atomics::swap(cas, &value) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(describe(e)),
        }
    }
}

fn kv() -> Result<KvStore<WasiKeyValue>, StoreError> {
    let name = std::env::var("X_KEYVALUE_STORE").unwrap_or_else(|_| DEFAULT_STORE.into());
    store::open(&name)
        .map(|b| KvStore::new(WasiKeyValue(b)))
        .map_err(|e| StoreError::Unavailable(format!("key-value store `{name}`: {}", describe(e))))
}

fn key(k: wit::FamilyKey) -> FamilyKey {
    FamilyKey {
        connection: k.connection,
        client_id: k.client_id,
        api_origin: k.api_origin,
    }
}

fn to_wit(t: TokenSet) -> wit::TokenSet {
    wit::TokenSet {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        expires_at_ms: t.expires_at_ms,
        obtained_at_ms: t.obtained_at_ms,
        origin: t.origin,
    }
}

fn from_wit(t: wit::TokenSet) -> TokenSet {
    TokenSet {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        expires_at_ms: t.expires_at_ms,
        obtained_at_ms: t.obtained_at_ms,
        origin: t.origin,
    }
}

fn wit_error(e: StoreError) -> wit::StoreError {
    match e {
        StoreError::Conflict(v) => wit::StoreError::Conflict(v),
        StoreError::Unavailable(m) => wit::StoreError::Unavailable(m),
    }
}

struct Provider;

bindings::export!(Provider with_types_in bindings);

impl wit::Guest for Provider {
    fn load(family: wit::FamilyKey) -> Result<Option<wit::VersionedTokens>, wit::StoreError> {
        let got = kv().and_then(|s| s.load(&key(family))).map_err(wit_error)?;
        Ok(got.map(|(version, tokens)| wit::VersionedTokens {
            version,
            tokens: to_wit(tokens),
        }))
    }

    fn save(
        family: wit::FamilyKey,
        expected_version: u64,
        tokens: wit::TokenSet,
    ) -> Result<u64, wit::StoreError> {
        kv().and_then(|s| s.save(&key(family), expected_version, &from_wit(tokens)))
            .map_err(wit_error)
    }

    fn acquire_lease(family: wit::FamilyKey, ttl_ms: u32) -> Result<Option<u64>, wit::StoreError> {
        if !WARNED.with(|w| w.replace(true)) {
            let declared = std::env::var("X_KEYVALUE_CONSISTENCY").ok();
            if let Some(warning) = cas_store::consistency_warning(declared.as_deref()) {
                eprintln!("{warning}");
            }
        }
        kv().and_then(|s| s.acquire_lease(&key(family), u64::from(ttl_ms)))
            .map_err(wit_error)
    }

    fn release_lease(family: wit::FamilyKey, lease: u64) {
        // The WIT gives release no error: a lease not given back lapses.
        let _ = kv().and_then(|s| s.release_lease(&key(family), lease));
    }
}
