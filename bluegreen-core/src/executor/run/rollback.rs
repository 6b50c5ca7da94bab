//! Rollback: sending all traffic back to the stable color until it is verified or the lock is lost.

use super::*;

impl Run<'_> {
    /// Sends all traffic back to the stable color and verifies it. It keeps trying — with a backoff that
    /// grows to one minute, reporting every failed round — until the split is verified or the lock is
    /// lost: a failed deployment must end at 100 % stable.
    pub(super) async fn rollback(&mut self, reason: RollbackReason) -> Outcome {
        let step = self.current_step;
        self.record_or_tell(Event::RollbackStarted {
            reason: reason.clone(),
            step,
        })
        .await;
        let target = TrafficSplit::all_to(self.stable);
        // Nothing was ever written (e.g. the first pre-step gate failed): the split is as it was; confirm it
        // with a read, and write nothing.
        if !self.wrote && self.last_split == Some(target) {
            let router = &self.p().router;
            if let Ok(read) = self.call("read_split", || router.read_routes()).await
                && read.is(target)
            {
                self.record_or_tell(Event::SplitVerified { split: target })
                    .await;
                self.record_or_tell(Event::RolledBack { split: target })
                    .await;
                return Outcome::RolledBack {
                    reason,
                    step,
                    split: target,
                };
            }
        }
        // A watch kept the stable color at its minimum: raise it back first (its kept instances serve at
        // once, the rest as they launch); a failure leaves it as it is, the traffic goes back regardless.
        if let (Some((color, previous)), Some(cap)) = (self.kept, self.p().capacity.clone())
            && self
                .call("set_desired", || cap.set_desired(color, previous))
                .await
                .is_ok()
        {
            self.record_or_tell(Event::CapacityRestored {
                color,
                desired: previous,
            })
            .await;
            self.kept = None;
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
                    self.record_or_tell(Event::SplitWritten { split: target })
                        .await;
                    match self.verify(target).await {
                        Ok(()) => {
                            self.record_or_tell(Event::SplitVerified { split: target })
                                .await;
                            self.record_or_tell(Event::RolledBack { split: target })
                                .await;
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
            let backoff = super::lease::backoff(round);
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
