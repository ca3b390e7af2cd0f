//! `integrator serve` as a front door, tried as an attacker and a careless
//! operator would: descriptor exhaustion, slow and greedy clients, flows
//! nested to crash it, an upstream echoing secrets or sending garbage, and
//! statuses and headers HTTP cannot carry.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::*;

/// Reads whatever the server sends until it closes (or `limit` passes).
fn read_all(s: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

fn status_of(raw: &str) -> u16 {
    raw.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn the_accept_loop_backs_off_when_descriptors_run_out_and_recovers() {
    let mut c = integrator();
    c.args([
        "serve",
        "--sandbox",
        "examples/api.xml",
        "--listen",
        "127.0.0.1:0",
    ])
    .stderr(Stdio::piped())
    .stdout(Stdio::null());
    // SAFETY: only setrlimit between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let served = Served::from_child(c.spawn().unwrap());
    assert_eq!(served.request("GET", "/x/me", None).0, 200);
    // Idle clients until accept fails for lack of descriptors.
    let idle: Vec<TcpStream> = (0..120)
        .filter_map(|_| TcpStream::connect(&served.addr).ok())
        .collect();
    assert!(idle.len() >= 100);
    std::thread::sleep(Duration::from_millis(300));
    let lines_before = served.log.lock().unwrap().len();
    let cpu_before = cpu_ticks(served.child.id());
    std::thread::sleep(Duration::from_secs(3));
    let cpu = cpu_ticks(served.child.id()) - cpu_before;
    let lines = served.log.lock().unwrap().len() - lines_before;
    let log = served.log_text();
    assert!(log.contains("accept failed"), "{log}");
    assert!(lines <= 3, "{lines} log lines in 3 s:\n{log}");
    // 100 ticks a second: a spin would use ~300 over 3 s.
    assert!(cpu < 60, "the accept loop spun: {cpu} ticks of CPU in 3 s");
    // Descriptors free up: serving goes on.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok((200, _, _)) = served.try_request("GET", "/x/me", None) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not recover:\n{}",
            served.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn serve_limited(extra: &[&str]) -> Served {
    let mut args = vec!["--sandbox", "examples/api.xml"];
    args.extend_from_slice(extra);
    Served::start(&args, &[])
}

#[test]
fn slow_clients_are_cut_off_on_time() {
    // The idle timeout far above the header timeout: a head trickling in must
    // be cut on the header clock, which starts with its first byte.
    let served = serve_limited(&[
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
        "--idle-timeout",
        "30",
    ]);
    // 30 clients sending a request head one byte every 300 ms: cut after ~1 s.
    let slow: Vec<_> = (0..30)
        .map(|_| {
            let addr = served.addr.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).unwrap();
                let started = Instant::now();
                for b in b"GET /x/me HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n\r\n" {
                    if s.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                    if started.elapsed() > Duration::from_secs(6) {
                        break;
                    }
                }
                let (_, _) = read_all(&mut s, Duration::from_secs(1));
                started.elapsed()
            })
        })
        .collect();
    for t in slow {
        let took = t.join().unwrap();
        assert!(
            took < Duration::from_secs(4),
            "a slow head held on for {took:?}"
        );
    }
    // A body declared and never sent: 408 after the body timeout.
    let mut s = TcpStream::connect(&served.addr).unwrap();
    write!(
        s,
        "POST /x/tweets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"te"
    )
    .unwrap();
    let (raw, took) = read_all(&mut s, Duration::from_secs(5));
    assert_eq!(status_of(&raw), 408, "{raw}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // An idle kept-alive connection is closed after the idle timeout.
    let served = serve_limited(&["--header-timeout", "1", "--idle-timeout", "2"]);
    let mut s = TcpStream::connect(&served.addr).unwrap();
    write!(s, "GET /x/me HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (raw, took) = read_all(&mut s, Duration::from_secs(8));
    assert_eq!(status_of(&raw), 200, "{raw}");
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(5),
        "closed after {took:?}"
    );
}

#[test]
fn the_connection_cap_and_the_body_budget_hold_memory_bounded() {
    let served = serve_limited(&[
        "--max-connections",
        "40",
        "--max-buffered",
        "8",
        "--body-timeout",
        "5",
        "--idle-timeout",
        "30",
    ]);
    // Over the cap: 503 at once.
    let held: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(&served.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&served.addr).unwrap();
    let (raw, _) = read_all(&mut extra, Duration::from_secs(3));
    assert_eq!(status_of(&raw), 503, "{raw}");
    assert!(raw.to_ascii_lowercase().contains("retry-after"), "{raw}");
    drop(held);
    std::thread::sleep(Duration::from_millis(500));
    // 30 clients each holding 900 KiB of a 1000 KiB body in flight: the
    // 8 MiB budget admits a few, the rest get 503, memory stays bounded.
    let chunk = vec![b'a'; 900 * 1024];
    let greedy: Vec<_> = (0..30)
        .map(|_| {
            let (addr, chunk) = (served.addr.clone(), chunk.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).unwrap();
                write!(
                    s,
                    "POST /x/tweets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    1000 * 1024
                )
                .unwrap();
                let _ = s.write_all(&chunk);
                let (raw, _) = read_all(&mut s, Duration::from_secs(10));
                status_of(&raw)
            })
        })
        .collect();
    let statuses: Vec<u16> = greedy.into_iter().map(|t| t.join().unwrap()).collect();
    let busy = statuses.iter().filter(|s| **s == 503).count();
    let timed_out = statuses.iter().filter(|s| **s == 408).count();
    assert!(busy >= 15, "{statuses:?}");
    assert_eq!(busy + timed_out, 30, "{statuses:?}");
    let peak = peak_rss_kib(served.child.id());
    assert!(peak < 200 * 1024, "peak RSS {} MiB", peak / 1024);
    // An oversized body is 413, a malformed chunk 400.
    let mut s = TcpStream::connect(&served.addr).unwrap();
    write!(
        s,
        "POST /x/tweets HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
    )
    .unwrap();
    assert_eq!(status_of(&read_all(&mut s, Duration::from_secs(5)).0), 413);
    let mut s = TcpStream::connect(&served.addr).unwrap();
    write!(
        s,
        "POST /x/tweets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n0\r\n\r\n"
    )
    .unwrap();
    let (raw, _) = read_all(&mut s, Duration::from_secs(5));
    assert_eq!(status_of(&raw), 400, "{raw}");
}

