//! A simulated AWS world: one ALB with a weighted listener, a target group and an Auto Scaling group per
//! color, CloudWatch-like metrics from a traffic simulator, alarms, all on a [`ManualClock`].

mod providers;
mod state;
mod traffic;

pub use providers::{IMAGES, SimCapacity, SimHealth, SimRouter};
pub use state::{
    ActionRef, Asg, Forward, Listener, Rule, Target, TargetGroup, TargetState, WriteRecord,
};
pub use traffic::{Behavior, Change, Publication, PublicationDelay, Script};

use crate::{CallLog, ManualClock};
use bluegreen_core::{AlarmState, Clock, Color, PerColor, TargetHealth, TrafficSplit};
use state::{State, Timings};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use traffic::Traffic;

const ACCOUNT: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012";

/// How to build a [`SimWorld`].
#[derive(Debug, Clone, PartialEq)]
pub struct WorldConfig {
    /// The environment, e.g. `poc`.
    pub environment: String,
    /// The application, e.g. `poc-web`.
    pub application: String,
    /// Seed of the traffic simulator's randomness.
    pub seed: u64,
    /// Requests per second arriving at the listener.
    pub request_rate: f64,
    /// The split at the start.
    pub initial_split: TrafficSplit,
    /// Instances in service and healthy at the start, per color.
    pub instances: PerColor<u32>,
    /// Maximum size of each Auto Scaling group.
    pub asg_max: u32,
    /// From launch to in service (and registered with the target group).
    pub warmup: Duration,
    /// From registration to healthy (health check interval × healthy threshold).
    pub health_check: Duration,
    /// How long a deregistered target drains.
    pub deregistration_delay: Duration,
    /// Each color's behavior over time.
    pub scripts: PerColor<Script>,
    /// Alarms and their states over time (offsets from the start); each starts `OK`.
    pub alarms: BTreeMap<String, Vec<(Duration, AlarmState)>>,
    /// Extra listener rules forwarding to both target groups, by priority (weights start as the default's).
    pub rule_priorities: Vec<u32>,
    /// How CloudWatch publishes the load balancer's metrics: late, by the minute, by default.
    pub publication: Publication,
    /// Whether the health source returns `TargetResponseTime` p99 (an extended statistic, only when asked).
    pub p99: bool,
}

impl Default for WorldConfig {
    /// The seed's environment: `poc-poc-web-alb`, blue live with 2 instances, green ready with 2, 200 req/s;
    /// AWS's timing: metrics published by the minute, 1–4.5 minutes late; new instances in service after
    /// 90 s and healthy 150 s later (5 checks × 30 s); deregistered targets draining for 300 s.
    fn default() -> Self {
        WorldConfig {
            environment: "poc".into(),
            application: "poc-web".into(),
            seed: 1,
            request_rate: 200.0,
            initial_split: TrafficSplit::all_to(Color::Blue),
            instances: PerColor { blue: 2, green: 2 },
            asg_max: 10,
            warmup: Duration::from_secs(90),
            health_check: Duration::from_secs(150),
            deregistration_delay: Duration::from_secs(300),
            scripts: PerColor::default(),
            alarms: BTreeMap::new(),
            rule_priorities: Vec::new(),
            publication: Publication::default(),
            p99: false,
        }
    }
}

/// A simulated AWS world. Clones share it. Every provider built from it logs its calls in one [`CallLog`].
#[derive(Clone)]
pub struct SimWorld {
    state: Arc<Mutex<State>>,
    clock: ManualClock,
    log: CallLog,
}

