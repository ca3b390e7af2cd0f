//! What an attacker tried, pinned through the real binary: secrets in
//! `run`'s output, log forging, a token store or key file others can reach,
//! a tampered code cache, memory blown up by an upstream answer. (The login
//! callback's are in auth_login.rs.) docs/security.md has the threat model.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use support::*;

const REFRESH: &str = "rt-PROBE-SECRET-123";
const ACCESS: &str = "at-PROBE-ACCESS-456";
const ROTATED: &str = "rt-PROBE-ROTATED-789";

fn token_ok() -> Reply {
    json_reply(
        200,
        &format!(
            r#"{{"token_type":"bearer","expires_in":7200,"access_token":"{ACCESS}","refresh_token":"{ROTATED}","scope":"tweet.read tweet.write users.read offline.access"}}"#
        ),
    )
}

fn run_main(url: &str) -> std::process::Output {
    run(
        &["run", "examples/main.xml", "--token-store", "memory"],
        &[
            ("X_API_URL", url),
            ("X_CLIENT_ID", "probe-app"),
            ("X_REFRESH_TOKEN", REFRESH),
        ],
    )
}

fn assert_no_secret(what: &str, text: &str) {
    for s in [REFRESH, ACCESS, ROTATED] {
        assert!(!text.contains(s), "{s} in {what}:\n{text}");
    }
}

