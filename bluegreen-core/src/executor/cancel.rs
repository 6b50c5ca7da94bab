use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A cancellation signal, cloned freely: one clone cancels, every clone sees it. The executor stops at its
/// next safe point (between steps, during bakes and approval waits) and applies the plan's
/// [`CancelPolicy`](crate::CancelPolicy).
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<Mutex<CancelState>>,
}

#[derive(Debug, Default)]
struct CancelState {
    cancelled: bool,
    /// The first cancellation was the process stopping (a signal), not a person's abort.
    interrupt: bool,
    reason: Option<String>,
    wakers: Vec<Waker>,
}

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels, waking every waiter.
    pub fn cancel(&self) {
        self.cancel_with(None);
    }

    /// Cancels, saying who or what stopped the deployment (`abort by oncall`, `SIGTERM on host ci-7`): the
    /// rollback's reason records it, so `history`, `status` and the report can say who and why. The first
    /// reason given is kept.
    ///
    /// ```
    /// use bluegreen_core::CancelToken;
    /// let token = CancelToken::new();
    /// token.cancel_because("abort by oncall");
    /// token.cancel_because("SIGTERM");
    /// assert_eq!(token.reason().as_deref(), Some("abort by oncall"));
    /// ```
    pub fn cancel_because(&self, why: impl Into<String>) {
        self.cancel_with(Some(why.into()));
    }

    /// Cancels because the process running the deployment is stopping (a signal: Ctrl-C, SIGTERM from a CI
    /// cancel), not because someone asked to stop the deployment. Everywhere but in a watch it is a
    /// cancellation like [`cancel_because`](Self::cancel_because); a watch ([`crate::Step::Watch`]) — the
    /// release already complete — stops the run and leaves the deployment watching for the next run.
    ///
    /// ```
    /// use bluegreen_core::CancelToken;
    /// let token = CancelToken::new();
    /// token.interrupt("SIGTERM on host ci-7");
    /// assert!(token.is_cancelled() && token.is_interrupt());
    /// ```
    pub fn interrupt(&self, why: impl Into<String>) {
        {
            let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if !s.cancelled {
                s.interrupt = true;
            }
        }
        self.cancel_with(Some(why.into()));
    }

    /// Whether the first cancellation was an [`interrupt`](Self::interrupt).
    pub fn is_interrupt(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .interrupt
    }

    /// Who or what cancelled, when it was said.
    pub fn reason(&self) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reason
            .clone()
    }

    fn cancel_with(&self, why: Option<String>) {
        let wakers = {
            let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            s.cancelled = true;
            if s.reason.is_none() {
                s.reason = why;
            }
            std::mem::take(&mut s.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cancelled
    }

    /// Completes when cancelled.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            token: self.clone(),
        }
    }
}

/// The future of [`CancelToken::cancelled`].
#[derive(Debug)]
pub struct Cancelled {
    token: CancelToken,
}

impl Future for Cancelled {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.token.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.cancelled {
            Poll::Ready(())
        } else {
            if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                s.wakers.push(cx.waker().clone());
            }
            Poll::Pending
        }
    }
}
