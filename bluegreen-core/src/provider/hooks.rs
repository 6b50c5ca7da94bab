use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::TrafficSplit;

/// Where user hooks (smoke tests, checks) run during a deployment (R9 stage 4, R10 "skip tests").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "point", rename_all = "kebab-case")]
pub enum HookPoint {
    /// Before any traffic moves (after capacity is ready).
    PreTraffic,
    /// After a weight step is verified, before its bake.
    AfterStep {
        /// The schedule step (0-based).
        index: usize,
        /// The split now.
        split: TrafficSplit,
    },
    /// After every step is done, before promotion is recorded.
    AfterSwitch {
        /// The split now.
        split: TrafficSplit,
    },
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookPoint::PreTraffic => f.write_str("pre-traffic"),
            HookPoint::AfterStep { index, .. } => write!(f, "after step {}", index + 1),
            HookPoint::AfterSwitch { .. } => f.write_str("after the switch"),
        }
    }
}

/// A hook that failed: it fails its gate, and the deployment rolls back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("hook {hook} failed: {detail}")]
pub struct HookFailure {
    /// The hook, e.g. its command line.
    pub hook: String,
    /// What happened (exit status, timeout).
    pub detail: String,
}

/// User hooks. The executor calls [`run`](Hooks::run) at each [`HookPoint`]; an error rolls back.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Hooks: Send + Sync {
    /// Runs every hook of `point`, in order, stopping at the first failure.
    async fn run(&self, point: &HookPoint) -> Result<(), HookFailure>;
}
