//! Moving traffic: the pre-step gate, writing a split, and the one read-back loop that verifies it.

use super::*;

impl Run<'_> {
    /// On resume: makes sure the split is what the record last verified. Putting weight back on a color
    /// passes the pre-step gate first, as any weight increase does (the world may have changed while no
    /// process was running).
    pub(super) async fn restore(&mut self, expected: TrafficSplit) -> Result<(), Stop> {
        if self.exec.cancel.is_cancelled() {
            return Err(self.cancel_stop());
        }
        let router = &self.p().router;
        let read = self.call("read_split", || router.read_routes()).await?;
        if read.is(expected) {
            self.last_split = Some(expected);
            self.split_changed();
            return Ok(());
        }
        // Every route moves together: a color whose weight rises on any of them passes the pre-step gate.
        let index = self.current_step.unwrap_or(0);
        for color in Color::ALL {
            if expected.weight(color) > read.least(color) {
                self.pre_step(index, color).await?;
            }
        }
        self.last_split = read.uniform();
        self.write_and_verify(expected).await
    }

    /// Makes sure the listener is still where this run left it. A person in an incident, an emergency
    /// rollback from another process or machine, or the console may have moved it: a change stops the run
    /// before it writes again (`Stop::Outside`). A read that differs is read again, `verify.interval` apart,
    /// up to `verify.attempts` times, since a read just after a write may still be stale.
    pub(super) async fn ensure_untouched(&mut self) -> Result<(), Stop> {
        let Some(expected) = self.last_split else {
            // Routes that disagreed on resume: each step checks every color it gives traffic.
            return Ok(());
        };
        let attempts = self.plan.verify.attempts.max(1);
        let interval = self.plan.verify.interval;
        let mut attempt = 1;
        loop {
            let router = &self.p().router;
            let read = self.call("read_split", || router.read_routes()).await?;
            if read.is(expected) {
                return self.ensure_stable_capacity().await;
            }
            if attempt >= attempts {
                return Err(Stop::Outside {
                    what: "the listener",
                    expected: expected.to_string(),
                    found: read.to_string(),
                    split: read.uniform(),
                });
            }
            attempt += 1;
            self.sleep_until(self.now() + interval).await?;
        }
    }

    /// With capacity managed: the stable color must still have instances desired, if it had any when the
    /// run first looked. A person (or a script) that scales it to zero took away what a rollback goes
    /// back to: the run stops before it moves more traffic or promotes (`Stop::Outside`).
    async fn ensure_stable_capacity(&mut self) -> Result<(), Stop> {
        let Some(cap) = self
            .p()
            .capacity
            .clone()
            .filter(|_| self.plan.capacity.is_some())
        else {
            return Ok(());
        };
        let stable = self.stable;
        let now = self
            .call("capacity", || cap.capacity(stable))
            .await?
            .desired;
        match self.stable_desired {
            None => self.stable_desired = Some(now),
            Some(before) if before > 0 && now == 0 => {
                return Err(Stop::Outside {
                    what: "the stable color's capacity",
                    expected: format!("{stable} with {before} instances desired"),
                    found: format!("{stable} scaled to 0 instances"),
                    split: self.last_split,
                });
            }
            Some(_) => {}
        }
        Ok(())
    }

    pub(super) async fn set_weight(&mut self, index: usize, share: Share) -> Result<(), Stop> {
        self.ensure_untouched().await?;
        let new = self.new_color();
        let target = TrafficSplit::to_share(new, share);
        if self.last_split == Some(target) {
            // Already there (a resumed step whose write had landed, read just now): nothing to write, but
            // the split is verified, and recorded so — a later resume must restore this split, not the one
            // verified before it.
            self.record(Event::SplitVerified { split: target }).await?;
            return Ok(());
        }
        // Whichever color's share rises must be able to take it: the new one on the way up, the stable one
        // when a shift moves traffic back (after a promotion it may have no instances at all). Routes that
        // disagree (no single last split) may rise anywhere: every color that gets traffic is checked.
        for color in [new, new.other()] {
            let now = self.last_split.map_or(0, |s| s.per_mille(color));
            if target.per_mille(color) > now {
                self.pre_step(index, color).await?;
            }
        }
        self.write_and_verify(target).await
    }

    pub(super) async fn write_and_verify(&mut self, target: TrafficSplit) -> Result<(), Stop> {
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

    /// Reads the split back until it matches `target`, within the plan's verify policy.
    pub(super) async fn verify(&mut self, target: TrafficSplit) -> Result<(), RollbackReason> {
        let p = self.p();
        let read = read_back(
            p,
            &*self.exec.observer,
            &self.plan.retry,
            &self.plan.verify,
            target,
        )
        .await;
        match read {
            Ok(read) => {
                self.last_split = Some(read);
                self.split_changed();
                Ok(())
            }
            Err(ReadBack::Failed(e)) => Err(RollbackReason::Provider {
                operation: "read_split".into(),
                error: e.to_string(),
            }),
            Err(ReadBack::Differs(read)) => {
                self.last_split = Some(read);
                Err(RollbackReason::VerificationFailed {
                    expected: target,
                    read,
                })
            }
        }
    }

    /// The pre-step gate for `new`, the color whose share is about to rise.
    pub(super) async fn pre_step(&mut self, index: usize, new: Color) -> Result<(), Stop> {
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
}

/// Why a read-back did not confirm a split.
enum ReadBack {
    /// Reading failed (after the retries).
    Failed(ProviderError),
    /// Every read within the verify policy showed another split: the last one read.
    Differs(TrafficSplit),
}

/// Reads the split back until it matches `target`, at most `verify.attempts` times, `verify.interval`
/// apart, each read with `retry`; a stale read is a notice. The one read-back loop: a run's writes, its
/// rollback, and the emergency path all verify through it.
async fn read_back(
    p: &Providers,
    observer: &dyn Observer,
    retry: &RetryPolicy,
    verify: &VerifyPolicy,
    target: TrafficSplit,
) -> Result<TrafficSplit, ReadBack> {
    let attempts = verify.attempts.max(1);
    let mut last = target;
    for attempt in 1..=attempts {
        let routing = with_retry(&*p.clock, observer, retry, "read_split", || {
            p.router.read_routes()
        })
        .await
        .map_err(ReadBack::Failed)?;
        if routing.is(target) {
            return Ok(target);
        }
        // Several routes: the first one that is not there yet is the one to report.
        let read = routing.first_differing(target);
        last = read;
        observer.on_notice(
            p.clock.now(),
            &Notice::StaleRead {
                expected: target,
                read,
                attempt,
            },
        );
        if attempt < attempts {
            p.clock.sleep(verify.interval).await;
        }
    }
    Err(ReadBack::Differs(last))
}

/// Writes `split` and reads it back until it matches, retrying transient errors: no lock, no record.
pub(in crate::executor) async fn set_split(
    exec: &Executor,
    split: TrafficSplit,
) -> Result<TrafficSplit, ExecError> {
    let p = &exec.providers;
    let retry = RetryPolicy::default();
    with_retry(&*p.clock, &*exec.observer, &retry, "write_split", || {
        p.router.write_split(split)
    })
    .await
    .map_err(|source| ExecError::Provider {
        operation: "write_split",
        source,
    })?;
    match read_back(p, &*exec.observer, &retry, &VerifyPolicy::default(), split).await {
        Ok(read) => Ok(read),
        Err(ReadBack::Failed(source)) => Err(ExecError::Provider {
            operation: "read_split",
            source,
        }),
        Err(ReadBack::Differs(read)) => Err(ExecError::Provider {
            operation: "verify the split",
            source: ProviderError::Other {
                message: format!("wrote {split} but read back {read}"),
            },
        }),
    }
}