#[test]
fn run_prints_no_secret_an_upstream_echoes() {
    // 1. The token endpoint's error text echoes the refresh token.
    let refused = Hostile::start(|seen| {
        json_reply(
            400,
            &format!(
                r#"{{"error":"invalid_request","error_description":"Value passed for the token was invalid: {REFRESH} (request: {})"}}"#,
                seen.body.replace('"', "'")
            ),
        )
    });
    let o = run_main(&refused.url());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("refresh-failed") && out.contains("********"),
        "{out}"
    );
    assert_no_secret("stdout", &out);
    assert_no_secret("stderr", &stderr(&o));

    // 2. A 400 from the API echoing the bearer token, through ${vars.error}.
    let echo_bearer = Hostile::start(|seen| match seen.path.as_str() {
        "/2/oauth2/token" => token_ok(),
        _ => json_reply(
            400,
            &format!(
                r#"{{"title":"Invalid Request","type":"about:blank","status":400,"detail":"bad header: {}"}}"#,
                seen.head
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization"))
                    .unwrap_or("")
            ),
        ),
    });
    let o = run_main(&echo_bearer.url());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Bearer ********"), "{out}");
    assert_no_secret("stdout", &out);

    // 3. A 2xx body holding the token, printed as the final payload.
    let in_body = Hostile::start(|seen| match seen.path.as_str() {
        "/2/oauth2/token" => token_ok(),
        p if p.starts_with("/2/users/me") => json_reply(
            200,
            &format!(r#"{{"data":{{"id":"1","name":"n","username":"{ACCESS}"}}}}"#),
        ),
        "/2/tweets" => json_reply(201, r#"{"data":{"id":"7","text":"hi"}}"#),
        _ => json_reply(200, r#"{"data":{"deleted":true}}"#),
    });
    let o = run_main(&in_body.url());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout_json(&o);
    assert_eq!(out["user"]["username"], "********", "{out}");
    assert_no_secret("stdout", &out.to_string());
}

/// Secrets written into the flow itself (literal `<twitter.init>`
/// parameters, no `${secret.}`) are masked like those from the environment,
/// in an uncaught fault's message too: here the token endpoint echoes the
/// whole request (the Basic header of the client credentials and the form
/// with the refresh token) and nothing catches the fault.
#[test]
fn literal_init_secrets_are_masked_in_uncaught_faults() {
    const CLIENT_SECRET: &str = "cs-PROBE-LITERAL-SECRET-321";
    let echo = Hostile::start(|seen| {
        json_reply(
            400,
            &serde_json::json!({
                "error": "invalid_request",
                "error_description": format!("bad request: {} {}", seen.head, seen.body),
            })
            .to_string(),
        )
    });
    let flow = tempdir().join("literal.xml");
    std::fs::write(
        &flow,
        format!(
            r#"<sequence name="main">
  <twitter.init>
    <apiUrl>{url}</apiUrl><clientId>probe-app</clientId>
    <clientSecret>{CLIENT_SECRET}</clientSecret>
    <refreshToken>{REFRESH}</refreshToken>
  </twitter.init>
  <log><message>starting with {REFRESH}</message></log>
  <twitter.getMe/>
</sequence>"#,
            url = echo.url()
        ),
    )
    .unwrap();
    let o = run(
        &[
            "run",
            "-vv",
            flow.to_str().unwrap(),
            "--token-store",
            "memory",
        ],
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "an uncaught fault: {}",
        stderr(&o)
    );
    let err = stderr(&o);
    assert!(err.contains("uncaught fault"), "{err}");
    // The echo reached the message, masked: the form and the Basic header.
    assert!(err.contains("refresh_token=********"), "{err}");
    assert!(err.to_ascii_lowercase().contains("basic ********"), "{err}");
    assert!(err.contains("starting with ********"), "{err}");
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("probe-app:{CLIENT_SECRET}"));
    for (what, text) in [
        ("stdout", String::from_utf8_lossy(&o.stdout).into_owned()),
        ("stderr", err),
    ] {
        assert_no_secret(what, &text);
        for s in [CLIENT_SECRET, basic.as_str()] {
            assert!(!text.contains(s), "{s} in {what}:\n{text}");
        }
    }
}

/// `serve` masks the same values in the headers a flow sets, and a log
/// line cannot be split or carry terminal escapes.
#[test]
fn serve_masks_headers_and_logs_cannot_be_forged() {
    let upstream = Hostile::start(|seen| match seen.path.as_str() {
        "/2/oauth2/token" => token_ok(),
        _ => json_reply(
            200,
            &format!(r#"{{"data":{{"id":"1","name":"n","username":"{ACCESS}"}}}}"#),
        ),
    });
    let flow = tempdir().join("api.xml");
    std::fs::write(
        &flow,
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <localEntry key="X"><twitter.init>
    <apiUrl>${env.X_API_URL}</apiUrl><clientId>probe-app</clientId>
    <refreshToken>${secret.X_REFRESH_TOKEN}</refreshToken>
  </twitter.init></localEntry>
  <api name="x" context="/x">
    <resource methods="POST" uri-template="/echo"><inSequence>
      <log category="INFO"><message>note: ${payload.text}</message></log>
      <twitter.getMe configKey="X"><responseVariable>me</responseVariable></twitter.getMe>
      <property name="X-User" expression="${vars.me.payload.data.username}" scope="transport"/>
      <payloadFactory media-type="json"><format>{"ok": true}</format></payloadFactory>
      <respond/></inSequence></resource>
  </api>
</definitions>"#,
    )
    .unwrap();
    let served = Served::start(
        &[flow.to_str().unwrap(), "--token-store", "memory"],
        &[("X_API_URL", &upstream.url()), ("X_REFRESH_TOKEN", REFRESH)],
    );
    let forged = "hi\n[00:00:00.000] ERROR {LogMediator} - forged\r\u{1b}[2J\u{1b}]0;title\u{7}";
    let body = serde_json::json!({ "text": forged }).to_string();
    let (status, headers, answer) = served.request("POST", "/x/echo", Some(&body));
    assert_eq!(status, 200, "{answer}");
    let user = headers
        .iter()
        .find(|(k, _)| k == "x-user")
        .map(|(_, v)| v.as_str());
    assert_eq!(user, Some("********"), "{headers:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = served.log_text();
    assert!(log.contains(r"note: hi\n[00:00:00.000] ERROR"), "{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("[00:00:00.000] ERROR")),
        "a forged line: {log}"
    );
    assert!(
        !log.contains('\u{1b}') && !log.contains('\r'),
        "raw controls: {log:?}"
    );
    assert_no_secret("the log", &log);
}

fn tokens_list(store: &Path) -> std::process::Output {
    run(
        &["tokens", "list", "--token-store", store.to_str().unwrap()],
        &[],
    )
}

fn refused(o: &std::process::Output, what: &str) -> String {
    assert!(!o.status.success(), "accepted ({what}): {}", stderr(o));
    stderr(o)
}

#[test]
fn the_sqlite_store_refuses_links_loose_modes_and_foreign_files() {
    let base = tempdir();
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
    let chmod =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();

    // A state directory that is a symlink.
    let real = base.join("real");
    std::fs::create_dir(&real).unwrap();
    chmod(&real, 0o700);
    let link = base.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let e = refused(&tokens_list(&link.join("tokens.db")), "linked dir");
    assert!(e.contains("is a symlink"), "{e}");
    assert!(
        !real.join("tokens.db").exists(),
        "nothing written through the link"
    );

    // A directory others can write.
    let open_dir = base.join("open");
    std::fs::create_dir(&open_dir).unwrap();
    chmod(&open_dir, 0o777);
    let e = refused(&tokens_list(&open_dir.join("tokens.db")), "0777 dir");
    assert!(
        e.contains("writable by others") && e.contains("chmod 700"),
        "{e}"
    );

    // tokens.db linked to a world-readable file, and to another
    // application's SQLite database: refused, and both left untouched.
    let readable = real.join("notes.txt");
    std::fs::write(&readable, "someone's notes").unwrap();
    chmod(&readable, 0o644);
    let db_link = real.join("tokens.db");
    std::os::unix::fs::symlink(&readable, &db_link).unwrap();
    let e = refused(&tokens_list(&db_link), "linked file");
    assert!(e.contains("is a symlink"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&readable).unwrap(),
        "someone's notes"
    );
    assert_eq!(mode(&readable), 0o644);
    std::fs::remove_file(&db_link).unwrap();

    let other_app = real.join("app.db");
    other_app_db(&other_app);
    chmod(&other_app, 0o644);
    let before = std::fs::read(&other_app).unwrap();
    std::os::unix::fs::symlink(&other_app, &db_link).unwrap();
    refused(&tokens_list(&db_link), "link to another database");
    assert_eq!(
        std::fs::read(&other_app).unwrap(),
        before,
        "the other database is untouched"
    );
    assert_eq!(mode(&other_app), 0o644, "and not chmod-ed");
    std::fs::remove_file(&db_link).unwrap();

    // Another application's database given directly (ours, owner-only).
    chmod(&other_app, 0o600);
    let e = refused(&tokens_list(&other_app), "another database");
    assert!(
        e.contains("another database") && e.contains("notes_table"),
        "{e}"
    );
    assert_eq!(std::fs::read(&other_app).unwrap(), before);

    // A store path pre-created 0666: refused and never chmod-ed.
    let loose = real.join("loose.db");
    std::fs::write(&loose, "").unwrap();
    chmod(&loose, 0o666);
    let e = refused(&tokens_list(&loose), "0666 file");
    assert!(e.contains("mode 666") && e.contains("chmod 600"), "{e}");
    assert_eq!(mode(&loose), 0o666);

    // A file of another user's (needs root to make one).
    if unsafe { libc::geteuid() } == 0 {
        let foreign = real.join("foreign.db");
        std::fs::write(&foreign, "").unwrap();
        chmod(&foreign, 0o600);
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
        let e = refused(&tokens_list(&foreign), "foreign file");
        assert!(e.contains("belongs to user 65534"), "{e}");
    }

    // And a good path still works, made owner-only.
    let fresh = real.join("sub/tokens.db");
    let o = tokens_list(&fresh);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mode(&fresh), 0o600);
    assert_eq!(mode(&real.join("sub")), 0o700);
}

/// Another application's SQLite database (python3's sqlite3 module: the
/// store's own SQLite would leave our tables in it).
fn other_app_db(path: &Path) {
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table notes_table(x)'); c.execute(\"insert into notes_table values('private')\"); c.commit()",
            path.to_str().unwrap(),
        ])
        .status()
        .expect("python3 runs");
    assert!(status.success());
}

