//! Small-scope exhaustive exploration of the real executor: every crash point × every single fault per
//! operation × an outside change between the crash and the resume, with the invariants of
//! `docs/safety.md` checked at the end of every run (and a ground-truth oracle for false promotion from
//! the world's traffic script).

use crate::{
    Change, FaultKind, Harness, ScriptedFault, WorldConfig, run_virtual, run_virtual_until,
};
use bluegreen_core::{
    CapacityPolicy, Clock, Color, DEFAULT_LEASE_TTL, DeploymentId, Event, GatePolicy, Outcome,
    PerColor, Plan, Replay, ResumeAction, Schedule, Share, Step, TrafficSplit,
};
use std::time::{Duration, Instant};

/// What changes in the world while no process runs (between a crash and the resume).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutsideChange {
    /// Nothing.
    None,
    /// An operator sends all traffic back to blue (an emergency rollback by hand).
    OperatorRollback,
    /// Green's targets fail their health checks from now on.
    TargetHealthLoss,
    /// An operator sets the split to 50/50 by hand.
    ManualShift,
}

impl OutsideChange {
    /// Every change explored.
    pub const ALL: [OutsideChange; 4] = [
        OutsideChange::None,
        OutsideChange::OperatorRollback,
        OutsideChange::TargetHealthLoss,
        OutsideChange::ManualShift,
    ];
}

/// A single fault: on one operation, of one kind, `count` calls in a row; or stale reads after writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleFault {
    /// A scripted fault.
    Scripted(ScriptedFault),
    /// After each write, this many reads return the split from before it (non-monotonic).
    StaleReads(u32),
}

/// What to explore.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Each schedule: weights in percent, each followed by a bake of [`Scope::bake`].
    pub schedules: Vec<Vec<u32>>,
    /// The bake after each weight.
    pub bake: Duration,
    /// Whether green is failing (30 % 5xx from the start) — then a promotion is a false one.
    pub worlds: Vec<bool>,
    /// `None` for no fault, or one fault per run.
    pub faults: Vec<Option<SingleFault>>,
    /// The changes between a crash and the resume.
    pub changes: Vec<OutsideChange>,
    /// Whether the resumed run is crashed again, at every append of its own, then resumed once more (with
    /// no fault, after no change or an operator's rollback between the crashes).
    pub second_crash: bool,
    /// The changes made while a run lives, each at every poll of the reference run (with no fault).
    pub live_changes: Vec<LiveChange>,
    /// How long the state store throttles every call, from every entry of a rollback on (failing world,
    /// no other fault).
    pub store_outages: Vec<Duration>,
}

/// What someone else changes while a run lives: at a poll of it, not between processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveChange {
    /// An emergency rollback from another process: all traffic to blue.
    OperatorRollback,
    /// A person sets the split to 50/50 by hand.
    ManualShift,
    /// A person scales blue, the stable color, to zero.
    StableScaledToZero,
    /// With two routes (the listener's default action and rule 10), a person moves the rule alone to
    /// all blue.
    OneRoute,
}

impl LiveChange {
    /// Every live change explored.
    pub const ALL: [LiveChange; 4] = [
        LiveChange::OperatorRollback,
        LiveChange::ManualShift,
        LiveChange::StableScaledToZero,
        LiveChange::OneRoute,
    ];
}

impl Default for Scope {
    /// Schedules of up to 3 steps (100; 50, 100; 10, 50, 100) with 1-minute bakes; a healthy and a failing
    /// green; no fault, or one of: an error that exhausts a call's retries, an ambiguous success, a burst
    /// of throttling, on each of write_split, read_split, target_health, metrics, set_desired, and of the
    /// state store's append, load, list, lock and renew; or two stale reads after each write; every outside
    /// change; a second crash at every append of every resume; every live change at every poll; a store
    /// outage of 10 s, 2 min and 10 min from every entry of a rollback.
    fn default() -> Self {
        let ops = [
            "write_split",
            "read_split",
            "target_health",
            "metrics",
            "set_desired",
            "append",
            "load",
            "list",
            "lock",
            "renew",
        ];
        let mut faults = vec![None, Some(SingleFault::StaleReads(2))];
        for op in ops {
            for (kind, count) in [
                (FaultKind::Error, 5),
                (FaultKind::Ambiguous, 1),
                (FaultKind::Throttle, 3),
            ] {
                faults.push(Some(SingleFault::Scripted(ScriptedFault {
                    operation: op.into(),
                    kind,
                    count,
                })));
            }
        }
        Scope {
            schedules: vec![vec![100], vec![50, 100], vec![10, 50, 100]],
            bake: Duration::from_secs(60),
            worlds: vec![false, true],
            faults,
            changes: OutsideChange::ALL.to_vec(),
            second_crash: true,
            live_changes: LiveChange::ALL.to_vec(),
            store_outages: vec![
                Duration::from_secs(10),
                Duration::from_secs(120),
                Duration::from_secs(600),
            ],
        }
    }
}

