//! [`Deployer`]: from [`Settings`] to a ready executor, on AWS or on the simulated world.

use crate::cache::ResolvedCache;
use crate::control::{ControlError, UnlockError, Unlocked, send_control};
use crate::settings::{ProviderKind, Settings, SettingsError};
use crate::sim::SimFile;
#[cfg(feature = "sim")]
use crate::sim::{SimFileCapacity, SimFileHealth, SimFileRouter};
use crate::store::{Store, StoreApproval};
use bluegreen_aws::{AwsError, CallCounter, Connection, Naming};
use bluegreen_core::{
    Approval, Color, DeploymentId, ExecError, Executor, Hooks, LaunchSource, Observer, Outcome,
    Plan, ProviderError, Providers, Replay, StrategySettings, TrafficSplit,
};
use bluegreen_store::Control;
#[cfg(feature = "sim")]
use bluegreen_testkit::Scenario;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What can go wrong between settings and an outcome. Nothing has changed in AWS when a setting, the
/// state directory or resolving the resources failed: those happen before any write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing, malformed or out of range (or an image that does not exist).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// Finding the AWS resources failed, or they are not owned by this application.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A provider failed (e.g. the simulated world's file, a pre-flight read).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The state directory cannot be used.
    #[error("state directory {}: {source}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The world as it is refuses the deployment before any change (e.g. the color to receive traffic has
    /// no registered targets): the message says what to do.
    #[error("{0}")]
    Refused(String),
    /// The executor refused or could not run the deployment (another one holds the lock, a record that
    /// cannot be written, ...). A deployment that ran returns an [`Outcome`] instead, rolled back or not.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// What [`Deployer::watch_target`] found.
#[derive(Debug)]
pub enum WatchTarget {
    /// Nothing to watch, and why (a schedule that outlives the watch finds nothing: not an error).
    Nothing(String),
    /// The deployment at its watch, and its record replayed.
    Watching(DeploymentId, Box<bluegreen_core::Replay>),
}

/// One deployment of [`history`], as its record says.
#[derive(Debug)]
#[non_exhaustive]
pub enum Recorded {
    /// Replayed: where it stands or how it ended.
    Replayed(Box<Replay>),
    /// The record's entries do not parse.
    Unparsable {
        /// What the store said.
        message: String,
    },
    /// The record parses but does not replay.
    Damaged(bluegreen_core::executor::ReplayError),
}

/// Every deployment of `application` in `store`, oldest first, each replayed from its record. A record that
/// does not parse or replay is listed as such, so one damaged record hides nothing else; a store that cannot
/// be read is an error, never a shorter history.
pub async fn history(
    store: &Store,
    application: &str,
) -> Result<Vec<(DeploymentId, Recorded)>, ProviderError> {
    use bluegreen_core::StateStore;
    let mut out = Vec::new();
    for id in store.list(application).await? {
        let recorded = match store.load(&id).await {
            Ok(record) => match Replay::new(&record) {
                Ok(replay) => Recorded::Replayed(Box::new(replay)),
                Err(e) => Recorded::Damaged(e),
            },
            Err(ProviderError::Invalid { message }) => Recorded::Unparsable { message },
            Err(e) => return Err(e),
        };
        out.push((id, recorded));
    }
    Ok(out)
}

/// A deployment's providers, store and settings, wired: `Deployer::from_settings(settings).await?.deploy()`
/// runs `[deploy]`'s strategy to an [`Outcome`]. Every piece stays replaceable: the builder takes your
/// approval channel, hooks, observer and AWS connection; [`Deployer::providers_mut`] any provider.
///
/// The `bluegreen` command is built on it: its verbs wire through the same builder, so a program embedding
/// the library and the command deploy the same way.
pub struct Deployer {
    settings: Settings,
    naming: Naming,
    providers: Providers,
    store: Store,
    connection: Option<Connection>,
    sim: Option<Arc<SimFile>>,
    cached: Option<ResolvedCache>,
    observer: Option<Arc<dyn Observer>>,
    /// `[state] lease`, checked when built.
    lease: Duration,
}

