//! One deployment's run: starting or resuming it under the lock, and the forward path. The other concerns
//! live in the submodules: the lease and time, traffic, gates, approval, capacity, rollback.

mod approval;
mod begin;
mod capacity;
mod gates;
mod lease;
mod rollback;
mod traffic;

use begin::Held;
pub(in crate::executor) use begin::{resume, start};
pub(in crate::executor) use traffic::set_split;

use super::retry::with_retry;
use super::*;
use crate::gate::{
    BakeTally, Check, GateReport, Limits, MinuteBook, MinuteProgress, PollDecision, Snapshot,
    Verdict, judge_bake_gate, judge_pre_step,
};
use crate::{
    ApprovalDecision, ApprovalRequest, HookPoint, Lease, MINUTE, PerColor, RouteMark, Share, Step,
    TimeoutAction, Timestamp,
};
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// Why the forward path stopped.
enum Stop {
    Rollback(RollbackReason),
    /// A watch judged what was published and stops this run; the deployment stays in progress.
    Suspend {
        until: Timestamp,
        armed_until: Timestamp,
    },
    Leave(String),
    /// The run lost its lock to another run: it must not touch traffic or the record again.
    Lost(String),
    /// Someone else changed the listener while the run lived (a person in an incident, an emergency
    /// rollback from another process or machine, the console): the run writes no split again.
    Outside {
        /// What changed: the listener, or the stable color's capacity.
        what: &'static str,
        /// What the run had left, in words.
        expected: String,
        /// What it found instead, in words.
        found: String,
        /// The split found, when every route agrees on one.
        split: Option<TrafficSplit>,
    },
}

impl Stop {
    /// Why the run stopped, in words: for a notice or an error.
    fn message(self) -> String {
        match self {
            Stop::Rollback(r) => r.to_string(),
            Stop::Leave(m) | Stop::Lost(m) => m,
            Stop::Suspend { until, .. } => format!("watching until {until}"),
            Stop::Outside {
                what,
                expected,
                found,
                ..
            } => outside_reason(what, &expected, &found),
        }
    }
}

fn outside_reason(what: &str, expected: &str, found: &str) -> String {
    format!("{what} was changed outside this deployment: found {found}, expected {expected}")
}