/// What an exploration found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Runs executed (references, crashed runs and their resumes count once each pair).
    pub runs: usize,
    /// Record entries checked (every state the executor recorded, in every run).
    pub states: usize,
    /// Distinct (schedule, world, fault) combinations.
    pub combinations: usize,
    /// Every invariant broken, in words, with the run that broke it.
    pub violations: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
    /// Per dimension (crash and change between processes, second crash, live change, store outage in a
    /// rollback): its name, the runs it made and the violations they found.
    pub dimensions: Vec<(&'static str, usize, usize)>,
}

impl Report {
    fn dimension(&mut self, name: &'static str, runs: usize, violations: usize) {
        match self.dimensions.iter_mut().find(|d| d.0 == name) {
            Some(d) => {
                d.1 += runs;
                d.2 += violations;
            }
            None => self.dimensions.push((name, runs, violations)),
        }
    }
}

fn plan(percents: &[u32], bake: Duration) -> Plan {
    let mut steps = Vec::new();
    for p in percents {
        steps.push(Step::SetWeight {
            percent: Share::percent(*p),
        });
        steps.push(Step::Bake { duration: bake });
    }
    let mut plan = Plan::new(
        "explore/app",
        Schedule::new(steps).expect("a valid schedule"),
    );
    plan.gates = GatePolicy {
        interval: Duration::from_secs(30),
        ..GatePolicy::default()
    };
    plan.capacity = Some(CapacityPolicy::default());
    plan
}

fn world(failing: bool) -> WorldConfig {
    let mut config = WorldConfig {
        instances: PerColor { blue: 2, green: 2 },
        ..WorldConfig::default()
    };
    if failing {
        config.scripts.green = crate::Script::default().at(Duration::ZERO, Change::ErrorRate(0.3));
    }
    config
}

/// The state store's operations: a fault on one of them puts the store behind the fault decorator.
const STORE_OPERATIONS: [&str; 5] = ["append", "load", "list", "lock", "renew"];

fn harness(failing: bool, fault: &Option<SingleFault>) -> Harness {
    let h = Harness::new(world(failing)).with_capacity();
    match fault {
        None => {}
        Some(SingleFault::StaleReads(n)) => h.faults.update(|f| f.stale_reads = *n),
        Some(SingleFault::Scripted(s)) if STORE_OPERATIONS.contains(&s.operation.as_str()) => {
            // The store is behind the same faults, for this exploration.
            let store: std::sync::Arc<dyn bluegreen_core::StateStore> = std::sync::Arc::new(
                crate::Faulty::new(h.store.clone(), h.clock(), h.faults.clone()),
            );
            let mut h = h;
            h.custom.store = Some(store);
            h.faults.update(|f| f.script = vec![s.clone()]);
            return h;
        }
        Some(SingleFault::Scripted(s)) => h.faults.update(|f| f.script = vec![s.clone()]),
    }
    h
}

