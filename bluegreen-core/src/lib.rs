//! # bluegreen-core
//!
//! The pure engine of bluegreen: blue-green and canary deployments on a load balancer with two weighted
//! target groups. To deploy from settings (`bluegreen.toml`) on AWS or the simulated world, start with the
//! `bluegreen` crate's `Deployer`, the front door built on this engine.
//!
//! - [`model`]: colors, [`TrafficSplit`]s, time.
//! - [`strategy`]: [`Strategy`] → [`Schedule`], a plain list of [`Step`]s.
//! - [`gate`]: health gates that judge snapshots of metrics, target health and alarms.
//! - [`provider`]: the traits through which the executor reaches the world.
//! - [`executor`]: runs a [`Plan`], records every transition, rolls back on failure, resumes after a crash.
//!
//! This crate does no I/O of its own and never reads a wall clock: time is a [`Clock`], and everything else is
//! a provider trait. `bluegreen-aws` implements the traits on AWS; `bluegreen-testkit` implements them in
//! memory with fault injection, so that a 15-minute strategy runs in microseconds.

#![deny(missing_docs)]

pub mod executor;
pub mod gate;
pub mod model;
pub mod provider;
pub mod release;
pub mod strategy;

pub use executor::{
    BakeWarning, CancelPolicy, CancelToken, CapacityPolicy, ControlAsk, ControlRefusal,
    DEFAULT_LEASE_TTL, DeploymentId, Drain, DrainWait, EmergencyDecision, EmergencyError,
    EmergencyRequest, Event, ExecError, Executor, NoopObserver, Notice, Observer, Outcome, Plan,
    PlanError, Providers, RecordEntry, RecordState, Replay, ResumeAction, RetryPolicy,
    RollbackReason, StableChoice, StableEvidence, VerifyPolicy, choose_stable,
};
pub use gate::GatePolicy;
pub use model::{
    BadShare, Color, MAX_ALB_WEIGHT, PerColor, Share, SplitError, Timestamp, TrafficSplit,
    UnknownColor, Window,
};
pub use provider::{
    AlarmState, AlarmStatus, Approval, ApprovalDecision, ApprovalRequest, Capacity, CapacityStatus,
    Clock, GroupTimings, HealthSource, HookFailure, HookPoint, Hooks, LaunchSource, Lease,
    LockOwner, MINUTE, MetricSeries, Metrics, MinuteMetrics, NoApprovalChannel, ProviderError,
    RouteMark, RouteSet, RouteSplit, Routing, StateStore, TargetHealth, TrafficRouter,
};
pub use strategy::{
    CustomNeedsSteps, Schedule, ScheduleError, ScheduleSettingsError, Step, StepPosition, Strategy,
    StrategyKind, StrategySettings, TimeoutAction, WatchBaseline, WatchKeep, parse_duration,
    parse_steps,
};
