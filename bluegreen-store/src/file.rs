//! The state directory: deployment records, per-application locks (lease and fence), and control requests
//! that other processes leave for a running deployment. Owner-only permissions (0700 directories, 0600
//! files); every write is atomic (write a temporary file, fsync, rename, fsync the directory); lock, renew,
//! unlock and append of one application never interleave across processes (an advisory `flock` that gives
//! up after [`LOCK_WAIT`](crate::flock::LOCK_WAIT)).

use crate::control::{Control, ControlQueue};
use crate::process::local_owner_alive;
use async_trait::async_trait;
use bluegreen_core::provider::{ensure_current, release_lease, renew_lease, take_lease};
use bluegreen_core::{
    DeploymentId, Event, Lease, LockOwner, ProviderError, RecordEntry, StateStore, Timestamp,
};
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
            .join(format!("{}.lock", file_key(application)))
    }

    fn control_path(&self, id: &DeploymentId) -> PathBuf {
        self.root.join("control").join(format!("{id}.json"))
    }

    fn guard_path(&self, application: &str) -> PathBuf {
        self.root
            .join("locks")
            .join(format!("{}.guard", file_key(application)))
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

    /// Every record file of the state directory, with its deployment id (files whose name is no id are
    /// skipped).
    fn record_files(&self) -> impl Iterator<Item = (DeploymentId, PathBuf)> {
        fs::read_dir(self.root.join("deployments"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e
                    .file_name()
                    .to_string_lossy()
                    .strip_suffix(".jsonl")?
                    .to_string();
                Some((DeploymentId::new(name).ok()?, e.path()))
            })
    }

    /// Every deployment with a record, with its application, oldest first (by start time).
    pub fn all(&self) -> Vec<(DeploymentId, Vec<RecordEntry>)> {
        let mut out: Vec<(DeploymentId, Vec<RecordEntry>)> = self
            .record_files()
            .filter_map(|(id, path)| Some((id, read_record(&path).ok()?)))
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

/// The first entry of the record at `path`, if it can be read (whatever follows it).
fn first_entry(path: &Path) -> Option<RecordEntry> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    serde_json::from_str(line).ok()
}

fn read_record(path: &Path) -> io::Result<Vec<RecordEntry>> {
    let text = fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)))
        .collect()
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

    /// Every record whose first entry (`started`) names `application`, oldest first — a record damaged
    /// further on included: it must not vanish from `history` and `status` while `deploy` refuses because
    /// of it.
    async fn list(&self, application: &str) -> Result<Vec<DeploymentId>, ProviderError> {
        let mut found: Vec<(Timestamp, DeploymentId)> = self
            .record_files()
            .filter_map(|(id, path)| {
                let first = first_entry(&path)?;
                match &first.event {
                    Event::Started { plan, .. } if plan.application == application => {
                        Some((first.at, id))
                    }
                    _ => None,
                }
            })
            .collect();
        found.sort();
        Ok(found.into_iter().map(|(_, id)| id).collect())
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

#[async_trait]
impl ControlQueue for FileStore {
    async fn send(&self, id: &DeploymentId, control: &Control) -> Result<(), ProviderError> {
        FileStore::send(self, id, control)
            .map_err(|e| io_err("control request", &self.control_path(id), e))
    }
    async fn received(&self, id: &DeploymentId) -> Option<Control> {
        FileStore::received(self, id)
    }
    async fn consume(&self, id: &DeploymentId, control: &Control) {
        if FileStore::received(self, id).as_ref() == Some(control) {
            self.clear_control(id);
        }
    }
    async fn clear(&self, id: &DeploymentId) {
        self.clear_control(id);
    }
    /// A file read every 250 ms.
    fn poll_interval(&self) -> Duration {
        Duration::from_millis(250)
    }
}

/// The file name of `application` (`{environment}/{application}`), one per application: `poc/poc-web` is
/// `poc--poc-web`, as earlier versions named it (their locks are still seen), whenever that form decodes
/// one way only — neither part contains `--` or `%`, the environment does not end and the application does
/// not start with `-`. Any other key is percent-encoded (`%2F` for the `/`, `%25` for `%`), a form the
/// first never takes: `poc--a/b` and `poc/a--b` no longer share one lock. A key without `/` is its own name
/// unless it contains `--` or `%` (then `%25` and `%2D` for each `%` and `-`).
fn file_key(application: &str) -> String {
    let plain = |part: &str| !part.contains("--") && !part.contains('%');
    match application.split_once('/') {
        None if plain(application) => application.to_string(),
        None => application.replace('%', "%25").replace('-', "%2D"),
        Some((env, app))
            if plain(env)
                && plain(app)
                && !app.contains('/')
                && !env.ends_with('-')
                && !app.starts_with('-') =>
        {
            format!("{env}--{app}")
        }
        Some(_) => application.replace('%', "%25").replace('/', "%2F"),
    }
}

#[cfg(test)]
mod key_tests {
    use super::file_key;

    #[test]
    fn every_application_has_a_file_of_its_own() {
        assert_eq!(
            file_key("poc/poc-web"),
            "poc--poc-web",
            "the earlier name is kept"
        );
        assert_ne!(file_key("poc--a/b"), file_key("poc/a--b"));
        assert_ne!(file_key("poc-/a"), file_key("poc/-a"));
        assert_ne!(file_key("a%2Fb/c"), file_key("a/b/c"));
        let keys = [
            "poc--a/b", "poc/a--b", "poc-/a", "poc/-a", "a/b", "a--b/c", "a/b--c", "a%/b",
        ];
        let files: std::collections::BTreeSet<String> = keys.iter().map(|k| file_key(k)).collect();
        assert_eq!(files.len(), keys.len(), "{files:?}");
    }
}