/// Checks every invariant after a run (and its resume); `operator_writes` are the world's writes made by
/// hand, which the executor is not answerable for.
#[allow(clippy::too_many_arguments)]
fn check(
    h: &Harness,
    id: &DeploymentId,
    outcome: &Outcome,
    failing: bool,
    operator_writes: &[usize],
    blue_up_at_crash: bool,
    live_change: bool,
    report: &mut Report,
    what: &str,
) {
    let mut broke = |s: String| report.violations.push(format!("{what}: {s}"));
    let record = h.store.record(id);
    report.states += record.len();
    // Invariant 5: the record is whole and holds one outcome.
    match Replay::new(&record) {
        Ok(r) if r.outcome.as_ref() == Some(outcome) => {}
        Ok(r) => broke(format!(
            "recorded outcome {:?} ≠ returned {outcome}",
            r.outcome
        )),
        Err(e) => broke(format!("the record does not replay: {e}")),
    }
    let finished = record
        .iter()
        .filter(|e| matches!(e.event, Event::Finished { .. }))
        .count();
    if finished != 1 {
        broke(format!("{finished} outcomes recorded"));
    }
    // Invariants 1 and 2: every write by the executor gives weight only to a color with healthy targets,
    // and only the plan's splits or the rollback's.
    let plan_splits: Vec<TrafficSplit> = match record.first().map(|e| &e.event) {
        Some(Event::Started { plan, .. }) => plan
            .schedule
            .steps()
            .iter()
            .filter_map(|s| match s {
                Step::SetWeight { percent } => Some(TrafficSplit::to_share(Color::Green, *percent)),
                _ => None,
            })
            .chain([TrafficSplit::all_to(Color::Blue)])
            .collect(),
        _ => Vec::new(),
    };
    for (i, w) in h.world.writes().iter().enumerate() {
        if operator_writes.contains(&i) {
            continue;
        }
        let weight = |c: Color| {
            let tg = h.world.target_group_arn(c);
            w.weights
                .iter()
                .find(|(a, _)| *a == tg)
                .map_or(0, |(_, x)| *x)
        };
        for c in Color::ALL {
            if weight(c) > 0 && *w.healthy.get(c) == 0 {
                broke(format!("write {i} gave {c} weight with no healthy target"));
            }
        }
        let split = TrafficSplit::from_weights(weight(Color::Blue), weight(Color::Green));
        if !split.is_some_and(|s| plan_splits.contains(&s)) {
            broke(format!(
                "write {i} was neither a plan split nor the rollback"
            ));
        }
    }
    // Invariant 8: traffic only moves forward until a rollback starts: no write of the executor gives
    // green less weight than its previous one unless a rollback was recorded by then (a resume that
    // restores the split it verified after a change by hand starts afresh).
    let rollback_at = record
        .iter()
        .find(|e| matches!(e.event, Event::RollbackStarted { .. }))
        .map(|e| e.at);
    let green = h.world.target_group_arn(Color::Green);
    let mut previous: Option<u32> = None;
    for (i, w) in h.world.writes().iter().enumerate() {
        if operator_writes.contains(&i) {
            previous = None;
            continue;
        }
        let g = w
            .weights
            .iter()
            .find(|(a, _)| *a == green)
            .map_or(0, |(_, x)| *x);
        if let Some(p) = previous
            && g < p
            && rollback_at.is_none_or(|r| r > w.at)
        {
            broke(format!(
                "write {i} moved green back from weight {p} to {g} with no rollback"
            ));
        }
        previous = Some(g);
    }
    // Invariant 3: a failed deployment ends at 100 % stable (or, if that color cannot serve, says so).
    match outcome {
        Outcome::RolledBack { split, .. } => {
            if *split != TrafficSplit::all_to(Color::Blue) {
                broke(format!("rolled back to {split}"));
            }
            let last_executor_write = h
                .world
                .writes()
                .iter()
                .enumerate()
                .rev()
                .find(|(i, _)| !operator_writes.contains(i))
                .map(|(i, _)| i);
            let later_operator = operator_writes
                .iter()
                .any(|o| last_executor_write.is_none_or(|l| *o > l));
            if !later_operator && h.world.split() != TrafficSplit::all_to(Color::Blue) {
                broke(format!(
                    "rolled back, but the listener says {}",
                    h.world.split()
                ));
            }
        }
        Outcome::Aborted { reason, .. } => {
            if !reason.contains("no healthy targets") && !reason.contains("lock") {
                broke(format!("aborted: {reason}"));
            }
        }
        Outcome::Promoted { split, .. } => {
            // Invariant 7: no false promotion (the ground truth: green fails from the start).
            if failing {
                broke("a failing release was promoted".into());
            }
            // A promotion is where the listener is (unless a person moved it after the last write).
            let last_executor_write = (0..h.world.writes().len())
                .rev()
                .find(|i| !operator_writes.contains(i));
            let later_operator = operator_writes
                .iter()
                .any(|o| last_executor_write.is_none_or(|l| *o > l));
            if !later_operator && h.world.split() != *split {
                broke(format!(
                    "promoted at {split}, but the listener says {}",
                    h.world.split()
                ));
            }
        }
        // The explored schedules have no watch: a run that stops watching is a run that stopped early.
        Outcome::Watching { .. } => broke("a schedule without a watch stopped watching".into()),
        // Only a change made while the run lived may interrupt it.
        Outcome::Interrupted { reason, .. } => {
            if !live_change {
                broke(format!("interrupted: {reason}"));
            }
        }
    }
    // Invariant 4: the old color is scaled down only after the final split was verified, and never
    // while it holds traffic.
    let promoted_at = record
        .iter()
        .position(|e| matches!(e.event, Event::Promoted { .. }));
    let scaled_at = record
        .iter()
        .position(|e| matches!(e.event, Event::ScaledDown { .. }));
    if let Some(s) = scaled_at
        && promoted_at.is_none_or(|p| p > s)
    {
        broke("scaled down before the promotion was recorded".into());
    }
    if h.world.asg_capacity(Color::Blue).0 == 0 && blue_up_at_crash {
        if !matches!(outcome, Outcome::Promoted { .. }) {
            broke(format!("blue scaled down, outcome {outcome}"));
        }
        if h.world.split().weight(Color::Blue) > 0 {
            broke("blue scaled down while it holds traffic".into());
        }
    }
    // Invariant 6: one deployment per application, and the lock is released.
    if h.store.lock_holder("explore/app").is_some() {
        broke("the lock is still held".into());
    }
}

