//! A fault decorator for any provider: throttling, transient 5xx, timeouts, stale reads, latency —
//! changeable while running.

use async_trait::async_trait;
use bluegreen_core::{
    AlarmStatus, Capacity, CapacityStatus, Clock, Color, DeploymentId, HealthSource, Lease,
    LockOwner, MinuteMetrics, PerColor, ProviderError, RecordEntry, StateStore, TargetHealth,
    Timestamp, TrafficRouter, TrafficSplit, Window,
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

    /// Decides the fate of one call: `Ok(delay)` to go ahead after `delay`, or `Err((delay, error))`.
    fn next_call(&self, operation: &str) -> Result<Duration, (Duration, ProviderError)> {
        let mut s = self.state();
        let latency = s.faults.latency;
        let fail = |s: &mut FaultState, e: ProviderError, extra: Duration| {
            s.injected += 1;
            Err((latency + extra, e))
        };
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
        Ok(latency)
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

    async fn gate(&self, operation: &str) -> Result<(), ProviderError> {
        match self.faults.next_call(operation) {
            Ok(delay) => {
                if !delay.is_zero() {
                    self.clock.sleep(delay).await;
                }
                Ok(())
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
        self.gate("read_split").await?;
        let read = self.inner.read_split().await?;
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
        self.gate("write_split").await?;
        let before = self.faults.state().last_split;
        self.inner.write_split(split).await?;
        let mut s = self.faults.state();
        let k = s.faults.stale_reads;
        s.stale = match before {
            Some(old) if k > 0 && old != split => Some((old, k)),
            _ => None,
        };
        s.last_split = Some(split);
        Ok(())
    }
}

#[async_trait]
impl<T: HealthSource> HealthSource for Faulty<T> {
    async fn target_health(&self, color: Color) -> Result<TargetHealth, ProviderError> {
        self.gate("target_health").await?;
        self.inner.target_health(color).await
    }
    async fn metrics(&self, window: Window) -> Result<PerColor<Vec<MinuteMetrics>>, ProviderError> {
        self.gate("metrics").await?;
        self.inner.metrics(window).await
    }
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>, ProviderError> {
        self.gate("alarm_states").await?;
        self.inner.alarm_states(names).await
    }
}

#[async_trait]
impl<T: Capacity> Capacity for Faulty<T> {
    async fn capacity(&self, color: Color) -> Result<CapacityStatus, ProviderError> {
        self.gate("capacity").await?;
        self.inner.capacity(color).await
    }
    async fn set_desired(&self, color: Color, desired: u32) -> Result<(), ProviderError> {
        self.gate("set_desired").await?;
        self.inner.set_desired(color, desired).await
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
        self.gate("append").await?;
        self.inner.append(lease, deployment, entry).await
    }
    async fn load(&self, deployment: &DeploymentId) -> Result<Vec<RecordEntry>, ProviderError> {
        self.gate("load").await?;
        self.inner.load(deployment).await
    }
    async fn list(&self, application: &str) -> Result<Vec<DeploymentId>, ProviderError> {
        self.gate("list").await?;
        self.inner.list(application).await
    }
    async fn lock(
        &self,
        application: &str,
        owner: &LockOwner,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.gate("lock").await?;
        self.inner.lock(application, owner, now, ttl).await
    }
    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.gate("renew").await?;
        self.inner.renew(lease, now, ttl).await
    }
    async fn unlock(&self, lease: &Lease) -> Result<(), ProviderError> {
        self.gate("unlock").await?;
        self.inner.unlock(lease).await
    }
    async fn holder(&self, application: &str) -> Result<Option<Lease>, ProviderError> {
        self.gate("holder").await?;
        self.inner.holder(application).await
    }
}
