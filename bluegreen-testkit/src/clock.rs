//! A manual clock and a single-threaded driver that runs futures on virtual time.

use async_trait::async_trait;
use bluegreen_core::{Clock, Timestamp};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// A wall clock over a [`ManualClock`]: `now` can be stepped forward or back (as NTP does to a real
/// clock) while `sleep` keeps measuring on the manual clock (as a monotonic timer does). Clones share the
/// step.
#[derive(Clone, Debug)]
pub struct SteppedClock {
    inner: ManualClock,
    offset_ms: Arc<std::sync::atomic::AtomicI64>,
}

impl SteppedClock {
    /// A wall clock that reads `inner`'s time until stepped.
    pub fn new(inner: ManualClock) -> Self {
        SteppedClock {
            inner,
            offset_ms: Arc::new(std::sync::atomic::AtomicI64::new(0)),
        }
    }

    /// Steps `now` by `by` forward, or back if `back`; sleepers are not woken.
    pub fn step(&self, by: Duration, back: bool) {
        let ms = by.as_millis() as i64;
        self.offset_ms
            .fetch_add(if back { -ms } else { ms }, Ordering::SeqCst);
    }
}

#[async_trait]
impl Clock for SteppedClock {
    fn now(&self) -> Timestamp {
        let base = self.inner.now().as_millis() as i64;
        Timestamp::from_millis((base + self.offset_ms.load(Ordering::SeqCst)).max(0) as u64)
    }

    async fn sleep(&self, duration: Duration) {
        self.inner.sleep(duration).await
    }
}

/// 2026-01-01T00:00:00Z, where the testkit's clocks start unless told otherwise.
pub const EPOCH_2026: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// A clock that moves only when told: [`advance`](ManualClock::advance) wakes sleepers in deadline order.
/// Clones share the same time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    inner: Arc<Mutex<ClockState>>,
}

#[derive(Debug)]
struct ClockState {
    now: Timestamp,
    sleepers: BTreeMap<(Timestamp, u64), Waker>,
    next_id: u64,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(EPOCH_2026)
    }
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            inner: Arc::new(Mutex::new(ClockState {
                now: start,
                sleepers: BTreeMap::new(),
                next_id: 0,
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, ClockState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves time forward by `d`, waking every sleeper whose deadline has come.
    pub fn advance(&self, d: Duration) {
        let to = self.now() + d;
        self.advance_to(to);
    }

    /// Moves time to `to` (never backwards), waking every sleeper whose deadline has come, earliest first.
    pub fn advance_to(&self, to: Timestamp) {
        let due: Vec<Waker> = {
            let mut s = self.state();
            if to > s.now {
                s.now = to;
            }
            let now = s.now;
            let later = s.sleepers.split_off(&(now + Duration::from_millis(1), 0));
            std::mem::replace(&mut s.sleepers, later)
                .into_values()
                .collect()
        };
        for w in due {
            w.wake();
        }
    }

    /// The earliest deadline anyone sleeps until.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.state().sleepers.keys().next().map(|(t, _)| *t)
    }

    /// How many futures are sleeping.
    pub fn sleepers(&self) -> usize {
        self.state().sleepers.len()
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.state().now
    }

    async fn sleep(&self, duration: Duration) {
        let deadline = self.now() + duration;
        Sleep {
            clock: self.clone(),
            deadline,
            key: None,
        }
        .await
    }
}

/// The future of [`ManualClock`]'s sleep.
struct Sleep {
    clock: ManualClock,
    deadline: Timestamp,
    key: Option<(Timestamp, u64)>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let clock = self.clock.clone();
        let mut s = clock.state();
        if s.now >= self.deadline {
            if let Some(k) = self.key.take() {
                s.sleepers.remove(&k);
            }
            return Poll::Ready(());
        }
        let key = match self.key {
            Some(k) => k,
            None => {
                let k = (self.deadline, s.next_id);
                s.next_id += 1;
                self.key = Some(k);
                k
            }
        };
        s.sleepers.insert(key, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.clock.state().sleepers.remove(&k);
        }
    }
}

/// The future stopped making progress: it waits for something other than the clock, and nothing is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stalled;

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `fut` to completion on virtual time: polls it while it is woken, and when it is idle, jumps the
/// clock to the next sleeper's deadline. A 15-minute deployment takes microseconds. `Err(Stalled)` when the
/// future waits on something that is not the clock and nothing is due (e.g. an approval nobody gives).
///
/// The future must not wait on real I/O or a real timer.
///
/// ```
/// use bluegreen_core::Clock;
/// use bluegreen_testkit::{ManualClock, run_virtual};
/// use std::time::Duration;
/// let clock = ManualClock::default();
/// let start = clock.now();
/// run_virtual(&clock, async { clock.sleep(Duration::from_secs(900)).await }).unwrap();
/// assert_eq!(clock.now().since(start), Duration::from_secs(900));
/// ```
pub fn run_virtual<F: Future>(clock: &ManualClock, fut: F) -> Result<F::Output, Stalled> {
    run_virtual_until(clock, fut, || false).ok_or(Stalled)?
}

/// Like [`run_virtual`], but gives up and drops the future (as a dying process would) as soon as `stop`
/// returns true; `stop` is checked before every poll. `None` when stopped, `Some(Err(Stalled))` when stalled.
pub fn run_virtual_until<F: Future>(
    clock: &ManualClock,
    fut: F,
    mut stop: impl FnMut() -> bool,
) -> Option<Result<F::Output, Stalled>> {
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if flag.0.swap(false, Ordering::AcqRel) {
            if stop() {
                return None;
            }
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return Some(Ok(v));
            }
            continue;
        }
        match clock.next_deadline() {
            Some(t) => clock.advance_to(t),
            None => return Some(Err(Stalled)),
        }
    }
}
