//! # bluegreen-testkit
//!
//! Real in-memory implementations of bluegreen's provider traits, at least as strict as AWS, for tests,
//! simulations and the `sim` provider (which the `bluegreen` crate keeps in a state directory):
//!
//! - [`SimWorld`]: an ALB listener (weights 0..=999, unknown target groups rejected, rules and the default
//!   action), target groups with AWS's target states (`initial` → `healthy`, `unhealthy`, `draining`), Auto
//!   Scaling groups whose instances become healthy after a delay, alarms, and a traffic simulator whose
//!   per-color errors, latency and health follow a [`Script`]. Deterministic for a given seed.
//! - [`ManualClock`] and [`run_virtual`]: virtual time, so a 15-minute deployment runs in microseconds.
//! - [`MemoryStore`], [`ManualApproval`], [`ScriptedApproval`].
//! - [`Faulty`]: a fault decorator for any provider (throttling, 5xx, timeouts, stale reads, latency).
//! - [`CallLog`]: every call the world served, by AWS operation name.
//! - [`conformance`]: the contract every provider implementation must pass.
//! - [`Harness`]: all of the above wired together.

#![deny(missing_docs)]

mod approval;
mod calllog;
mod clock;
pub mod conformance;
pub mod explore;
mod fault;
mod harness;
mod hooks;
mod scenario;
mod store;
mod world;

pub use approval::{ManualApproval, ScriptedApproval};
pub use calllog::{Call, CallLog};
pub use clock::{EPOCH_2026, ManualClock, Stalled, SteppedClock, run_virtual, run_virtual_until};
pub use fault::{FaultHandle, FaultKind, Faults, Faulty, ScriptedFault};
pub use harness::{CustomProviders, EventLog, Harness};
pub use hooks::{HookKind, HookScript, ScriptedHooks};
pub use scenario::{Scenario, TROUBLE_AT, UnknownScenario};
pub use store::{CountingStore, MemoryStore};
pub use world::{
    ActionRef, Asg, Behavior, Change, DamagedWorld, Forward, IMAGES, Listener, Publication,
    PublicationDelay, Rule, Script, SimCapacity, SimHealth, SimRouter, SimWorld, Target,
    TargetGroup, TargetState, WorldConfig, WriteRecord,
};