/// Builds a [`Deployer`]; see [`Deployer::builder`].
#[must_use = "call build() to wire the deployer"]
pub struct DeployerBuilder {
    settings: Settings,
    read_only: bool,
    #[cfg(feature = "sim")]
    scenario: Option<Scenario>,
    connection: Option<Connection>,
    approval: Option<Arc<dyn Approval>>,
    hooks: Option<Option<Arc<dyn Hooks>>>,
    observer: Option<Arc<dyn Observer>>,
}

impl DeployerBuilder {
    /// Reads only (status, plans, reports): on AWS the resources' names may come from the state
    /// directory's cache, and ownership is not required. A deployer that changes traffic must not be read
    /// only (the default).
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The simulated world: make green behave as `scenario` from now on (default: `[sim] scenario` for a new
    /// world; an existing one keeps its behavior).
    #[cfg(feature = "sim")]
    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.scenario = Some(scenario);
        self
    }

    /// Use this AWS connection (default: one made from `[aws]`; no call is made by connecting). Sharing one
    /// shares its call counter.
    pub fn connection(mut self, connection: Connection) -> Self {
        self.connection = Some(connection);
        self
    }

    /// Your approval channel (default: control requests through the store, so `bluegreen promote` and
    /// `abort` reach the deployment).
    pub fn approval(mut self, approval: Arc<dyn Approval>) -> Self {
        self.approval = Some(approval);
        self
    }

    /// Your hooks (default: `[hooks]`' shell commands).
    pub fn hooks(mut self, hooks: Arc<dyn Hooks>) -> Self {
        self.hooks = Some(Some(hooks));
        self
    }

    /// No hooks, whatever `[hooks]` says (the command's `--skip-tests`).
    pub fn without_hooks(mut self) -> Self {
        self.hooks = Some(None);
        self
    }

    /// Observes every event and notice of the deployments this deployer runs.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Checks every setting, then opens the store and wires the providers: on AWS it resolves the load
    /// balancer, listeners, target groups and Auto Scaling groups (and, unless read only, checks that the
    /// listener is owned by this application); on the simulated world it opens (or creates) the world in
    /// the state directory. Nothing is changed.
    pub async fn build(self) -> Result<Deployer, Error> {
        let s = self.settings;
        // Every setting first: nothing is opened or called with a bad one.
        let naming = s.naming()?;
        let shared = s.shared_state()?;
        let lease = s.state.lease()?;
        let hooks: Option<Arc<dyn Hooks>> = match self.hooks {
            Some(h) => h,
            None => s.hooks()?.map(|h| Arc::new(h) as Arc<dyn Hooks>),
        };
        let provider = s.provider();
        let world = match provider {
            ProviderKind::Aws => World::Aws(Box::new(s.target_spec()?)),
            #[cfg(feature = "sim")]
            ProviderKind::Sim => World::Sim {
                scale: s.time_scale()?,
                scenario: self.scenario.unwrap_or(s.scenario()?),
                explicit: self.scenario.is_some(),
                seed: s.sim.seed.unwrap_or(1),
                latency: s.sim_latency()?,
            },
            #[cfg(not(feature = "sim"))]
            ProviderKind::Sim => {
                return Err(Error::Settings(SettingsError::new(
                    "provider = \"sim\": this build has no simulated world (the bluegreen crate's `sim` feature)",
                )));
            }
        };
        // The state directory holds the simulated world and the resolved names whichever store holds the
        // records.
        let dir = s.state_dir();
        let mut connection = self.connection;
        if connection.is_none() && (provider == ProviderKind::Aws || shared.is_some()) {
            // A profile that does not exist is a bad setting, found before anything is opened or called.
            s.aws_settings().check().await?;
            connection = Some(Connection::connect(&s.aws_settings()).await);
        }
        let store = Store::open(&s, connection.as_ref())?;
        // The store's approval channel waits on the deployment's clock: set once that clock exists, below.
        let custom_approval = self.approval;
        let approval: Arc<dyn Approval> = Arc::new(bluegreen_core::NoApprovalChannel);
        type Wired = (Providers, Option<Arc<SimFile>>, Option<ResolvedCache>);
        let (mut providers, sim, cached): Wired = match world {
            World::Aws(spec) => {
                let conn = match &connection {
                    Some(c) => c.clone(),
                    None => Connection::connect(&s.aws_settings()).await,
                };
                let cache = ResolvedCache::new(&dir, &naming, &spec);
                let (p, cached) = if !self.read_only {
                    // A change always resolves afresh and checks ownership; it refreshes the cache.
                    let p = conn.providers(&spec).await?;
                    cache.store(&p.resolved);
                    (p, None)
                } else if let Some(resolved) = cache.load() {
                    (conn.providers_for(Arc::new(resolved)), Some(cache))
                } else {
                    let resolved = conn.resolve(&spec).await?;
                    cache.store(&resolved);
                    (conn.providers_for(Arc::new(resolved)), None)
                };
                (
                    p.into_providers(Arc::new(store.clone()), approval),
                    None,
                    cached,
                )
            }
            #[cfg(feature = "sim")]
            World::Sim {
                scale,
                scenario,
                explicit,
                seed,
                latency,
            } => {
                let sim = SimFile::open(&dir, scenario, seed, scale)?;
                sim.set_latency(latency);
                if explicit {
                    sim.set_scenario(scenario)?;
                }
                let providers = Providers {
                    router: Arc::new(SimFileRouter(sim.clone())),
                    health: Arc::new(SimFileHealth(sim.clone())),
                    capacity: Some(Arc::new(SimFileCapacity(sim.clone()))),
                    clock: Arc::new(sim.clock()),
                    approval,
                    store: Arc::new(store.clone()),
                    hooks: None,
                };
                (providers, Some(sim), None)
            }
        };
        providers.hooks = hooks;
        let mut deployer = Deployer {
            settings: s,
            naming,
            providers,
            store,
            connection,
            sim,
            cached,
            observer: self.observer,
            lease,
        };
        if let Some(a) = custom_approval {
            deployer.providers.approval = a;
        } else {
            let queue =
                StoreApproval::new(deployer.store.clone(), deployer.providers.clock.clone());
            deployer.providers.approval = Arc::new(queue.poll_every(deployer.control_poll()));
        }
        Ok(deployer)
    }
}

