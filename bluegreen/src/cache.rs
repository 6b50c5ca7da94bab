//! The resolved ARNs of an application, kept in the state directory so that read-only work skips discovery.

use bluegreen_aws::{Naming, Resolved, TargetSpec};
use std::path::{Path, PathBuf};

/// The resolved ARNs of an application, kept in the state directory so that read-only deployers skip
/// discovery (four to five calls). Keyed by everything that names the resources; checked by the first read
/// itself (the listener's forward action must still go to the cached target groups), and refreshed by every
/// deployer that may change traffic.
#[derive(Debug, Clone)]
pub struct ResolvedCache {
    path: PathBuf,
    key: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedResolved {
    key: String,
    resolved: Resolved,
}

impl ResolvedCache {
    pub(crate) fn new(state_dir: &Path, naming: &Naming, spec: &TargetSpec) -> Self {
        ResolvedCache {
            path: state_dir
                .join("resolved")
                .join(format!("{}.json", naming.load_balancer())),
            key: format!("{spec:?}"),
        }
    }

    pub(crate) fn load(&self) -> Option<Resolved> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let c: CachedResolved = serde_json::from_str(&text).ok()?;
        (c.key == self.key).then_some(c.resolved)
    }

    /// Best effort: a cache that cannot be written only costs the next read-only deployer its discovery.
    pub(crate) fn store(&self, resolved: &Resolved) {
        let c = CachedResolved {
            key: self.key.clone(),
            resolved: resolved.clone(),
        };
        if let (Some(dir), Ok(text)) = (self.path.parent(), serde_json::to_string(&c)) {
            let _ = std::fs::create_dir_all(dir);
            let _ = bluegreen_store::atomic_write(&self.path, text.as_bytes());
        }
    }

    /// Forgets the cached names (they no longer match the world).
    pub fn invalidate(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