#[test]
fn a_key_file_others_can_read_is_refused_and_two_keys_are_ambiguous() {
    let dir = tempdir();
    let key = dir.join("store.key");
    std::fs::write(
        &key,
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    )
    .unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = dir.join("tokens.db");
    let args = [
        "tokens",
        "list",
        "--token-store",
        store.to_str().unwrap(),
        "--store-key-file",
        key.to_str().unwrap(),
    ];
    let e = refused(&run(&args, &[]), "0644 key file");
    assert!(
        e.contains("can be read or written by others") && e.contains("chmod 600"),
        "{e}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = run(&args, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = refused(
        &run(
            &args,
            &[(
                "INTEGRATOR_STORE_KEY",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            )],
        ),
        "two keys",
    );
    assert!(e.contains("keep only one"), "{e}");
}

#[test]
fn tokens_list_escapes_control_characters() {
    let store = tempdir().join("tokens.db");
    let family = token_store::FamilyKey {
        connection: "evil\u{1b}[2J\nconnection".into(),
        client_id: "app\u{7}".into(),
        api_origin: "https://api.x.com".into(),
    };
    let tokens = token_store::StoredTokens {
        access_token: None,
        refresh_token: Some(token_store::Secret::new("r")),
        expires_at: None,
        obtained_at: None,
        origin: "o".into(),
    };
    {
        let s = token_store::SqliteStore::open(&store, None).unwrap();
        token_store::TokenStore::save(&s, &family, 0, &tokens).unwrap();
    }
    let o = tokens_list(&store);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains(r"evil\u{1b}[2J\nconnection"), "{table}");
    assert!(table.contains(r"app\u{7}"), "{table}");
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "{table:?}"
    );
}

