//! The traits through which the executor reaches the world. Each is object-safe, `Send + Sync`, and has
//! few required methods; use them as `Arc<dyn _>`. With the `mocks` feature, each has a mockall mock
//! (`MockTrafficRouter`, `MockHealthSource`, ...).

mod approval;
mod capacity;
mod clock;
mod error;
mod health;
mod hooks;
mod router;
mod store;

pub use approval::{Approval, ApprovalDecision, ApprovalRequest, NoApprovalChannel};
pub use capacity::{Capacity, CapacityStatus, LaunchSource};
pub use clock::Clock;
pub use error::ProviderError;
pub use health::{
    AlarmState, AlarmStatus, HealthSource, MINUTE, MetricSeries, Metrics, MinuteMetrics,
    TargetHealth,
};
pub use hooks::{HookFailure, HookPoint, Hooks};
pub use router::{GroupTimings, RouteMark, RouteSet, RouteSplit, Routing, TrafficRouter};
pub use store::{
    Lease, LockOwner, StateStore, ensure_current, is_current, lost_lease, release_lease,
    renew_lease, take_lease,
};

#[cfg(feature = "mocks")]
pub use approval::MockApproval;
#[cfg(feature = "mocks")]
pub use capacity::MockCapacity;
#[cfg(feature = "mocks")]
pub use clock::MockClock;
#[cfg(feature = "mocks")]
pub use health::MockHealthSource;
#[cfg(feature = "mocks")]
pub use hooks::MockHooks;
#[cfg(feature = "mocks")]
pub use router::MockTrafficRouter;
#[cfg(feature = "mocks")]
pub use store::MockStateStore;
