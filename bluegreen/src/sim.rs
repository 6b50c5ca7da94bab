//! The simulated provider: the testkit's world, kept in the state directory so that every invocation
//! (`deploy` in one terminal, `status`, `promote`, `rollback` in another) sees and changes the same ALB, ASGs
//! and traffic, on a clock that runs `time_scale` times faster than real time.

use async_trait::async_trait;
use bluegreen_core::{
    AlarmStatus, Capacity, CapacityStatus, Clock, Color, HealthSource, LaunchSource, MinuteMetrics,
    PerColor, ProviderError, RouteMark, Routing, TargetHealth, Timestamp, TrafficRouter,
    TrafficSplit, Window,
};
use bluegreen_store::atomic_write;
use bluegreen_testkit::{ManualClock, Scenario, SimWorld, run_virtual};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Simulated time: `virtual = base_virtual + (real − base_real) × scale`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SimTime {
    base_virtual: u64,
    base_real: u64,
    scale: f64,
}

fn real_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

impl SimTime {
    fn now(&self) -> Timestamp {
        let real = real_now().saturating_sub(self.base_real) as f64;
        Timestamp::from_millis(self.base_virtual + (real * self.scale) as u64)
    }
}

/// The simulated clock, shared by every process through the state directory.
#[derive(Debug, Clone, Copy)]
pub struct SimClock(SimTime);

#[async_trait]
impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration.div_f64(self.0.scale)).await;
    }
}

#[derive(Serialize, Deserialize)]
struct SimFileContent {
    time: SimTime,
    world: String,
}

/// The world's file and its lock.
pub struct SimFile {
    path: PathBuf,
    lock: PathBuf,
    time: SimTime,
    /// Real milliseconds every provider call waits first.
    latency: std::sync::atomic::AtomicU64,
}

impl SimFile {
    /// Opens the world in `dir`, creating it from `scenario` if there is none. `time_scale` applies to a new
    /// world; an existing one keeps its own.
    pub fn open(
        dir: &Path,
        scenario: Scenario,
        seed: u64,
        time_scale: f64,
    ) -> Result<Arc<Self>, ProviderError> {
        let path = dir.join("sim-world.json");
        let lock = dir.join("sim-world.lock");
        let mut file = SimFile {
            path,
            lock,
            time: SimTime {
                base_virtual: bluegreen_testkit::EPOCH_2026.as_millis(),
                base_real: real_now(),
                scale: time_scale,
            },
            latency: std::sync::atomic::AtomicU64::new(0),
        };
        let existing = file.locked(|| match std::fs::read_to_string(&file.path) {
            Ok(text) => {
                let content: SimFileContent = serde_json::from_str(&text)
                    .map_err(|e| unavailable(format!("{} is damaged: {e}", file.path.display())))?;
                Ok(Some(content.time))
            }
            Err(_) => {
                let world =
                    SimWorld::with_clock(scenario.world(seed), ManualClock::new(file.time.now()));
                file.save(&world)?;
                Ok(None)
            }
        })?;
        if let Some(time) = existing {
            file.time = time;
        }
        Ok(Arc::new(file))
    }

    /// The shared clock.
    pub fn clock(&self) -> SimClock {
        SimClock(self.time)
    }

    /// Runs `f` while holding the world's file lock (shared by every process).
    fn locked<T>(&self, f: impl FnOnce() -> Result<T, ProviderError>) -> Result<T, ProviderError> {
        bluegreen_store::flock::exclusive(&self.lock, bluegreen_store::flock::LOCK_WAIT, f)
            .map_err(|e| unavailable(format!("{}: {e}", self.lock.display())))?
    }

    fn save(&self, world: &SimWorld) -> Result<(), ProviderError> {
        let content = SimFileContent {
            time: self.time,
            world: world.snapshot(),
        };
        let text = serde_json::to_string(&content).map_err(|e| unavailable(e.to_string()))?;
        atomic_write(&self.path, text.as_bytes())
            .map_err(|e| unavailable(format!("{}: {e}", self.path.display())))
    }

