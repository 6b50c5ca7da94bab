//! Approval handles: one a test (or another task) decides by hand, one that decides on a schedule.

use async_trait::async_trait;
use bluegreen_core::{Approval, ApprovalDecision, ApprovalRequest, Clock, ProviderError};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// An approval decided by calling [`approve`](ManualApproval::approve) or [`reject`](ManualApproval::reject),
/// from anywhere. Clones share it. A decision answers every wait, past and future.
#[derive(Debug, Clone, Default)]
pub struct ManualApproval {
    inner: Arc<Mutex<ApprovalState>>,
}

#[derive(Debug, Default)]
struct ApprovalState {
    decision: Option<ApprovalDecision>,
    requests: Vec<ApprovalRequest>,
    wakers: Vec<Waker>,
}

impl ManualApproval {
    /// Undecided.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, ApprovalState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Approves.
    pub fn approve(&self, by: &str) {
        self.decide(ApprovalDecision::Approved { by: by.into() });
    }

    /// Rejects.
    pub fn reject(&self, by: &str, reason: Option<&str>) {
        self.decide(ApprovalDecision::Rejected {
            by: by.into(),
            reason: reason.map(Into::into),
        });
    }

    fn decide(&self, d: ApprovalDecision) {
        let wakers = {
            let mut s = self.state();
            s.decision = Some(d);
            std::mem::take(&mut s.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<ApprovalRequest> {
        self.state().requests.clone()
    }
}

struct Decided(ManualApproval);

impl Future for Decided {
    type Output = ApprovalDecision;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ApprovalDecision> {
        let mut s = self.0.state();
        match &s.decision {
            Some(d) => Poll::Ready(d.clone()),
            None => {
                s.wakers.push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[async_trait]
impl Approval for ManualApproval {
    async fn wait(&self, request: &ApprovalRequest) -> Result<ApprovalDecision, ProviderError> {
        self.state().requests.push(request.clone());
        Ok(Decided(self.clone()).await)
    }
}

/// An approval that decides `decision` after `delay` on a clock, or never.
pub struct ScriptedApproval {
    clock: Arc<dyn Clock>,
    plan: Option<(Duration, ApprovalDecision)>,
    watches: bool,
}

impl ScriptedApproval {
    /// Decides `decision` `delay` after being asked.
    pub fn after(clock: Arc<dyn Clock>, delay: Duration, decision: ApprovalDecision) -> Self {
        ScriptedApproval {
            clock,
            plan: Some((delay, decision)),
            watches: true,
        }
    }

    /// Approves (as `approver`) `delay` after being asked.
    pub fn approve_after(clock: Arc<dyn Clock>, delay: Duration) -> Self {
        Self::after(
            clock,
            delay,
            ApprovalDecision::Approved {
                by: "approver".into(),
            },
        )
    }

    /// Never decides.
    pub fn never(clock: Arc<dyn Clock>) -> Self {
        ScriptedApproval {
            clock,
            plan: None,
            watches: true,
        }
    }

    /// Decides approval steps only: a watch ([`ApprovalRequest::watch`]) is left to run its course.
    pub fn steps_only(mut self) -> Self {
        self.watches = false;
        self
    }
}

#[async_trait]
impl Approval for ScriptedApproval {
    async fn wait(&self, request: &ApprovalRequest) -> Result<ApprovalDecision, ProviderError> {
        match &self.plan {
            Some((delay, decision)) if self.watches || !request.watch => {
                self.clock.sleep(*delay).await;
                Ok(decision.clone())
            }
            _ => futures::future::pending().await,
        }
    }
}
