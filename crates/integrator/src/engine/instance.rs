//! One connection's instance of the component: its calls, each bounded by
//! an epoch deadline, and how a failed call is read.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceAny;
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::exports::wso2::twitter::connector as wit;
use crate::bindings::wso2::twitter::types::{CallCost, ConnectorError, ResponseMeta};
use crate::bindings::TwitterConnector;
use crate::egress::Allowlist;
use crate::imports::HostState;

use super::RECYCLE_ABOVE;

pub(super) fn arm_deadline(store: &mut Store<HostState>, budget: Duration) {
    let deadline = Instant::now() + budget;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
}

/// A short cause for a trap or host failure: the trap code (`wasm trap:
/// wasm `unreachable` instruction executed`, `interrupt`) or the root
/// cause's first line. Never the wasm or host backtrace that `{}` of the
/// error may carry: those go to the debug log only.
pub fn trap_cause(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => {
                "the call ran past its deadline and was interrupted".to_string()
            }
            other => format!("wasm trap: {other}"),
        };
    }
    first_line(e.root_cause())
}

/// An error's first line, at most 200 characters: what a fault shows of a
/// cause whose full text (backtraces included) is for the debug log.
fn first_line(cause: &dyn std::fmt::Display) -> String {
    let text = cause.to_string();
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(200).collect()
}

/// What failed and its root cause's first line, for an error that reached
/// anyhow with its chain (a trap's wasm backtrace, one link of that chain,
/// goes to the debug log only).
pub fn short_cause(e: &anyhow::Error) -> String {
    tracing::debug!(target: "integrator", "{e:?}");
    let root = first_line(e.root_cause());
    if root.is_empty() || root == e.to_string() {
        e.to_string()
    } else {
        format!("{e}: {root}")
    }
}

/// `invoke("init")`'s body: the WIT `connection-info`, as JSON.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitAnswer {
    connection_name: String,
    api_url: String,
    api_origin: String,
    timeout_ms: u32,
    retry_count: u32,
    max_retry_wait_ms: u32,
}

/// What an area call answered (the WIT `answer` resource, read once).
#[derive(Debug, Clone)]
pub struct AreaAnswer {
    /// X's `data`, JSON.
    pub data: String,
    pub includes: Option<String>,
    pub next_token: Option<String>,
    pub result_count: u32,
    pub meta: ResponseMeta,
}

/// A connector error, as read from the component's `error` resource: its
/// texts are the component's own (one vocabulary, rendered once).
#[derive(Debug, Clone)]
pub struct ConnectorFailure {
    /// What failed, typed.
    pub error: ConnectorError,
    /// X's own words, else the component's (`ERROR_MESSAGE`).
    pub message: String,
    /// One line a person can act on (`ERROR_DETAIL`).
    pub detail: String,
}

/// How a call failed: the connector's error, or the host or guest
/// machinery (trap, deadline).
#[derive(Debug)]
pub enum CallError {
    /// Boxed: the guest's error carries X's whole problem.
    Connector(Box<ConnectorFailure>),
    Trap(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connector(e) => f.write_str(&e.detail),
            CallError::Trap(m) => write!(f, "the connector instance failed: {m}"),
        }
    }
}

impl std::error::Error for CallError {}

/// One connection's instance. Not `Clone`: calls on one instance are serial.
pub struct ConnectorInstance {
    pub(super) store: Store<HostState>,
    pub(super) bindings: TwitterConnector,
    pub(super) allow: Allowlist,
    pub(super) timeout_cap: Arc<RwLock<Duration>>,
    /// Shared with the outbound hooks: the current call's HTTP deadline.
    pub(super) call_deadline: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
    /// What the current call may take (its pages, its upload).
    pub(super) allowance: super::allowance::Allowance,
    /// What the connection's retries add to any call (from `init`'s
    /// connection-info).
    pub(super) retries: super::allowance::Allowance,
    pub(super) policy: Option<Vec<String>>,
    /// After a trap the instance is not used again.
    pub(super) poisoned: bool,
    /// The longest timeout the component accepts (its `max-timeout-ms`).
    pub(super) max_timeout: Duration,
    /// The operator's price table, results are repriced with.
    pub(super) prices: Option<Arc<x_pricing::PriceTable>>,
}

