//! A fault decorator for any provider: throttling, transient 5xx, timeouts, stale reads, latency —
//! changeable while running.

use async_trait::async_trait;
use bluegreen_core::{
    AlarmStatus, Capacity, CapacityStatus, Clock, Color, DeploymentId, HealthSource, LaunchSource,
    Lease, LockOwner, MinuteMetrics, PerColor, ProviderError, RecordEntry, RouteMark, StateStore,
    TargetHealth, Timestamp, TrafficRouter, TrafficSplit, Window,
};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The faults to inject. Change them at any time through a [`FaultHandle`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// The next this-many calls fail with [`ProviderError::Throttled`].
    pub throttle_next: u32,
    /// The next this-many calls fail with [`ProviderError::Unavailable`] (an HTTP 5xx).
    pub unavailable_next: u32,
    /// The next this-many calls hang for [`Faults::timeout`] and then fail with [`ProviderError::Unavailable`].
    pub timeout_next: u32,
    /// How long a timed-out call hangs.
    pub timeout: Duration,
    /// After each write of a split, this many reads return the split from before the write.
    pub stale_reads: u32,
    /// Every call takes this long (on the clock) before it is made.
    pub latency: Duration,
    /// Each call fails, independently, with this probability (half throttled, half unavailable).
    pub error_probability: f64,
    /// Faults for named operations only (`write_split`, `read_split`, `target_health`, `metrics`,
    /// `set_desired`, `append`, ...), applied before the general ones above, first match first.
    pub script: Vec<ScriptedFault>,
}

/// A fault for one operation, `count` times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedFault {
    /// The operation, as the provider methods are named (`write_split`, `metrics`, `append`, ...).
    pub operation: String,
    /// What happens.
    pub kind: FaultKind,
    /// How many calls it affects.
    pub count: u32,
}

/// What a [`ScriptedFault`] does to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The call fails with [`ProviderError::Unavailable`] and does nothing.
    Error,
    /// The call fails with [`ProviderError::Throttled`] and does nothing.
    Throttle,
    /// The call takes effect, then answers [`ProviderError::Unavailable`]: the caller cannot tell.
    Ambiguous,
}

/// Changes the faults of one or more [`Faulty`] providers while they run. Clones share the faults.
#[derive(Debug, Clone)]
pub struct FaultHandle {
    inner: Arc<Mutex<FaultState>>,
}

#[derive(Debug)]
struct FaultState {
    faults: Faults,
    rng: SmallRng,
    last_split: Option<TrafficSplit>,
    stale: Option<(TrafficSplit, u32)>,
    injected: u64,
}

