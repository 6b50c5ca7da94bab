//! The state directory: deployment records, per-application locks, and control requests (promote, abort)
//! that other processes leave for a running deployment. Owner-only permissions; every write is atomic
//! (write a temporary file, fsync, rename, fsync the directory).

use async_trait::async_trait;
use bluegreen_core::provider::{ensure_current, release_lease, renew_lease, take_lease};
use bluegreen_core::{
    Approval, ApprovalDecision, ApprovalRequest, CancelToken, DeploymentId, Event, Lease,
    LockOwner, ProviderError, RecordEntry, StateStore, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Records, locks and control requests under one directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

fn io_err(what: &str, path: &Path, e: io::Error) -> ProviderError {
    match e.kind() {
        io::ErrorKind::NotFound => ProviderError::NotFound {
            resource: format!("{what} {}", path.display()),
        },
        io::ErrorKind::PermissionDenied => ProviderError::AccessDenied {
            message: format!("{what} {}: {e}", path.display()),
        },
        _ => ProviderError::Unavailable {
            message: format!("{what} {}: {e}", path.display()),
        },
    }
}

/// A request left for a running deployment by another process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Control {
    /// Approve the waiting step.
    Approve {
        /// Who.
        by: String,
        /// Sent before the deployment reached its approval step (`promote --pre-approve`); recorded so.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pre_approved: bool,
    },
    /// Reject the waiting step (rolls back).
    Reject {
        /// Who.
        by: String,
        /// Why.
        reason: Option<String>,
    },
    /// Stop and roll back (or leave the split, as the plan says).
    Abort {
        /// Who.
        by: String,
    },
}

impl Control {
    /// Who sent it.
    pub fn by(&self) -> &str {
        match self {
            Control::Approve { by, .. } | Control::Reject { by, .. } | Control::Abort { by } => by,
        }
    }
}

/// Where records, locks and control requests live: the local state directory (one machine), or a shared
/// DynamoDB table that every machine deploying the application uses (`[state] backend = "dynamodb"`).
#[derive(Debug, Clone)]
pub enum Backend {
    /// The state directory.
    File(FileStore),
    /// A DynamoDB table shared by a team.
    Shared(bluegreen_aws::DynamoStore),
}

impl Backend {
    /// The backend as the core's store.
    fn inner(&self) -> &dyn StateStore {
        match self {
            Backend::File(f) => f,
            Backend::Shared(d) => d,
        }
    }
}

#[async_trait]
impl StateStore for Backend {
    async fn append(
        &self,
        lease: &Lease,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError> {
        self.inner().append(lease, deployment, entry).await
    }
    async fn load(&self, deployment: &DeploymentId) -> Result<Vec<RecordEntry>, ProviderError> {
        self.inner().load(deployment).await
    }
    async fn list(&self, application: &str) -> Result<Vec<DeploymentId>, ProviderError> {
        self.inner().list(application).await
    }
    async fn lock(
        &self,
        application: &str,
        owner: &LockOwner,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.inner().lock(application, owner, now, ttl).await
    }
    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.inner().renew(lease, now, ttl).await
    }
    async fn unlock(&self, lease: &Lease) -> Result<(), ProviderError> {
        self.inner().unlock(lease).await
    }
    async fn holder(&self, application: &str) -> Result<Option<Lease>, ProviderError> {
        self.inner().holder(application).await
    }
}

impl Backend {
    /// The deployment holding `application`'s lock (lapsed or not), if any.
    pub async fn lock_holder(&self, application: &str) -> Option<DeploymentId> {
        self.read_lease(application)
            .await
            .ok()
            .flatten()
            .map(|l| l.owner.deployment)
    }

    /// `application`'s current lease; an unreadable one is an error saying how to clear it.
    pub async fn read_lease(&self, application: &str) -> Result<Option<Lease>, ProviderError> {
        match self {
            Backend::File(f) => f.read_lease(application),
            Backend::Shared(d) => d.holder(application).await,
        }
    }

    /// How often a running deployment looks for a control request: a file read every 250 ms; one
    /// consistent DynamoDB read a second on the shared backend (an abort or approval waits at most a
    /// second; 3,600 reads an hour, well within any table's capacity).
    pub fn control_poll(&self) -> Duration {
        match self {
            Backend::File(_) => Duration::from_millis(250),
            Backend::Shared(_) => Duration::from_secs(1),
        }
    }