    /// Runs `f` on the world as it is now, under the lock, and saves what it changed.
    pub fn with_world<T>(&self, f: impl FnOnce(&SimWorld) -> T) -> Result<T, ProviderError> {
        self.locked(|| {
            let text = std::fs::read_to_string(&self.path)
                .map_err(|e| unavailable(format!("{}: {e}", self.path.display())))?;
            let content: SimFileContent = serde_json::from_str(&text)
                .map_err(|e| unavailable(format!("{} is damaged: {e}", self.path.display())))?;
            let world = SimWorld::restore(&content.world, ManualClock::new(self.time.now()))
                .map_err(|e| unavailable(e.to_string()))?;
            let out = f(&world);
            self.save(&world)?;
            Ok(out)
        })
    }

    /// How many times faster than real time the world's clock runs (the world's own, kept from when it was
    /// made).
    pub fn time_scale(&self) -> f64 {
        self.time.scale
    }

    /// Makes green behave as `scenario` from now on.
    pub fn set_scenario(&self, scenario: Scenario) -> Result<(), ProviderError> {
        self.with_world(|w| {
            let offset = w.clock().now().since(w.start());
            w.set_script(Color::Green, scenario.green_script(offset));
            w.set_request_rate(if scenario == Scenario::NoTraffic {
                0.0
            } else {
                200.0
            });
        })
    }

    fn call<T>(
        &self,
        f: impl FnOnce(&SimWorld) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        self.with_world(f)?
    }