/// Which world the providers act on, checked.
enum World {
    Aws(Box<bluegreen_aws::TargetSpec>),
    #[cfg(feature = "sim")]
    Sim {
        scale: f64,
        scenario: Scenario,
        explicit: bool,
        seed: u64,
        latency: Duration,
    },
}

impl Deployer {
    /// Wires a deployer from `settings` with every default (see [`DeployerBuilder::build`]).
    pub async fn from_settings(settings: Settings) -> Result<Self, Error> {
        Self::builder(settings).build().await
    }

    /// A builder: replace the approval channel, hooks, observer or connection before wiring.
    pub fn builder(settings: Settings) -> DeployerBuilder {
        DeployerBuilder {
            settings,
            read_only: false,
            #[cfg(feature = "sim")]
            scenario: None,
            connection: None,
            approval: None,
            hooks: None,
            observer: None,
        }
    }

    /// The settings it was built from.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The naming convention (`{environment}-{application}-...`).
    pub fn naming(&self) -> &Naming {
        &self.naming
    }

    /// `{environment}/{application}`: the key of records and locks.
    pub fn application(&self) -> String {
        self.naming.application_key()
    }

    /// The providers the executor runs against.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The providers, to replace any of them.
    pub fn providers_mut(&mut self) -> &mut Providers {
        &mut self.providers
    }

    /// Where records, locks and control requests live.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The AWS calls made so far, by operation; `None` on the simulated world with a local store.
    pub fn counter(&self) -> Option<&CallCounter> {
        self.connection.as_ref().map(Connection::counter)
    }

    /// The simulated world, on the simulated provider.
    pub fn sim(&self) -> Option<&Arc<SimFile>> {
        self.sim.as_ref()
    }

    /// The cache the resources' names came from, when a read-only deployer used it: a read that finds
    /// them gone or changed should [`ResolvedCache::invalidate`] it and build again.
    pub fn take_cache(&mut self) -> Option<ResolvedCache> {
        self.cached.take()
    }