impl ConnectorInstance {
    /// The guest's linear memory, in bytes (the most it has grown to).
    pub fn memory_bytes(&self) -> usize {
        self.store.data().limits.memory_bytes()
    }

    /// Whether to drop this instance rather than keep it for the next
    /// call: its memory grew past [`RECYCLE_ABOVE`], and it holds no
    /// rotated tokens that only it has (a failed save keeps it).
    pub fn should_recycle(&self) -> bool {
        self.memory_bytes() > RECYCLE_ABOVE && !self.store.data().unsaved_tokens
    }

    /// The connection's timeout bounds a whole call's HTTP, refresh and
    /// replay included, within this margin.
    const CALL_MARGIN: Duration = Duration::from_millis(500);

    /// The epoch backstop of one call, behind the HTTP deadline: the guest
    /// also waits for another holder's refresh (bounded by the timeout too)
    /// and for the token store.
    fn call_budget(&self) -> Duration {
        let t = *self.timeout_cap.read().unwrap_or_else(|p| p.into_inner());
        let one = (t * 2 + Duration::from_secs(5)).min(self.max_timeout * 2);
        let a = self.allowance.plus(self.retries);
        one * a.requests + a.waits
    }

    fn before_call(&mut self) -> Result<(), CallError> {
        if self.poisoned {
            return Err(CallError::Trap(
                "the instance trapped earlier and was retired".into(),
            ));
        }
        let budget = self.call_budget();
        arm_deadline(&mut self.store, budget);
        let t = *self.timeout_cap.read().unwrap_or_else(|p| p.into_inner());
        let a = self.allowance.plus(self.retries);
        let allowed = t * a.requests + a.waits;
        *self.call_deadline.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(tokio::time::Instant::now() + allowed + Self::CALL_MARGIN);
        Ok(())
    }