    /// Leaves a request for deployment `id`.
    pub async fn send(&self, id: &DeploymentId, control: &Control) -> Result<(), ProviderError> {
        match self {
            Backend::File(f) => f.send(id, control).map_err(|e| ProviderError::Unavailable {
                message: e.to_string(),
            }),
            Backend::Shared(d) => {
                let text = serde_json::to_string(control).map_err(|e| ProviderError::Invalid {
                    message: e.to_string(),
                })?;
                d.put_control(id, &text).await
            }
        }
    }

    /// The request left for deployment `id`, if any (none when the backend cannot be read: asked again).
    pub async fn received(&self, id: &DeploymentId) -> Option<Control> {
        match self {
            Backend::File(f) => f.received(id),
            Backend::Shared(d) => serde_json::from_str(&d.get_control(id).await.ok()??).ok(),
        }
    }

    /// Consumes `control` if it is still the request left for `id`.
    pub async fn consume(&self, id: &DeploymentId, control: &Control) {
        match self {
            Backend::File(f) => {
                if f.received(id).as_ref() == Some(control) {
                    f.clear_control(id);
                }
            }
            Backend::Shared(d) => {
                if let Ok(text) = serde_json::to_string(control) {
                    // Best effort: a request left behind is removed when the deployment ends.
                    let _ = d.take_control(id, &text).await;
                }
            }
        }
    }

    /// Forgets the request left for deployment `id`, if any.
    pub async fn clear_control(&self, id: &DeploymentId) {
        match self {
            Backend::File(f) => f.clear_control(id),
            // Best effort, as for the file: a stale request is refused by the next control command.
            Backend::Shared(d) => {
                let _ = d.clear_control(id).await;
            }
        }
    }

    /// Removes `application`'s lock whatever it holds (`unlock --force`).
    pub async fn remove_lock(&self, application: &str) -> Result<(), ProviderError> {
        match self {
            Backend::File(f) => {
                f.remove_lock_file(application)
                    .map_err(|e| ProviderError::Unavailable {
                        message: e.to_string(),
                    })
            }
            Backend::Shared(d) => d.remove_lock(application).await,
        }
    }
}

impl FileStore {
    /// A store under `root`, created (owner-only) if missing.
    pub fn open(root: &Path) -> io::Result<Self> {
        for sub in ["", "deployments", "locks", "control"] {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root.join(sub))?;
        }
        Ok(FileStore {
            root: root.to_path_buf(),
        })
    }

    fn record_path(&self, id: &DeploymentId) -> PathBuf {
        self.root.join("deployments").join(format!("{id}.jsonl"))
    }

    fn lock_path(&self, application: &str) -> PathBuf {
        self.root
            .join("locks")
            .join(format!("{}.lock", application.replace('/', "--")))
    }

    fn control_path(&self, id: &DeploymentId) -> PathBuf {
        self.root.join("control").join(format!("{id}.json"))
    }

    fn guard_path(&self, application: &str) -> PathBuf {
        self.root
            .join("locks")
            .join(format!("{}.guard", application.replace('/', "--")))
    }

    /// The deployment holding `application`'s lock (lapsed or not), if any.
    pub fn lock_holder(&self, application: &str) -> Option<DeploymentId> {
        self.read_lease(application)
            .ok()
            .flatten()
            .map(|l| l.owner.deployment)
    }

    /// `application`'s current lease as written in its lock file; an unreadable lock file is an error
    /// that says how to clear it.
    pub fn read_lease(&self, application: &str) -> Result<Option<Lease>, ProviderError> {
        let path = self.lock_path(application);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| ProviderError::Conflict {
                message: format!(
                    "the lock file {} is unreadable ({e}); if no deployment of {application} is running, delete it",
                    path.display()
                ),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("lock", &path, e)),
        }
    }

    /// Runs `f` while holding `application`'s guard: lock, renew, unlock and append of one application
    /// never interleave, across processes (an advisory `flock`).
    fn guarded<T>(
        &self,
        application: &str,
        f: impl FnOnce() -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let path = self.guard_path(application);
        crate::flock::exclusive(&path, crate::flock::LOCK_WAIT, f)
            .map_err(|e| io_err("lock guard", &path, e))?
    }

    /// Leaves a request for deployment `id`.
    pub fn send(&self, id: &DeploymentId, control: &Control) -> io::Result<()> {
        let text = serde_json::to_string(control).map_err(io::Error::other)?;
        atomic_write(&self.control_path(id), text.as_bytes())
    }

    /// Removes `application`'s lock file whatever it holds (for `unlock --force` on an unreadable one).
    pub fn remove_lock_file(&self, application: &str) -> io::Result<()> {
        match fs::remove_file(self.lock_path(application)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Forgets the request left for deployment `id`, if any.
    pub fn clear_control(&self, id: &DeploymentId) {
        let _ = fs::remove_file(self.control_path(id));
    }

    /// The request left for deployment `id`, if any.
    pub fn received(&self, id: &DeploymentId) -> Option<Control> {
        let text = fs::read_to_string(self.control_path(id)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Every deployment with a record, with its application, oldest first (by start time).
    pub fn all(&self) -> Vec<(DeploymentId, Vec<RecordEntry>)> {
        let Ok(dir) = fs::read_dir(self.root.join("deployments")) else {
            return Vec::new();
        };
        let mut out: Vec<(DeploymentId, Vec<RecordEntry>)> = dir
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e
                    .file_name()
                    .to_string_lossy()
                    .strip_suffix(".jsonl")?
                    .to_string();
                let id = DeploymentId::new(name).ok()?;
                let record = read_record(&e.path()).ok()?;
                Some((id, record))
            })
            .collect();
        out.sort_by_key(|(id, r)| (r.first().map(|e| e.at), id.clone()));
        out
    }
}

/// Writes `bytes` to `path` atomically, readable only by the owner.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

fn read_record(path: &Path) -> io::Result<Vec<RecordEntry>> {
    let text = fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)))
        .collect()
}

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
fn local_owner_alive(lease: &Lease) -> Option<bool> {
    let (host, pid) = lease.owner.host.rsplit_once(':')?;
    let pid = pid.parse::<u32>().ok()?;
    if host != host_name() {
        return None;
    }
    Some(pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists())
}