    /// The alarms `[gates] alarms` names.
    pub fn alarms(&self) -> Vec<String> {
        self.settings.gates.alarms.clone().unwrap_or_default()
    }

    /// The plan of a deployment: the settings' (see [`Settings::plan`]) with `overlay` over `[deploy]`.
    pub fn plan(
        &self,
        overlay: StrategySettings,
        kind: Option<crate::DeployType>,
    ) -> Result<Plan, SettingsError> {
        self.settings.plan(overlay, kind)
    }

    /// Approves deployment `id` (default: the one holding the application's lock) at the approval step it
    /// waits at, or, with `pre_approve`, at its next approval step before it is reached. Refused, sending
    /// nothing, when the deployment does not accept it now ([`bluegreen_core::Replay::accepts`]).
    pub async fn promote(
        &self,
        id: Option<DeploymentId>,
        by: &str,
        pre_approve: bool,
    ) -> Result<DeploymentId, ControlError> {
        let request = Control::Approve {
            by: by.to_string(),
            pre_approved: pre_approve,
        };
        send_control(&self.store, &self.application(), id, &request).await
    }

    /// Rejects the approval step deployment `id` (default: the one in progress) waits at: it rolls back.
    pub async fn reject(
        &self,
        id: Option<DeploymentId>,
        by: &str,
        reason: Option<String>,
    ) -> Result<DeploymentId, ControlError> {
        let request = Control::Reject {
            by: by.to_string(),
            reason,
        };
        send_control(&self.store, &self.application(), id, &request).await
    }

    /// Stops deployment `id` (default: the one in progress) wherever it runs: it rolls back, or leaves the
    /// split, as its plan's `on_cancel` says.
    pub async fn abort(
        &self,
        id: Option<DeploymentId>,
        by: &str,
    ) -> Result<DeploymentId, ControlError> {
        let request = Control::Abort { by: by.to_string() };
        send_control(&self.store, &self.application(), id, &request).await
    }

    /// Releases the application's lock when its holder is gone (see [`crate::unlock`]), with `[state]
    /// lease` for the take-over.
    pub async fn unlock(&self, force: bool) -> Result<Unlocked, UnlockError> {
        let now = self.providers.clock.now();
        crate::control::unlock(&self.store, &self.application(), now, force, self.lease).await
    }

    /// The application's deployments, oldest first (see [`history`]).
    pub async fn history(&self) -> Result<Vec<(DeploymentId, Recorded)>, ProviderError> {
        history(&self.store, &self.application()).await
    }

    /// An executor on these providers, named after this process (`host:pid`, shown to other processes as
    /// the lock's holder), with `[state] lease` and the observer.
    pub fn executor(&self) -> Executor {
        let exec =
            bluegreen_store::named_executor(self.providers.clone()).with_lease_ttl(self.lease);
        match &self.observer {
            Some(o) => exec.with_observer(o.clone()),
            None => exec,
        }
    }

    /// A new deployment id: `{environment}-{application}-{UTC time to the millisecond}-{process id}`, so
    /// that two processes in the same second get different ones.
    pub fn new_id(&self) -> DeploymentId {
        let t =
            std::time::UNIX_EPOCH + Duration::from_millis(self.providers.clock.now().as_millis());
        let stamp: String = humantime::format_rfc3339_millis(t)
            .to_string()
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect();
        DeploymentId::new(format!(
            "{}-{stamp}-{}",
            self.application().replace('/', "-"),
            std::process::id()
        ))
        .expect("made of a valid application key, digits and dashes")
    }

