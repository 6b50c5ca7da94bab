use crate::{DeploymentId, ProviderError, Share};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What the executor asks a person to approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The deployment.
    pub deployment: DeploymentId,
    /// The schedule step waiting (0-based).
    pub step: usize,
    /// The new color's share while waiting.
    pub percent: Share,
    /// Whether the step is a watch ([`crate::Step::Watch`]: an approval ends it early) rather than an
    /// approval step.
    pub watch: bool,
}

/// A person's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum ApprovalDecision {
    /// Go on.
    Approved {
        /// Who approved.
        by: String,
    },
    /// Roll back.
    Rejected {
        /// Who rejected.
        by: String,
        /// Why, if given.
        reason: Option<String>,
    },
}

/// Manual approvals (R4). The executor applies any timeout itself, on its clock.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Approval: Send + Sync {
    /// Waits until the request is approved or rejected. It must not consume what it read (a request in a
    /// shared queue): a run that lost its lock may still be waiting, and the request belongs to the run
    /// that holds it. Consume in [`Approval::recorded`].
    async fn wait(&self, request: &ApprovalRequest) -> Result<ApprovalDecision, ProviderError>;

    /// Called once `decision`, which [`Approval::wait`] returned for `request`, is in the record, under
    /// the run's lock (fenced: a run that lost the lock never gets here). The place to consume the request
    /// that carried it. By default nothing.
    async fn recorded(&self, request: &ApprovalRequest, decision: &ApprovalDecision) {
        let _ = (request, decision);
    }
}

/// The approval channel of a program that has none: any approval step is rejected at once, so a strategy
/// with one (a canary) rolls back, saying why. For strategies without approval steps (gradual, immediate),
/// where the executor never asks.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoApprovalChannel;

#[async_trait]
impl Approval for NoApprovalChannel {
    async fn wait(&self, _request: &ApprovalRequest) -> Result<ApprovalDecision, ProviderError> {
        Ok(ApprovalDecision::Rejected {
            by: "bluegreen".into(),
            reason: Some("no approval channel is configured".into()),
        })
    }
}
