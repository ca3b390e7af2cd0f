//! The systemd unit in deploy/: hardened, its command line accepted by the
//! real binary, and (where systemd-analyze is installed) verified by
//! systemd itself without a warning.

mod support;

use support::*;

fn unit() -> String {
    std::fs::read_to_string(root().join("deploy/integrator.service")).unwrap()
}

#[test]
fn the_unit_is_hardened_and_restarts_only_what_a_restart_can_fix() {
    let u = unit();
    let has = |line: &str| u.lines().any(|l| l.trim() == line);
    for line in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "DynamicUser=yes",
        "StateDirectory=integrator",
        "CacheDirectory=integrator",
        "UMask=0077",
        "CapabilityBoundingSet=",
        "KillSignal=SIGTERM",
        "Restart=on-failure",
        // docs/unattended.md's codes: a bad flow, the configuration, the store.
        "RestartPreventExitStatus=2 4 5",
    ] {
        assert!(has(line), "missing `{line}`");
    }
    // Cranelift maps the compiled component executable.
    assert!(!u.contains("MemoryDenyWriteExecute=yes"));
    // No secret in the unit: it comes from the environment file.
    for secret in [
        "X_REFRESH_TOKEN=",
        "INTEGRATOR_STORE_KEY=",
        "X_CLIENT_SECRET=",
    ] {
        assert!(
            !u.lines().any(|l| !l.starts_with('#') && l.contains(secret)),
            "{secret}"
        );
    }
}

fn exec_start() -> Vec<String> {
    let u = unit();
    let line = u
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn its_command_line_is_one_the_binary_accepts() {
    let args = exec_start();
    assert_eq!(args[0], "/usr/local/bin/integrator");
    assert_eq!(args[1], "serve");
    let mut rest: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    // Every option before `--help` is parsed; an unknown one fails.
    rest.push("--help");
    let o = run(&rest, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn systemd_verifies_it_without_a_warning() {
    let analyze = std::path::Path::new("/usr/bin/systemd-analyze");
    if !analyze.exists() {
        eprintln!("systemd-analyze is not installed: the unit's syntax was not verified");
        return;
    }
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_integrator"));
    let dir = tempdir();
    let path = dir.join("integrator.service");
    std::fs::write(
        &path,
        unit().replace("/usr/local/bin/integrator", bin.to_str().unwrap()),
    )
    .unwrap();
    let o = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.trim().is_empty(), "systemd warns: {err}");
}
