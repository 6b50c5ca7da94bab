//! One deployment's run: the forward path, bakes, approvals, capacity, rollback.

use super::retry::with_retry;
use super::*;
use crate::gate::{
    BakeTally, Check, GateReport, Limits, MinuteBook, MinuteProgress, PollDecision, Snapshot,
    Verdict, judge_bake_gate, judge_pre_step,
};
use crate::{
    ApprovalDecision, ApprovalRequest, HookPoint, Lease, MINUTE, PerColor, Step, TimeoutAction,
    Timestamp,
};
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// Why the forward path stopped.
enum Stop {
    Rollback(RollbackReason),
    Leave(String),
    /// The run lost its lock to another run: it must not touch traffic or the record again.
    Lost(String),
}

fn provider_stop(operation: &str, error: ProviderError) -> Stop {
    Stop::Rollback(RollbackReason::Provider {
        operation: operation.to_string(),
        error: error.to_string(),
    })
}

pub(super) async fn start(
    exec: &Executor,
    id: DeploymentId,
    plan: Plan,
) -> Result<Outcome, ExecError> {
    validate(&plan)?;
    let p = &exec.providers;
    match p.store.load(&id).await {
        Ok(entries) if !entries.is_empty() => return Err(ExecError::DuplicateId(id)),
        Ok(_) | Err(ProviderError::NotFound { .. }) => {}
        Err(source) => {
            return Err(ExecError::Provider {
                operation: "load record",
                source,
            });
        }
    }
    let lease = lock(exec, &plan.application, &id).await?;
    // Another run may have started the same deployment between the check above and the lock.
    if let Ok(entries) = p.store.load(&id).await
        && !entries.is_empty()
    {
        let _ = p.store.unlock(&lease).await;
        return Err(ExecError::DuplicateId(id));
    }
    // One deployment per application: one whose run died (its lease lapsed) is still unfinished.
    if let Some(unfinished) = unfinished(exec, &plan.application).await {
        let _ = p.store.unlock(&lease).await;
        return Err(ExecError::Unfinished(unfinished));
    }
    let preflight = async {
        let split = with_retry(
            &*p.clock,
            &*exec.observer,
            &plan.retry,
            "read_split",
            || p.router.read_split(),
        )
        .await
        .map_err(|source| ExecError::Provider {
            operation: "read_split",
            source,
        })?;
        if plan.schedule.is_shift() {
            // A manual shift may start from any split; the plan names the color to fall back to.
            let stable = plan.expected_stable.ok_or_else(|| {
                ExecError::InvalidPlan(
                    "a shift needs the stable color (the one to roll back to)".into(),
                )
            })?;
            return Ok((split, stable));
        }
        let stable = split.sole_color().ok_or(ExecError::NotAtRest { split })?;
        if let Some(expected) = plan.expected_stable
            && expected != stable
        {
            return Err(ExecError::UnexpectedStable { expected, split });
        }
        Ok((split, stable))
    };
    let (split, stable) = match preflight.await {
        Ok(v) => v,
        Err(e) => {
            let _ = p.store.unlock(&lease).await;
            return Err(e);
        }
    };
    let mut run = Run::new(exec, id.clone(), plan.clone(), stable, 0, lease);
    run.last_split = Some(split);
    if let Err(stop) = run
        .record(Event::Started {
            deployment: id.clone(),
            stable,
            plan: Box::new(plan.clone()),
        })
        .await
    {
        let _ = p.store.unlock(&run.lease).await;
        return Err(ExecError::Provider {
            operation: "append to the deployment record",
            source: ProviderError::Unavailable {
                message: match stop {
                    Stop::Rollback(r) => r.to_string(),
                    Stop::Leave(m) | Stop::Lost(m) => m,
                },
            },
        });
    }
    let outcome = run.drive(None).await;
    run.release().await;
    Ok(outcome)
}

pub(super) async fn resume(
    exec: &Executor,
    id: &DeploymentId,
    action: ResumeAction,
) -> Result<Outcome, ExecError> {
    let p = &exec.providers;
    let load = || async {
        match p.store.load(id).await {
            Ok(e) => Ok(e),
            Err(ProviderError::NotFound { .. }) => Err(ExecError::NoRecord(id.clone())),
            Err(source) => Err(ExecError::Provider {
                operation: "load record",
                source,
            }),
        }
    };
    let replay = |entries: &[RecordEntry]| {
        Replay::new(entries).map_err(|source| ExecError::BadRecord {
            deployment: id.clone(),
            source,
        })
    };
    let first = replay(&load().await?)?;
    if let Some(outcome) = first.outcome {
        return Ok(outcome);
    }
    if first.promoted && action == ResumeAction::Rollback {
        return Err(ExecError::AlreadyPromoted(id.clone()));
    }
    let application = first.plan.application.clone();
    let lease = lock(exec, &application, id).await?;
    // Read the record again under the lock: the run that held it may have written more before it ended.
    let entries = match load().await {
        Ok(e) => e,
        Err(e) => {
            let _ = p.store.unlock(&lease).await;
            return Err(e);
        }
    };
    let replay = match replay(&entries) {
        Ok(r) => r,
        Err(e) => {
            let _ = p.store.unlock(&lease).await;
            return Err(e);
        }
    };
    if let Some(outcome) = replay.outcome {
        let _ = p.store.unlock(&lease).await;
        return Ok(outcome);
    }
    let mut run = Run::new(
        exec,
        id.clone(),
        replay.plan.clone(),
        replay.stable,
        replay.len,
        lease,
    );
    run.last_split = replay.last_verified;
    run.raised = replay.raised;
    run.current_step = replay.in_progress.or(replay.next_step());
    let step = replay
        .next_step()
        .unwrap_or(replay.plan.schedule.steps().len());
    let outcome = match run.record(Event::Resumed { action, step }).await {
        Err(stop) => run.finish(Err(stop)).await,
        Ok(()) => match (&replay.rollback, action) {
            (Some((reason, step)), _) => {
                run.current_step = *step;
                run.finish(Err(Stop::Rollback(reason.clone()))).await
            }
            // The record holds a decision to roll back that the run did not live to act on.
            (None, _) if replay.pending_rollback.is_some() && !replay.promoted => {
                let (reason, step) = replay.pending_rollback.clone().expect("checked");
                run.current_step = Some(step);
                run.finish(Err(Stop::Rollback(reason))).await
            }
            (None, ResumeAction::Rollback) => {
                run.finish(Err(Stop::Rollback(RollbackReason::Requested)))
                    .await
            }
            (None, ResumeAction::Continue) => run.drive(Some(&replay)).await,
        },
    };
    run.release().await;
    Ok(outcome)
}