fn cache_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_tampered_or_loose_code_cache_is_compiled_again_never_loaded() {
    let home = tempdir();
    let dir = home.join("wso2-twitter-integrator");
    assert_eq!(load_kind(&home), "Compiled");
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    assert_eq!(load_kind(&home), "Cached");
    let artifacts = cache_files(&dir);
    let [artifact] = &artifacts[..] else {
        panic!("one artifact in {}", dir.display())
    };
    assert_eq!(std::fs::metadata(artifact).unwrap().mode() & 0o777, 0o600);

    // One byte of native code changed: not loaded.
    let mut bytes = std::fs::read(artifact).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(artifact, &bytes).unwrap();
    assert_eq!(load_kind(&home), "Compiled");
    assert_eq!(load_kind(&home), "Cached", "rewritten whole");

    // A directory others can write: not trusted, not written.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = run(
        &["check", "examples/main.xml", "-v"],
        &[("XDG_CACHE_HOME", home.to_str().unwrap())],
    );
    let e = stderr(&o);
    assert!(
        e.contains("Compiled") && e.contains("writable by others"),
        "{e}"
    );
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// One getMe answer of 1 MB holding 125,000 tiny objects (1 MB of text,
/// over 300 MB as a JSON tree) is refused with a typed error before any
/// tree is built, costs little above idle, and leaves nothing held.
#[test]
fn an_answer_of_tiny_objects_cannot_blow_up_memory() {
    let hostile = Arc::new(AtomicBool::new(false));
    let h = hostile.clone();
    let junk = Arc::new(format!("[{}]", vec![r#"{"a":1}"#; 125_000].join(",")));
    let upstream = Hostile::start(move |seen| match seen.path.as_str() {
        "/2/oauth2/token" => token_ok(),
        _ if h.load(Ordering::SeqCst) => json_reply(
            200,
            &format!(
                r#"{{"data":{{"id":"1","name":"n","username":"u"}},"includes":{{"users":{junk}}}}}"#
            ),
        ),
        _ => json_reply(200, r#"{"data":{"id":"1","name":"n","username":"u"}}"#),
    });
    let served = Served::start(
        &["examples/api.xml", "--token-store", "memory"],
        &[
            ("X_API_URL", &upstream.url()),
            ("X_CLIENT_ID", "probe-app"),
            ("X_REFRESH_TOKEN", REFRESH),
        ],
    );
    let pid = served.child.id();
    // Warm: sixteen at once, so the pool holds as many instances as the
    // hostile round below will use, and the runtime its buffers.
    let sixteen = |expect: u16| {
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let addr = served.addr.clone();
                std::thread::spawn(move || request_to(&addr, "GET", "/x/me", None).unwrap().0)
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), expect);
        }
    };
    for _ in 0..3 {
        sixteen(200);
    }
    let idle = rss_kib(pid, "VmRSS:");
    // The high-water mark from here on (5: reset VmHWM to the current RSS).
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    hostile.store(true, Ordering::SeqCst);
    let (s, _, b) = served.request("GET", "/x/me", None);
    assert_eq!(s, 502, "{b}");
    assert_eq!(b["error"]["kind"], "malformed-response", "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("objects and arrays"),
        "{b}"
    );
    let within = |what: &str, kib: u64, mib: u64| {
        eprintln!("{what}: {kib} KiB ({idle} KiB idle)");
        assert!(
            kib.saturating_sub(idle) <= mib * 1024,
            "{what}: {} MiB above idle, over {mib} MiB",
            kib.saturating_sub(idle) / 1024
        );
    };
    within("peak with one hostile answer", rss_kib(pid, "VmHWM:"), 32);
    // Sixteen at once, then nothing held.
    sixteen(502);
    hostile.store(false, Ordering::SeqCst);
    let (s, _, b) = served.request("GET", "/x/me", None);
    assert_eq!(s, 200, "the connection still serves: {b}");
    // Holding the sixteen 1 MB answers would be 16 MiB and more; what stays
    // is the allocator's per-thread arenas: 6.4 to 8.3 MiB over runs on the
    // 2-core CI machine, so 8 was a coin toss.
    within("held after 16 hostile answers", rss_kib(pid, "VmRSS:"), 12);
}
