//! `run`, `serve` and `check`: loading the connector and the flows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::exit::Setup;
use crate::store;
use anyhow::Context;
use integrator::connections::ConnectionRedirect;
use integrator::descriptor;
use integrator::flow::exec::Redactor;
use integrator::flow::{self, Integrator};
use integrator::{Runtime, RuntimeOptions};

use crate::Common;

/// The connector package `--connector` names, else the default one found.
pub fn connector_package(given: Option<&Path>) -> Result<(PathBuf, descriptor::Package), Setup> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => descriptor::locate_default().ok_or_else(|| {
            Setup::config(anyhow::anyhow!(
                "no connector found: run ./build.sh, or pass --connector PATH"
            ))
        })?,
    };
    let package = descriptor::load(&path).map_err(Setup::config)?;
    Ok((path, package))
}

/// The built-in simulator every connection goes to, with `--sandbox`.
#[cfg(feature = "sandbox")]
async fn sandbox(common: &Common) -> Result<Option<Box<dyn ConnectionRedirect>>, Setup> {
    let Some(tier) = common.sandbox else {
        return Ok(None);
    };
    let sandbox = integrator::connections::sandbox::Sandbox::start(tier, common.sandbox_credits)
        .await
        .context("starting the sandbox")
        .map_err(Setup::config)?;
    sandbox.sim.set_enterprise(common.sandbox_enterprise);
    Ok(Some(Box::new(sandbox)))
}

#[cfg(not(feature = "sandbox"))]
async fn sandbox(_: &Common) -> Result<Option<Box<dyn ConnectionRedirect>>, Setup> {
    Ok(None)
}

/// `integrator compile`: the connector compiled into the code cache, or
/// found there already; what `run` and `serve` load first.
pub fn compile(connector: Option<&Path>) -> Result<(), Setup> {
    let (path, package) = connector_package(connector)?;
    let options = RuntimeOptions {
        token_store: Arc::new(token_store::MemoryStore::new()),
        ..RuntimeOptions::default()
    };
    let Some(cache_dir) = options.cache_dir.clone() else {
        return Err(Setup::config(anyhow::anyhow!(
            "no cache directory: set XDG_CACHE_HOME or HOME"
        )));
    };
    let runtime = Runtime::new(options).map_err(Setup::config)?;
    let loaded = runtime
        .load_bytes(&package.wasm)
        .with_context(|| format!("loading the component of {}", path.display()))
        .map_err(Setup::config)?;
    descriptor::check_against(&package.descriptor, &loaded.exports).map_err(Setup::config)?;
    // What `run` will do next: load it from the cache. A cache that could
    // not be written (logged with -v) fails here, not on the first run.
    let again = runtime.load_bytes(&package.wasm).map_err(Setup::config)?;
    if again.load_kind != integrator::LoadKind::Cached {
        return Err(Setup::config(anyhow::anyhow!(
            "compiled, but the code cache in {} did not keep it (-v says why)",
            cache_dir.display()
        )));
    }
    let done = match loaded.load_kind {
        integrator::LoadKind::Compiled => "compiled",
        integrator::LoadKind::Cached => "already compiled",
    };
    eprintln!(
        "{done}: {} ({} ms) in {}",
        path.display(),
        loaded.load_time.as_millis(),
        cache_dir.display()
    );
    Ok(())
}

pub async fn prepare(common: &Common, flows: &[PathBuf]) -> Result<Integrator, Setup> {
    let (path, package) = connector_package(common.connector.as_deref())?;
    // The sandbox never touches the user's real store.
    let token_store: Arc<dyn token_store::TokenStore> = if common.sandboxed() {
        Arc::new(token_store::MemoryStore::new())
    } else {
        store::open(
            common.store.token_store.as_deref(),
            common.store.store_key_file.as_deref(),
        )
        .map_err(Setup::store)?
    };
    tracing::info!(target: "integrator::tokens", backend = %token_store.describe(), "token store");
    let ledger: Arc<dyn spend_ledger::SpendLedger> = if common.sandboxed() {
        Arc::new(spend_ledger::MemoryLedger::new())
    } else {
        store::open_ledger(common.store.token_store.as_deref()).map_err(Setup::store)?
    };
    let queues: Arc<dyn message_store::MessageStore> = if common.sandboxed() {
        Arc::new(message_store::MemoryQueue::new())
    } else {
        store::open_queues(common.store.token_store.as_deref()).map_err(Setup::store)?
    };
    let prices = match &common.prices {
        Some(path) => Some(Arc::new(
            integrator::costs::load_table(path).map_err(Setup::config)?,
        )),
        None => None,
    };
    let redactor = Redactor::default();
    let seen = redactor.clone();
    let options = RuntimeOptions {
        prices,
        media_dir: common.media_dir.clone(),
        allowed_origins: (!common.allow_hosts.is_empty()).then(|| common.allow_hosts.clone()),
        token_store,
        on_token: Some(Arc::new(move |t: &str| seen.add(t))),
        ..RuntimeOptions::default()
    };
    let runtime = Runtime::new(options).map_err(Setup::config)?;
    let loaded = runtime
        .load_bytes(&package.wasm)
        .with_context(|| format!("loading the component of {}", path.display()))
        .map_err(Setup::config)?;
    tracing::info!(target: "integrator", kind = ?loaded.load_kind, ms = loaded.load_time.as_millis() as u64, "connector ready");
    descriptor::check_against(&package.descriptor, &loaded.exports).map_err(Setup::config)?;
    let files: Vec<&Path> = flows.iter().map(PathBuf::as_path).collect();
    let project = flow::load_project(&files, &package.descriptor).map_err(Setup::usage)?;
    let redirect = sandbox(common).await?;
    Ok(Integrator::new(
        runtime,
        loaded,
        package.descriptor,
        project,
        redirect,
        redactor,
    )
    .with_ledger(ledger)
    .with_queues(queues))
}

/// What `check` warns about: each variable the flows read where the run
/// would fail because it is not set here.
pub fn unset_variables(project: &integrator::flow::Project, sandboxed: bool) -> Vec<String> {
    use integrator::flow::parse::WhenUnset;
    let mut out = Vec::new();
    for u in &project.environment {
        let fails = match u.when_unset {
            WhenUnset::Fine | WhenUnset::LeftOut => false,
            WhenUnset::FailsUnlessSandbox => !sandboxed,
            WhenUnset::Fails => true,
        };
        if fails && std::env::var_os(&u.reference.name).is_none() {
            out.push(format!(
                "{}: {} is not set here: a run fails at this point",
                u.pos,
                u.reference.describe()
            ));
        }
    }
    out
}

pub fn parse_var(s: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let (k, v) = s.split_once('=').context("--var takes NAME=VALUE")?;
    let value =
        serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
    Ok((k.to_string(), value))
}

pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("integrator: shutting down (letting requests in flight finish)");
}
