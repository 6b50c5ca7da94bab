//! The real clock: wall time and tokio's timer.

use async_trait::async_trait;
use bluegreen_core::{Clock, Timestamp};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time; sleeps on tokio's timer. Needs a tokio runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_millis(since.as_millis() as u64)
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[cfg(test)]
mod tests {
    use super::SystemClock;
    use std::time::Duration;

    #[tokio::test]
    async fn the_system_clock_keeps_the_clock_contract() {
        bluegreen_testkit::conformance::clock_contract(&SystemClock, Duration::from_millis(20))
            .await;
    }
}
