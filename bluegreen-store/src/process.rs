//! Who runs a deployment, and whether it still does: run names of this process (`host:pid`), and the
//! liveness of a lock's holder.

use bluegreen_core::{Lease, Timestamp};
use serde::Serialize;
use std::fs;
use std::path::Path;

/// An executor whose runs are named after this process (`host:pid`, plus the start time in the token), so
/// the lock says where a deployment runs, and a run of a process that died on this machine is seen to be
/// gone.
pub fn named_executor(providers: bluegreen_core::Providers) -> bluegreen_core::Executor {
    let host = format!("{}:{}", host_name(), std::process::id());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    bluegreen_core::Executor::new(providers).with_run(format!("{host}:{started}"), host)
}

/// This machine's name, for lock owners (`host:pid`).
pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// What is known of a lock's holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Liveness {
    /// Its lease is current and, if it runs on this machine, its process exists.
    Live,
    /// Its process is gone from this machine: nothing renews the lease.
    Dead,
    /// Its lease lapsed (the process may be elsewhere, stopped, or gone).
    Lapsed,
}

/// How alive `lease`'s holder is at `now`: a process of this machine is alive exactly while it exists
/// (even if a long hook kept it from renewing); one elsewhere while its lease holds.
pub fn liveness(lease: &Lease, now: Timestamp) -> Liveness {
    match local_owner_alive(lease) {
        Some(true) => Liveness::Live,
        Some(false) => Liveness::Dead,
        None if lease.expired(now) => Liveness::Lapsed,
        None => Liveness::Live,
    }
}

/// For an owner on this machine (`host:pid`), whether its process exists; `None` for one elsewhere.
pub(crate) fn local_owner_alive(lease: &Lease) -> Option<bool> {
    let (host, pid) = lease.owner.host.rsplit_once(':')?;
    let pid = pid.parse::<u32>().ok()?;
    if host != host_name() {
        return None;
    }
    Some(pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists())
}
