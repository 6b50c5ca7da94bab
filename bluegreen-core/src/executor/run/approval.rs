//! Approval steps: waiting for a person while the gates keep watching.

use super::*;

impl Run<'_> {
    /// Waits for a decision while the bake gates keep being polled (only failures count while waiting: no
    /// data during a long wait is not a reason to roll back).
    pub(super) async fn approval(
        &mut self,
        index: usize,
        timeout: Option<Duration>,
        on_timeout: TimeoutAction,
    ) -> Result<(), Stop> {
        let deadline = timeout.map(|t| self.now() + t);
        self.decide(index, deadline, timeout, on_timeout, None)
            .await
    }

    /// The sequential judge's pause: a wait for a decision until `deadline` (then a rollback), the gates
    /// polled as in an approval.
    pub(super) async fn decide_pause(
        &mut self,
        index: usize,
        deadline: Timestamp,
        timeout: Duration,
    ) -> Result<(), Stop> {
        self.decide(
            index,
            Some(deadline),
            Some(timeout),
            TimeoutAction::Rollback,
            None,
        )
        .await
    }

    /// A watch: a wait for a decision whose end is fixed when it starts (a resumed watch keeps it), that
    /// completes when it ends, with the gates polled from its first moment, failures rolling back only
    /// until `armed` has passed. Unless the executor watches through, it stops this run ([`Stop::Suspend`])
    /// one bake poll interval after its first poll: a later run resumes it.
    pub(super) async fn watch(&mut self, step: WatchStep, r: &Replay) -> Result<(), Stop> {
        let WatchStep {
            index,
            duration,
            armed,
            keep,
            baseline,
        } = step;
        let resumed = r.in_progress == Some(index);
        let deadline = match r.approval_deadline {
            Some(d) if resumed => d,
            _ => self.now() + duration,
        };
        let start = deadline - duration;
        // The minutes since the watch began, or since the last one an earlier run judged: none is skipped
        // between two runs, none judged twice.
        let from = match r.last_judged_minute {
            Some(m) if resumed => (m + MINUTE).max(start),
            _ => start,
        };
        self.book = MinuteBook::new(from, self.plan.gates.window_length());
        let baseline = match baseline {
            crate::WatchBaseline::Before => {
                let taken = match r.baseline {
                    Some(m) => m,
                    None => self.take_baseline(r.started_at).await?,
                };
                Some(crate::gate::Baseline::Fixed(taken))
            }
            crate::WatchBaseline::PreviousDay => Some(crate::gate::Baseline::Earlier(
                Duration::from_secs(24 * 3600),
            )),
            crate::WatchBaseline::None => None,
        };
        self.book.set_baseline(baseline);
        if keep == crate::WatchKeep::Min && self.kept.is_none() {
            self.keep_minimum().await?;
        }
        self.decide(
            index,
            Some(deadline),
            Some(duration),
            TimeoutAction::Promote,
            Some(start + armed),
        )
        .await
    }

    /// The application's 30 minutes before the deployment started, both colors added up, fetched and
    /// recorded ([`Event::BaselineTaken`]).
    async fn take_baseline(&mut self, started: Timestamp) -> Result<crate::Metrics, Stop> {
        let to = started.floor_minute();
        let window = crate::Window {
            from: to - BASELINE_BEFORE,
            to,
        };
        let health = &self.p().health;
        let series = self.call("metrics", || health.metrics(window)).await?;
        let metrics = crate::Metrics::combine(
            crate::Color::ALL
                .iter()
                .flat_map(|c| series.get(*c).iter())
                .map(|m| &m.metrics),
        );
        self.record(Event::BaselineTaken { window, metrics })
            .await?;
        Ok(metrics)
    }

    /// Lowers the old color's group to its minimum (at least one instance) for the watch, recorded first
    /// ([`Event::CapacityKept`]) so that a rollback by any later run raises it back. Capacity not managed:
    /// nothing. A failed call leaves it at its capacity (a cost, not a risk).
    async fn keep_minimum(&mut self) -> Result<(), Stop> {
        let (Some(cap), Some(_)) = (self.p().capacity.clone(), self.plan.capacity.as_ref()) else {
            return Ok(());
        };
        let old = self.stable;
        let now = self.call("capacity", || cap.capacity(old)).await?;
        let target = now.minimum.max(1);
        if now.desired <= target {
            return Ok(());
        }
        self.record(Event::CapacityKept {
            color: old,
            desired: target,
            previous: now.desired,
        })
        .await?;
        self.kept = Some((old, now.desired));
        let _ = self
            .call("set_desired", || cap.set_desired(old, target))
            .await;
        Ok(())
    }

    /// Waits for a decision until `deadline` while polling the gates; `armed_until` makes it a watch.
    async fn decide(
        &mut self,
        index: usize,
        deadline: Option<Timestamp>,
        timeout: Option<Duration>,
        on_timeout: TimeoutAction,
        armed_until: Option<Timestamp>,
    ) -> Result<(), Stop> {
        self.record(Event::ApprovalRequested { index, deadline })
            .await?;
        let request = ApprovalRequest {
            deployment: self.id.clone(),
            step: index,
            percent: self
                .last_split
                .and_then(|s| Share::from_per_mille(s.per_mille(self.new_color())))
                .unwrap_or(Share::NONE),
            watch: armed_until.is_some(),
        };
        let approval = self.p().approval.clone();
        let waiting = approval.clone();
        let asked = request.clone();
        let mut wait = Box::pin(async move { waiting.wait(&asked).await });
        // A watch of hours polls once a minute (CloudWatch's resolution), or at the bakes' interval if
        // longer: a poll every 10 s for a day would fetch the same unpublished minute six times over.
        let interval = match armed_until {
            Some(_) => self.plan.gates.interval.max(MINUTE),
            None => self.plan.gates.interval,
        };
        let limits = Limits {
            inconclusive: u32::MAX,
            ..self.plan.gates.limits
        };
        let mut tally = BakeTally::default();
        // A watch polls at once: a run that resumes it judges what was published since the last.
        let mut next_poll = if armed_until.is_some() {
            self.now()
        } else {
            self.now() + interval
        };
        let mut disarmed = false;
        // When a run that does not watch through stops: one bake poll interval after its poll.
        let mut suspend_at: Option<Timestamp> = None;
        loop {
            // Wake for the next poll, the deadline, or to renew the lease, whichever comes first.
            let renew = self.now() + self.exec.lease_ttl / 3;
            let mut wake = deadline.map_or(next_poll, |d| d.min(next_poll)).min(renew);
            if let Some(at) = suspend_at {
                wake = wake.min(at);
            }
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
                    // Recorded under the lock: only now may the request that carried it be consumed.
                    approval.recorded(&request, &decision).await;
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
                Wake::Cancelled => {
                    // The process running a watch is stopping (a signal), not someone stopping the
                    // deployment: the release is complete; the next run carries the watch on.
                    if let Some(armed) = armed_until
                        && self.exec.cancel.is_interrupt()
                    {
                        return Err(Stop::Suspend {
                            until: deadline.unwrap_or(armed),
                            armed_until: armed,
                        });
                    }
                    return Err(self.cancel_stop());
                }
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
                    if let (Some(at), Some(armed)) = (suspend_at, armed_until)
                        && self.now() >= at
                    {
                        return Err(Stop::Suspend {
                            until: deadline.unwrap_or(armed),
                            armed_until: armed,
                        });
                    }
                    if self.now() < next_poll {
                        continue;
                    }
                    next_poll = self.now() + interval;
                    // An approval can wait for hours: the listener is watched as the gates are.
                    self.ensure_untouched().await?;
                    if let Some(armed) = armed_until
                        && self.now() >= armed
                        && !disarmed
                    {
                        // Past the armed window a breach is recorded and told, not acted on.
                        disarmed = true;
                        let mut observing = (*self.gates).clone();
                        for g in &mut observing.bake {
                            g.mode = crate::gate::GateMode::Observe;
                        }
                        self.gates = std::sync::Arc::new(observing);
                    }
                    if !self.gates.bake.is_empty()
                        && let PollDecision::Rollback { limit, report } =
                            self.poll(index, &mut tally, &limits, false).await?
                    {
                        return Err(Stop::Rollback(RollbackReason::Gate { limit, report }));
                    }
                    // A run that does not watch through stops one bake poll interval after its poll, so that a
                    // `promote` or an `abort` queued while no run lived is seen first.
                    if armed_until.is_some() && !self.exec.watch_through && suspend_at.is_none() {
                        suspend_at = Some(self.now() + self.plan.gates.interval);
                    }
                }
            }
        }
    }
}

/// A watch step's settings ([`Step::Watch`]).
pub(super) struct WatchStep {
    pub index: usize,
    pub duration: Duration,
    pub armed: Duration,
    pub keep: crate::WatchKeep,
    pub baseline: crate::WatchBaseline,
}

/// How far before the deployment's start a [`crate::WatchBaseline::Before`] baseline reaches.
const BASELINE_BEFORE: Duration = Duration::from_secs(30 * 60);

enum Wake {
    Decided(Result<ApprovalDecision, ProviderError>),
    Cancelled,
    Timer,
}
