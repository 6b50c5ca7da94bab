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
        self.record(Event::ApprovalRequested { index, deadline })
            .await?;
        let request = ApprovalRequest {
            deployment: self.id.clone(),
            step: index,
            percent: self
                .last_split
                .and_then(|s| Share::from_per_mille(s.per_mille(self.new_color())))
                .unwrap_or(Share::NONE),
        };
        let approval = self.p().approval.clone();
        let waiting = approval.clone();
        let asked = request.clone();
        let mut wait = Box::pin(async move { waiting.wait(&asked).await });
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
                    // An approval can wait for hours: the listener is watched as the gates are.
                    self.ensure_untouched().await?;
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
}

enum Wake {
    Decided(Result<ApprovalDecision, ProviderError>),
    Cancelled,
    Timer,
}