/// A [`SimWorld::snapshot`] that does not read back.
#[derive(Debug, thiserror::Error)]
#[error("the simulated world is damaged: {0}")]
pub struct DamagedWorld(#[source] pub serde_json::Error);

impl SimWorld {
    /// A world built from `config` on a fresh [`ManualClock`].
    pub fn new(config: WorldConfig) -> Self {
        Self::with_clock(config, ManualClock::default())
    }

    /// A world built from `config` on `clock`.
    pub fn with_clock(config: WorldConfig, clock: ManualClock) -> Self {
        let now = clock.now();
        let prefix = format!("{}-{}", config.environment, config.application);
        let lb = format!("{prefix}-alb");
        let tg = |c: Color| {
            let name = format!("{prefix}-{c}-tg");
            TargetGroup {
                arn: format!("{ACCOUNT}:targetgroup/{name}/{:016x}", hash(&name)),
                name,
                color: c,
                targets: Vec::new(),
            }
        };
        let tgs = vec![tg(Color::Blue), tg(Color::Green)];
        let forward = Forward {
            target_groups: tgs
                .iter()
                .map(|t| (t.arn.clone(), config.initial_split.alb_weight(t.color)))
                .collect(),
            stickiness: None,
        };
        let listener_arn = format!(
            "{ACCOUNT}:listener/app/{lb}/{:016x}/{:016x}",
            hash(&lb),
            hash("80")
        );
        let rules = config
            .rule_priorities
            .iter()
            .map(|p| Rule {
                arn: format!("{ACCOUNT}:listener-rule/app/{lb}/{:016x}/{p}", hash(&lb)),
                priority: *p,
                forward: forward.clone(),
            })
            .collect();
        let listener = Listener {
            arn: listener_arn.clone(),
            port: 80,
            default_action: forward,
            rules,
            tags: BTreeMap::new(),
        };
        let asgs = Color::ALL
            .iter()
            .map(|c| Asg {
                name: format!("{prefix}-{c}-asg"),
                color: *c,
                min: 0,
                max: config.asg_max,
                desired: 0,
                instances: Vec::new(),
                launch_template: None,
                launch_configuration: None,
            })
            .collect();
        let split = config.initial_split;
        let mut state = State {
            start: now,
            load_balancer: lb,
            listeners: vec![listener],
            target_groups: tgs,
            asgs,
            alarms: config.alarms,
            traffic: Traffic {
                seed: config.seed,
                rate_per_sec: config.request_rate,
                scripts: config.scripts,
                weights: vec![(
                    now,
                    split.alb_weight(Color::Blue),
                    split.alb_weight(Color::Green),
                )],
                publication: config.publication,
                p99: config.p99,
            },
            timings: Timings {
                warmup: config.warmup,
                health_check: config.health_check,
                deregistration_delay: config.deregistration_delay,
                slow_start: None,
            },
            traffic_action: (listener_arn, ActionRef::Default),
            next_instance: 1,
            writes: Vec::new(),
            template_images: BTreeMap::new(),
        };
        // Instances that exist at the start have been in service and healthy for an hour.
        let before = now - Duration::from_secs(3600);
        for c in Color::ALL {
            let name = format!("{prefix}-{c}-asg");
            let n = *config.instances.get(c);
            state
                .set_desired(before, &name, n.min(config.asg_max))
                .expect("the initial capacity is within the group's size");
        }
        SimWorld {
            state: Arc::new(Mutex::new(state)),
            clock,
            log: CallLog::default(),
        }
    }

    /// This world with a call log that only counts calls per operation (see [`CallLog::counting_only`]).
    pub fn counting_calls_only(mut self) -> Self {
        self.log = CallLog::counting_only();
        self
    }

    /// The world's whole state as JSON (time itself is not part of it: restore it on any clock).
    pub fn snapshot(&self) -> String {
        serde_json::to_string(&*self.lock()).expect("the world serializes")
    }

    /// A world from a [`snapshot`](Self::snapshot), on `clock`.
    pub fn restore(snapshot: &str, clock: ManualClock) -> Result<Self, DamagedWorld> {
        let state: State = serde_json::from_str(snapshot).map_err(DamagedWorld)?;
        Ok(SimWorld {
            state: Arc::new(Mutex::new(state)),
            clock,
            log: CallLog::default(),
        })
    }

    /// When the world began.
    pub fn start(&self) -> bluegreen_core::Timestamp {
        self.lock().start
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The world's clock.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// The log of every provider call made against this world.
    pub fn calls(&self) -> &CallLog {
        &self.log
    }

    /// The load balancer's name.
    pub fn load_balancer(&self) -> String {
        self.lock().load_balancer.clone()
    }

    /// The listener's ARN.
    pub fn listener_arn(&self) -> String {
        self.lock().listeners[0].arn.clone()
    }

    /// The ARN of `color`'s target group.
    pub fn target_group_arn(&self, color: Color) -> String {
        let s = self.lock();
        s.target_groups
            .iter()
            .find(|t| t.color == color)
            .map(|t| t.arn.clone())
            .unwrap_or_default()
    }

    /// The name of `color`'s Auto Scaling group.
    pub fn asg_name(&self, color: Color) -> String {
        let s = self.lock();
        s.asgs
            .iter()
            .find(|a| a.color == color)
            .map(|a| a.name.clone())
            .unwrap_or_default()
    }

    /// A router on the listener's default action, as the deployment sees it.
    pub fn router(&self) -> SimRouter {
        SimRouter::new(
            self.clone(),
            self.listener_arn(),
            ActionRef::Default,
            PerColor::from_fn(|c| self.target_group_arn(c)),
        )
    }

    /// A router on any action with any target groups (which may not exist: for not-found tests).
    pub fn router_for(
        &self,
        listener: &str,
        action: ActionRef,
        target_groups: PerColor<String>,
    ) -> SimRouter {
        SimRouter::new(self.clone(), listener.to_string(), action, target_groups)
    }

    /// The health source: target health, metrics from the traffic simulator, alarms.
    pub fn health(&self) -> SimHealth {
        SimHealth::new(
            self.clone(),
            PerColor::from_fn(|c| self.target_group_arn(c)),
        )
    }

    /// A health source on any target groups (which may not exist: for not-found tests).
    pub fn health_for(&self, target_groups: PerColor<String>) -> SimHealth {
        SimHealth::new(self.clone(), target_groups)
    }

    /// A capacity provider on any Auto Scaling groups (which may not exist: for not-found tests).
    pub fn capacity_for(&self, groups: PerColor<String>) -> SimCapacity {
        SimCapacity::new(self.clone(), groups)
    }

    /// The capacity provider over both Auto Scaling groups.
    pub fn capacity(&self) -> SimCapacity {
        SimCapacity::new(self.clone(), PerColor::from_fn(|c| self.asg_name(c)))
    }

    /// The weights of the listener's default action, as a split (ignores the call log).
    pub fn split(&self) -> TrafficSplit {
        let s = self.lock();
        let l = &s.listeners[0];
        let w = |c: Color| {
            l.default_action
                .target_groups
                .iter()
                .find(|(a, _)| s.target_groups.iter().any(|t| &t.arn == a && t.color == c))
                .map_or(0, |(_, w)| *w)
        };
        TrafficSplit::from_weights(w(Color::Blue), w(Color::Green))
            .unwrap_or(TrafficSplit::all_to(Color::Blue))
    }

    /// `color`'s target health now (ignores the call log).
    pub fn target_health(&self, color: Color) -> TargetHealth {
        self.lock().health_of_color(color, self.clock.now())
    }

    /// `color`'s Auto Scaling group: desired capacity and instances in service now.
    pub fn asg_capacity(&self, color: Color) -> (u32, u32) {
        let s = self.lock();
        let now = self.clock.now();
        s.asgs
            .iter()
            .find(|a| a.color == color)
            .map_or((0, 0), |a| (a.desired, s.in_service(a, now)))
    }

    /// The image (AMI) of the launch template version `color`'s group launches, when the world created
    /// that version from an image ([`Capacity::new_image_version`](bluegreen_core::Capacity)).
    pub fn image(&self, color: Color) -> Option<String> {
        let (template, version) = self.launch_template(color)?;
        self.lock()
            .template_images
            .get(&format!("{template}:{version}"))
            .cloned()
    }

    /// Makes `color`'s group launch from launch configuration `name` instead of a template, as the operations
    /// guide's groups do (set up as a person would, not logged as a call): it cannot take a new image.
    pub fn use_launch_configuration(&self, color: Color, name: &str) {
        let group = self.asg_name(color);
        let mut s = self.lock();
        if let Ok(asg) = s.asg_mut(&group) {
            asg.launch_template = None;
            asg.launch_configuration = Some(name.to_string());
        }
    }

    /// The launch template version `color`'s group launches, once set.
    pub fn launch_template(&self, color: Color) -> Option<(String, String)> {
        self.lock()
            .asgs
            .iter()
            .find(|a| a.color == color)
            .and_then(|a| a.launch_template.clone())
    }

    /// Every weight change made so far, with each color's healthy targets at the time.
    pub fn writes(&self) -> Vec<WriteRecord> {
        self.lock().writes.clone()
    }

    /// Replaces `color`'s script from now on (its changes stay at offsets from the world's start).
    pub fn set_script(&self, color: Color, script: Script) {
        *self.lock().traffic.scripts.get_mut(color) = script;
    }

    /// Sets how CloudWatch publishes metrics from now on.
    pub fn set_publication(&self, publication: Publication) {
        self.lock().traffic.publication = publication;
    }

    /// Sets the rate of arriving requests, per second.
    pub fn set_request_rate(&self, rate: f64) {
        self.lock().traffic.rate_per_sec = rate;
    }

    /// Sets an alarm's state from now on, creating the alarm if needed.
    pub fn set_alarm(&self, name: &str, state: AlarmState) {
        let mut s = self.lock();
        let offset = self.clock.now().since(s.start);
        s.alarms
            .entry(name.to_string())
            .or_default()
            .push((offset, state));
    }

    /// Turns the listener's group stickiness on for `duration` (or off with `None`), as the console would.
    pub fn set_stickiness(&self, duration: Option<Duration>) {
        self.lock().listeners[0].default_action.stickiness = duration;
    }

    /// Sets both target groups' deregistration delay and slow start, as `modify-target-group-attributes`
    /// would. Targets already draining keep the delay they started with.
    pub fn set_group_timings(&self, deregistration_delay: Duration, slow_start: Option<Duration>) {
        let mut s = self.lock();
        s.timings.deregistration_delay = deregistration_delay;
        s.timings.slow_start = slow_start;
    }

    /// `color`'s target group attributes (`DescribeTargetGroupAttributes`): both groups have the world's.
    pub fn group_timings(&self, color: Color) -> bluegreen_core::GroupTimings {
        let _ = color;
        self.log
            .record(self.clock.now(), "DescribeTargetGroupAttributes");
        let t = self.lock().timings;
        bluegreen_core::GroupTimings {
            deregistration_delay: t.deregistration_delay,
            slow_start: t.slow_start,
        }
    }

    /// A listener tag's value, if set.
    pub fn listener_tag(&self, key: &str) -> Option<String> {
        self.lock().listeners[0].tags.get(key).cloned()
    }

    /// Sets a listener tag.
    pub fn tag_listener(&self, key: &str, value: &str) {
        let mut s = self.lock();
        s.listeners[0].tags.insert(key.into(), value.into());
    }

    /// Sets the weights of an action directly, as `ModifyListener` would (strict; logged as a call).
    pub fn modify_forward(
        &self,
        listener: &str,
        action: ActionRef,
        weights: &[(String, u32)],
    ) -> Result<(), bluegreen_core::ProviderError> {
        let now = self.clock.now();
        self.log.record(now, "ModifyListener");
        self.lock().modify_forward(now, listener, action, weights)
    }

    /// An action's forward configuration (logged as a call).
    pub fn describe_forward(
        &self,
        listener: &str,
        action: ActionRef,
    ) -> Result<Forward, bluegreen_core::ProviderError> {
        self.log.record(self.clock.now(), "DescribeListeners");
        self.lock().forward(listener, action).cloned()
    }

    /// Each target of `color`'s group and its state now.
    pub fn target_states(&self, color: Color) -> Vec<(String, TargetState)> {
        let s = self.lock();
        let now = self.clock.now();
        s.target_groups
            .iter()
            .find(|t| t.color == color)
            .map(|tg| s.target_states(tg, now))
            .unwrap_or_default()
    }
}

fn hash(s: &str) -> u64 {
    // FNV-1a: stable across runs and platforms, for ARN suffixes only.
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