/// The application's latest deployment, if its record has no outcome.
async fn unfinished(exec: &Executor, application: &str) -> Option<DeploymentId> {
    let store = &exec.providers.store;
    let last = store.list(application).await.ok()?.pop()?;
    let record = store.load(&last).await.ok()?;
    let finished = record
        .iter()
        .any(|e| matches!(e.event, Event::Finished { .. }));
    (!finished).then_some(last)
}

fn validate(plan: &Plan) -> Result<(), ExecError> {
    plan.validate().map_err(ExecError::InvalidPlan)
}

async fn lock(exec: &Executor, application: &str, id: &DeploymentId) -> Result<Lease, ExecError> {
    let owner = exec.owner(id);
    let now = exec.providers.clock.now();
    match exec
        .providers
        .store
        .lock(application, &owner, now, exec.lease_ttl)
        .await
    {
        Ok(lease) => Ok(lease),
        Err(ProviderError::Conflict { message }) => Err(ExecError::Locked { message }),
        Err(source) => Err(ExecError::Provider {
            operation: "take the deployment lock",
            source,
        }),
    }
}

struct Run<'a> {
    exec: &'a Executor,
    id: DeploymentId,
    plan: Plan,
    stable: Color,
    seq: u64,
    current_step: Option<usize>,
    last_split: Option<TrafficSplit>,
    split_changed_at: Timestamp,
    /// CloudWatch's minutes, judged across every split of the run.
    book: MinuteBook,
    /// The last enforced minute verdict that had no data, for the reason of a bake that ran out of time.
    last_unsure: Option<GateReport>,
    /// The application's lock, renewed while the run lives; every append carries it.
    lease: Lease,
    /// Set once the lease was lost: nothing more is written.
    lost: bool,
    /// Whether this run (or, on resume, an earlier one) may have written a split: a read that shows the
    /// stable color alone could then be stale.
    wrote: bool,
    /// The new color's capacity was raised from `.1`: restored after a rollback.
    raised: Option<(Color, u32)>,
    /// The plan's gates, shared: every poll reads them while it calls providers (`&mut self`).
    gates: std::sync::Arc<crate::GatePolicy>,
}

impl<'a> Run<'a> {
    fn new(
        exec: &'a Executor,
        id: DeploymentId,
        plan: Plan,
        stable: Color,
        seq: u64,
        lease: Lease,
    ) -> Self {
        let now = exec.providers.clock.now();
        let book = MinuteBook::idle(plan.gates.window_length());
        let gates = std::sync::Arc::new(plan.gates.clone());
        Run {
            exec,
            id,
            plan,
            stable,
            seq,
            current_step: None,
            last_split: None,
            split_changed_at: now,
            book,
            last_unsure: None,
            lease,
            lost: false,
            wrote: seq > 0,
            raised: None,
            gates,
        }
    }

    /// The split just changed (verified, or found as expected on resume): minutes before it and after it
    /// are judged apart.
    fn split_changed(&mut self) {
        let now = self.now();
        self.split_changed_at = now;
        self.book.split_changed(now);
    }