    /// [`call`](Self::call) after the world's latency ([`SimFile::set_latency`]): a slow AWS.
    async fn slow<T>(
        &self,
        f: impl FnOnce(&SimWorld) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let latency = self.latency.load(std::sync::atomic::Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        self.call(f)
    }

    /// Makes every provider call wait `latency` of real time first, as a slow AWS would (`[sim] latency`).
    pub fn set_latency(&self, latency: Duration) {
        self.latency.store(
            u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// The simulated world's file could not be used.
fn unavailable(message: String) -> ProviderError {
    ProviderError::Unavailable { message }
}

/// Runs a future of the world's in-memory providers (they never wait) to completion.
fn now<F: std::future::Future>(world: &SimWorld, f: F) -> F::Output {
    run_virtual(world.clock(), f).expect("the simulated providers never wait")
}

/// The simulated listener.
pub struct SimFileRouter(pub Arc<SimFile>);
/// The simulated target health, metrics and alarms.
pub struct SimFileHealth(pub Arc<SimFile>);
/// The simulated Auto Scaling groups.
pub struct SimFileCapacity(pub Arc<SimFile>);

#[async_trait]
impl TrafficRouter for SimFileRouter {
    async fn read_split(&self) -> Result<TrafficSplit, ProviderError> {
        self.0.slow(|w| now(w, w.router().read_split())).await
    }
    async fn write_split(&self, split: TrafficSplit) -> Result<(), ProviderError> {
        self.0.slow(|w| now(w, w.router().write_split(split))).await
    }
    async fn read_routes(&self) -> Result<Routing, ProviderError> {
        self.0.slow(|w| now(w, w.router().read_routes())).await
    }
    async fn read_mark(&self) -> Result<Option<RouteMark>, ProviderError> {
        self.0.slow(|w| now(w, w.router().read_mark())).await
    }
    async fn stickiness(&self) -> Result<Option<Duration>, ProviderError> {
        self.0.slow(|w| now(w, w.router().stickiness())).await
    }
    async fn group_timings(
        &self,
        color: Color,
    ) -> Result<Option<bluegreen_core::GroupTimings>, ProviderError> {
        self.0
            .slow(|w| now(w, w.router().group_timings(color)))
            .await
    }
    async fn write_mark(&self, mark: &RouteMark) -> Result<(), ProviderError> {
        self.0.slow(|w| now(w, w.router().write_mark(mark))).await
    }
    async fn clear_mark(&self) -> Result<(), ProviderError> {
        self.0.slow(|w| now(w, w.router().clear_mark())).await
    }
}

#[async_trait]
impl HealthSource for SimFileHealth {
    async fn target_health(&self, color: Color) -> Result<TargetHealth, ProviderError> {
        self.0
            .slow(|w| now(w, w.health().target_health(color)))
            .await
    }
    async fn metrics(&self, window: Window) -> Result<PerColor<Vec<MinuteMetrics>>, ProviderError> {
        self.0.slow(|w| now(w, w.health().metrics(window))).await
    }
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>, ProviderError> {
        self.0
            .slow(|w| now(w, w.health().alarm_states(names)))
            .await
    }
}

#[async_trait]
impl Capacity for SimFileCapacity {
    async fn capacity(&self, color: Color) -> Result<CapacityStatus, ProviderError> {
        self.0.slow(|w| now(w, w.capacity().capacity(color))).await
    }
    async fn set_desired(&self, color: Color, desired: u32) -> Result<(), ProviderError> {
        self.0
            .slow(|w| now(w, w.capacity().set_desired(color, desired)))
            .await
    }
    async fn set_launch_template(
        &self,
        color: Color,
        template: &str,
        version: &str,
    ) -> Result<(), ProviderError> {
        self.0
            .slow(|w| {
                now(
                    w,
                    w.capacity().set_launch_template(color, template, version),
                )
            })
            .await
    }
    async fn new_image_version(
        &self,
        color: Color,
        image: &str,
    ) -> Result<(String, String), ProviderError> {
        self.0
            .slow(|w| now(w, w.capacity().new_image_version(color, image)))
            .await
    }
    async fn image_exists(&self, image: &str) -> Result<bool, ProviderError> {
        self.0
            .slow(|w| now(w, w.capacity().image_exists(image)))
            .await
    }
    async fn launch_source(&self, color: Color) -> Result<LaunchSource, ProviderError> {
        self.0
            .slow(|w| now(w, w.capacity().launch_source(color)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bluegreen_core::Window;
    use bluegreen_testkit::conformance as c;

    /// The simulated providers kept in the state directory are providers like any other: they pass the
    /// conformance suite that the testkit's fakes and the AWS providers pass.
    #[tokio::test]
    async fn the_simulated_providers_pass_the_conformance_suite() {
        let dir = std::env::temp_dir().join(format!("bluegreen-simfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sim = SimFile::open(&dir, Scenario::Healthy, 1, 60_000.0).expect("opens");
        let clock = sim.clock();
        // A minute of its time is a millisecond of real time.
        c::clock_contract(&clock, Duration::from_secs(60)).await;
        let start = clock.now();
        let router = SimFileRouter(sim.clone());
        c::router_round_trip(&router).await;
        c::router_idempotent_write(&router).await;
        c::router_mark_round_trip(&router).await;
        c::router_group_timings(&router, Some(Duration::from_secs(300))).await;
        let health = SimFileHealth(sim.clone());
        c::health_target_counts(&health, Color::Blue, 1).await;
        // Ten simulated minutes of traffic (10 ms of real time at this scale).
        clock.sleep(Duration::from_secs(600)).await;
        let busy = Window {
            from: start,
            to: clock.now(),
        };
        c::health_metrics_contract(&health, busy).await;
        // Before the world existed (its own start: at this scale, real milliseconds are simulated minutes,
        // so `start` above may already be well past it).
        let born = sim.with_world(|w| w.start()).expect("reads the world");
        let quiet = Window {
            from: born - Duration::from_secs(7200),
            to: born - Duration::from_secs(3600),
        };
        c::health_no_data_is_absent(&health, quiet).await;
        c::health_rejects_empty_window(&health, clock.now()).await;
        let capacity = SimFileCapacity(sim.clone());
        c::capacity_round_trip(&capacity, Color::Green).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