/// Explores `scope` and reports every violation.
pub fn explore(scope: &Scope) -> Report {
    let started = Instant::now();
    let mut report = Report::default();
    let id = DeploymentId::new("x1").expect("valid id");
    for percents in &scope.schedules {
        let p = plan(percents, scope.bake);
        for &failing in &scope.worlds {
            for fault in &scope.faults {
                report.combinations += 1;
                let label = format!("schedule {percents:?}, failing {failing}, fault {fault:?}");
                // The reference: no crash.
                let h = harness(failing, fault);
                let outcome = match h.run("x1", p.clone()) {
                    Ok(o) => o,
                    // A fault before the first entry (the pre-flight read, the first append) stops the
                    // deployment before it changed anything: then nothing may have changed.
                    Err(bluegreen_core::ExecError::Provider { .. }) => {
                        report.runs += 1;
                        if !h.world.writes().is_empty() {
                            report
                                .violations
                                .push(format!("{label}: refused to start after writing"));
                        }
                        if h.store.lock_holder("explore/app").is_some() {
                            report
                                .violations
                                .push(format!("{label}: refused to start, lock kept"));
                        }
                        continue;
                    }
                    Err(e) => {
                        report.violations.push(format!("{label}: did not run: {e}"));
                        continue;
                    }
                };
                report.runs += 1;
                check(
                    &h,
                    &id,
                    &outcome,
                    failing,
                    &[],
                    true,
                    false,
                    &mut report,
                    &label,
                );
                let total = h.store.appends();
                let reference = h.store.record(&id);
                if fault.is_none() {
                    live_changes(scope, &p, failing, &reference, &id, &mut report, &label);
                    if failing {
                        store_outages(scope, &p, &reference, &id, &mut report, &label);
                    }
                }
                let (runs, found) = (report.runs, report.violations.len());
                let second = report
                    .dimensions
                    .iter()
                    .find(|d| d.0 == "two crashes")
                    .map_or((0, 0), |d| (d.1, d.2));
                // Every crash point × every outside change.
                for n in 0..total {
                    for &change in &scope.changes {
                        let what = format!("{label}, crash at append {n}, then {change:?}");
                        let h = harness(failing, fault);
                        h.store.hang_after(Some(n));
                        let exec = h.executor();
                        let ended = run_virtual_until(
                            h.world.clock(),
                            exec.run(id.clone(), p.clone()),
                            || false,
                        );
                        h.store.hang_after(None);
                        report.runs += 1;
                        if let Some(Ok(Ok(outcome))) = ended {
                            // The run got past its crash point (the fault changed its path): check it.
                            check(
                                &h,
                                &id,
                                &outcome,
                                failing,
                                &[],
                                true,
                                false,
                                &mut report,
                                &what,
                            );
                            continue;
                        }
                        let before = h.world.writes().len();
                        let blue_up = h.world.asg_capacity(Color::Blue).0 > 0;
                        apply(&h, change);
                        let operator: Vec<usize> = (before..h.world.writes().len()).collect();
                        h.world.clock().advance(DEFAULT_LEASE_TTL);
                        match h.resume("x1", ResumeAction::Continue) {
                            Ok(outcome) => {
                                check(
                                    &h,
                                    &id,
                                    &outcome,
                                    failing,
                                    &operator,
                                    blue_up,
                                    false,
                                    &mut report,
                                    &what,
                                );
                                if scope.second_crash
                                    && fault.is_none()
                                    && matches!(
                                        change,
                                        OutsideChange::None | OutsideChange::OperatorRollback
                                    )
                                {
                                    let resumed = h.store.appends() - n;
                                    let runs = report.runs;
                                    let found = report.violations.len();
                                    for m in 0..resumed {
                                        second_crash(
                                            &p,
                                            failing,
                                            n,
                                            change,
                                            m,
                                            &id,
                                            &mut report,
                                            &what,
                                        );
                                    }
                                    let (r, v) =
                                        (report.runs - runs, report.violations.len() - found);
                                    report.dimension("two crashes", r, v);
                                }
                            }
                            // A crash before the first entry leaves nothing to resume.
                            Err(bluegreen_core::ExecError::NoRecord(_)) if n == 0 => {
                                if h.store.lock_holder("explore/app").is_some() {
                                    h.world.clock().advance(DEFAULT_LEASE_TTL);
                                }
                            }
                            Err(e) => report
                                .violations
                                .push(format!("{what}: resume failed: {e}")),
                        }
                    }
                }
                let (r, v) = (report.runs - runs, report.violations.len() - found);
                let (r2, v2) = report
                    .dimensions
                    .iter()
                    .find(|d| d.0 == "two crashes")
                    .map_or((0, 0), |d| (d.1, d.2));
                let (r2, v2) = (r2 - second.0, v2 - second.1);
                report.dimension("crash, change between processes, resume", r - r2, v - v2);
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// Makes `change` to the world while no process runs.
fn apply(h: &Harness, change: OutsideChange) {
    let write = |split| {
        let _ = run_virtual(
            h.world.clock(),
            bluegreen_core::TrafficRouter::write_split(&h.world.router(), split),
        );
    };
    match change {
        OutsideChange::None => {}
        OutsideChange::OperatorRollback => write(TrafficSplit::all_to(Color::Blue)),
        OutsideChange::ManualShift => write(TrafficSplit::new(50, 50).expect("valid")),
        OutsideChange::TargetHealthLoss => h.world.set_script(
            Color::Green,
            crate::Script::default().at(Duration::ZERO, Change::UnhealthyTargets(2)),
        ),
    }
}

/// A crash at append `n`, `change`, a resume crashed at its own `m`-th append, and a second resume.
#[allow(clippy::too_many_arguments)]
fn second_crash(
    p: &Plan,
    failing: bool,
    n: u64,
    change: OutsideChange,
    m: u64,
    id: &DeploymentId,
    report: &mut Report,
    label: &str,
) {
    let what =
        format!("{label}, crash at append {n}, then {change:?}, crash at append {m} of the resume");
    let h = harness(failing, &None);
    h.store.hang_after(Some(n));
    let exec = h.executor();
    let first = run_virtual_until(h.world.clock(), exec.run(id.clone(), p.clone()), || false);
    report.runs += 1;
    if let Some(Ok(Ok(_))) = first {
        return; // not crashed there: the single-crash dimension checks this path
    }
    h.store.hang_after(None);
    let before = h.world.writes().len();
    let blue_up = h.world.asg_capacity(Color::Blue).0 > 0;
    apply(&h, change);
    let operator: Vec<usize> = (before..h.world.writes().len()).collect();
    h.world.clock().advance(DEFAULT_LEASE_TTL);
    h.store.hang_after(Some(h.store.appends() + m));
    let exec = h.executor();
    let resumed = run_virtual_until(
        h.world.clock(),
        exec.resume(id, ResumeAction::Continue),
        || false,
    );
    h.store.hang_after(None);
    report.runs += 1;
    let blue_up = blue_up && h.world.asg_capacity(Color::Blue).0 > 0;
    let outcome = match resumed {
        Some(Ok(Ok(outcome))) => outcome,
        Some(Ok(Err(bluegreen_core::ExecError::NoRecord(_)))) if n == 0 => return,
        Some(Ok(Err(e))) => {
            report
                .violations
                .push(format!("{what}: resume failed: {e}"));
            return;
        }
        // Crashed again: let its lease lapse, resume once more.
        _ => {
            h.world.clock().advance(DEFAULT_LEASE_TTL);
            report.runs += 1;
            match h.resume("x1", ResumeAction::Continue) {
                Ok(outcome) => outcome,
                Err(e) => {
                    report
                        .violations
                        .push(format!("{what}: second resume failed: {e}"));
                    return;
                }
            }
        }
    };
    check(
        &h, id, &outcome, failing, &operator, blue_up, false, report, &what,
    );
}

/// Each of the scope's live changes at every poll of the reference run: the run must see it, write
/// nothing after it but a rollback to blue, and never record `promoted` over it.
fn live_changes(
    scope: &Scope,
    p: &Plan,
    failing: bool,
    reference: &[bluegreen_core::RecordEntry],
    id: &DeploymentId,
    report: &mut Report,
    label: &str,
) {
    let (runs, found) = (report.runs, report.violations.len());
    let start = reference.first().map(|e| e.at);
    let polls: Vec<Duration> = reference
        .iter()
        .filter(|e| matches!(e.event, Event::Polled { .. }))
        .filter_map(|e| start.map(|s| e.at.since(s)))
        .collect();
    for at in polls {
        for &change in &scope.live_changes {
            let what = format!("{label}, {change:?} live, just before the poll at {at:?}");
            let (h, rule) = if change == LiveChange::OneRoute {
                two_routes(failing)
            } else {
                (harness(failing, &None), None)
            };
            let exec = h.executor();
            let clock = h.world.clock().clone();
            let changed = std::sync::Mutex::new(None);
            let outcome = run_virtual(h.world.clock(), async {
                let hand = async {
                    clock.sleep(at.saturating_sub(Duration::from_secs(1))).await;
                    let before = h.world.writes().len();
                    match change {
                        LiveChange::OperatorRollback | LiveChange::ManualShift => {
                            let split = if change == LiveChange::ManualShift {
                                TrafficSplit::new(50, 50).expect("valid")
                            } else {
                                TrafficSplit::all_to(Color::Blue)
                            };
                            if h.world.split() == split {
                                // The split the run has: writing it again changes nothing.
                                return;
                            }
                            let _ = bluegreen_core::TrafficRouter::write_split(
                                &h.world.router(),
                                split,
                            )
                            .await;
                        }
                        LiveChange::OneRoute => {
                            let Some(rule) = &rule else { return };
                            let _ = bluegreen_core::TrafficRouter::write_split(
                                rule,
                                TrafficSplit::all_to(Color::Blue),
                            )
                            .await;
                        }
                        LiveChange::StableScaledToZero => {
                            let _ = bluegreen_core::Capacity::set_desired(
                                &h.world.capacity(),
                                Color::Blue,
                                0,
                            )
                            .await;
                        }
                    }
                    *changed.lock().expect("not poisoned") =
                        Some((clock.now(), before, h.world.writes().len()));
                };
                futures::join!(exec.run(id.clone(), p.clone()), hand).0
            });
            report.runs += 1;
            let outcome = match outcome {
                Ok(Ok(o)) => o,
                other => {
                    report
                        .violations
                        .push(format!("{what}: did not end: {other:?}"));
                    continue;
                }
            };
            let Some((when, before, after)) = *changed.lock().expect("not poisoned") else {
                continue;
            };
            let operator: Vec<usize> = (before..after).collect();
            let record = h.store.record(id);
            let promoted_before = record
                .iter()
                .any(|e| matches!(e.event, Event::Promoted { .. }) && e.at < when);
            if !promoted_before {
                // The run was live: after the change, only a rollback to blue may be written, and it
                // must not promote over the change.
                for (i, w) in h.world.writes().iter().enumerate().skip(after) {
                    let green = h.world.target_group_arn(Color::Green);
                    if w.weights.iter().any(|(a, x)| *a == green && *x > 0) {
                        report.violations.push(format!(
                            "{what}: write {i} gave green weight after the change"
                        ));
                    }
                }
                if matches!(outcome, Outcome::Promoted { .. }) {
                    report
                        .violations
                        .push(format!("{what}: promoted over the change"));
                }
            }
            let blue_up = change != LiveChange::StableScaledToZero;
            check(
                &h, id, &outcome, failing, &operator, blue_up, true, report, &what,
            );
        }
    }
    let (r, v) = (report.runs - runs, report.violations.len() - found);
    report.dimension("live change at every poll", r, v);
}

/// The state store throttling every call for each of the scope's outage lengths, from each entry of the
/// reference run's rollback on: the end of the rollback must still be recorded, once, and the lock
/// released.
fn store_outages(
    scope: &Scope,
    p: &Plan,
    reference: &[bluegreen_core::RecordEntry],
    id: &DeploymentId,
    report: &mut Report,
    label: &str,
) {
    let (runs, found) = (report.runs, report.violations.len());
    let start = reference.first().map(|e| e.at);
    let Some(from) = reference
        .iter()
        .position(|e| matches!(e.event, Event::RollbackStarted { .. }))
    else {
        return;
    };
    let points: Vec<Duration> = reference[from..]
        .iter()
        .filter_map(|e| start.map(|s| e.at.since(s)))
        .collect();
    for at in points {
        for &length in &scope.store_outages {
            let what = format!("{label}, store down for {length:?} from {at:?}");
            let mut h = harness(true, &None);
            let handle = crate::FaultHandle::new(1);
            h.custom.store = Some(std::sync::Arc::new(crate::Faulty::new(
                h.store.clone(),
                h.clock(),
                handle.clone(),
            )));
            let exec = h.executor();
            let clock = h.world.clock().clone();
            let outcome = run_virtual(h.world.clock(), async {
                let outage = async {
                    clock
                        .sleep(at.saturating_sub(Duration::from_millis(1)))
                        .await;
                    handle.update(|f| f.throttle_next = u32::MAX);
                    clock.sleep(length).await;
                    handle.update(|f| f.throttle_next = 0);
                };
                futures::join!(exec.run(id.clone(), p.clone()), outage).0
            });
            report.runs += 1;
            let outcome = match outcome {
                Ok(Ok(o)) => o,
                other => {
                    report
                        .violations
                        .push(format!("{what}: did not end: {other:?}"));
                    continue;
                }
            };
            let record = h.store.record(id);
            let rolled_back = record
                .iter()
                .filter(|e| matches!(e.event, Event::RolledBack { .. }))
                .count();
            if rolled_back != 1 {
                report
                    .violations
                    .push(format!("{what}: rolled-back recorded {rolled_back} times"));
            }
            check(&h, id, &outcome, true, &[], true, false, report, &what);
        }
    }
    let (r, v) = (report.runs - runs, report.violations.len() - found);
    report.dimension("store outage in a rollback", r, v);
}

/// A harness whose listener has a rule (priority 10) forwarding to both colors too, moved with the default
/// action as one route set; and the rule's own router, for a person's hand.
fn two_routes(failing: bool) -> (Harness, Option<crate::SimRouter>) {
    let mut config = world(failing);
    config.rule_priorities = vec![10];
    let mut h = Harness::new(config).with_capacity();
    let rule = || {
        h.world.router_for(
            &h.world.listener_arn(),
            crate::ActionRef::Rule(10),
            PerColor::from_fn(|c| h.world.target_group_arn(c)),
        )
    };
    let set = bluegreen_core::RouteSet::new(vec![
        (
            "HTTP:80".into(),
            std::sync::Arc::new(h.world.router())
                as std::sync::Arc<dyn bluegreen_core::TrafficRouter>,
        ),
        ("HTTP:80 rule 10".into(), std::sync::Arc::new(rule())),
    ])
    .expect("two routes");
    let hand = rule();
    h.custom.router = Some(std::sync::Arc::new(set));
    (h, Some(hand))
}

/// A control queue of one request in memory, as the state store's is (`bluegreen promote`/`abort` from any
/// machine): `wait` sees the pending request, [`Approval::recorded`] consumes it once the run recorded the
/// decision under its lock. `consume_in_wait` is the broken variant (the old front door's way): the request
/// is taken as soon as any run sees it, so a run fenced out can swallow its successor's.
struct Mailbox {
    clock: std::sync::Arc<dyn Clock>,
    pending: std::sync::Mutex<Option<bluegreen_core::ApprovalDecision>>,
    consumed: std::sync::atomic::AtomicUsize,
    consume_in_wait: bool,
}

#[async_trait::async_trait]
impl bluegreen_core::Approval for Mailbox {
    async fn wait(
        &self,
        _request: &bluegreen_core::ApprovalRequest,
    ) -> Result<bluegreen_core::ApprovalDecision, bluegreen_core::ProviderError> {
        loop {
            {
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                if self.consume_in_wait {
                    if let Some(d) = pending.take() {
                        self.consumed
                            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        return Ok(d);
                    }
                } else if let Some(d) = pending.clone() {
                    return Ok(d);
                }
            }
            self.clock.sleep(Duration::from_secs(1)).await;
        }
    }

    async fn recorded(
        &self,
        _request: &bluegreen_core::ApprovalRequest,
        _decision: &bluegreen_core::ApprovalDecision,
    ) {
        if !self.consume_in_wait
            && self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .is_some()
        {
            self.consumed
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// A future that stops being polled while `frozen` is set (a process stopped by SIGSTOP, a VM paused): its
/// timers fire meanwhile, and it sees them all at once when it wakes.
struct Freezable<F> {
    inner: std::pin::Pin<Box<F>>,
    frozen: std::sync::Arc<Freeze>,
}

/// Whether a [`Freezable`] is frozen, and its waker while it is.
#[derive(Default)]
struct Freeze {
    frozen: std::sync::atomic::AtomicBool,
    waker: std::sync::Mutex<Option<std::task::Waker>>,
}

impl Freeze {
    fn set(&self, frozen: bool) {
        self.frozen
            .store(frozen, std::sync::atomic::Ordering::SeqCst);
        if !frozen && let Some(w) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            w.wake();
        }
    }
}

impl<F: std::future::Future> std::future::Future for Freezable<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        if self.frozen.frozen.load(std::sync::atomic::Ordering::SeqCst) {
            // Woken when thawed.
            *self.frozen.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            return std::task::Poll::Pending;
        }
        self.inner.as_mut().poll(cx)
    }
}

/// Two runs of one deployment with a lease lapse between them and a control request in flight (issue 20):
/// run A of a canary (10 % → bake 1m → approval → 100 %) is frozen every 20 s from 5 s to 365 s (in its bake,
/// and in its approval wait); once its lease
/// lapsed, run B resumes the deployment; a person's decision (abort or approve) is sent before or after B
/// resumed; A wakes before the decision, just after it, or after B ended. Checked: B acts on the decision
/// (an abort rolls it back as the person's, an approval promotes), the request is consumed once, A ends
/// fenced out (aborted, having written nothing more: B's end is where the listener is), the listener ends where B's outcome says, the lock is free. Returns the runs
/// and the violations; `broken` uses a control queue consumed when seen (the old front door's bug).
pub fn takeovers(broken: bool) -> (usize, Vec<String>) {
    use bluegreen_core::{ApprovalDecision, Executor, Step, TimeoutAction};
    let mut runs = 0;
    let mut violations = Vec::new();
    let id = DeploymentId::new("t1").expect("valid id");
    let schedule = Schedule::new(vec![
        Step::SetWeight {
            percent: Share::percent(10),
        },
        Step::Bake {
            duration: Duration::from_secs(60),
        },
        Step::Approval {
            timeout: Some(Duration::from_secs(3600)),
            on_timeout: TimeoutAction::Rollback,
        },
        Step::SetWeight {
            percent: Share::ALL,
        },
    ])
    .expect("valid schedule");
    let mut p = Plan::new("explore/app", schedule);
    p.gates = GatePolicy {
        min_minutes: 0,
        ..GatePolicy::default()
    };
    let ttl = DEFAULT_LEASE_TTL;
    for freeze in (5..=365).step_by(20) {
        for abort in [true, false] {
            for sent_before_b in [true, false] {
                for wake in ["before", "after", "end"] {
                    runs += 1;
                    let what = format!(
                        "freeze A at {freeze}s, {} sent {} B resumed, A wakes {wake} it",
                        if abort { "abort" } else { "approval" },
                        if sent_before_b { "before" } else { "after" },
                    );
                    let h = Harness::new(world(false));
                    let mailbox = std::sync::Arc::new(Mailbox {
                        clock: h.clock(),
                        pending: std::sync::Mutex::new(None),
                        consumed: std::sync::atomic::AtomicUsize::new(0),
                        consume_in_wait: broken,
                    });
                    let mut providers = h.providers();
                    providers.approval = mailbox.clone();
                    let a = Executor::new(providers.clone()).with_run("run-a", "host-a:1");
                    let b = Executor::new(providers).with_run("run-b", "host-b:2");
                    let frozen = std::sync::Arc::new(Freeze::default());
                    let a_run = Freezable {
                        inner: Box::pin(a.run(id.clone(), p.clone())),
                        frozen: frozen.clone(),
                    };
                    let clock = h.world.clock().clone();
                    let decision = if abort {
                        ApprovalDecision::Rejected {
                            by: "carol".into(),
                            reason: None,
                        }
                    } else {
                        ApprovalDecision::Approved { by: "carol".into() }
                    };
                    let send = || {
                        *mailbox.pending.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(decision.clone())
                    };
                    let controller = async {
                        clock.sleep(Duration::from_secs(freeze)).await;
                        frozen.set(true);
                        if sent_before_b {
                            send();
                        }
                        clock.sleep(ttl + Duration::from_secs(1)).await;
                        let resumed = b.resume(&id, ResumeAction::Continue);
                        let rest = async {
                            // Between B's once-a-second looks at the queue.
                            clock.sleep(Duration::from_millis(5_500)).await;
                            if !sent_before_b {
                                send();
                            }
                            if wake == "before" {
                                frozen.set(false);
                            }
                            clock.sleep(Duration::from_millis(200)).await;
                            if wake == "after" {
                                frozen.set(false);
                            }
                        };
                        let (outcome, ()) = futures::join!(resumed, rest);
                        frozen.set(false);
                        outcome
                    };
                    let Ok((a_out, b_out)) =
                        run_virtual(h.world.clock(), async { futures::join!(a_run, controller) })
                    else {
                        violations.push(format!("{what}: stalled"));
                        continue;
                    };
                    let b_out = match b_out {
                        Ok(o) => o,
                        Err(e) => {
                            // A ended before it was frozen long enough to lose the lease (it was done).
                            if a_out.as_ref().is_ok_and(|o| o.kind() != "aborted") {
                                continue;
                            }
                            violations.push(format!("{what}: B did not run: {e}"));
                            continue;
                        }
                    };
                    let expected = if abort { "rolled-back" } else { "promoted" };
                    if b_out.kind() != expected {
                        violations.push(format!("{what}: B ended {b_out}, expected {expected}"));
                    }
                    if abort && !b_out.to_string().contains("carol") {
                        violations.push(format!("{what}: B's end does not name carol: {b_out}"));
                    }
                    if mailbox.consumed.load(std::sync::atomic::Ordering::SeqCst) != 1 {
                        violations.push(format!(
                            "{what}: the request was consumed {} times",
                            mailbox.consumed.load(std::sync::atomic::Ordering::SeqCst)
                        ));
                    }
                    match &a_out {
                        Ok(o) if o.kind() == "aborted" => {}
                        other => violations.push(format!("{what}: A, fenced out, ended {other:?}")),
                    }
                    let ended_at = match b_out {
                        Outcome::Promoted { split, .. } | Outcome::RolledBack { split, .. } => {
                            Some(split)
                        }
                        _ => None,
                    };
                    if let Some(s) = ended_at
                        && h.world.split() != s
                    {
                        violations.push(format!(
                            "{what}: the listener is {} but B ended at {s}",
                            h.world.split()
                        ));
                    }
                    if h.store.lock_holder("explore/app").is_some() {
                        violations.push(format!("{what}: the lock is held at the end"));
                    }
                }
            }
        }
    }
    (runs, violations)
}