    fn p(&self) -> &'a Providers {
        &self.exec.providers
    }

    fn now(&self) -> Timestamp {
        self.p().clock.now()
    }

    fn new_color(&self) -> Color {
        self.stable.other()
    }

    /// Appends `event` to the record, then tells the observer.
    async fn record(&mut self, event: Event) -> Result<(), Stop> {
        if self.lost {
            return Err(Stop::Lost("the lock was lost".into()));
        }
        self.keep_lease().await?;
        let entry = RecordEntry {
            seq: self.seq,
            at: self.now(),
            event,
        };
        let p = self.p();
        let lease = &self.lease;
        let stored = with_retry(
            &*p.clock,
            &*self.exec.observer,
            &self.plan.retry,
            "append",
            || p.store.append(lease, &self.id, &entry),
        )
        .await;
        let stored = match stored {
            Ok(()) => Ok(()),
            // The outcome may have been ambiguous (the entry landed, the answer did not): read it back.
            Err(e) => match p.store.load(&self.id).await {
                Ok(record) if record.get(entry.seq as usize) == Some(&entry) => Ok(()),
                _ => Err(e),
            },
        };
        match stored {
            Ok(()) => {
                self.seq += 1;
                self.exec.observer.on_event(&entry);
                Ok(())
            }
            Err(e @ ProviderError::Conflict { .. }) => {
                self.lost = true;
                Err(Stop::Lost(format!(
                    "the deployment record refused entry {}: {e}",
                    entry.seq
                )))
            }
            Err(e) => Err(provider_stop("append to the deployment record", e)),
        }
    }

    /// Renews the lease when half of it has run out; a lease that was taken over stops the run.
    async fn keep_lease(&mut self) -> Result<(), Stop> {
        let now = self.now();
        let ttl = self.exec.lease_ttl;
        if now + ttl / 2 < self.lease.expires {
            return Ok(());
        }
        let p = self.p();
        let lease = self.lease.clone();
        let renewed = with_retry(
            &*p.clock,
            &*self.exec.observer,
            &self.plan.retry,
            "renew the lock",
            || p.store.renew(&lease, now, ttl),
        )
        .await;
        match renewed {
            Ok(lease) => {
                self.lease = lease;
                Ok(())
            }
            Err(e) => {
                // Whether taken over or unreachable, the lease can no longer be trusted past its expiry.
                self.lost = true;
                Err(Stop::Lost(format!(
                    "the deployment lock could not be renewed: {e}"
                )))
            }
        }
    }

    /// Releases the lock, unless it was lost (then it is not ours to release).
    async fn release(&self) {
        if !self.lost {
            let _ = self.p().store.unlock(&self.lease).await;
        }
    }

    /// Calls a provider with the plan's retries, renewing the lease while it takes (a slow AWS with
    /// retries can take longer than the lease).
    async fn call<T, F, Fut>(&mut self, operation: &'static str, f: F) -> Result<T, Stop>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let p = self.p();
        let retry = self.plan.retry;
        let attempt = with_retry(&*p.clock, &*self.exec.observer, &retry, operation, f);
        self.renewing(attempt)
            .await?
            .map_err(|e| provider_stop(operation, e))
    }

    /// Awaits `work` (a hook, a provider call with its retries), renewing the lease every third of it:
    /// a run that is alive keeps its lock however long one action takes.
    async fn renewing<O>(&mut self, work: impl Future<Output = O>) -> Result<O, Stop> {
        let mut work = pin!(work);
        // Most calls finish at once (or on their first wake-up): no timer for those.
        if let Poll::Ready(v) =
            futures::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await
        {
            return Ok(v);
        }
        loop {
            let clock = self.p().clock.clone();
            let mut tick = pin!(clock.sleep(self.exec.lease_ttl / 3));
            let done = futures::future::poll_fn(|cx| {
                if let Poll::Ready(v) = work.as_mut().poll(cx) {
                    return Poll::Ready(Some(v));
                }
                tick.as_mut().poll(cx).map(|()| None)
            })
            .await;
            match done {
                Some(v) => return Ok(v),
                None => self.keep_lease().await?,
            }
        }
    }

    fn cancel_stop(&self) -> Stop {
        match self.plan.on_cancel {
            CancelPolicy::Rollback => Stop::Rollback(RollbackReason::Cancelled),
            CancelPolicy::Leave => Stop::Leave(match self.last_split {
                Some(s) => format!("cancelled; the split is left at {s}"),
                None => "cancelled; the split is left as it is".into(),
            }),
        }
    }

    /// Sleeps until `until`, or stops early on cancellation; renews the lease on the way. Returns how
    /// long it slept by the clock's timer (which a step of the wall clock does not shorten).
    async fn sleep_until(&mut self, until: Timestamp) -> Result<Duration, Stop> {
        let mut slept = Duration::ZERO;
        loop {
            let now = self.now();
            if now >= until {
                return Ok(slept);
            }
            let chunk = until.since(now).min(self.exec.lease_ttl / 3);
            let p = self.p();
            let mut sleep = pin!(p.clock.sleep(chunk));
            let mut cancelled = pin!(self.exec.cancel.cancelled());
            let woke = futures::future::poll_fn(|cx| {
                if cancelled.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(false);
                }
                sleep.as_mut().poll(cx).map(|()| true)
            })
            .await;
            if !woke {
                return Err(self.cancel_stop());
            }
            slept += chunk;
            if self.now() < until {
                self.keep_lease().await?;
            }
        }
    }

    /// Runs forward, then rolls back or aborts if it stopped, and records the outcome.
    async fn drive(&mut self, resume: Option<&Replay>) -> Outcome {
        let result = self.forward(resume).await;
        self.finish(result).await
    }

    async fn finish(&mut self, result: Result<Outcome, Stop>) -> Outcome {
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(Stop::Rollback(reason)) => {
                let cancelled = matches!(reason, RollbackReason::Cancelled);
                let outcome = self.rollback(reason).await;
                if matches!(outcome, Outcome::RolledBack { .. }) && !cancelled {
                    self.restore_capacity().await;
                }
                outcome
            }
            Err(Stop::Leave(reason)) => Outcome::Aborted {
                reason,
                split: self.last_split,
            },
            Err(Stop::Lost(reason)) => {
                return Outcome::Aborted {
                    reason: format!(
                        "{reason}; another run may be driving the deployment: this one stopped without touching traffic"
                    ),
                    split: self.last_split,
                };
            }
        };
        let _ = self
            .record(Event::Finished {
                outcome: outcome.clone(),
            })
            .await;
        outcome
    }

    async fn forward(&mut self, resume: Option<&Replay>) -> Result<Outcome, Stop> {
        let capacity = self.p().capacity.clone().zip(self.plan.capacity.clone());
        if let Some((cap, policy)) = &capacity
            && let Some((template, version)) = &policy.launch_template
            && !resume.is_some_and(|r| r.launch_template_set || r.capacity_ready)
        {
            // Under the lock, before any traffic: a second deployment can never change this one's image.
            let new = self.new_color();
            self.call("set_launch_template", || {
                cap.set_launch_template(new, template, version)
            })
            .await?;
            self.record(Event::LaunchTemplateSet {
                color: new,
                template: template.clone(),
                version: version.clone(),
            })
            .await?;
        }
        if let Some((cap, policy)) = &capacity
            && policy.scale_up
            && !resume.is_some_and(|r| r.capacity_ready)
        {
            self.scale_up(&**cap, policy).await?;
        }
        let steps = self.plan.schedule.steps().to_vec();
        if let Some(r) = resume
            && !r.promoted
        {
            let next = r.next_step().and_then(|i| steps.get(i));
            if matches!(next, Some(Step::SetWeight { .. })) {
                // The step will set its own split; it must compare with the listener as it is now, not as
                // the record last saw it (someone may have moved traffic while no process ran).
                if self.exec.cancel.is_cancelled() {
                    return Err(self.cancel_stop());
                }
                let router = &self.p().router;
                let read = self.call("read_split", || router.read_split()).await?;
                self.last_split = Some(read);
            } else {
                let expected = r.last_verified.unwrap_or(TrafficSplit::all_to(self.stable));
                self.restore(expected).await?;
            }
        }
        if !resume.is_some_and(|r| r.promoted || r.pre_traffic_passed || !r.completed.is_empty()) {
            self.hooks(HookPoint::PreTraffic).await?;
        }
        for (index, step) in steps.iter().enumerate() {
            if resume.is_some_and(|r| r.completed.contains(&index) || r.promoted) {
                continue;
            }
            if self.exec.cancel.is_cancelled() {
                return Err(self.cancel_stop());
            }
            self.current_step = Some(index);
            self.record(Event::StepStarted {
                index,
                step: step.clone(),
            })
            .await?;
            match step {
                Step::SetWeight { percent } => {
                    self.set_weight(index, *percent).await?;
                    let split = self.last_split.unwrap_or(TrafficSplit::all_to(self.stable));
                    self.hooks(HookPoint::AfterStep { index, split }).await?;
                }
                Step::Bake { duration } => self.bake(index, *duration).await?,
                Step::Approval {
                    timeout,
                    on_timeout,
                } => {
                    if !resume.is_some_and(|r| r.approved.contains(&index)) {
                        self.approval(index, *timeout, *on_timeout).await?;
                    }
                }
                Step::Pause { duration } => {
                    self.sleep_until(self.now() + *duration).await?;
                }
            }
            self.record(Event::StepCompleted { index }).await?;
        }
        self.current_step = None;
        let split = if self.plan.schedule.is_shift() {
            self.last_split.unwrap_or(TrafficSplit::all_to(self.stable))
        } else {
            TrafficSplit::all_to(self.new_color())
        };
        if !resume.is_some_and(|r| r.promoted) {
            self.hooks(HookPoint::AfterSwitch { split }).await?;
            // The last chance for an abort: after `promoted`, a deployment is not rolled back.
            if self.exec.cancel.is_cancelled() {
                return Err(self.cancel_stop());
            }
            self.record(Event::Promoted { split }).await?;
        }
        if self.plan.schedule.is_shift() {
            return Ok(Outcome::Promoted {
                split,
                scaled_down: None,
            });
        }
        let scaled_down = match capacity {
            Some((cap, policy)) if policy.scale_down && !resume.is_some_and(|r| r.scaled_down) => {
                let at = resume.and_then(|r| r.scale_down_at);
                self.scale_down(&*cap, &policy, at).await
            }
            _ => resume.is_some_and(|r| r.scaled_down).then_some(self.stable),
        };
        Ok(Outcome::Promoted { split, scaled_down })
    }

    /// Runs the user hooks of `point`, records them, and rolls back on a failure.
    async fn hooks(&mut self, point: HookPoint) -> Result<(), Stop> {
        let Some(hooks) = self.p().hooks.clone() else {
            return Ok(());
        };
        let result = self.renewing(hooks.run(&point)).await?;
        self.record(Event::HooksRan {
            point: point.clone(),
            failure: result.clone().err(),
        })
        .await?;
        result.map_err(|failure| Stop::Rollback(RollbackReason::Hook { point, failure }))
    }

    /// On resume: makes sure the split is what the record last verified. Putting weight back on a color
    /// passes the pre-step gate first, as any weight increase does (the world may have changed while no
    /// process was running).
    async fn restore(&mut self, expected: TrafficSplit) -> Result<(), Stop> {
        if self.exec.cancel.is_cancelled() {
            return Err(self.cancel_stop());
        }
        let router = &self.p().router;
        let read = self.call("read_split", || router.read_split()).await?;
        if read == expected {
            self.last_split = Some(read);
            self.split_changed();
            return Ok(());
        }
        let index = self.current_step.unwrap_or(0);
        for color in Color::ALL {
            if expected.weight(color) > read.weight(color) {
                self.pre_step(index, color).await?;
            }
        }
        self.last_split = Some(read);
        self.write_and_verify(expected).await
    }

    async fn set_weight(&mut self, index: usize, percent: u32) -> Result<(), Stop> {
        let new = self.new_color();
        let target = TrafficSplit::shifted(new, percent).map_err(|e| {
            Stop::Rollback(RollbackReason::Provider {
                operation: "compute split".into(),
                error: e.to_string(),
            })
        })?;
        let current = self.last_split.unwrap_or(TrafficSplit::all_to(self.stable));
        if current == target {
            // Already there (a resumed step whose write had landed): nothing to write.
            return Ok(());
        }
        // Whichever color's share rises must be able to take it: the new one on the way up, the stable one
        // when a shift moves traffic back (after a promotion it may have no instances at all).
        for color in [new, new.other()] {
            if target.weight(color) > current.weight(color) {
                self.pre_step(index, color).await?;
            }
        }
        self.write_and_verify(target).await
    }

    async fn write_and_verify(&mut self, target: TrafficSplit) -> Result<(), Stop> {
        self.wrote = true;
        let router = &self.p().router;
        self.call("write_split", || router.write_split(target))
            .await?;
        self.record(Event::SplitWritten { split: target }).await?;
        match self.verify(target).await {
            Ok(()) => {
                self.record(Event::SplitVerified { split: target }).await?;
                Ok(())
            }
            Err(reason) => Err(Stop::Rollback(reason)),
        }
    }

    /// Reads the split back until it matches `target`, within the verify policy.
    async fn verify(&mut self, target: TrafficSplit) -> Result<(), RollbackReason> {
        let p = self.p();
        let attempts = self.plan.verify.attempts.max(1);
        let mut last = None;
        for attempt in 1..=attempts {
            let read = with_retry(
                &*p.clock,
                &*self.exec.observer,
                &self.plan.retry,
                "read_split",
                || p.router.read_split(),
            )
            .await
            .map_err(|e| RollbackReason::Provider {
                operation: "read_split".into(),
                error: e.to_string(),
            })?;
            last = Some(read);
            if read == target {
                self.last_split = Some(read);
                self.split_changed();
                return Ok(());
            }
            self.exec.observer.on_notice(
                self.now(),
                &Notice::StaleRead {
                    expected: target,
                    read,
                    attempt,
                },
            );
            if attempt < attempts {
                p.clock.sleep(self.plan.verify.interval).await;
            }
        }
        let read = last.unwrap_or(target);
        self.last_split = Some(read);
        Err(RollbackReason::VerificationFailed {
            expected: target,
            read,
        })
    }

    /// The pre-step gate for `new`, the color whose share is about to rise.
    async fn pre_step(&mut self, index: usize, new: Color) -> Result<(), Stop> {
        let gate = self.plan.gates.pre_step.clone();
        let deadline = self.now() + gate.wait;
        let health = &self.p().health;
        loop {
            let th = self
                .call("target_health", || health.target_health(new))
                .await?;
            let alarms = if gate.alarms.is_empty() {
                Vec::new()
            } else {
                self.call("alarm_states", || health.alarm_states(&gate.alarms))
                    .await?
            };
            let reports = judge_pre_step(&gate, new, th, &alarms);
            let failed = reports.iter().find(|r| r.is_enforced_failure()).cloned();
            self.record(Event::PreStepChecked { index, reports })
                .await?;
            let Some(report) = failed else { return Ok(()) };
            let next = self.now() + self.plan.gates.interval;
            if next > deadline {
                return Err(Stop::Rollback(RollbackReason::PreStep { report }));
            }
            self.sleep_until(next).await?;
        }
    }

    /// One poll of the bake gates: checks the current state (the new color's target health, alarms),
    /// judges every CloudWatch minute that became final since the last poll, records the poll and counts
    /// its verdicts. `minutes_count` is false while waiting for an approval, where only failures count.
    async fn poll(
        &mut self,
        index: usize,
        tally: &mut BakeTally,
        limits: &Limits,
        can_extend: bool,
    ) -> Result<PollDecision, Stop> {
        let gates = self.gates.clone();
        let new = self.new_color();
        let health = &self.p().health;
        let state_gates: Vec<_> = gates
            .bake
            .iter()
            .filter(|g| !g.check.is_minute_based())
            .collect();
        let mut state = PerColor::<crate::Metrics>::default();
        if state_gates
            .iter()
            .any(|g| matches!(g.check, Check::HealthyHosts { .. }))
        {
            let th = self
                .call("target_health", || health.target_health(new))
                .await?;
            let m = state.get_mut(new);
            m.healthy_hosts = Some(th.healthy);
            m.unhealthy_hosts = Some(th.unhealthy);
        }
        let names = gates.bake_alarm_names();
        let alarms = if names.is_empty() {
            Vec::new()
        } else {
            self.call("alarm_states", || health.alarm_states(&names))
                .await?
        };
        let snapshot = Snapshot {
            metrics: state,
            alarms,
        };
        let mut reports: Vec<GateReport> = state_gates
            .iter()
            .map(|g| judge_bake_gate(g, &snapshot, new, gates.min_requests))
            .collect();
        let needs_minutes = gates.bake.iter().any(|g| g.check.is_minute_based());
        let window = self.book.fetch_window(self.now()).filter(|_| needs_minutes);
        let mut progress = MinuteProgress::default();
        if let Some(window) = window {
            let series = self.call("metrics", || health.metrics(window)).await?;
            let now = self.now();
            progress = self.book.advance(&gates, new, &series, now);
        }
        let current_from = self.book.first_minute();
        let state_reports = reports.clone();
        for judged in &progress.judged {
            if let Some(r) = judged.reports.iter().find(|r| {
                r.mode == crate::gate::GateMode::Enforce
                    && matches!(r.verdict, Verdict::Inconclusive | Verdict::Extend)
            }) {
                self.last_unsure = Some(r.clone());
            }
            reports.extend(judged.reports.iter().cloned());
        }
        let mut decision = tally.record_state(&state_reports, limits);
        if decision == PollDecision::Continue {
            for judged in &progress.judged {
                // A late minute of an earlier split counts against the release, but only the current
                // split's minutes count towards this bake's passing minutes.
                let d = if judged.minute >= current_from {
                    tally.record_minute(&judged.reports, limits, can_extend)
                } else {
                    tally.record(&judged.reports, limits, false)
                };
                match d {
                    PollDecision::Continue => {}
                    d => {
                        decision = d;
                        if matches!(decision, PollDecision::Rollback { .. }) {
                            break;
                        }
                    }
                }
            }
        }
        self.record(Event::Polled {
            index,
            window,
            reports,
            awaiting: progress.awaiting,
        })
        .await?;
        Ok(decision)
    }

    /// Bakes for `duration`, then for as long as it takes CloudWatch to publish every minute that closed
    /// before the planned end, and at least the plan's `min_minutes` (up to its `max_extension`): no step
    /// moves more traffic, and no promotion happens, before every closed minute of this split is judged.
    async fn bake(&mut self, index: usize, duration: Duration) -> Result<(), Stop> {
        let gates = self.gates.clone();
        let interval = gates.interval;
        let limits = gates.limits;
        let needs_minutes = gates.bake.iter().any(|g| g.check.is_minute_based());
        self.last_unsure = None;
        if self.book.is_idle() {
            // No split change in this run yet (a schedule that starts with a bake): judge from now on.
            self.split_changed();
        }
        let min_minutes = if needs_minutes { gates.min_minutes } else { 0 };
        let planned_end = self.now() + duration;
        let deadline = planned_end + gates.max_extension;
        let mut end = planned_end;
        let mut extended = Duration::ZERO;
        let mut announced = false;
        let mut tally = BakeTally::default();
        let mut next = self.now() + interval;
        loop {
            let at = if self.now() < end {
                next.min(end)
            } else {
                next
            };
            self.sleep_until(at).await?;
            let can_extend = extended + MINUTE <= gates.max_extension;
            match self.poll(index, &mut tally, &limits, can_extend).await? {
                PollDecision::Continue => {}
                PollDecision::Extend => {
                    end = end + MINUTE;
                    extended += MINUTE;
                    if !announced {
                        self.record(Event::BakeExtended { index, until: end })
                            .await?;
                    }
                }
                PollDecision::Rollback { limit, report } => {
                    return Err(Stop::Rollback(RollbackReason::Gate { limit, report }));
                }
            }
            let now = self.now();
            if now >= end {
                let caught_up =
                    !needs_minutes || self.book.next_minute() >= planned_end.floor_minute();
                if tally.passed_minutes >= min_minutes && (caught_up || now >= deadline) {
                    return Ok(());
                }
                if now >= deadline {
                    let limit = format!(
                        "{} of the {} passing minutes needed judged by the end of the bake and its {} extension",
                        tally.passed_minutes,
                        min_minutes,
                        humantime::format_duration(gates.max_extension)
                    );
                    if let Some(report) = self.last_unsure.take() {
                        return Err(Stop::Rollback(RollbackReason::Gate {
                            limit,
                            report: GateReport {
                                verdict: Verdict::Inconclusive,
                                ..report
                            },
                        }));
                    }
                    return Err(Stop::Rollback(RollbackReason::Gate {
                        limit,
                        report: GateReport {
                            gate: "minutes-judged".into(),
                            mode: crate::gate::GateMode::Enforce,
                            verdict: Verdict::Inconclusive,
                            value: Some(f64::from(tally.passed_minutes)),
                            stable: None,
                            limit: Some(f64::from(min_minutes)),
                            unit: crate::gate::Unit::Count,
                            detail: format!(
                                "CloudWatch had not published the minute starting {}",
                                self.book.next_minute()
                            ),
                            minute: None,
                        },
                    }));
                }
                if !announced {
                    announced = true;
                    self.record(Event::BakeExtended {
                        index,
                        until: deadline,
                    })
                    .await?;
                }
            }
            next = at + interval;
        }
    }

    /// Waits for a decision while the bake gates keep being polled (only failures count while waiting: no
    /// data during a long wait is not a reason to roll back).
    async fn approval(
        &mut self,
        index: usize,
        timeout: Option<Duration>,
        on_timeout: TimeoutAction,
    ) -> Result<(), Stop> {
        let deadline = timeout.map(|t| self.now() + t);
        self.record(Event::ApprovalRequested { index, deadline })
            .await?;
        let request = ApprovalRequest {
            deployment: self.id.clone(),
            step: index,
            percent: self.last_split.map_or(0, |s| s.weight(self.new_color())),
        };
        let approval = self.p().approval.clone();
        let mut wait = Box::pin(async move { approval.wait(&request).await });
        let interval = self.plan.gates.interval;
        let limits = Limits {
            inconclusive: u32::MAX,
            ..self.plan.gates.limits
        };
        let mut tally = BakeTally::default();
        let mut next_poll = self.now() + interval;
        loop {
            // Wake for the next poll, the deadline, or to renew the lease, whichever comes first.
            let renew = self.now() + self.exec.lease_ttl / 3;
            let wake = deadline.map_or(next_poll, |d| d.min(next_poll)).min(renew);
            let clock = self.p().clock.clone();
            let mut sleep = pin!(clock.sleep(wake.since(self.now())));
            let mut cancelled = pin!(self.exec.cancel.cancelled());
            let woke = futures::future::poll_fn(|cx| {
                // A cancellation wins a tie with a decision: an abort is never lost to an approval.
                if cancelled.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::Cancelled);
                }
                if let Poll::Ready(d) = wait.as_mut().poll(cx) {
                    return Poll::Ready(Wake::Decided(d));
                }
                sleep.as_mut().poll(cx).map(|()| Wake::Timer)
            })
            .await;
            match woke {
                Wake::Decided(Ok(decision)) => {
                    self.record(Event::ApprovalDecided {
                        index,
                        decision: Some(decision.clone()),
                    })
                    .await?;
                    return match decision {
                        ApprovalDecision::Approved { .. } => Ok(()),
                        ApprovalDecision::Rejected { by, reason } => {
                            Err(Stop::Rollback(RollbackReason::ApprovalRejected {
                                by,
                                reason,
                            }))
                        }
                    };
                }
                Wake::Decided(Err(e)) => return Err(provider_stop("approval", e)),
                Wake::Cancelled => return Err(self.cancel_stop()),
                Wake::Timer => {
                    self.keep_lease().await?;
                    if deadline.is_some_and(|d| self.now() >= d) {
                        return match on_timeout {
                            TimeoutAction::Rollback => {
                                Err(Stop::Rollback(RollbackReason::ApprovalTimedOut {
                                    after: timeout.unwrap_or_default(),
                                }))
                            }
                            TimeoutAction::Promote => {
                                self.record(Event::ApprovalDecided {
                                    index,
                                    decision: None,
                                })
                                .await
                            }
                        };
                    }
                    if self.now() < next_poll {
                        continue;
                    }
                    next_poll = self.now() + interval;
                    if !self.plan.gates.bake.is_empty()
                        && let PollDecision::Rollback { limit, report } =
                            self.poll(index, &mut tally, &limits, false).await?
                    {
                        return Err(Stop::Rollback(RollbackReason::Gate { limit, report }));
                    }
                }
            }
        }
    }

    async fn scale_up(&mut self, cap: &dyn Capacity, policy: &CapacityPolicy) -> Result<(), Stop> {
        let (stable, new) = (self.stable, self.new_color());
        let desired = self
            .call("capacity", || cap.capacity(stable))
            .await?
            .desired
            .max(1);
        let current = self.call("capacity", || cap.capacity(new)).await?;
        if current.desired < desired {
            // Recorded first: a crash right after the call still knows what to restore.
            self.record(Event::CapacityRequested {
                color: new,
                desired,
                previous: current.desired,
            })
            .await?;
            self.raised.get_or_insert((new, current.desired));
            self.call("set_desired", || cap.set_desired(new, desired))
                .await?;
        }
        let deadline = self.now() + policy.ready_timeout;
        let health = &self.p().health;
        loop {
            let c = self.call("capacity", || cap.capacity(new)).await?;
            let th = self
                .call("target_health", || health.target_health(new))
                .await?;
            if c.in_service >= desired && th.healthy >= desired && th.unhealthy == 0 {
                return self
                    .record(Event::CapacityReady {
                        color: new,
                        in_service: c.in_service,
                        healthy: th.healthy,
                    })
                    .await;
            }
            if self.now() >= deadline {
                return Err(Stop::Rollback(RollbackReason::CapacityNotReady {
                    color: new,
                    desired,
                    in_service: c.in_service,
                    healthy: th.healthy,
                }));
            }
            let next = (self.now() + policy.poll).min(deadline);
            self.sleep_until(next).await?;
        }
    }

    /// After a rollback: waits the scale-down delay (a fast way forward again meanwhile), then returns the
    /// new color's group to its capacity from before the deployment — unless the plan keeps it for
    /// debugging, or it holds traffic again. A failure leaves it running (it costs money, not safety).
    async fn restore_capacity(&mut self) {
        let (Some(cap), Some(policy), Some((color, previous))) = (
            self.p().capacity.clone(),
            self.plan.capacity.clone(),
            self.raised,
        ) else {
            return;
        };
        if policy.keep_failed || self.lost {
            return;
        }
        let until = self.now() + policy.scale_down_delay;
        while self.now() < until {
            let chunk = until.since(self.now()).min(self.exec.lease_ttl / 3);
            self.p().clock.sleep(chunk).await;
            if self.keep_lease().await.is_err() {
                return;
            }
        }
        let router = &self.p().router;
        let Ok(split) = self.call("read_split", || router.read_split()).await else {
            return;
        };
        if split.weight(color) > 0 {
            self.exec
                .observer
                .on_notice(self.now(), &Notice::ScaleDownSkipped { color, split });
            return;
        }
        if self
            .call("set_desired", || cap.set_desired(color, previous))
            .await
            .is_ok()
        {
            let _ = self
                .record(Event::CapacityRestored {
                    color,
                    desired: previous,
                })
                .await;
            self.raised = None;
        }
    }

    /// After promotion: waits the delay, then scales the old color to 0. A cancellation during the delay, or
    /// a failure, leaves the old color running; the deployment stays promoted.
    async fn scale_down(
        &mut self,
        cap: &dyn Capacity,
        policy: &CapacityPolicy,
        at: Option<Timestamp>,
    ) -> Option<Color> {
        let old = self.stable;
        let at = match at {
            Some(at) => at,
            None => {
                let at = self.now() + policy.scale_down_delay;
                self.record(Event::ScaleDownScheduled { color: old, at })
                    .await
                    .ok()?;
                at
            }
        };
        self.sleep_until(at).await.ok()?;
        // Never scale down a color that holds traffic (someone may have moved it back since promotion).
        let router = &self.p().router;
        let split = self.call("read_split", || router.read_split()).await.ok()?;
        if split.weight(old) > 0 {
            self.exec
                .observer
                .on_notice(self.now(), &Notice::ScaleDownSkipped { color: old, split });
            return None;
        }
        self.call("set_desired", || cap.set_desired(old, 0))
            .await
            .ok()?;
        self.record(Event::ScaledDown { color: old }).await.ok()?;
        Some(old)
    }

    /// Sends all traffic back to the stable color and verifies it. It keeps trying — with a backoff that
    /// grows to one minute, reporting every failed round — until the split is verified or the lock is
    /// lost: a failed deployment must end at 100 % stable.
    async fn rollback(&mut self, reason: RollbackReason) -> Outcome {
        let step = self.current_step;
        let _ = self
            .record(Event::RollbackStarted {
                reason: reason.clone(),
                step,
            })
            .await;
        let target = TrafficSplit::all_to(self.stable);
        // Nothing was ever written (e.g. the first pre-step gate failed): the split is as it was; confirm it
        // with a read, and write nothing.
        if !self.wrote && self.last_split == Some(target) {
            let router = &self.p().router;
            if let Ok(read) = self.call("read_split", || router.read_split()).await
                && read == target
            {
                let _ = self.record(Event::SplitVerified { split: target }).await;
                let _ = self.record(Event::RolledBack { split: target }).await;
                return Outcome::RolledBack {
                    reason,
                    step,
                    split: target,
                };
            }
        }
        // Never send all traffic to a color that cannot serve it (e.g. scaled down after an earlier
        // promotion): leave the split where it is and say so.
        let stable = self.stable;
        let health = &self.p().health;
        if self.last_split != Some(target)
            && let Ok(th) = self
                .call("target_health", || health.target_health(stable))
                .await
            && th.healthy == 0
        {
            return Outcome::Aborted {
                reason: format!(
                    "rollback after \"{reason}\" not done: {stable} has no healthy targets ({} unhealthy, {} other); the split is left as it is — make {stable} healthy, then roll back",
                    th.unhealthy, th.other
                ),
                split: self.last_split,
            };
        }
        let mut round: u32 = 0;
        loop {
            round += 1;
            let p = self.p();
            let written = with_retry(
                &*p.clock,
                &*self.exec.observer,
                &self.plan.retry,
                "write_split",
                || p.router.write_split(target),
            )
            .await;
            let error = match written {
                Err(e) => e.to_string(),
                Ok(()) => {
                    let _ = self.record(Event::SplitWritten { split: target }).await;
                    match self.verify(target).await {
                        Ok(()) => {
                            let _ = self.record(Event::SplitVerified { split: target }).await;
                            let _ = self.record(Event::RolledBack { split: target }).await;
                            return Outcome::RolledBack {
                                reason,
                                step,
                                split: target,
                            };
                        }
                        Err(e) => e.to_string(),
                    }
                }
            };
            let backoff = Duration::from_secs(1u64 << round.min(6)).min(Duration::from_secs(60));
            self.exec.observer.on_notice(
                self.now(),
                &Notice::RollbackRetrying {
                    round,
                    error: error.clone(),
                    next_in: backoff,
                },
            );
            if self.lost || self.keep_lease().await.is_err() {
                return Outcome::Aborted {
                    reason: format!(
                        "rollback after \"{reason}\" stopped: the lock was lost ({error}); traffic may not be all on {}",
                        self.stable
                    ),
                    split: self.last_split,
                };
            }
            self.p().clock.sleep(backoff).await;
        }
    }
}