#[async_trait]
impl StateStore for FileStore {
    async fn append(
        &self,
        lease: &Lease,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError> {
        self.guarded(&lease.application, || {
            let current = self.read_lease(&lease.application)?;
            ensure_current(current.as_ref(), lease)?;
            let path = self.record_path(deployment);
            let mut text = match fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(io_err("record", &path, e)),
            };
            let len = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
            if entry.seq != len {
                return Err(ProviderError::Conflict {
                    message: format!(
                        "entry {} appended to {deployment}, whose record has {len} entries",
                        entry.seq
                    ),
                });
            }
            let line = serde_json::to_string(entry).map_err(|e| ProviderError::Invalid {
                message: e.to_string(),
            })?;
            text.push_str(&line);
            text.push('\n');
            atomic_write(&path, text.as_bytes()).map_err(|e| io_err("record", &path, e))
        })
    }

    async fn load(&self, deployment: &DeploymentId) -> Result<Vec<RecordEntry>, ProviderError> {
        let path = self.record_path(deployment);
        read_record(&path).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => ProviderError::Invalid {
                message: format!("record {} is damaged: {e}", path.display()),
            },
            _ => io_err("record", &path, e),
        })
    }

    async fn list(&self, application: &str) -> Result<Vec<DeploymentId>, ProviderError> {
        Ok(self
            .all()
            .into_iter()
            .filter(|(_, r)| {
                matches!(r.first().map(|e| &e.event), Some(Event::Started { plan, .. }) if plan.application == application)
            })
            .map(|(id, _)| id)
            .collect())
    }

    async fn lock(
        &self,
        application: &str,
        owner: &LockOwner,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.guarded(application, || {
            let path = self.lock_path(application);
            let current = self.read_lease(application)?;
            // A holder that was a process of this machine and is gone cannot renew: its lease has lapsed. One
            // that still exists holds the lock even if it could not renew (a long hook): it is alive.
            let current = current.map(|l| match local_owner_alive(&l) {
                Some(false) => Lease { expires: now, ..l },
                Some(true) if l.expired(now) => Lease {
                    expires: now + Duration::from_millis(1),
                    ..l
                },
                _ => l,
            });
            let lease =
                take_lease(current.as_ref(), application, owner, now, ttl).map_err(|e| {
                    let message = match e {
                        ProviderError::Conflict { message } => message,
                        other => other.to_string(),
                    };
                    ProviderError::Conflict {
                        message: format!(
                            "{message} ({}); a run that died releases it when its lease lapses",
                            path.display()
                        ),
                    }
                })?;
            write_lease(&path, &lease)?;
            Ok(lease)
        })
    }

    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.guarded(&lease.application, || {
            let current = self.read_lease(&lease.application)?;
            let renewed = renew_lease(current.as_ref(), lease, now, ttl)?;
            write_lease(&self.lock_path(&lease.application), &renewed)?;
            Ok(renewed)
        })
    }

    async fn unlock(&self, lease: &Lease) -> Result<(), ProviderError> {
        self.guarded(&lease.application, || {
            let path = self.lock_path(&lease.application);
            let current = self.read_lease(&lease.application)?;
            if !release_lease(current.as_ref(), lease)? {
                return Ok(());
            }
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("lock", &path, e)),
                _ => Ok(()),
            }
        })
    }

    async fn holder(&self, application: &str) -> Result<Option<Lease>, ProviderError> {
        self.read_lease(application)
    }
}

