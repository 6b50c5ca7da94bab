use crate::Timestamp;
use async_trait::async_trait;
use std::time::Duration;

/// Time, injected. Everything that waits (bakes, polls, approvals, backoff) waits through this trait, so tests
/// run on a virtual clock and a 15-minute strategy takes milliseconds.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current time on this clock (milliseconds since the Unix epoch). A virtual clock moves only when
    /// its driver advances it; a real one may step (NTP), so durations are measured with `sleep`, not
    /// differences of `now`.
    fn now(&self) -> Timestamp;
    /// Completes once `duration` has passed on this clock.
    async fn sleep(&self, duration: Duration);
}