impl FaultHandle {
    /// No faults; `seed` drives [`Faults::error_probability`].
    pub fn new(seed: u64) -> Self {
        FaultHandle {
            inner: Arc::new(Mutex::new(FaultState {
                faults: Faults::default(),
                rng: SmallRng::seed_from_u64(seed),
                last_split: None,
                stale: None,
                injected: 0,
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, FaultState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the faults.
    pub fn set(&self, faults: Faults) {
        self.state().faults = faults;
    }

    /// Changes the faults in place.
    pub fn update(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.state().faults);
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.state().injected
    }

    /// Decides the fate of one call: `Ok((delay, ambiguous))` to go ahead after `delay` (and, if
    /// `ambiguous`, to answer an error after it took effect), or `Err((delay, error))`.
    fn next_call(&self, operation: &str) -> Result<(Duration, bool), (Duration, ProviderError)> {
        let mut s = self.state();
        let latency = s.faults.latency;
        let fail = |s: &mut FaultState, e: ProviderError, extra: Duration| {
            s.injected += 1;
            Err((latency + extra, e))
        };
        if let Some(i) = s
            .faults
            .script
            .iter()
            .position(|f| f.operation == operation && f.count > 0)
        {
            s.faults.script[i].count -= 1;
            let kind = s.faults.script[i].kind;
            return match kind {
                FaultKind::Error => fail(
                    &mut s,
                    ProviderError::Unavailable {
                        message: format!("{operation}: HTTP 503 (scripted)"),
                    },
                    Duration::ZERO,
                ),
                FaultKind::Throttle => fail(
                    &mut s,
                    ProviderError::Throttled {
                        message: format!("{operation}: Rate exceeded (scripted)"),
                    },
                    Duration::ZERO,
                ),
                FaultKind::Ambiguous => {
                    s.injected += 1;
                    Ok((latency, true))
                }
            };
        }
        if s.faults.timeout_next > 0 {
            s.faults.timeout_next -= 1;
            let t = s.faults.timeout;
            return fail(
                &mut s,
                ProviderError::Unavailable {
                    message: format!("{operation} timed out (injected)"),
                },
                t,
            );
        }
        if s.faults.throttle_next > 0 {
            s.faults.throttle_next -= 1;
            return fail(
                &mut s,
                ProviderError::Throttled {
                    message: format!("{operation}: Rate exceeded (injected)"),
                },
                Duration::ZERO,
            );
        }
        if s.faults.unavailable_next > 0 {
            s.faults.unavailable_next -= 1;
            return fail(
                &mut s,
                ProviderError::Unavailable {
                    message: format!("{operation}: HTTP 503 (injected)"),
                },
                Duration::ZERO,
            );
        }
        let p = s.faults.error_probability;
        if p > 0.0 {
            let roll: f64 = s.rng.random();
            if roll < p {
                let e = if roll < p / 2.0 {
                    ProviderError::Throttled {
                        message: format!("{operation}: Rate exceeded (injected)"),
                    }
                } else {
                    ProviderError::Unavailable {
                        message: format!("{operation}: HTTP 500 (injected)"),
                    }
                };
                return fail(&mut s, e, Duration::ZERO);
            }
        }
        Ok((latency, false))
    }
}

/// The answer to a call that took effect: an error instead of `result` if the call was ambiguous.
fn answer<R>(
    operation: &str,
    ambiguous: bool,
    result: Result<R, ProviderError>,
) -> Result<R, ProviderError> {
    match result {
        Ok(_) if ambiguous => Err(ProviderError::Unavailable {
            message: format!("{operation}: the connection dropped after the request (scripted)"),
        }),
        other => other,
    }
}

/// Wraps a provider `T` and injects the faults of a [`FaultHandle`] into its calls, waiting on `clock`.
///
/// ```
/// use bluegreen_testkit::{Faulty, FaultHandle, SimWorld, WorldConfig};
/// use std::sync::Arc;
/// let world = SimWorld::new(WorldConfig::default());
/// let faults = FaultHandle::new(7);
/// let router = Faulty::new(world.router(), Arc::new(world.clock().clone()), faults.clone());
/// faults.update(|f| f.stale_reads = 2);
/// # let _ = router;
/// ```
pub struct Faulty<T> {
    inner: T,
    clock: Arc<dyn Clock>,
    faults: FaultHandle,
}

impl<T> Faulty<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, clock: Arc<dyn Clock>, faults: FaultHandle) -> Self {
        Faulty {
            inner,
            clock,
            faults,
        }
    }

    /// The handle that changes this provider's faults.
    pub fn handle(&self) -> &FaultHandle {
        &self.faults
    }

    /// Waits and fails as the faults say; `Ok(true)` means the call must take effect and then answer an
    /// error (see [`Faulty::answer`]).
    async fn gate(&self, operation: &str) -> Result<bool, ProviderError> {
        match self.faults.next_call(operation) {
            Ok((delay, ambiguous)) => {
                if !delay.is_zero() {
                    self.clock.sleep(delay).await;
                }
                Ok(ambiguous)
            }
            Err((delay, e)) => {
                if !delay.is_zero() {
                    self.clock.sleep(delay).await;
                }
                Err(e)
            }
        }
    }
}

#[async_trait]
impl<T: TrafficRouter> TrafficRouter for Faulty<T> {
    async fn read_split(&self) -> Result<TrafficSplit, ProviderError> {
        let ambiguous = self.gate("read_split").await?;
        let read = answer("read_split", ambiguous, self.inner.read_split().await)?;
        let mut s = self.faults.state();
        if let Some((old, left)) = s.stale.as_mut()
            && *left > 0
        {
            *left -= 1;
            let old = *old;
            s.injected += 1;
            return Ok(old);
        }
        s.last_split = Some(read);
        Ok(read)
    }

    async fn write_split(&self, split: TrafficSplit) -> Result<(), ProviderError> {
        let ambiguous = self.gate("write_split").await?;
        let before = self.faults.state().last_split;
        self.inner.write_split(split).await?;
        if ambiguous {
            let mut s = self.faults.state();
            s.last_split = Some(split);
            return answer("write_split", true, Ok(()));
        }
        let mut s = self.faults.state();
        let k = s.faults.stale_reads;
        s.stale = match before {
            Some(old) if k > 0 && old != split => Some((old, k)),
            _ => None,
        };
        s.last_split = Some(split);
        Ok(())
    }

    // The mark only shows a run to other machines (a failure is a notice, never a stop): passed through,
    // so that the faults injected stay those of the calls that read and move traffic.
    async fn read_mark(&self) -> Result<Option<RouteMark>, ProviderError> {
        self.inner.read_mark().await
    }

    async fn stickiness(&self) -> Result<Option<std::time::Duration>, ProviderError> {
        self.gate("stickiness").await?;
        self.inner.stickiness().await
    }

    async fn group_timings(
        &self,
        color: Color,
    ) -> Result<Option<bluegreen_core::GroupTimings>, ProviderError> {
        self.gate("group_timings").await?;
        self.inner.group_timings(color).await
    }

    async fn write_mark(&self, mark: &RouteMark) -> Result<(), ProviderError> {
        self.inner.write_mark(mark).await
    }

    async fn clear_mark(&self) -> Result<(), ProviderError> {
        self.inner.clear_mark().await
    }
}

#[async_trait]
impl<T: HealthSource> HealthSource for Faulty<T> {
    async fn target_health(&self, color: Color) -> Result<TargetHealth, ProviderError> {
        let ambiguous = self.gate("target_health").await?;
        answer(
            "target_health",
            ambiguous,
            self.inner.target_health(color).await,
        )
    }
    async fn metrics(&self, window: Window) -> Result<PerColor<Vec<MinuteMetrics>>, ProviderError> {
        let ambiguous = self.gate("metrics").await?;
        answer("metrics", ambiguous, self.inner.metrics(window).await)
    }
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>, ProviderError> {
        let ambiguous = self.gate("alarm_states").await?;
        answer(
            "alarm_states",
            ambiguous,
            self.inner.alarm_states(names).await,
        )
    }
}

#[async_trait]
impl<T: Capacity> Capacity for Faulty<T> {
    async fn capacity(&self, color: Color) -> Result<CapacityStatus, ProviderError> {
        let ambiguous = self.gate("capacity").await?;
        answer("capacity", ambiguous, self.inner.capacity(color).await)
    }
    async fn set_desired(&self, color: Color, desired: u32) -> Result<(), ProviderError> {
        let ambiguous = self.gate("set_desired").await?;
        answer(
            "set_desired",
            ambiguous,
            self.inner.set_desired(color, desired).await,
        )
    }
    async fn set_launch_template(
        &self,
        color: Color,
        template: &str,
        version: &str,
    ) -> Result<(), ProviderError> {
        let ambiguous = self.gate("set_launch_template").await?;
        answer(
            "set_launch_template",
            ambiguous,
            self.inner
                .set_launch_template(color, template, version)
                .await,
        )
    }
    async fn new_image_version(
        &self,
        color: Color,
        image: &str,
    ) -> Result<(String, String), ProviderError> {
        let ambiguous = self.gate("new_image_version").await?;
        answer(
            "new_image_version",
            ambiguous,
            self.inner.new_image_version(color, image).await,
        )
    }
    async fn image_exists(&self, image: &str) -> Result<bool, ProviderError> {
        let ambiguous = self.gate("image_exists").await?;
        answer(
            "image_exists",
            ambiguous,
            self.inner.image_exists(image).await,
        )
    }
    async fn launch_source(&self, color: Color) -> Result<LaunchSource, ProviderError> {
        let ambiguous = self.gate("launch_source").await?;
        answer(
            "launch_source",
            ambiguous,
            self.inner.launch_source(color).await,
        )
    }
}

#[async_trait]
impl<T: StateStore> StateStore for Faulty<T> {
    async fn append(
        &self,
        lease: &Lease,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError> {
        let ambiguous = self.gate("append").await?;
        answer(
            "append",
            ambiguous,
            self.inner.append(lease, deployment, entry).await,
        )
    }
    async fn load(&self, deployment: &DeploymentId) -> Result<Vec<RecordEntry>, ProviderError> {
        let ambiguous = self.gate("load").await?;
        answer("load", ambiguous, self.inner.load(deployment).await)
    }
    async fn list(&self, application: &str) -> Result<Vec<DeploymentId>, ProviderError> {
        let ambiguous = self.gate("list").await?;
        answer("list", ambiguous, self.inner.list(application).await)
    }
    async fn lock(
        &self,
        application: &str,
        owner: &LockOwner,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        let ambiguous = self.gate("lock").await?;
        answer(
            "lock",
            ambiguous,
            self.inner.lock(application, owner, now, ttl).await,
        )
    }
    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        let ambiguous = self.gate("renew").await?;
        answer("renew", ambiguous, self.inner.renew(lease, now, ttl).await)
    }
    async fn unlock(&self, lease: &Lease) -> Result<(), ProviderError> {
        let ambiguous = self.gate("unlock").await?;
        answer("unlock", ambiguous, self.inner.unlock(lease).await)
    }
    async fn holder(&self, application: &str) -> Result<Option<Lease>, ProviderError> {
        let ambiguous = self.gate("holder").await?;
        answer("holder", ambiguous, self.inner.holder(application).await)
    }
}