    /// Checks what the executor would only find out under the lock, after the record began: that no
    /// deployment this store does not know drives the listener (its live mark), that every alarm the gates
    /// watch exists, that the new color has registered targets unless the deployment raises it, that the
    /// plan's new image exists, and that the new color's group launches from a launch template (a launch
    /// configuration cannot take a new image). It completes the plan with what the load balancer holds on
    /// the old color after its weight is 0 ([`CapacityPolicy::drain`](bluegreen_core::CapacityPolicy)):
    /// the scale-down waits for the listener's group stickiness and the old group's deregistration delay.
    /// Reads only; a refusal says "nothing was changed".
    pub async fn preflight(&self, plan: &mut Plan) -> Result<(), Error> {
        if let Some(mark) = self.providers.router.read_mark().await?
            && mark.is_live(self.providers.clock.now())
        {
            // A deployment recorded here is the lock's to refuse (or this one's to resume): only one this
            // store does not know runs from elsewhere.
            let known = match bluegreen_core::StateStore::load(&self.store, &mark.deployment).await
            {
                Ok(record) => !record.is_empty(),
                Err(ProviderError::NotFound { .. }) => false,
                Err(e) => return Err(e.into()),
            };
            if !known {
                return Err(Error::Exec(ExecError::Marked { mark }));
            }
        }
        let alarms = plan.gates.alarms();
        if !alarms.is_empty() {
            match self.providers.health.alarm_states(&alarms).await {
                Ok(_) => {}
                Err(ProviderError::NotFound { resource }) => {
                    return Err(SettingsError::new(format!(
                        "{resource} does not exist ([gates] alarms names it): nothing was changed; \
                         create it, or correct the name"
                    ))
                    .into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        // The new color is the one without traffic; a split off rest is refused by the run itself.
        let routing = self.providers.router.read_routes().await?;
        // A rollout continued from a split moved by hand names its stable color.
        let continued = plan
            .from_current
            .then_some(plan.expected_stable)
            .flatten()
            .map(Color::other);
        let Some(new) = continued.or(routing
            .uniform()
            .and_then(TrafficSplit::sole_color)
            .map(Color::other))
        else {
            return Ok(());
        };
        let managed = self.providers.capacity.as_ref().zip(plan.capacity.as_ref());
        // A color that gets weight without being raised first must have targets: a weighted group with
        // none answers 503 (and the pre-step gate would only roll back after the record began).
        if !managed.is_some_and(|(_, c)| c.scale_up) {
            let targets = self.providers.health.target_health(new).await?;
            if targets.healthy + targets.unhealthy + targets.other == 0 {
                return Err(Error::Refused(format!(
                    "{new}'s target group has no registered targets: a weight on it would answer 503. Nothing \
                     was changed; start {new}'s instances (a full deployment, --type full, raises them first), \
                     then deploy again"
                )));
            }
        }
        let (Some(image), Some((cap, _))) = (
            plan.capacity.as_ref().and_then(|c| c.image.as_ref()),
            managed,
        ) else {
            return self.read_drain(plan, new.other()).await;
        };
        match cap.image_exists(image).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(SettingsError::new(format!(
                    "image {image} does not exist (or is not visible to this account): nothing was changed"
                ))
                .into());
            }
            Err(ProviderError::Invalid { message }) => {
                return Err(SettingsError::new(format!(
                    "image {image}: {message} (build with the `ami` feature)"
                ))
                .into());
            }
            Err(e) => return Err(e.into()),
        }
        // The new image becomes a version of the new color's launch template: a group on a launch
        // configuration cannot take it, and finding that out after raising the group is a failed release
        // for CI.
        match cap.launch_source(new).await? {
            LaunchSource::LaunchConfiguration { name } => Err(SettingsError::new(format!(
                "image {image}: {new}'s auto scaling group launches from launch configuration {name}, which \
                 cannot take a new image: nothing was changed. Move the group to a launch template (a launch \
                 template version made from the configuration), then deploy again; or bring an image in with \
                 --launch-template-version TEMPLATE:VERSION"
            ))
            .into()),
            _ => self.read_drain(plan, new.other()).await,
        }
    }

    /// Group stickiness pins clients to the color they were sent to for its duration, and a request may run
    /// for the old group's deregistration delay: the old color is scaled down no sooner than the longer of
    /// the two after the switch. Read into the plan (recorded with it, so a resumed run waits the same).
    async fn read_drain(&self, plan: &mut Plan, old: Color) -> Result<(), Error> {
        let Some(policy) = plan
            .capacity
            .as_mut()
            .filter(|c| c.scale_down && self.providers.capacity.is_some())
        else {
            return Ok(());
        };
        let router = &self.providers.router;
        policy.drain = Some(bluegreen_core::Drain {
            stickiness: router.stickiness().await?,
            old_group: router.group_timings(old).await?,
        });
        Ok(())
    }

    /// Makes `plan` continue a rollout from the split as it is (moved by hand with a shift,
    /// [`Plan::from_current`]): its stable color is the one the last shift recorded here moved traffic away
    /// from, else the one with the larger share (a tie is refused: shift first); its schedule is the rest
    /// ([`Schedule::continuing_from`](bluegreen_core::Schedule::continuing_from)) as the executor will run
    /// it (the executor trims again from what it reads under the lock: the same, unless the listener moved
    /// meanwhile). Reads only.
    pub async fn continue_from_current(&self, plan: &mut Plan) -> Result<(), Error> {
        let routing = self.providers.router.read_routes().await?;
        let split = routing.uniform().ok_or_else(|| {
            SettingsError::new(format!(
                "the routes disagree ({routing}): shift them to one split first; nothing was changed"
            ))
        })?;
        let last_shift = self.last_shift_stable().await?;
        let stable = match (split.sole_color(), last_shift) {
            // At rest: on the stable color (a rollout from the start), or all on the other one already.
            (Some(at_rest), shift) => shift.unwrap_or(at_rest),
            (None, Some(shift)) => shift,
            (None, None) => {
                let (blue, green) = (split.per_mille(Color::Blue), split.per_mille(Color::Green));
                match blue.cmp(&green) {
                    std::cmp::Ordering::Greater => Color::Blue,
                    std::cmp::Ordering::Less => Color::Green,
                    std::cmp::Ordering::Equal => {
                        return Err(SettingsError::new(format!(
                            "the split is {split} and no shift recorded here names the stable color: \
                             `bluegreen shift --target COLOR --percentage 50` first, then deploy \
                             --from-current; nothing was changed"
                        ))
                        .into());
                    }
                }
            }
        };
        plan.expected_stable = Some(stable);
        plan.from_current = true;
        if split.sole_color() != Some(stable) {
            plan.schedule = plan
                .schedule
                .continuing_from(split.per_mille(stable.other()))
                .ok_or_else(|| {
                    SettingsError::new(format!(
                        "the split is {split}: {} already has all the traffic, nothing to continue; \
                         nothing was changed",
                        stable.other()
                    ))
                })?;
        }
        Ok(())
    }

    /// The stable color of the last deployment recorded here, when it was a manual shift that ended.
    async fn last_shift_stable(&self) -> Result<Option<Color>, Error> {
        let ids = bluegreen_core::StateStore::list(&self.store, &self.application()).await?;
        let Some(last) = ids.last() else {
            return Ok(None);
        };
        let record = match bluegreen_core::StateStore::load(&self.store, last).await {
            Ok(record) => record,
            Err(ProviderError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(bluegreen_core::Replay::new(&record)
            .ok()
            .filter(|r| r.plan.schedule.is_shift() && r.outcome.is_some())
            .map(|r| r.stable))
    }

    /// Runs `run` (a deployment of `exec` with id `id`: `run`, `resume`, ...) while a control request
    /// `abort` for `id` cancels it; a request left for it is cleared once it ended.
    pub async fn supervise<F>(&self, exec: &Executor, id: &DeploymentId, run: F) -> F::Output
    where
        F: std::future::Future<Output = Result<Outcome, ExecError>>,
    {
        let abort = tokio::spawn(bluegreen_store::watch_abort(
            self.store.clone(),
            id.clone(),
            exec.cancel_token(),
            self.providers.clock.clone(),
            self.control_poll(),
        ));
        let result = run.await;
        abort.abort();
        // A request left for this deployment has been acted on, or is moot now — once its end is in the
        // record. A run fenced out by another (its lease lapsed, another machine resumed the deployment)
        // also returns an outcome, but the requests are the successor's: it deletes nothing.
        if result.is_ok() && self.finished(id).await {
            self.store.clear_control(id).await;
        }
        result
    }

    /// How long the deployment's clock waits between two looks at the control queue: the store's real-time
    /// interval, times the simulated world's rate (its clock runs `time_scale` times faster).
    fn control_poll(&self) -> Duration {
        let rate = self.sim.as_ref().map_or(1.0, |s| s.time_scale());
        self.store.control_poll().mul_f64(rate)
    }

    /// Whether deployment `id`'s record ends with its outcome (`finished`).
    async fn finished(&self, id: &DeploymentId) -> bool {
        matches!(
            bluegreen_core::StateStore::load(&self.store, id)
                .await
                .as_deref(),
            Ok([.., last]) if matches!(last.event, bluegreen_core::Event::Finished { .. })
        )
    }

    /// Deploys `[deploy]`'s strategy with a new id: pre-flight, then the executor under the lock, with
    /// `bluegreen abort` (or your control requests) wired to its cancellation. The outcome says whether it
    /// was promoted or rolled back, and why.
    pub async fn deploy(&self) -> Result<Outcome, Error> {
        let plan = self.settings.plan(StrategySettings::default(), None)?;
        self.deploy_plan(self.new_id(), plan).await
    }

    /// Drives the watch of the deployment in progress (or `id`): resumes it, judges every minute published
    /// since the last run judged, and acts — to the end, or with `once` until one poll interval after its
    /// poll ([`Outcome::Watching`]: the deployment stays in progress). `Ok(None)`: nothing is in progress.
    /// A deployment that is not at its watch is refused (`resume` continues it).
    pub async fn watch(
        &self,
        id: Option<DeploymentId>,
        once: bool,
    ) -> Result<Option<(DeploymentId, Outcome)>, Error> {
        let (id, _) = match self.watch_target(id).await? {
            WatchTarget::Watching(id, replay) => (id, replay),
            WatchTarget::Nothing(_) => return Ok(None),
        };
        let mut exec = self.executor();
        if !once {
            exec = exec.watching_through();
        }
        let run = exec.resume(&id, bluegreen_core::ResumeAction::Continue);
        let outcome = self.supervise(&exec, &id, run).await?;
        Ok(Some((id, outcome)))
    }

    /// What `watch` would drive: deployment `id` (default: [`Deployer::current`]) when it is at its watch
    /// ([`Replay::watching`](bluegreen_core::Replay::watching)); nothing, and why, when none is in progress or
    /// it has ended; refused (nothing changed) when it is elsewhere in its schedule.
    pub async fn watch_target(&self, id: Option<DeploymentId>) -> Result<WatchTarget, Error> {
        let id = match id {
            Some(id) => id,
            None => match self.current().await? {
                Some(id) => id,
                None => {
                    return Ok(WatchTarget::Nothing(format!(
                        "no deployment of {} is in progress",
                        self.application()
                    )));
                }
            },
        };
        let (_, replay) = self.record(&id).await?;
        let replay = replay
            .map_err(|e| Error::Refused(format!("the record of {id} cannot be read: {e}")))?;
        if replay.outcome.is_some() {
            return Ok(WatchTarget::Nothing(format!("deployment {id} has ended")));
        }
        if replay.watching().is_none() {
            let steps = replay.plan.schedule.steps();
            let at = match replay
                .in_progress
                .and_then(|i| steps.get(i).map(|s| (i, s)))
            {
                Some((i, s)) => format!("at {} ({s})", replay.plan.schedule.position(i)),
                None => "between steps".into(),
            };
            return Err(Error::Refused(format!(
                "deployment {id} is not watching ({at}): `bluegreen resume` continues it; nothing was changed"
            )));
        }
        Ok(WatchTarget::Watching(id, Box::new(replay)))
    }

    /// Deploys `plan` as deployment `id` (see [`Deployer::deploy`]).
    pub async fn deploy_plan(&self, id: DeploymentId, mut plan: Plan) -> Result<Outcome, Error> {
        self.preflight(&mut plan).await?;
        let exec = self.executor();
        let run = exec.run(id.clone(), plan);
        Ok(self.supervise(&exec, &id, run).await?)
    }
}
