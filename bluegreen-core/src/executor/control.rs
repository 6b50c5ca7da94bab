//! Whether a running deployment accepts a request sent from outside it (`promote`, `abort`, ...), decided on
//! its record: one rule for the command, the library's front door and any program embedding either.

use super::{Outcome, Replay};
use crate::{DeploymentId, Step};

/// What a person asks of a running deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlAsk {
    /// Approve the approval step it is waiting at.
    Approve,
    /// Approve its next approval step before it is reached.
    PreApprove,
    /// Reject the approval step it is waiting at (it rolls back).
    Reject,
    /// Stop it (it rolls back, or leaves the split, as its plan says).
    Abort,
}

/// Why a deployment does not accept a request now: what it is doing instead. Nothing is left behind for
/// later when a request is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlRefusal {
    /// It has an outcome.
    #[error("deployment {id} already finished: {outcome}")]
    Finished {
        /// The deployment.
        id: DeploymentId,
        /// How it ended.
        outcome: Box<Outcome>,
    },
    /// An abort was sent and not yet acted on: an approval cannot undo it.
    #[error("deployment {id} is being aborted (by {by}): an approval cannot undo that")]
    BeingAborted {
        /// The deployment.
        id: DeploymentId,
        /// Who sent the abort.
        by: String,
    },
    /// A pre-approval, with no undecided approval step ahead (or a rollback under way).
    #[error("deployment {id} has no approval step ahead to pre-approve")]
    NoApprovalAhead {
        /// The deployment.
        id: DeploymentId,
    },
    /// An approval or a rejection while no approval step waits.
    #[error(
        "deployment {id} is not waiting for an approval now (a canary waits after its first bake)"
    )]
    NotWaitingForApproval {
        /// The deployment.
        id: DeploymentId,
    },
}

impl Replay {
    /// Whether this deployment accepts `ask` now. `aborting_by` names who sent an abort that the deployment
    /// has not acted on yet, if one is pending.
    ///
    /// ```
    /// use bluegreen_core::{ControlAsk, ControlRefusal, Replay};
    /// # fn check(replay: &Replay) {
    /// match replay.accepts(ControlAsk::Approve, None) {
    ///     Ok(()) => println!("send it"),
    ///     Err(ControlRefusal::NotWaitingForApproval { .. }) => println!("not yet"),
    ///     Err(other) => println!("{other}"),
    /// }
    /// # }
    /// ```
    pub fn accepts(
        &self,
        ask: ControlAsk,
        aborting_by: Option<&str>,
    ) -> Result<(), ControlRefusal> {
        let id = || self.deployment.clone();
        if let Some(outcome) = &self.outcome {
            return Err(ControlRefusal::Finished {
                id: id(),
                outcome: Box::new(outcome.clone()),
            });
        }
        if ask == ControlAsk::Abort {
            return Ok(());
        }
        if let Some(by) = aborting_by {
            return Err(ControlRefusal::BeingAborted {
                id: id(),
                by: by.to_string(),
            });
        }
        match ask {
            ControlAsk::PreApprove => {
                // An approval step still ahead (or waiting now), not yet decided.
                let ahead = self
                    .plan
                    .schedule
                    .steps()
                    .iter()
                    .enumerate()
                    .any(|(i, step)| {
                        matches!(step, Step::Approval { .. })
                            && !self.completed.contains(&i)
                            && !self.approved.contains(&i)
                    });
                if !ahead || self.rollback.is_some() {
                    return Err(ControlRefusal::NoApprovalAhead { id: id() });
                }
            }
            _ if self.waiting_for_approval().is_none() => {
                return Err(ControlRefusal::NotWaitingForApproval { id: id() });
            }
            _ => {}
        }
        Ok(())
    }
}
