//! A ready-made test bench: a [`SimWorld`], a [`MemoryStore`], an approval, fault injection, and an observer
//! that keeps the timeline.

use crate::{FaultHandle, Faulty, MemoryStore, SimWorld, Stalled, WorldConfig, run_virtual};
use bluegreen_core::{
    Approval, Clock, DeploymentId, Event, ExecError, Executor, Notice, Observer, Outcome, Plan,
    Providers, RecordEntry, ResumeAction, Timestamp, TrafficSplit,
};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

type Kept = (Vec<RecordEntry>, Vec<(Timestamp, Notice)>);

/// An [`Observer`] that keeps every event and notice.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    inner: Arc<Mutex<Kept>>,
}

impl EventLog {
    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every event so far.
    pub fn entries(&self) -> Vec<RecordEntry> {
        self.lock().0.clone()
    }

    /// Every notice so far.
    pub fn notices(&self) -> Vec<(Timestamp, Notice)> {
        self.lock().1.clone()
    }
}

impl Observer for EventLog {
    fn on_event(&self, entry: &RecordEntry) {
        self.lock().0.push(entry.clone());
    }
    fn on_notice(&self, at: Timestamp, notice: &Notice) {
        self.lock().1.push((at, notice.clone()));
    }
}

/// A simulated world with everything a deployment needs, on virtual time.
///
/// ```
/// use bluegreen_core::{Color, Outcome, Plan, Strategy, TrafficSplit};
/// use bluegreen_testkit::{Harness, WorldConfig};
/// let h = Harness::new(WorldConfig::default());
/// let plan = Plan::new("poc/poc-web", Strategy::gradual().compile().unwrap());
/// let outcome = h.run("d1", plan).unwrap();
/// assert!(matches!(outcome, Outcome::Promoted { .. }));
/// assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Green));
/// // Five 3-minute bakes, each until CloudWatch has published its minutes: in microseconds.
/// assert!(h.elapsed().as_secs() > 15 * 60);
/// ```
pub struct Harness {
    /// The world.
    pub world: SimWorld,
    /// Records and locks.
    pub store: MemoryStore,
    /// Approvals; by default one that never decides.
    pub approval: Arc<dyn Approval>,
    /// Faults injected into the router, health source and capacity provider.
    pub faults: FaultHandle,
    /// Every event and notice of every run.
    pub events: EventLog,
    /// Whether the executor gets a capacity provider.
    pub manage_capacity: bool,
    /// User hooks, if any.
    pub hooks: Option<Arc<dyn bluegreen_core::Hooks>>,
    /// The executor's wall clock: the world's clock, steppable (see [`SteppedClock`](crate::SteppedClock)).
    pub wall: crate::SteppedClock,
    /// Providers that replace the world's, for tests of custom implementations.
    pub custom: CustomProviders,
    started: Timestamp,
}

/// Providers a test puts in place of the world's (each `None` keeps the world's, behind the faults).
#[derive(Clone, Default)]
pub struct CustomProviders {
    /// In place of the world's router.
    pub router: Option<Arc<dyn bluegreen_core::TrafficRouter>>,
    /// In place of the world's health source.
    pub health: Option<Arc<dyn bluegreen_core::HealthSource>>,
    /// In place of the world's capacity provider.
    pub capacity: Option<Arc<dyn bluegreen_core::Capacity>>,
    /// In place of the memory store (e.g. the store behind a [`Faulty`] decorator).
    pub store: Option<Arc<dyn bluegreen_core::StateStore>>,
}

impl Harness {
    /// A harness on a new world.
    pub fn new(config: WorldConfig) -> Self {
        Self::with_clock(config, crate::ManualClock::default())
    }

