//! Capacity: bringing the new color up before traffic, and returning colors to their capacity after.

use super::*;

impl Run<'_> {
    pub(super) async fn scale_up(
        &mut self,
        cap: &dyn Capacity,
        policy: &CapacityPolicy,
    ) -> Result<(), Stop> {
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
    pub(super) async fn restore_capacity(&mut self) {
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
        let Ok(routing) = self.call("read_split", || router.read_routes()).await else {
            return;
        };
        // Any route that still sends the color traffic keeps it running.
        if routing.most(color) > 0 {
            let split = routing.overall();
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
            self.record_or_tell(Event::CapacityRestored {
                color,
                desired: previous,
            })
            .await;
            self.raised = None;
        }
    }

    /// After promotion: waits the delay (and what the load balancer still sends the old color,
    /// [`CapacityPolicy::drain_wait`]), then scales the old color to 0. A cancellation during the delay, or
    /// a failure, leaves the old color running; the deployment stays promoted.
    pub(super) async fn scale_down(
        &mut self,
        cap: &dyn Capacity,
        policy: &CapacityPolicy,
        at: Option<Timestamp>,
    ) -> Option<Color> {
        let old = self.stable;
        let at = match at {
            Some(at) => at,
            None => {
                // No sooner than the delay after promotion, and no sooner than the load balancer stops
                // sending the old color traffic: sticky clients, requests still running (from the switch).
                let mut at = self.now() + policy.scale_down_delay;
                if let Some(drain) = policy.drain_wait() {
                    at = at.max(self.split_changed_at + drain.after_switch);
                }
                // Unrecorded, a scale-down would not be resumed after a crash: leave the old color running.
                self.record(Event::ScaleDownScheduled { color: old, at })
                    .await
                    .ok()?;
                at
            }
        };
        self.sleep_until(at).await.ok()?;
        // Never scale down a color that holds traffic (someone may have moved it back since promotion).
        let router = &self.p().router;
        let routing = self
            .call("read_split", || router.read_routes())
            .await
            .ok()?;
        if routing.most(old) > 0 {
            let split = routing.overall();
            self.exec
                .observer
                .on_notice(self.now(), &Notice::ScaleDownSkipped { color: old, split });
            return None;
        }
        self.call("set_desired", || cap.set_desired(old, 0))
            .await
            .ok()?;
        self.record_or_tell(Event::ScaledDown { color: old }).await;
        Some(old)
    }
}
