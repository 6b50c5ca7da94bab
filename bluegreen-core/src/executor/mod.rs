//! The executor: runs a [`Plan`] against the provider traits, records every transition, and rolls back when
//! a gate fails.
//!
//! ```
//! # use bluegreen_core::*;
//! # async fn demo(providers: Providers) -> Result<(), ExecError> {
//! let plan = Plan::new("poc/poc-web", Strategy::gradual().compile().expect("valid"));
//! let outcome = Executor::new(providers)
//!     .run(DeploymentId::new("poc-web-42").expect("valid id"), plan)
//!     .await?;
//! println!("{outcome}");
//! # Ok(()) }
//! ```

mod cancel;
mod changes;
mod control;
mod emergency;
mod event;
mod outcome;
mod plan;
mod replay;
mod retry;
mod run;

pub use cancel::{CancelToken, Cancelled};
pub use changes::{PlannedChange, PlannedChanges};
pub use control::{ControlAsk, ControlRefusal};
pub use emergency::{
    EmergencyDecision, EmergencyError, EmergencyRequest, RecordState, ServingColors, StableChoice,
    StableEvidence, Undecided, choose_stable,
};
pub use event::{Event, NoopObserver, Notice, Observer, RecordEntry, ResumeAction};
pub use outcome::{Outcome, RollbackReason};
pub use plan::{
    BakeWarning, CancelPolicy, CapacityPolicy, DeploymentId, Drain, DrainWait, InvalidDeploymentId,
    MAX_WAIT, Plan, PlanError, RetryPolicy, VerifyPolicy,
};
pub use replay::{Replay, ReplayError};

use crate::Color;
use crate::{
    Approval, Capacity, Clock, HealthSource, ProviderError, StateStore, TrafficRouter, TrafficSplit,
};
use std::sync::Arc;

/// The providers a deployment runs against.
#[derive(Clone)]
pub struct Providers {
    /// The listener's weights.
    pub router: Arc<dyn TrafficRouter>,
    /// Target health, metrics, alarms.
    pub health: Arc<dyn HealthSource>,
    /// Auto Scaling groups; `None` leaves capacity alone.
    pub capacity: Option<Arc<dyn Capacity>>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Manual approvals.
    pub approval: Arc<dyn Approval>,
    /// Records and locks.
    pub store: Arc<dyn StateStore>,
    /// User hooks; `None` runs none (e.g. `--skip-tests`).
    pub hooks: Option<Arc<dyn crate::Hooks>>,
}

/// Why a deployment could not start or resume. Nothing was changed when one of these is returned, except
/// where a deployment was already under way (then the [`Outcome`] says what happened instead).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// Another deployment of the application holds the lock.
    #[error("another deployment is in progress: {message}")]
    Locked {
        /// The store's message, naming the holder.
        message: String,
    },
    /// The split is not 100 % on one color.
    #[error(
        "the split is {split}: a deployment starts with all traffic on one color; finish or roll back first, or continue from it (`deploy --from-current`)"
    )]
    NotAtRest {
        /// The split found.
        split: TrafficSplit,
    },
    /// The routes that move together (several listeners or rules) have different splits: someone moved
    /// one of them, or a write reached only some.
    #[error(
        "the routes disagree ({routing}): a deployment moves them together from one split; roll back or shift first"
    )]
    RoutesDisagree {
        /// Each route's split.
        routing: String,
    },
    /// The color holding all traffic is not the one the plan expects.
    #[error("expected {expected} to hold all traffic, but the split is {split}")]
    UnexpectedStable {
        /// The color expected.
        expected: Color,
        /// The split found.
        split: TrafficSplit,
    },
    /// An earlier deployment of the application never finished (its run died): resume it or roll it back
    /// before starting another.
    #[error(
        "deployment {0} of this application did not finish: resume it (or resume with rollback) before starting another"
    )]
    Unfinished(DeploymentId),
    /// `resume --rollback` of a deployment that was promoted: its old color may already be scaled down,
    /// so a rollback could send all traffic to a color with no instances.
    #[error(
        "deployment {0} was promoted: rolling it back could send all traffic to a scaled-down color; use an emergency rollback, which checks the target's health, or deploy again"
    )]
    AlreadyPromoted(DeploymentId),
    /// Another deployment's live mark is on the routes ([`RouteMark`](crate::RouteMark)): it runs from a
    /// machine or directory whose state store this one does not share.
    #[error(
        "the listener is marked by {mark}: it runs from a machine or directory whose state this one does not share; nothing was changed: wait for it to end, or share the state (docs/teams.md)"
    )]
    Marked {
        /// The mark found.
        mark: crate::RouteMark,
    },
    /// A deployment with this id already has a record.
    #[error("deployment {0} already exists")]
    DuplicateId(DeploymentId),
    /// No record to resume.
    #[error("no record of deployment {0}")]
    NoRecord(DeploymentId),
    /// A record that cannot be replayed.
    #[error("the record of deployment {deployment} cannot be replayed: {source}")]
    BadRecord {
        /// The deployment.
        deployment: DeploymentId,
        /// Why.
        source: ReplayError,
    },
    /// A plan that cannot run.
    #[error("invalid plan: {0}")]
    InvalidPlan(String),
    /// A provider failed before anything was changed.
    #[error("{operation} failed: {source}")]
    Provider {
        /// The operation.
        operation: &'static str,
        /// The error.
        source: ProviderError,
    },
}

