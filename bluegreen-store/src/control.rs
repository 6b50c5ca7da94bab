//! Control requests (approve, reject, abort) that one process leaves for another's running deployment, the
//! queue they travel through ([`ControlQueue`]: a file per deployment, or a DynamoDB item on the shared
//! backend), and what a running deployment does with them: [`QueueApproval`] answers the executor's
//! approval step, [`watch_abort`] cancels the run.

use async_trait::async_trait;
use bluegreen_core::{
    Approval, ApprovalDecision, ApprovalRequest, CancelToken, Clock, DeploymentId, ProviderError,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A request left for a running deployment by another process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Control {
    /// Approve the waiting step.
    Approve {
        /// Who.
        by: String,
        /// Sent before the deployment reached its approval step (`promote --pre-approve`); recorded so.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pre_approved: bool,
    },
    /// Reject the waiting step (rolls back).
    Reject {
        /// Who.
        by: String,
        /// Why.
        reason: Option<String>,
    },
    /// Stop and roll back (or leave the split, as the plan says).
    Abort {
        /// Who.
        by: String,
    },
}

impl Control {
    /// Who sent it.
    pub fn by(&self) -> &str {
        match self {
            Control::Approve { by, .. } | Control::Reject { by, .. } | Control::Abort { by } => by,
        }
    }
}

/// Where control requests for running deployments are left and found: at most one request per deployment
/// (a newer one replaces it).
#[async_trait]
pub trait ControlQueue: Send + Sync {
    /// Leaves `control` for deployment `id`.
    async fn send(&self, id: &DeploymentId, control: &Control) -> Result<(), ProviderError>;
    /// The request left for `id`, if any (none when the queue cannot be read now: it is asked again).
    async fn received(&self, id: &DeploymentId) -> Option<Control>;
    /// Consumes `control` if it is still the request left for `id` (a newer one stays).
    async fn consume(&self, id: &DeploymentId, control: &Control);
    /// Forgets the request left for `id`, if any.
    async fn clear(&self, id: &DeploymentId);
    /// How often a running deployment looks for a request.
    fn poll_interval(&self) -> Duration;
}

#[async_trait]
impl<Q: ControlQueue + ?Sized> ControlQueue for Arc<Q> {
    async fn send(&self, id: &DeploymentId, control: &Control) -> Result<(), ProviderError> {
        (**self).send(id, control).await
    }
    async fn received(&self, id: &DeploymentId) -> Option<Control> {
        (**self).received(id).await
    }
    async fn consume(&self, id: &DeploymentId, control: &Control) {
        (**self).consume(id, control).await
    }
    async fn clear(&self, id: &DeploymentId) {
        (**self).clear(id).await
    }
    fn poll_interval(&self) -> Duration {
        (**self).poll_interval()
    }
}

/// The approval channel of control requests: `bluegreen promote` (or any [`ControlQueue::send`] of
/// [`Control::Approve`]) approves, [`Control::Reject`] rejects. Polls the queue on the deployment's
/// [`Clock`] (the executor's time, so a test on virtual time waits for nothing).
pub struct QueueApproval<Q> {
    store: Q,
    clock: Arc<dyn Clock>,
    poll: Duration,
}

impl<Q: ControlQueue> QueueApproval<Q> {
    /// Waits for requests on `store`, polled every [`ControlQueue::poll_interval`] of `clock`'s time.
    pub fn new(store: Q, clock: Arc<dyn Clock>) -> Self {
        let poll = store.poll_interval();
        QueueApproval { store, clock, poll }
    }

    /// Polls every `poll` of the clock's time instead: on a clock that runs faster than real time (the
    /// simulated world's), the queue's interval times the clock's rate polls as often in real time.
    pub fn poll_every(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }
}

#[async_trait]
impl<Q: ControlQueue> Approval for QueueApproval<Q> {
    async fn wait(&self, request: &ApprovalRequest) -> Result<ApprovalDecision, ProviderError> {
        loop {
            match self.store.received(&request.deployment).await {
                Some(Control::Approve { by, pre_approved }) => {
                    // Consumed once recorded (`recorded`), not here: this run may have lost its lock.
                    let by = if pre_approved {
                        format!("{by} (pre-approved)")
                    } else {
                        by
                    };
                    return Ok(ApprovalDecision::Approved { by });
                }
                Some(Control::Reject { by, reason }) => {
                    return Ok(ApprovalDecision::Rejected { by, reason });
                }
                _ => self.clock.sleep(self.poll).await,
            }
        }
    }

    /// Consumes the approval just recorded, if it is still the request left (conditional: a newer
    /// request is never removed). A rejection is left: it is also the run's abort, cleared at its end.
    async fn recorded(&self, request: &ApprovalRequest, decision: &ApprovalDecision) {
        if let ApprovalDecision::Approved { .. } = decision
            && let Some(control @ Control::Approve { .. }) =
                self.store.received(&request.deployment).await
        {
            self.store.consume(&request.deployment, &control).await;
        }
    }
}

/// Cancels `token` when an abort request for `id` arrives, looking every `poll` of `clock`'s time (the
/// queue's [`ControlQueue::poll_interval`] on a real-time clock).
pub async fn watch_abort<Q: ControlQueue>(
    store: Q,
    id: DeploymentId,
    token: CancelToken,
    clock: Arc<dyn Clock>,
    poll: Duration,
) {
    loop {
        if let Some(Control::Abort { by }) = store.received(&id).await {
            token.cancel_because(format!("abort by {by}"));
            return;
        }
        clock.sleep(poll).await;
    }
}