enum Wake {
    Decided(Result<ApprovalDecision, ProviderError>),
    Cancelled,
    Timer,
}

/// Writes `split` and reads it back until it matches, retrying transient errors: no lock, no record.
pub(super) async fn set_split(
    exec: &Executor,
    split: TrafficSplit,
) -> Result<TrafficSplit, ExecError> {
    let p = &exec.providers;
    let retry = RetryPolicy::default();
    let verify = VerifyPolicy::default();
    let provider =
        |operation: &'static str| move |source| ExecError::Provider { operation, source };
    with_retry(&*p.clock, &*exec.observer, &retry, "write_split", || {
        p.router.write_split(split)
    })
    .await
    .map_err(provider("write_split"))?;
    let mut read = split;
    for attempt in 1..=verify.attempts {
        read = with_retry(&*p.clock, &*exec.observer, &retry, "read_split", || {
            p.router.read_split()
        })
        .await
        .map_err(provider("read_split"))?;
        if read == split {
            return Ok(read);
        }
        exec.observer.on_notice(
            p.clock.now(),
            &Notice::StaleRead {
                expected: split,
                read,
                attempt,
            },
        );
        p.clock.sleep(verify.interval).await;
    }
    Err(ExecError::Provider {
        operation: "verify the split",
        source: ProviderError::Other {
            message: format!("wrote {split} but read back {read}"),
        },
    })
}
