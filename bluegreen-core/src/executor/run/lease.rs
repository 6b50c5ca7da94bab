//! The run's lease and time: appending to the record under the lease, renewing it while anything takes
//! long (a provider call with its retries, a hook, a sleep), and cancellation at safe points.

use super::*;

impl Run<'_> {
    /// Appends `event` to the record, then tells the observer. Entries of the run's end that the store
    /// did not take yet go first: the record keeps the order things happened in.
    pub(super) async fn record(&mut self, event: Event) -> Result<(), Stop> {
        self.flush().await?;
        let at = self.now();
        self.append(at, event).await
    }

    /// Appends the pending entries, oldest first; stops at the first the store does not take.
    async fn flush(&mut self) -> Result<(), Stop> {
        while let Some((at, event)) = self.pending.first().cloned() {
            self.append(at, event).await?;
            self.pending.remove(0);
        }
        Ok(())
    }

    /// Appends the pending entries until the store takes them all, trying again every round (with a backoff
    /// that grows to one minute, and a notice per round), however long the store is down — or until it
    /// refuses them (another run holds the lock: this one writes nothing more).
    pub(super) async fn flush_until_stored(&mut self) {
        let mut round: u32 = 0;
        loop {
            let error = match self.flush().await {
                Ok(()) => return,
                Err(stop @ Stop::Lost(_)) => {
                    self.drop_pending(&stop.message());
                    return;
                }
                Err(stop) => stop.message(),
            };
            round += 1;
            let next_in = backoff(round);
            self.exec.observer.on_notice(
                self.now(),
                &Notice::RecordPending {
                    events: self
                        .pending
                        .iter()
                        .map(|(_, e)| e.kind().to_string())
                        .collect(),
                    round,
                    error,
                    next_in,
                },
            );
            self.p().clock.sleep(next_in).await;
        }
    }

    /// Gives up the pending entries (the run lost its lock: it writes nothing more), telling each one.
    fn drop_pending(&mut self, error: &str) {
        for (_, event) in std::mem::take(&mut self.pending) {
            self.exec.observer.on_notice(
                self.now(),
                &Notice::NotRecorded {
                    event: event.kind().to_string(),
                    error: error.to_string(),
                },
            );
        }
    }

    /// Appends one entry that happened at `at`, under the lease.
    async fn append(&mut self, at: Timestamp, event: Event) -> Result<(), Stop> {
        if self.lost {
            return Err(Stop::Lost("the lock was lost".into()));
        }
        self.keep_lease().await?;
        let entry = RecordEntry {
            seq: self.seq,
            at,
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
            // The outcome may have been ambiguous (the entry landed, the answer did not): read it back,
            // retrying that read too (a throttled read must not pass for a refusal).
            Err(e) => match with_retry(
                &*p.clock,
                &*self.exec.observer,
                &self.plan.retry,
                "load",
                || p.store.load(&self.id),
            )
            .await
            {
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

    /// Records `event` where the run must go on whether or not the record takes it (a rollback, the end of
    /// a run, a capacity change already made): a failure is not dropped but told, as an alarming notice.
    ///
    /// While the run is ending, an entry the store did not take is kept and appended again before the next
    /// one (and, at the end, until the store takes it: [`Run::flush_until_stored`]).
    pub(super) async fn record_or_tell(&mut self, event: Event) {
        let kind = event.kind().to_string();
        if self.ending && !self.lost {
            self.pending.push((self.now(), event));
            if let Err(stop) = self.flush().await
                && !matches!(stop, Stop::Lost(_))
            {
                // Kept: told by `flush_until_stored` if it is still pending at the end.
                return;
            }
            if self.lost {
                self.drop_pending("the lock was lost");
            }
            return;
        }
        if let Err(stop) = self.record(event).await {
            let error = stop.message();
            self.exec
                .observer
                .on_notice(self.now(), &Notice::NotRecorded { event: kind, error });
        }
    }

    /// Renews the lease when half of it has run out; a lease that was taken over stops the run.
    pub(super) async fn keep_lease(&mut self) -> Result<(), Stop> {
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
                if self.marked {
                    self.write_mark("renew").await;
                }
                Ok(())
            }
            // Unreachable, not refused: the lease is still this run's until it expires. While a quarter of
            // it is left, keep working and try again at the next chance (a poll, a step, a third of the
            // lease into a long action): a blip of the shared store must not leave a deployment half-done.
            // While the run is ending (its rollback, its outcome), an unreachable store never costs the lease:
            // the store's fence refuses this run's appends and renewals if another run took the lock over,
            // and a run that took it over would see the rollback's write as a change made outside it.
            Err(e)
                if !matches!(e, ProviderError::Conflict { .. })
                    && (self.ending || self.now() + ttl / 4 < self.lease.expires) =>
            {
                let now = self.now();
                self.exec.observer.on_notice(
                    now,
                    &Notice::Retrying {
                        operation: "renew the lock",
                        attempt: self.plan.retry.attempts,
                        error: e,
                    },
                );
                Ok(())
            }
            // Unreachable until the lease nearly ran out, on the way forward: no proof that another run
            // holds it, but no more traffic may move forward on it. Roll back (the safe direction): the
            // store's fence still refuses this run's entries if another run took the lock over, and that
            // run would see the rollback's write as a change made outside it and stop.
            Err(e) if !matches!(e, ProviderError::Conflict { .. }) => {
                Err(provider_stop("renew the lock", e))
            }
            Err(e) => {
                // Taken over: refused by the store's fence. This run writes nothing more.
                self.lost = true;
                Err(Stop::Lost(format!(
                    "the deployment lock could not be renewed: {e}"
                )))
            }
        }
    }

    /// Calls a provider with the plan's retries, renewing the lease while it takes (a slow AWS with
    /// retries can take longer than the lease).
    pub(super) async fn call<T, F, Fut>(&mut self, operation: &'static str, f: F) -> Result<T, Stop>
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
    pub(super) async fn renewing<O>(&mut self, work: impl Future<Output = O>) -> Result<O, Stop> {
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

    /// Marks the routes as driven by this run, until its lease expires ([`RouteMark`]): before its first
    /// change. A mark that cannot be written is told, not a stop: it only shows the run to other machines.
    pub(super) async fn put_mark(&mut self) {
        self.marked = true;
        self.write_mark("write").await;
    }

    async fn write_mark(&mut self, operation: &'static str) {
        let mark = RouteMark {
            deployment: self.id.clone(),
            host: self.lease.owner.host.clone(),
            expires: self.lease.expires,
        };
        let p = self.p();
        let written = with_retry(
            &*p.clock,
            &*self.exec.observer,
            &self.plan.retry,
            "write_mark",
            || p.router.write_mark(&mark),
        )
        .await;
        if let Err(error) = written {
            self.exec
                .observer
                .on_notice(self.now(), &Notice::MarkFailed { operation, error });
        }
    }

    /// Removes this run's mark at its end, if the routes still carry it (a run that lost its lock writes
    /// nothing, the mark included: its successor's mark stays).
    pub(super) async fn remove_mark(&mut self) {
        if !self.marked || self.lost {
            return;
        }
        let p = self.p();
        let retry = self.plan.retry;
        let observer = &*self.exec.observer;
        let removed = async {
            let mark = with_retry(&*p.clock, observer, &retry, "read_mark", || {
                p.router.read_mark()
            })
            .await?;
            if mark.is_some_and(|m| m.deployment == self.id) {
                with_retry(&*p.clock, observer, &retry, "clear_mark", || {
                    p.router.clear_mark()
                })
                .await?;
            }
            Ok::<(), ProviderError>(())
        }
        .await;
        self.marked = false;
        if let Err(error) = removed {
            self.exec.observer.on_notice(
                self.now(),
                &Notice::MarkFailed {
                    operation: "remove",
                    error,
                },
            );
        }
    }

    pub(super) fn cancel_stop(&self) -> Stop {
        match self.plan.on_cancel {
            CancelPolicy::Rollback => Stop::Rollback(RollbackReason::Cancelled {
                by: self.exec.cancel.reason(),
            }),
            CancelPolicy::Leave => {
                let cancelled = match self.exec.cancel.reason() {
                    Some(by) => format!("cancelled: {by}"),
                    None => "cancelled".into(),
                };
                Stop::Leave(match self.last_split {
                    Some(s) => format!("{cancelled}; the split is left at {s}"),
                    None => format!("{cancelled}; the split is left as it is"),
                })
            }
        }
    }

    /// Sleeps until `until`, or stops early on cancellation; renews the lease on the way. Returns how
    /// long it slept by the clock's timer (which a step of the wall clock does not shorten).
    pub(super) async fn sleep_until(&mut self, until: Timestamp) -> Result<Duration, Stop> {
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
            // After every chunk, the last one too: a loop of short sleeps (a capacity wait polling every
            // 15 s) is made only of last chunks, and must renew the lease all the same.
            self.keep_lease().await?;
        }
    }
}

/// The wait before round `round + 1` of something that must eventually succeed (a rollback, the end of the
/// record): 2 s, 4 s, ... up to one minute.
pub(super) fn backoff(round: u32) -> Duration {
    Duration::from_secs(1u64 << round.min(6)).min(Duration::from_secs(60))
}