    async fn after<T>(
        &mut self,
        r: wasmtime::Result<Result<T, ResourceAny>>,
    ) -> Result<T, CallError> {
        let failed = match r {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(handle)) => self.read_failure(handle).await,
            Err(trap) => Err(trap),
        };
        match failed {
            Ok(failure) => Err(CallError::Connector(Box::new(failure))),
            Err(trap) => {
                self.poisoned = true;
                tracing::debug!(target: "integrator::runtime", "the connector instance failed: {trap:?}");
                Err(CallError::Trap(trap_cause(&trap)))
            }
        }
    }

    /// One call into the component: armed with its deadline, its failure
    /// read from the `error` resource, a trap retiring the instance.
    async fn call<T>(
        &mut self,
        f: impl AsyncFnOnce(
            &mut Store<HostState>,
            &wit::Guest,
        ) -> wasmtime::Result<Result<T, ResourceAny>>,
    ) -> Result<T, CallError> {
        self.before_call()?;
        let r = f(&mut self.store, self.bindings.wso2_twitter_connector()).await;
        self.after(r).await
    }

    /// A call of one of the typed area interfaces (`tweets`, `users`,
    /// `lists`, `direct-messages`, `media`): `f` gets the store and the
    /// world's bindings; its `answer` is read and dropped here.
    /// `allowance` is what the call may take (a media upload:
    /// [`super::allowance::of_upload`]).
    pub async fn call_area(
        &mut self,
        allowance: super::allowance::Allowance,
        f: impl AsyncFnOnce(
            &mut Store<HostState>,
            &TwitterConnector,
        ) -> wasmtime::Result<Result<ResourceAny, ResourceAny>>,
    ) -> Result<AreaAnswer, CallError> {
        self.allowance = allowance;
        let r = match self.before_call() {
            Ok(()) => Ok(f(&mut self.store, &self.bindings).await),
            Err(e) => Err(e),
        };
        self.allowance = super::allowance::Allowance::ONE;
        let handle = self.after(r?).await?;
        self.read_answer(handle).await.map_err(|e| {
            self.poisoned = true;
            CallError::Trap(format!("reading the connector's answer failed: {e}"))
        })
    }

    async fn read_answer(&mut self, handle: ResourceAny) -> wasmtime::Result<AreaAnswer> {
        let a = self.bindings.wso2_twitter_connector().answer();
        let answer = AreaAnswer {
            data: a.call_data(&mut self.store, handle).await?,
            includes: a.call_includes(&mut self.store, handle).await?,
            next_token: a.call_next_token(&mut self.store, handle).await?,
            result_count: a.call_result_count(&mut self.store, handle).await?,
            meta: a.call_meta(&mut self.store, handle).await?,
        };
        handle.resource_drop_async(&mut self.store).await?;
        Ok(answer)
    }

    /// Reads a failed call's `error` resource, then drops it.
    async fn read_failure(&mut self, handle: ResourceAny) -> wasmtime::Result<ConnectorFailure> {
        let e = self.bindings.wso2_twitter_connector().error();
        let message = e.call_message(&mut self.store, handle).await?;
        let detail = e.call_detail(&mut self.store, handle).await?;
        let error = e.call_details(&mut self.store, handle).await?;
        handle.resource_drop_async(&mut self.store).await?;
        Ok(ConnectorFailure {
            error,
            message,
            detail,
        })
    }

    /// Before a connection is (re)initialized: nothing reachable (`init`
    /// sends no request).
    fn disarm(&mut self) {
        self.allow.clear();
    }

    /// Arms the host side of a connection (allowlist, timeout cap) from
    /// what the component validated, within the operator's policy.
    fn arm(&mut self, info: &wit::ConnectionInfo) {
        self.store.data_mut().outbound.connection = Some(Arc::from(info.connection_name.as_str()));
        let permitted = self
            .policy
            .as_ref()
            .is_none_or(|policy| crate::egress::policy_permits(policy, &info.api_url));
        if permitted {
            self.allow.allow_url(&info.api_url);
        } else {
            tracing::warn!(target: "integrator::guard", "apiUrl {} is outside the allowed hosts: its requests will be denied", info.api_url);
        }
        let t = Duration::from_millis(u64::from(info.timeout_ms.max(1)));
        *self.timeout_cap.write().unwrap_or_else(|p| p.into_inner()) = t.min(self.max_timeout);
        self.retries = super::allowance::of_retries(info.retry_count, info.max_retry_wait_ms);
    }

    pub async fn init(
        &mut self,
        config: &wit::ConnectionConfig,
    ) -> Result<wit::ConnectionInfo, CallError> {
        self.disarm();
        let info = self
            .call(async |store, guest| guest.call_init(store, config).await)
            .await?;
        self.arm(&info);
        Ok(info)
    }

    /// Starts an OAuth 2.0 authorization for `config`'s connection.
    pub async fn begin_authorization(
        &mut self,
        config: &wit::ConnectionConfig,
        params: &wit::AuthorizationParams,
    ) -> Result<wit::AuthorizationRequest, CallError> {
        self.disarm();
        let request = self
            .call(async |store, guest| guest.call_begin_authorization(store, config, params).await)
            .await?;
        self.arm(&request.connection);
        Ok(request)
    }

    /// Finishes it with the callback's code and state; the connection is ready after.
    pub async fn complete_authorization(
        &mut self,
        code: &str,
        state: &str,
    ) -> Result<wit::ConnectionInfo, CallError> {
        self.call(async |store, guest| guest.call_complete_authorization(store, code, state).await)
            .await
    }

    /// Revokes the initialized connection's refresh token at X.
    pub async fn revoke_authorization(&mut self) -> Result<(), CallError> {
        self.call(async |store, guest| guest.call_revoke_authorization(store).await)
            .await
    }

    pub async fn create_tweet(
        &mut self,
        request: &wit::CreateTweetRequest,
    ) -> Result<wit::CreateTweetResult, CallError> {
        let mut r = self
            .call(async |store, guest| guest.call_create_tweet(store, request).await)
            .await?;
        self.reprice(&mut r.meta);
        Ok(r)
    }

    fn reprice(&self, meta: &mut ResponseMeta) {
        if let Some(table) = &self.prices {
            crate::costs::reprice(&mut meta.cost, table);
        }
    }

    pub async fn delete_tweet(&mut self, id: &str) -> Result<wit::DeleteTweetResult, CallError> {
        let mut r = self
            .call(async |store, guest| guest.call_delete_tweet(store, id).await)
            .await?;
        self.reprice(&mut r.meta);
        Ok(r)
    }

    pub async fn get_me(
        &mut self,
        request: &wit::GetMeRequest,
    ) -> Result<wit::GetMeResult, CallError> {
        let mut r = self
            .call(async |store, guest| guest.call_get_me(store, request).await)
            .await?;
        self.reprice(&mut r.meta);
        Ok(r)
    }

    /// What `invoke` with these arguments would cost (nothing is sent),
    /// at the operator's prices when the runtime has them.
    pub async fn estimate(
        &mut self,
        operation: &str,
        parameters: &[(String, String)],
    ) -> Result<CallCost, CallError> {
        let mut cost = self
            .call(async |store, guest| guest.call_estimate(store, operation, parameters).await)
            .await?;
        if let Some(table) = &self.prices {
            crate::costs::reprice(&mut cost, table);
        }
        Ok(cost)
    }

    /// The generic entry point: a WSO2 operation name and its parameters.
    pub async fn invoke(
        &mut self,
        operation: &str,
        parameters: &[(String, String)],
    ) -> Result<ResponseMeta, CallError> {
        let init = operation == "init";
        if init {
            self.disarm();
        }
        self.allowance = super::allowance::of(operation, parameters);
        let meta = self
            .call(async |store, guest| guest.call_invoke(store, operation, parameters).await)
            .await;
        self.allowance = super::allowance::Allowance::ONE;
        let mut meta = meta?;
        if init {
            // `init` answers with the validated connection-info as JSON.
            match serde_json::from_str::<InitAnswer>(&meta.body) {
                Ok(a) => self.arm(&wit::ConnectionInfo {
                    connection_name: a.connection_name,
                    api_url: a.api_url,
                    api_origin: a.api_origin,
                    timeout_ms: a.timeout_ms,
                    retry_count: a.retry_count,
                    max_retry_wait_ms: a.max_retry_wait_ms,
                }),
                Err(e) => {
                    return Err(CallError::Trap(format!(
                        "the connector's init answer is not its connection-info: {e}"
                    )))
                }
            }
        }
        self.reprice(&mut meta);
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(module (func (export "f") unreachable))`, as bytes (no `wat` feature).
    const UNREACHABLE: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: func () -> ()
        0x03, 0x02, 0x01, 0x00, // function 0 has type 0
        0x07, 0x05, 0x01, 0x01, b'f', 0x00, 0x00, // export "f"
        0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b, // body: unreachable, end
    ];

    #[test]
    fn a_trap_answers_with_its_cause_not_a_backtrace() {
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, UNREACHABLE).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let f = instance.get_typed_func::<(), ()>(&mut store, "f").unwrap();
        let err = f.call(&mut store, ()).unwrap_err();
        let full = format!("{err:?}");
        assert!(
            full.contains("backtrace"),
            "the raw error carries one: {full}"
        );
        let cause = trap_cause(&err);
        assert!(cause.contains("unreachable"), "{cause}");
        assert!(
            !cause.contains("backtrace") && !cause.contains('\n'),
            "{cause}"
        );
    }
}