/// Runs deployments. Cheap to build; one executor can run many deployments one after another.
pub struct Executor {
    providers: Providers,
    observer: Arc<dyn Observer>,
    cancel: CancelToken,
    run: String,
    host: String,
    lease_ttl: std::time::Duration,
    watch_through: bool,
    actor: Option<String>,
}

/// The default lease of the deployment lock: renewed every 30 s while a run lives, taken over 60 s after
/// its run died.
pub const DEFAULT_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl Executor {
    /// An executor with no observer and a fresh cancel token.
    pub fn new(providers: Providers) -> Self {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let run = format!("run-{}-{n}", providers.clock.now().as_millis());
        Executor {
            providers,
            observer: Arc::new(NoopObserver),
            cancel: CancelToken::new(),
            run,
            host: "local".into(),
            lease_ttl: DEFAULT_LEASE_TTL,
            watch_through: false,
            actor: None,
        }
    }

    /// Names this executor's runs: `run` must be unique to this process's run (two executors with the
    /// same token would share the lock), `host` says where it is (e.g. `hostname:pid`).
    pub fn with_run(mut self, run: impl Into<String>, host: impl Into<String>) -> Self {
        self.run = run.into();
        self.host = host.into();
        self
    }

    /// Sets the lease of the deployment lock (default [`DEFAULT_LEASE_TTL`]): how long after this run
    /// stops renewing it (a crash) another run may take the lock over.
    pub fn with_lease_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.lease_ttl = ttl.max(std::time::Duration::from_millis(3));
        self
    }

    /// The lock owner of this executor's run of `deployment`.
    pub fn owner(&self, deployment: &DeploymentId) -> crate::LockOwner {
        crate::LockOwner {
            deployment: deployment.clone(),
            run: self.run.clone(),
            host: self.host.clone(),
        }
    }

    /// Sends progress to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Watches a [`Step::Watch`](crate::Step::Watch) to its end in this run. By default a run that reaches
    /// a watch judges once and stops there ([`Outcome::Watching`]): the deployment stays in progress (its
    /// lock and record say so) and a later run — `bluegreen watch --once` from a schedule, any machine —
    /// resumes it, judges what was published since, and stops again.
    pub fn watching_through(mut self) -> Self {
        self.watch_through = true;
        self
    }

    /// Uses `token` for cancellation.
    pub fn with_cancel(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }

    /// Records `actor` as who started the deployments it runs (`started`'s `by`): the front end's user.
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.set_actor(actor);
        self
    }

    /// [`with_actor`](Self::with_actor) on an executor already made.
    pub fn set_actor(&mut self, actor: impl Into<String>) {
        self.actor = Some(actor.into());
    }

    /// The providers it runs on.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The cancel token: cancel it to stop at the next safe point.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Runs a new deployment to its end: takes the application's lock, reads the split to find the stable
    /// color, runs the schedule, rolls back on failure, and releases the lock.
    pub async fn run(&self, id: DeploymentId, plan: Plan) -> Result<Outcome, ExecError> {
        run::start(self, id, plan).await
    }

    /// The emergency path: writes `split` and verifies it, retrying transient errors. It takes no lock and
    /// writes no record, so it works while another deployment runs or when a record is damaged; stop that
    /// deployment too (cancel it), or it may move traffic again.
    pub async fn set_split(&self, split: TrafficSplit) -> Result<TrafficSplit, ExecError> {
        run::set_split(self, split).await
    }

    /// Picks up a deployment from its record after its process died. A finished deployment returns its
    /// recorded outcome and changes nothing.
    pub async fn resume(
        &self,
        id: &DeploymentId,
        action: ResumeAction,
    ) -> Result<Outcome, ExecError> {
        run::resume(self, id, action).await
    }
}
