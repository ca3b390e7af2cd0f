//! Who holds a lease, and whether that holder is still alive.
//!
//! A lease has an expiry, so a crashed holder blocks the others for at most
//! its length. On one machine we can do better: the holder is recorded as
//! `host/pid` (host = hostname, boot id and PID namespace), and a lease whose
//! holder process no longer exists on this host is free at once. After a
//! crash in the middle of a refresh, the restarted service can refresh
//! without waiting the lease out.

use std::sync::OnceLock;

/// This process as a lease holder: `HOST/PID`.
pub fn this_process() -> &'static str {
    static ME: OnceLock<String> = OnceLock::new();
    ME.get_or_init(|| format!("{}/{}", this_host(), std::process::id()))
}

/// This machine (and PID namespace), as lease holders name it.
fn this_host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .ok()
        };
        let name = read("/proc/sys/kernel/hostname").unwrap_or_else(|| "host".into());
        // Boot id and PID namespace: a pid means one process only within them.
        let boot = read("/proc/sys/kernel/random/boot_id")
            .map(|b| b.chars().take(8).collect::<String>())
            .unwrap_or_default();
        let pidns = std::fs::read_link("/proc/self/ns/pid")
            .ok()
            .map(|l| {
                l.to_string_lossy()
                    .trim_start_matches("pid:[")
                    .trim_end_matches(']')
                    .to_string()
            })
            .unwrap_or_default();
        // No `/` in the host part: it separates the pid.
        format!("{name}:{boot}:{pidns}").replace('/', "_")
    })
}

/// True when `holder` was a process on this host that no longer exists.
/// Unknown hosts and unparsable holders count as alive (the lease's expiry
/// still frees them).
pub fn is_dead(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once('/') else {
        return false;
    };
    if host != this_host() || host.ends_with("::") {
        // Another machine, or one whose boot id and namespace we cannot tell.
        return false;
    }
    let Ok(pid) = pid.parse::<i32>() else {
        return false;
    };
    if pid <= 0 || pid as u32 == std::process::id() {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let r = unsafe { libc::kill(pid, 0) };
    r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_processes_are_alive_and_finished_ones_dead() {
        assert!(!is_dead(this_process()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let holder = format!("{}/{pid}", this_host());
        assert!(is_dead(&holder), "{holder}");
        // A live process on this host other than us keeps its lease (the
        // check must ask the system, not only compare with our own pid).
        let mut live = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let holder = format!("{}/{}", this_host(), live.id());
        assert!(!is_dead(&holder), "a running process is alive: {holder}");
        live.kill().unwrap();
        live.wait().unwrap();
        assert!(is_dead(&holder), "once reaped it is dead: {holder}");
        // Other hosts are never judged.
        assert!(!is_dead(&format!("elsewhere:1:2/{pid}")));
        assert!(!is_dead("garbage"));
    }
}
