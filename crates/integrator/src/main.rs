//! `integrator`: runs WSO2-style mediation flows with the X connector.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use integrator::descriptor;
use integrator::flow::exec::Redactor;
use integrator::flow::{self, Integrator, Message, Sandbox};
use integrator::store_cli;
use integrator::{Runtime, RuntimeOptions};

#[derive(Parser)]
#[command(
    name = "integrator",
    version,
    about = "Runs WSO2 Micro Integrator-style mediation flows with the X (Twitter) connector component"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a flow's sequence once and print the final payload (JSON).
    ///
    /// Exits 1 on an uncaught fault, 2 when the flow or connector is malformed.
    Run {
        /// Flow file(s): a <sequence>, or <definitions> with local entries and sequences.
        #[arg(required = true)]
        flows: Vec<PathBuf>,
        /// The sequence to run (default: the first one defined).
        #[arg(long)]
        sequence: Option<String>,
        /// Set a variable before the run: NAME=VALUE (VALUE parsed as JSON when it is JSON).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Serve the <api> resources of the flow file(s) over HTTP until SIGTERM or Ctrl-C.
    Serve {
        #[arg(required = true)]
        flows: Vec<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8290")]
        listen: SocketAddr,
        #[command(flatten)]
        common: Common,
    },
    /// Check flow file(s) against the connector without running anything.
    Check {
        #[arg(required = true)]
        flows: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// The stored tokens of each connection (never the tokens themselves).
    Tokens {
        #[command(subcommand)]
        action: TokensAction,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum TokensAction {
    /// Per connection: backend, family age, access-token expiry, last refresh,
    /// refresh count, and whether a refresh lease is held.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Forget the stored tokens of a connection (every client id and API).
    /// The next run starts again from the tokens in the flow's config.
    Forget {
        /// The connection name (`connectionName`, or the local entry's key).
        connection: String,
    },
}

#[derive(Args)]
struct StoreArgs {
    /// Where connections keep their tokens: an SQLite file (default
    /// $XDG_STATE_HOME/wso2-twitter-integrator/tokens.db), `redis://HOST:PORT/DB`
    /// for several machines, or `memory`. Token values are sealed at rest when
    /// INTEGRATOR_STORE_KEY (32 bytes, hex or base64) or a key file is set.
    #[arg(
        long = "token-store",
        env = "INTEGRATOR_TOKEN_STORE",
        value_name = "PATH|URL"
    )]
    token_store: Option<String>,
    /// A file holding the store key (instead of INTEGRATOR_STORE_KEY).
    #[arg(
        long = "store-key-file",
        env = "INTEGRATOR_STORE_KEY_FILE",
        value_name = "PATH"
    )]
    store_key_file: Option<PathBuf>,
}

#[derive(Args)]
struct Common {
    /// The connector: a twitter-connector-<version>.zip, or a connector.xml (or its
    /// directory). Default: dist/twitter-connector-*.zip or ./connector.xml, searched upwards.
    #[arg(long, env = "INTEGRATOR_CONNECTOR")]
    connector: Option<PathBuf>,
    /// Run against the built-in X API simulator: no X account needed. Every
    /// connection is pointed at it, with tokens of a ready test account.
    #[arg(long)]
    sandbox: bool,
    /// Only let connections reach these hosts (`api.x.com`, `127.0.0.1:8080`) or
    /// origins (`https://api.x.com`); others are denied and logged. Repeatable.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// Verbose: tracing output (tokens are never printed). -vv for more.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(flatten)]
    store: StoreArgs,
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "warn,integrator=debug,x_sim=info",
        _ => "debug,wasmtime=info,cranelift=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("INTEGRATOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .init();
}

/// A failure before anything runs (exit 2).
struct Setup(anyhow::Error);

async fn prepare(common: &Common, flows: &[PathBuf]) -> Result<Integrator, Setup> {
    let path = match &common.connector {
        Some(p) => p.clone(),
        None => descriptor::locate_default().ok_or_else(|| {
            Setup(anyhow::anyhow!(
                "no connector found: run ./build.sh, or pass --connector PATH"
            ))
        })?,
    };
    let package = descriptor::load(&path).map_err(Setup)?;
    // The sandbox never touches the user's real store.
    let token_store: Arc<dyn token_store::TokenStore> = if common.sandbox {
        Arc::new(token_store::MemoryStore::new())
    } else {
        store_cli::open(
            common.store.token_store.as_deref(),
            common.store.store_key_file.as_deref(),
        )
        .map_err(Setup)?
    };
    tracing::info!(target: "integrator::tokens", backend = %token_store.describe(), "token store");
    let redactor = Redactor::default();
    let seen = redactor.clone();
    let options = RuntimeOptions {
        allowed_origins: (!common.allow_hosts.is_empty()).then(|| common.allow_hosts.clone()),
        token_store,
        on_token: Some(Arc::new(move |t: &str| seen.add(t))),
        ..RuntimeOptions::default()
    };
    let runtime = Runtime::new(options).map_err(Setup)?;
    let loaded = runtime
        .load_bytes(&package.wasm)
        .with_context(|| format!("loading the component of {}", path.display()))
        .map_err(Setup)?;
    tracing::info!(target: "integrator", kind = ?loaded.load_kind, ms = loaded.load_time.as_millis() as u64, "connector ready");
    descriptor::check_against(&package.descriptor, &loaded.exports).map_err(Setup)?;
    let files: Vec<&Path> = flows.iter().map(PathBuf::as_path).collect();
    let project = flow::load_project(&files, &package.descriptor).map_err(|e| Setup(e.into()))?;
    let sandbox = if common.sandbox {
        Some(
            Sandbox::start()
                .await
                .context("starting the sandbox")
                .map_err(Setup)?,
        )
    } else {
        None
    };
    Ok(Integrator::new(
        runtime,
        loaded,
        package.descriptor,
        project,
        sandbox,
        redactor,
    ))
}