    /// A harness on a new world that shares `clock` (many deployments on one virtual timeline).
    pub fn with_clock(config: WorldConfig, clock: crate::ManualClock) -> Self {
        let seed = config.seed;
        let world = SimWorld::with_clock(config, clock);
        let started = world.clock().now();
        let clock: Arc<dyn Clock> = Arc::new(world.clock().clone());
        let wall = crate::SteppedClock::new(world.clock().clone());
        Harness {
            approval: Arc::new(crate::ScriptedApproval::never(clock)),
            wall,
            custom: CustomProviders::default(),
            world,
            store: MemoryStore::new(),
            faults: FaultHandle::new(seed),
            events: EventLog::default(),
            manage_capacity: false,
            hooks: None,
            started,
        }
    }

    /// Uses `approval`.
    pub fn with_approval(mut self, approval: Arc<dyn Approval>) -> Self {
        self.approval = approval;
        self
    }

    /// Gives the executor the capacity provider.
    pub fn with_capacity(mut self) -> Self {
        self.manage_capacity = true;
        self
    }

    /// The executor's clock (the world's, steppable through [`wall`](Self::wall)), as the core's trait
    /// object.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(self.wall.clone())
    }

    /// The providers, with faults injected into the router, health source and capacity provider, and
    /// any [`custom`](Self::custom) ones in their place.
    pub fn providers(&self) -> Providers {
        let clock = self.clock();
        let c = &self.custom;
        Providers {
            router: c.router.clone().unwrap_or_else(|| {
                Arc::new(Faulty::new(
                    self.world.router(),
                    clock.clone(),
                    self.faults.clone(),
                ))
            }),
            health: c.health.clone().unwrap_or_else(|| {
                Arc::new(Faulty::new(
                    self.world.health(),
                    clock.clone(),
                    self.faults.clone(),
                ))
            }),
            capacity: self.manage_capacity.then(|| {
                c.capacity.clone().unwrap_or_else(|| {
                    Arc::new(Faulty::new(
                        self.world.capacity(),
                        clock.clone(),
                        self.faults.clone(),
                    ))
                })
            }),
            clock,
            approval: self.approval.clone(),
            store: c
                .store
                .clone()
                .unwrap_or_else(|| Arc::new(self.store.clone())),
            hooks: self.hooks.clone(),
        }
    }

    /// An executor on [`providers`](Self::providers) that reports to [`events`](Self::events).
    pub fn executor(&self) -> Executor {
        Executor::new(self.providers()).with_observer(Arc::new(self.events.clone()))
    }

    /// Runs a deployment to its end on virtual time.
    pub fn run(&self, id: &str, plan: Plan) -> Result<Outcome, ExecError> {
        let id = DeploymentId::new(id).map_err(|e| ExecError::InvalidPlan(e.to_string()))?;
        let exec = self.executor();
        run_virtual(self.world.clock(), exec.run(id, plan)).map_err(stalled)?
    }

    /// Resumes a deployment on virtual time.
    pub fn resume(&self, id: &str, action: ResumeAction) -> Result<Outcome, ExecError> {
        let id = DeploymentId::new(id).map_err(|e| ExecError::InvalidPlan(e.to_string()))?;
        let exec = self.executor();
        run_virtual(self.world.clock(), exec.resume(&id, action)).map_err(stalled)?
    }

    /// Virtual time since the harness was made.
    pub fn elapsed(&self) -> Duration {
        self.world.clock().now().since(self.started)
    }

    /// Offset of `t` from the harness's start.
    pub fn offset(&self, t: Timestamp) -> Duration {
        t.since(self.started)
    }

    /// Every verified split with its offset from the start: the deployment's timeline of traffic.
    pub fn verified_splits(&self) -> Vec<(Duration, TrafficSplit)> {
        self.events
            .entries()
            .iter()
            .filter_map(|e| match &e.event {
                Event::SplitVerified { split } => Some((self.offset(e.at), *split)),
                _ => None,
            })
            .collect()
    }
}

fn stalled(_: Stalled) -> ExecError {
    ExecError::InvalidPlan(
        "the deployment stalled: it waits for something that never comes (an approval?)".into(),
    )
}
