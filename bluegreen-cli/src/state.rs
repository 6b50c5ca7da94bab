//! The state directory: deployment records, per-application locks, and control requests (promote, abort)
//! that other processes leave for a running deployment. Owner-only permissions; every write is atomic
//! (write a temporary file, fsync, rename, fsync the directory).

use async_trait::async_trait;
use bluegreen_core::{
    Approval, ApprovalDecision, ApprovalRequest, CancelToken, DeploymentId, Event, ProviderError,
    RecordEntry, StateStore,
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

    /// The deployment holding `application`'s lock, if any.
    pub fn lock_holder(&self, application: &str) -> Option<DeploymentId> {
        let text = fs::read_to_string(self.lock_path(application)).ok()?;
        DeploymentId::new(text.trim()).ok()
    }

    /// Leaves a request for deployment `id`.
    pub fn send(&self, id: &DeploymentId, control: &Control) -> io::Result<()> {
        let text = serde_json::to_string(control).map_err(io::Error::other)?;
        atomic_write(&self.control_path(id), text.as_bytes())
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

#[async_trait]
impl StateStore for FileStore {
    async fn append(
        &self,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError> {
        let path = self.record_path(deployment);
        let mut text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_err("record", &path, e)),
        };
        let line = serde_json::to_string(entry).map_err(|e| ProviderError::Invalid {
            message: e.to_string(),
        })?;
        text.push_str(&line);
        text.push('\n');
        atomic_write(&path, text.as_bytes()).map_err(|e| io_err("record", &path, e))
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

    async fn lock(&self, application: &str, holder: &DeploymentId) -> Result<(), ProviderError> {
        let path = self.lock_path(application);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => f
                .write_all(holder.as_str().as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| io_err("lock", &path, e)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match self
                .lock_holder(application)
            {
                Some(h) if &h == holder => Ok(()),
                Some(h) => Err(ProviderError::Conflict {
                    message: format!(
                        "{application} is locked by deployment {h} ({}); if that process is gone, run `bluegreen resume` or `bluegreen rollback`",
                        path.display()
                    ),
                }),
                None => Err(ProviderError::Conflict {
                    message: format!("{application} is locked ({} is unreadable)", path.display()),
                }),
            },
            Err(e) => Err(io_err("lock", &path, e)),
        }
    }

    async fn unlock(&self, application: &str, holder: &DeploymentId) -> Result<(), ProviderError> {
        let path = self.lock_path(application);
        match self.lock_holder(application) {
            Some(h) if &h != holder => Err(ProviderError::Conflict {
                message: format!("{application} is locked by deployment {h}, not {holder}"),
            }),
            _ => match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err("lock", &path, e)),
            },
        }
    }
}

/// Approvals that arrive as control requests (`bluegreen promote`, or an `abort` which rejects).
pub struct FileApproval {
    store: FileStore,
    poll: Duration,
}

impl FileApproval {
    /// Polls `store` every `poll` (real time).
    pub fn new(store: FileStore, poll: Duration) -> Self {
        FileApproval { store, poll }
    }
}

#[async_trait]
impl Approval for FileApproval {
    async fn wait(&self, request: &ApprovalRequest) -> Result<ApprovalDecision, ProviderError> {
        loop {
            match self.store.received(&request.deployment) {
                Some(Control::Approve { by }) => {
                    let _ = fs::remove_file(self.store.control_path(&request.deployment));
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
pub async fn watch_abort(store: FileStore, id: DeploymentId, token: CancelToken, poll: Duration) {
    loop {
        if let Some(Control::Abort { .. }) = store.received(&id) {
            token.cancel();
            return;
        }
        tokio::time::sleep(poll).await;
    }
}