fn provider_stop(operation: &str, error: ProviderError) -> Stop {
    Stop::Rollback(RollbackReason::Provider {
        operation: operation.to_string(),
        error: error.to_string(),
    })
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
    /// The sequential judge of the deployment, when the gates ask for one: every judged minute goes in.
    judge: Option<crate::gate::SequentialJudge>,
    /// A person let the deployment go on from the judge's pause on a marginal score: it does not pause
    /// again for one.
    pause_accepted: bool,
    /// The last poll found the judge marginal in `pause` mode: the bake stops and waits for a person.
    pause_asked: Option<GateReport>,
    /// The application's lock, renewed while the run lives; every append carries it.
    lease: Lease,
    /// Set once the lease was lost: nothing more is written.
    lost: bool,
    /// Whether this run (or, on resume, an earlier one) may have written a split: a read that shows the
    /// stable color alone could then be stale.
    wrote: bool,
    /// The new color's capacity was raised from `.1`: restored after a rollback.
    raised: Option<(Color, u32)>,
    /// A watch lowered the old color's group from `.1` ([`crate::WatchKeep::Min`]): restored on a rollback.
    kept: Option<(Color, u32)>,
    /// The plan's gates, shared: every poll reads them while it calls providers (`&mut self`).
    gates: std::sync::Arc<crate::GatePolicy>,
    /// Whether this run picked up a record an earlier run left: the world may have changed since.
    resumed: bool,
    /// Set once the run is ending (rolling back, recording its outcome): a store that is unreachable no
    /// longer costs the lease (only a refusal, proof of another holder, does), and entries the store did not
    /// take are kept in `pending` and appended again.
    ending: bool,
    /// Entries of the run's end that the store did not take yet, oldest first, with when they happened.
    pending: Vec<(Timestamp, Event)>,
    /// The stable color's desired capacity when the run first looked (capacity managed only): scaled to
    /// zero by someone else, there is nothing left to roll back to.
    stable_desired: Option<u32>,
    /// Whether this run wrote its mark on the routes: renewed with the lease, removed at the end.
    marked: bool,
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
        let judge = crate::gate::SequentialJudge::for_plan(&plan, stable.other());
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
            judge,
            pause_accepted: false,
            pause_asked: None,
            lease,
            lost: false,
            wrote: seq > 0,
            raised: None,
            kept: None,
            gates,
            resumed: false,
            ending: false,
            pending: Vec::new(),
            stable_desired: None,
            marked: false,
        }
    }

    /// The split just changed (verified, or found as expected on resume): minutes before it and after it
    /// are judged apart.
    fn split_changed(&mut self) {
        let now = self.now();
        self.split_changed_at = now;
        self.book.split_changed(now);
    }

    /// The lock as this run leaves it.
    fn held(&self) -> Held {
        if self.lost {
            Held::Lost
        } else {
            Held::Kept(self.lease.clone())
        }
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
    async fn drive(&mut self, r: &Replay) -> Outcome {
        let result = self.forward(r).await;
        self.finish(result).await
    }

    async fn finish(&mut self, result: Result<Outcome, Stop>) -> Outcome {
        self.ending = true;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(Stop::Rollback(reason)) => {
                let cancelled = matches!(reason, RollbackReason::Cancelled { .. });
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
            Err(Stop::Outside {
                what,
                expected,
                found,
                split,
            }) => {
                // Traffic stays as found; the new color keeps its capacity: a person decides what is next.
                let reason = outside_reason(what, &expected, &found);
                self.record_or_tell(Event::ChangedOutside { expected, found })
                    .await;
                Outcome::Interrupted { reason, split }
            }
            Err(Stop::Suspend { until, armed_until }) => {
                // Not finished: the record says the deployment is in progress (nothing more is written),
                // the listener's mark stays, and the next run resumes the watch.
                return Outcome::Watching {
                    until,
                    armed_until,
                    kept: self.stable,
                };
            }
            Err(Stop::Lost(reason)) => {
                return Outcome::Aborted {
                    reason: format!(
                        "{reason}; another run may be driving the deployment: this one stopped without touching traffic"
                    ),
                    split: self.last_split,
                };
            }
        };
        self.record_or_tell(Event::Finished {
            outcome: outcome.clone(),
        })
        .await;
        // The end of the run is recorded, however long the store is down: until then the record says the
        // deployment is still running, and its lock stays held.
        self.flush_until_stored().await;
        self.remove_mark().await;
        outcome
    }

    /// Reads `color`'s group back after pointing it at `template` `version`: the record (and the screen) say
    /// "green now launches version 2" only once the group says so. Read again within the verify policy; a
    /// group that still says otherwise stops the run (before any traffic). A provider that cannot tell
    /// ([`LaunchSource::Unknown`](crate::LaunchSource)) is taken at its word. A template named on one side
    /// and given by id on the other cannot be compared without another service: the version is.
    async fn read_back_launch_template(
        &mut self,
        cap: &dyn crate::Capacity,
        color: Color,
        template: &str,
        version: &str,
    ) -> Result<(), Stop> {
        let attempts = self.plan.verify.attempts.max(1);
        let mut read = crate::LaunchSource::Unknown;
        for attempt in 1..=attempts {
            read = self
                .call("launch_source", || cap.launch_source(color))
                .await?;
            let matches = match &read {
                crate::LaunchSource::Template {
                    template: t,
                    version: v,
                } => {
                    v == version
                        && (t == template || !(t.starts_with("lt-") && template.starts_with("lt-")))
                }
                crate::LaunchSource::Unknown => true,
                _ => false,
            };
            if matches {
                return Ok(());
            }
            if attempt < attempts {
                self.sleep_until(self.now() + self.plan.verify.interval)
                    .await?;
            }
        }
        let found = match read {
            crate::LaunchSource::Template { template, version } => {
                format!("launch template {template} version {version}")
            }
            crate::LaunchSource::LaunchConfiguration { name } => {
                format!("launch configuration {name}")
            }
            crate::LaunchSource::Unknown => "nothing it can tell".into(),
        };
        Err(Stop::Rollback(RollbackReason::Provider {
            operation: "set_launch_template".into(),
            error: format!(
                "{color}'s group was pointed at launch template {template} version {version} but reads back {found}"
            ),
        }))
    }

    async fn forward(&mut self, r: &Replay) -> Result<Outcome, Stop> {
        let capacity = self.p().capacity.clone().zip(self.plan.capacity.clone());
        if let Some((cap, policy)) = &capacity
            && let Some(image) = &policy.image
            && !(r.launch_template_set || r.capacity_ready)
        {
            // A new golden image: a new launch template version from the one in use, under the lock.
            let new = self.new_color();
            let (template, version) = self
                .call("new_image_version", || cap.new_image_version(new, image))
                .await?;
            self.call("set_launch_template", || {
                cap.set_launch_template(new, &template, &version)
            })
            .await?;
            self.read_back_launch_template(&**cap, new, &template, &version)
                .await?;
            self.record(Event::LaunchTemplateSet {
                color: new,
                template,
                version,
                image: Some(image.clone()),
            })
            .await?;
        }
        if let Some((cap, policy)) = &capacity
            && let Some((template, version)) = &policy.launch_template
            && !(r.launch_template_set || r.capacity_ready)
        {
            // Under the lock, before any traffic: a second deployment can never change this one's image.
            let new = self.new_color();
            self.call("set_launch_template", || {
                cap.set_launch_template(new, template, version)
            })
            .await?;
            self.read_back_launch_template(&**cap, new, template, version)
                .await?;
            self.record(Event::LaunchTemplateSet {
                color: new,
                template: template.clone(),
                version: version.clone(),
                image: None,
            })
            .await?;
        }
        if let Some((cap, policy)) = &capacity
            && policy.scale_up
            && !r.capacity_ready
        {
            self.scale_up(&**cap, policy).await?;
        }
        let steps = self.plan.schedule.steps().to_vec();
        // The one difference of a resumed run: the listener may have changed while no process ran.
        if self.resumed && !r.promoted {
            let next = r.next_step().and_then(|i| steps.get(i));
            if matches!(next, Some(Step::SetWeight { .. })) {
                // The step will set its own split; it must compare with the listener as it is now, not as
                // the record last saw it (someone may have moved traffic while no process ran).
                if self.exec.cancel.is_cancelled() {
                    return Err(self.cancel_stop());
                }
                let router = &self.p().router;
                let read = self.call("read_split", || router.read_routes()).await?;
                // Routes that disagree have no one split: the step checks every color it gives traffic.
                self.last_split = read.uniform();
            } else {
                let expected = r.last_verified.unwrap_or(TrafficSplit::all_to(self.stable));
                self.restore(expected).await?;
            }
        }
        if !(r.promoted || r.pre_traffic_passed || !r.completed.is_empty()) {
            self.hooks(HookPoint::PreTraffic).await?;
        }
        for (index, step) in steps.iter().enumerate() {
            if r.completed.contains(&index) || r.promoted {
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
                    if !r.approved.contains(&index) {
                        self.approval(index, *timeout, *on_timeout).await?;
                    }
                }
                Step::Pause { duration } => {
                    self.sleep_until(self.now() + *duration).await?;
                }
                Step::Watch {
                    duration,
                    armed,
                    keep,
                    baseline,
                } => {
                    if !r.after_switch_passed {
                        // The switch is complete: its hooks (end-to-end tests) run before the watch.
                        let split = TrafficSplit::all_to(self.new_color());
                        self.hooks(HookPoint::AfterSwitch { split }).await?;
                    }
                    let watch = approval::WatchStep {
                        index,
                        duration: *duration,
                        armed: *armed,
                        keep: *keep,
                        baseline: *baseline,
                    };
                    self.watch(watch, r).await?;
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
        if !r.promoted {
            let watched = matches!(steps.last(), Some(Step::Watch { .. }));
            if !watched {
                self.hooks(HookPoint::AfterSwitch { split }).await?;
            }
            // The last chance for an abort: after `promoted`, a deployment is not rolled back.
            if self.exec.cancel.is_cancelled() {
                return Err(self.cancel_stop());
            }
            // Promoted means the listener is there now, not that it was at the last step.
            self.ensure_untouched().await?;
            self.record(Event::Promoted { split }).await?;
        }
        if self.plan.schedule.is_shift() {
            return Ok(Outcome::Promoted {
                split,
                scaled_down: None,
            });
        }
        let scaled_down = match capacity {
            Some((cap, policy)) if policy.scale_down && !r.scaled_down => {
                let at = r.scale_down_at;
                self.scale_down(&*cap, &policy, at).await
            }
            _ => r.scaled_down.then_some(self.stable),
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
