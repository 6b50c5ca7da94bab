//! One deployment's run: starting or resuming it under the lock, and the forward path. The other concerns
//! live in the submodules: the lease and time, traffic, gates, approval, capacity, rollback.

mod approval;
mod capacity;
mod gates;
mod lease;
mod rollback;
mod traffic;

pub(in crate::executor) use traffic::set_split;

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
}
