//! `integrator`: runs WSO2-style mediation flows with the X connector, and
//! manages its connections' tokens. One module per command group.

mod auth;
mod exit;
mod flows;
mod login;
mod queue;
mod store;
mod telemetry;
mod tokens;
mod usage;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use integrator::flow::Message;

use exit::{setup_failed, Exit, Setup, FAULT_HANDLED};
use flows::{parse_var, prepare, shutdown_signal};

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
        limits: LimitArgs,
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
    /// Compile the connector's component ahead into the code cache, so the
    /// first run does not wait for it (./build.sh does this).
    Compile {
        /// The connector (as for `run`).
        #[arg(long, env = "INTEGRATOR_CONNECTOR")]
        connector: Option<PathBuf>,
        /// Verbose: tracing output. -vv for more.
        #[arg(short, long, action = clap::ArgAction::Count)]
        verbose: u8,
    },
    /// Get a connection's first tokens (OAuth 2.0 with PKCE), or revoke them.
    Auth {
        #[command(subcommand)]
        action: AuthAction,
        #[command(flatten)]
        runtime: AuthArgs,
    },
    /// What each connection spent at X's pay-per-use prices, per UTC day
    /// and operation (from the store beside the tokens).
    Usage {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Only this connection.
        #[arg(long, value_name = "NAME")]
        connection: Option<String>,
        /// The last N UTC days, today included.
        #[arg(long, value_name = "N", default_value_t = 30)]
        days: u32,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The stored tokens of each connection (never the tokens themselves).
    Tokens {
        #[command(subcommand)]
        action: TokensAction,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The message stores' queues: what waits, what is dead, and what to do
    /// about it.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum QueueAction {
    /// The messages, oldest first: id, store, state, attempts, when due,
    /// the last error.
    List {
        /// Only this message store's.
        #[arg(long)]
        store: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One message, with what was stored (JSON).
    Show { id: String },
    /// A dead letter back into its store, at the end.
    Retry { id: String },
    /// Removes a message (not one being delivered).
    Drop { id: String },
    /// Stops a store's processor taking messages (they wait, kept).
    Pause { store: String },
    /// Lets it go on.
    Resume { store: String },
}

/// `serve`'s limits toward its clients.
#[derive(Args)]
struct LimitArgs {
    /// Seconds a request's head may take to arrive, from its first byte
    /// (the connection is closed after).
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    header_timeout: f64,
    /// Seconds a request's body may take to arrive (408 after).
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    body_timeout: f64,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    idle_timeout: f64,
    /// Client connections open at once (503 beyond).
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// KiB of one request body (413 beyond).
    #[arg(long, default_value_t = 1024, value_name = "KIB")]
    max_request_body: usize,
    /// MiB of request bodies held in memory at once, all requests together (503 beyond).
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    max_buffered: usize,
    /// Answer GET /metrics with Prometheus metrics (calls, latency, token
    /// requests, store errors, rate limits, spend, pools). /health/live and
    /// /health/ready are always answered.
    #[arg(long)]
    metrics: bool,
}

impl LimitArgs {
    fn limits(&self) -> Result<integrator::serve::listener::ServerLimits, Setup> {
        let secs = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 3600.0 {
                Ok(std::time::Duration::from_secs_f64(v))
            } else {
                Err(Setup::usage(anyhow::anyhow!(
                    "--{name} must be more than 0 and at most 3600 seconds"
                )))
            }
        };
        if self.max_connections == 0 || self.max_request_body == 0 || self.max_buffered == 0 {
            return Err(Setup::usage(anyhow::anyhow!(
                "--max-connections, --max-request-body and --max-buffered must be at least 1"
            )));
        }
        Ok(integrator::serve::listener::ServerLimits {
            header_timeout: secs("header-timeout", self.header_timeout)?,
            body_timeout: secs("body-timeout", self.body_timeout)?,
            idle_timeout: secs("idle-timeout", self.idle_timeout)?,
            max_connections: self.max_connections,
            max_request_body: self.max_request_body.saturating_mul(1024),
            max_buffered_bytes: self
                .max_buffered
                .saturating_mul(1 << 20)
                .min(u32::MAX as usize),
            metrics: self.metrics,
        })
    }
}

#[derive(Subcommand)]
enum AuthAction {
    /// Authorize the app for an X account in a browser and store the tokens:
    /// prints the callback URL to register and the consent URL to open, then
    /// waits for X to send the browser back.
    Login {
        /// The connection name the flows use (`connectionName`, or the local entry's key).
        #[arg(long)]
        connection: String,
        /// The app's OAuth 2.0 client id.
        #[arg(long, env = "X_CLIENT_ID")]
        client_id: String,
        /// The environment variable holding the client secret (confidential clients).
        #[arg(long, value_name = "VAR")]
        client_secret_env: Option<String>,
        /// Scopes, space- or comma-separated; `offline.access` is always added.
        #[arg(long, default_value = "tweet.read tweet.write users.read")]
        scopes: String,
        /// The loopback port of the callback (`http://127.0.0.1:PORT/callback`).
        #[arg(long, default_value_t = 8765)]
        port: u16,
        /// The API (token endpoint) base URL.
        #[arg(long, default_value = "https://api.x.com")]
        api_url: String,
        /// X's consent page.
        #[arg(long, default_value = "https://x.com/i/oauth2/authorize")]
        authorize_url: String,
        /// Do not try to open a browser; only print the URL.
        #[arg(long)]
        no_browser: bool,
        /// Seconds to wait for the authorization.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Revoke a connection's refresh token at X and forget its stored tokens.
    Revoke {
        #[arg(long)]
        connection: String,
        /// Which app's family, when the connection has several.
        #[arg(long)]
        client_id: Option<String>,
        /// Which API's family, when the connection has several.
        #[arg(long)]
        api_url: Option<String>,
        /// The environment variable holding the client secret (confidential clients).
        #[arg(long, value_name = "VAR")]
        client_secret_env: Option<String>,
    },
}

#[derive(Args)]
struct AuthArgs {
    /// The connector (as for `run`).
    #[arg(long, env = "INTEGRATOR_CONNECTOR", global = true)]
    connector: Option<PathBuf>,
    /// Verbose: tracing output (no code, verifier or token is ever printed). -vv for more.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(flatten)]
    store: StoreArgs,
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
        value_name = "PATH|URL",
        global = true
    )]
    token_store: Option<String>,
    /// A file holding the store key (instead of INTEGRATOR_STORE_KEY).
    #[arg(
        long = "store-key-file",
        env = "INTEGRATOR_STORE_KEY_FILE",
        value_name = "PATH",
        global = true
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
    /// `--sandbox` or `--sandbox=payg` bills calls at X's pay-per-use
    /// prices from a credit balance (`--sandbox-credits`) and answers 402
    /// when it is gone; `--sandbox=free`, `=basic` and `=pro` give the
    /// legacy tiers' rate limits and 24-hour caps instead.
    #[cfg(feature = "sandbox")]
    #[arg(
        long,
        value_name = "TIER",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "payg"
    )]
    sandbox: Option<integrator::connections::sandbox::Tier>,
    /// The pay-per-use sandbox's credit balance in USD (default 5.00).
    #[cfg(feature = "sandbox")]
    #[arg(long, value_name = "USD", requires = "sandbox", value_parser = parse_credits)]
    sandbox_credits: Option<i64>,
    /// The sandbox as an Enterprise app: X's 2026 rule on programmatic
    /// replies and the removal of quote posts from self-serve plans do not
    /// apply (they do by default, as for any other app).
    #[cfg(feature = "sandbox")]
    #[arg(long, requires = "sandbox")]
    sandbox_enterprise: bool,
    /// X's pay-per-use prices to report call costs at: a JSON file in the
    /// format of the table shipped with the release (docs/costs.md). Read
    /// and checked at start-up. Default: the shipped table.
    #[arg(long, value_name = "FILE", env = "INTEGRATOR_PRICES")]
    prices: Option<PathBuf>,
    /// The one directory uploadMedia's `media_file` may read a file from
    /// (a name relative to it; links out of it are refused). Default:
    /// none, media come as base64 only.
    #[arg(long, value_name = "DIR", env = "INTEGRATOR_MEDIA_DIR")]
    media_dir: Option<PathBuf>,
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

