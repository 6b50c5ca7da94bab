use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in time, in milliseconds since the Unix epoch.
///
/// The core never reads a wall clock: every timestamp comes from a [`Clock`](crate::Clock), which may be real
/// (the CLI) or virtual (the testkit), so a 15-minute strategy can run in microseconds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The timestamp `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The start of the minute holding this instant (CloudWatch's bucket stamp).
    pub const fn floor_minute(self) -> Self {
        Timestamp(self.0 - self.0 % 60_000)
    }

    /// The first whole minute at or after this instant.
    pub const fn ceil_minute(self) -> Self {
        let r = self.0 % 60_000;
        if r == 0 {
            self
        } else {
            Timestamp(self.0.saturating_add(60_000 - r))
        }
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(d.as_millis().min(u128::from(u64::MAX)) as u64),
        )
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(d.as_millis().min(u128::from(u64::MAX)) as u64),
        )
    }
}

/// 10000-01-01T00:00:00Z, in milliseconds: RFC 3339 has four digits for the year.
const YEAR_10000: u64 = 253_402_300_800_000;

impl fmt::Display for Timestamp {
    /// RFC 3339 with milliseconds; an instant from the year 10000 on (a damaged or hand-edited file, a
    /// clock far off) is written as its milliseconds, never a panic.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= YEAR_10000 {
            return write!(f, "{} ms after the epoch (after the year 9999)", self.0);
        }
        let t = std::time::UNIX_EPOCH + Duration::from_millis(self.0);
        write!(f, "{}", humantime::format_rfc3339_millis(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_after_the_year_9999_is_written_not_a_panic() {
        assert_eq!(
            Timestamp(YEAR_10000 - 1).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
        assert!(
            Timestamp(YEAR_10000)
                .to_string()
                .contains("after the year 9999")
        );
        assert!(
            Timestamp(u64::MAX)
                .to_string()
                .contains(&u64::MAX.to_string())
        );
    }
}

/// A half-open interval of time `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// Inclusive start.
    pub from: Timestamp,
    /// Exclusive end.
    pub to: Timestamp,
}

impl Window {
    /// The window's length.
    pub fn duration(self) -> Duration {
        self.to.since(self.from)
    }
}