fn parse_var(s: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let (k, v) = s.split_once('=').context("--var takes NAME=VALUE")?;
    let value =
        serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
    Ok((k.to_string(), value))
}

async fn shutdown_signal() {
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

async fn run(cli: Cli) -> ExitCode {
    let setup_failed = |e: Setup| {
        eprintln!("error: {:#}", e.0);
        ExitCode::from(2)
    };
    match cli.command {
        Command::Tokens { action, store } => {
            let opened = match store_cli::open(
                store.token_store.as_deref(),
                store.store_key_file.as_deref(),
            ) {
                Ok(s) => s,
                Err(e) => return setup_failed(Setup(e)),
            };
            let done = match action {
                TokensAction::List { json: true } => store_cli::list_json(opened.as_ref())
                    .map(|v| println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())),
                TokensAction::List { json: false } => {
                    store_cli::list_table(opened.as_ref()).map(|t| print!("{t}"))
                }
                TokensAction::Forget { connection } => {
                    store_cli::forget(opened.as_ref(), &connection).map(|n| {
                        eprintln!(
                            "forgot {n} token famil{} of `{connection}` in {}",
                            if n == 1 { "y" } else { "ies" },
                            opened.describe()
                        )
                    })
                }
            };
            match done {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Check { flows, common } => match prepare(&common, &flows).await {
            Ok(i) => {
                eprintln!(
                    "ok: {} sequence(s), {} api(s), {} local entr(y/ies)",
                    i.project.sequences.len(),
                    i.project.apis.len(),
                    i.project.local_entries.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => setup_failed(e),
        },
        Command::Run {
            flows,
            sequence,
            vars,
            common,
        } => {
            let integrator = match prepare(&common, &flows).await {
                Ok(i) => i,
                Err(e) => return setup_failed(e),
            };
            let mut msg = Message::default();
            for v in &vars {
                match parse_var(v) {
                    Ok((k, val)) => {
                        msg.vars.insert(k, val);
                    }
                    Err(e) => return setup_failed(Setup(e)),
                }
            }
            let Some(name) = sequence.or_else(|| integrator.project.main.clone()) else {
                return setup_failed(Setup(anyhow::anyhow!(
                    "the flow defines no <sequence> to run"
                )));
            };
            match integrator.run_sequence(&name, &mut msg).await {
                Ok(()) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&msg.payload).unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Err(fault) => {
                    eprintln!(
                        "error: uncaught fault: {}",
                        integrator.redactor.redact(&fault.to_string())
                    );
                    ExitCode::from(1)
                }
            }
        }
        Command::Serve {
            flows,
            listen,
            common,
        } => {
            let integrator = match prepare(&common, &flows).await {
                Ok(i) => Arc::new(i),
                Err(e) => return setup_failed(e),
            };
            if integrator.project.apis.is_empty() {
                return setup_failed(Setup(anyhow::anyhow!(
                    "the flow files define no <api> to serve"
                )));
            }
            let listener = match tokio::net::TcpListener::bind(listen).await {
                Ok(l) => l,
                Err(e) => {
                    return setup_failed(Setup(anyhow::anyhow!("cannot listen on {listen}: {e}")))
                }
            };
            let addr = listener.local_addr().unwrap_or(listen);
            for route in flow::server::describe_routes(&integrator, addr) {
                eprintln!("serving {route}");
            }
            eprintln!("integrator: listening on http://{addr}");
            match flow::server::serve(integrator, listener, shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = match &cli.command {
        Command::Run { common, .. }
        | Command::Serve { common, .. }
        | Command::Check { common, .. } => common.verbose,
        Command::Tokens { .. } => 0,
    };
    init_tracing(verbose);
    // `run` executes one flow: a single-threaded runtime keeps the
    // component's wasi:http tasks on one thread (about twice as fast per call,
    // see the benchmark). `serve` takes requests on all cores.
    let runtime = match &cli.command {
        Command::Serve { .. } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let rt = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(run(cli))
}