/// `--sandbox-credits`: USD, as micro-dollars.
#[cfg(feature = "sandbox")]
fn parse_credits(text: &str) -> Result<i64, String> {
    x_pricing::parse_usd(text)
        .and_then(|m| i64::try_from(m).ok())
        .ok_or_else(|| format!("`{text}` is not an amount in USD (like 5 or 0.50)"))
}

impl Common {
    /// Whether connections go to the built-in simulator (`--sandbox`).
    fn sandboxed(&self) -> bool {
        #[cfg(feature = "sandbox")]
        return self.sandbox.is_some();
        #[cfg(not(feature = "sandbox"))]
        return false;
    }
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Auth { action, runtime } => auth::run(action, runtime).await,
        Command::Tokens { action, store } => tokens::run(action, store),
        Command::Queue { action, store } => queue::run(action, store),
        Command::Usage {
            json,
            connection,
            days,
            store,
        } => usage::run(usage::UsageArgs {
            json,
            connection,
            days,
            store,
        }),
        Command::Compile { connector, .. } => match flows::compile(connector.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => setup_failed(e),
        },
        Command::Check { flows, common } => match prepare(&common, &flows).await {
            Ok(i) => {
                for w in flows::unset_variables(&i.project, common.sandboxed()) {
                    eprintln!("warning: {w}");
                }
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
                    Err(e) => return setup_failed(Setup::usage(e)),
                }
            }
            let Some(name) = sequence.or_else(|| integrator.project.main.clone()) else {
                return setup_failed(Setup::usage(anyhow::anyhow!(
                    "the flow defines no <sequence> to run"
                )));
            };
            match integrator.run_sequence(&name, &mut msg).await {
                Ok(()) => {
                    // The same redaction as `serve`'s answers: a token X
                    // echoed into the payload is not printed.
                    println!(
                        "{}",
                        integrator.redactor.output(
                            &serde_json::to_string_pretty(&msg.payload).unwrap_or_default()
                        )
                    );
                    let handled = msg
                        .properties
                        .get(FAULT_HANDLED)
                        .is_some_and(integrator::flow::expr::truthy);
                    match msg.fault_caught {
                        Some(kind) if !handled => {
                            eprintln!(
                                "error: the flow caught a fault ({kind}) and did not mark it handled \
                                 (set the property {FAULT_HANDLED} to true in the handler to exit 0)"
                            );
                            Exit::HandledFault.into()
                        }
                        _ => ExitCode::SUCCESS,
                    }
                }
                Err(fault) => {
                    eprintln!(
                        "error: uncaught fault: {}",
                        integrator.redactor.log_line(&fault.to_string())
                    );
                    // A store the runtime cannot use is found at the first
                    // token read (a wrong key): the store's code, not a
                    // fault's, so a supervisor does not retry it.
                    if fault.kind == integrator::flow::FaultKind::TokenStore {
                        Exit::Store.into()
                    } else {
                        Exit::Fault.into()
                    }
                }
            }
        }
        Command::Serve {
            flows,
            listen,
            limits,
            common,
        } => {
            let limits = match limits.limits() {
                Ok(l) => l,
                Err(e) => return setup_failed(e),
            };
            let integrator = match prepare(&common, &flows).await {
                Ok(i) => Arc::new(i),
                Err(e) => return setup_failed(e),
            };
            if integrator.project.apis.is_empty() {
                return setup_failed(Setup::usage(anyhow::anyhow!(
                    "the flow files define no <api> to serve"
                )));
            }
            let listener = match tokio::net::TcpListener::bind(listen).await {
                Ok(l) => l,
                Err(e) => {
                    return setup_failed(Setup::config(anyhow::anyhow!(
                        "cannot listen on {listen}: {e}"
                    )))
                }
            };
            let addr = listener.local_addr().unwrap_or(listen);
            for route in integrator::serve::describe_routes(&integrator, addr) {
                eprintln!("serving {route}");
            }
            // The message processors run beside the APIs; at shutdown each
            // finishes the message it is delivering.
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let processors: Vec<_> = integrator
                .project
                .processors
                .iter()
                .map(|p| {
                    eprintln!(
                        "processing message store `{}` with sequence `{}`",
                        p.store, p.sequence
                    );
                    tokio::spawn(integrator.clone().run_processor(p.clone(), stopped.clone()))
                })
                .collect();
            eprintln!("integrator: listening on http://{addr}");
            let served =
                integrator::serve::serve(integrator, listener, limits, shutdown_signal()).await;
            let _ = stop.send(true);
            for p in processors {
                let _ = p.await;
            }
            match served {
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
        Command::Tokens { .. } | Command::Usage { .. } | Command::Queue { .. } => 0,
        Command::Compile { verbose, .. } => *verbose,
        Command::Auth { runtime, .. } => runtime.verbose,
    };
    let telemetry = telemetry::Telemetry::init(verbose);
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
    let code = rt.block_on(run(cli));
    // Off the async runtime: the exporter's last send blocks.
    drop(rt);
    telemetry.shutdown();
    code
}