/// Writes a lease to its lock file atomically (the file never exists half-written).
fn write_lease(path: &Path, lease: &Lease) -> Result<(), ProviderError> {
    let text = serde_json::to_string(lease).map_err(|e| ProviderError::Invalid {
        message: e.to_string(),
    })?;
    atomic_write(path, text.as_bytes()).map_err(|e| io_err("lock", path, e))
}

/// Approvals that arrive as control requests (`bluegreen promote`, or an `abort` which rejects).
pub struct FileApproval {
    store: Backend,
    poll: Duration,
}

impl FileApproval {
    /// Polls `store` every `poll` (real time).
    pub fn new(store: Backend, poll: Duration) -> Self {
        FileApproval { store, poll }
    }
}

#[async_trait]
impl Approval for FileApproval {
    async fn wait(&self, request: &ApprovalRequest) -> Result<ApprovalDecision, ProviderError> {
        loop {
            match self.store.received(&request.deployment).await {
                Some(Control::Approve { by, pre_approved }) => {
                    self.store
                        .consume(
                            &request.deployment,
                            &Control::Approve {
                                by: by.clone(),
                                pre_approved,
                            },
                        )
                        .await;
                    let by = if pre_approved {
                        format!("{by} (pre-approved)")
                    } else {
                        by
                    };
                    return Ok(ApprovalDecision::Approved { by });
                }
                Some(Control::Reject { by, reason }) => {
                    return Ok(ApprovalDecision::Rejected { by, reason });
                }
                _ => tokio::time::sleep(self.poll).await,
            }
        }
    }
}

/// Cancels `token` when an abort request for `id` arrives.
pub async fn watch_abort(store: Backend, id: DeploymentId, token: CancelToken, poll: Duration) {
    loop {
        if let Some(Control::Abort { .. }) = store.received(&id).await {
            token.cancel();
            return;
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(name: &str) -> (FileStore, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("bluegreen-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        (FileStore::open(&dir).expect("state directory"), dir)
    }

    #[tokio::test]
    async fn the_file_store_keeps_the_store_contract() {
        let (store, dir) = temp_store("contract");
        let now = bluegreen_testkit::EPOCH_2026;
        bluegreen_testkit::conformance::store_contract(&store, "file", now).await;
        // Through the fault decorator too.
        let clock: std::sync::Arc<dyn bluegreen_core::Clock> =
            std::sync::Arc::new(bluegreen_testkit::ManualClock::new(now));
        let faulty = bluegreen_testkit::Faulty::new(
            store.clone(),
            clock,
            bluegreen_testkit::FaultHandle::new(1),
        );
        bluegreen_testkit::conformance::store_contract(&faulty, "file-faulty", now).await;
        let _ = fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_lock_held_by_a_dead_local_process_is_taken_over() {
        let (store, dir) = temp_store("dead");
        let now = bluegreen_testkit::EPOCH_2026;
        let ttl = Duration::from_secs(3600);
        let dead = LockOwner {
            deployment: DeploymentId::new("old").unwrap(),
            run: "old-run".into(),
            // A pid that cannot exist (above the kernel's pid_max).
            host: format!("{}:{}", host_name(), 4_194_999),
        };
        store.lock("app", &dead, now, ttl).await.unwrap();
        let alive = LockOwner {
            deployment: DeploymentId::new("new").unwrap(),
            run: "new-run".into(),
            host: format!("{}:{}", host_name(), std::process::id()),
        };
        let lease = store.lock("app", &alive, now, ttl).await.unwrap();
        assert_eq!(lease.fence, 2, "taken over");
        // A live one (this process) is not taken over.
        let other = LockOwner {
            deployment: DeploymentId::new("other").unwrap(),
            run: "other-run".into(),
            host: "elsewhere:1".into(),
        };
        assert!(matches!(
            store.lock("app", &other, now, ttl).await,
            Err(ProviderError::Conflict { .. })
        ));
        let _ = fs::remove_dir_all(dir);
    }
}