fn write_flow(name: &str, xml: &str) -> String {
    let p = tempdir().join(name);
    std::fs::write(&p, xml).unwrap();
    p.to_str().unwrap().to_string()
}

const NS: &str = "http://ws.apache.org/ns/synapse";

#[test]
fn every_nesting_limit_is_a_file_line_error_and_nothing_that_passes_check_crashes() {
    let deep_elements = format!(
        "<definitions xmlns=\"{NS}\"><sequence name=\"main\">{}<log/>{}</sequence></definitions>",
        "<filter xpath=\"${true}\"><then>".repeat(20_000),
        "</then></filter>".repeat(20_000)
    );
    let deep_filters = format!(
        "<definitions xmlns=\"{NS}\"><sequence name=\"main\">{}<log/>{}</sequence></definitions>",
        "<filter xpath=\"${true}\"><then>".repeat(3_000),
        "</then></filter>".repeat(3_000)
    );
    let var = |e: &str| {
        format!(
            "<definitions xmlns=\"{NS}\"><sequence name=\"main\">\n<variable name=\"x\" expression=\"${{{e}}}\"/></sequence></definitions>"
        )
    };
    let cases = [
        ("elements.xml", deep_elements, "nested deeper than 100"),
        ("filters.xml", deep_filters, "nested deeper than 100"),
        (
            "parens.xml",
            var(&format!("{}1{}", "(".repeat(5000), ")".repeat(5000))),
            "deeper than 64",
        ),
        (
            "nots.xml",
            var(&format!("{}true", "!".repeat(5000))),
            "deeper than 64",
        ),
        (
            "sum.xml",
            var(&format!("{}1", "1+".repeat(5000))),
            "deeper than 64",
        ),
    ];
    for (name, xml, needle) in cases {
        let path = write_flow(name, &xml);
        let o = run(&["check", &path], &[]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&path) && err.contains(needle), "{name}: {err}");
        assert!(err.contains(&format!("{path}:")), "file:line in {err}");
    }
    // Sequences fanning out (each calling the next twice, 30 deep): stopped
    // by the step budget, quickly.
    let mut seqs = String::new();
    for i in 0..30 {
        seqs.push_str(&format!(
            "<sequence name=\"s{i}\"><sequence key=\"s{}\"/><sequence key=\"s{}\"/></sequence>",
            i + 1,
            i + 1
        ));
    }
    seqs.push_str("<sequence name=\"s30\"><variable name=\"x\" value=\"1\"/></sequence>");
    let path = write_flow(
        "fanout.xml",
        &format!("<definitions xmlns=\"{NS}\">{seqs}</definitions>"),
    );
    let started = Instant::now();
    let o = run(&["run", &path, "--sequence", "s0"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("more than 100000 mediators"),
        "{}",
        stderr(&o)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // At the limits, serve runs the flow.
    let sum = format!("{}1", "1+".repeat(60));
    let at_limit = format!(
        "<definitions xmlns=\"{NS}\"><api name=\"a\" context=\"/a\"><resource methods=\"GET\" uri-template=\"/x\"><inSequence>{}<variable name=\"x\" type=\"JSON\" expression=\"${{{}}}\"/><payloadFactory media-type=\"json\"><format>{{\"x\": ${{vars.x}}}}</format></payloadFactory><respond/>{}</inSequence></resource></api></definitions>",
        "<filter xpath=\"${true}\"><then>".repeat(45),
        sum,
        "</then></filter>".repeat(45)
    );
    let path = write_flow("limit.xml", &at_limit);
    let served = Served::start(&["--sandbox", &path], &[]);
    let (status, _, body) = served.request("GET", "/a/x", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["x"], 61);
}
