//! A custom approval channel: a canary's approval arrives on a channel — here filled by a task that stands in
//! for a chat bot ("/approve" from alice) — instead of from `bluegreen promote`. Runs on the simulated world,
//! on virtual time, in milliseconds:
//!
//! ```sh
//! cargo run -p bluegreen-store --example custom_approval
//! ```

use async_trait::async_trait;
use bluegreen_core::{Approval, ApprovalDecision, ApprovalRequest, Plan, ProviderError, Strategy};
use bluegreen_testkit::{Harness, WorldConfig};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc};

/// A reply from the chat: who answered, and whether they approved.
struct Reply {
    by: String,
    approve: bool,
}

/// Approvals that arrive as chat replies.
struct ChatApproval {
    replies: Mutex<mpsc::Receiver<Reply>>,
}

#[async_trait]
impl Approval for ChatApproval {
    async fn wait(&self, request: &ApprovalRequest) -> Result<ApprovalDecision, ProviderError> {
        println!(
            "chat: deployment {} holds {}% on the new color: /approve or /reject?",
            request.deployment, request.percent
        );
        match self.replies.lock().await.recv().await {
            Some(Reply { by, approve: true }) => Ok(ApprovalDecision::Approved { by }),
            Some(Reply { by, .. }) => Ok(ApprovalDecision::Rejected {
                by,
                reason: Some("rejected in chat".into()),
            }),
            // The chat went away: no decision is an error, and the executor's timeout policy applies.
            None => Err(ProviderError::Unavailable {
                message: "the chat channel closed".into(),
            }),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (tx, rx) = mpsc::channel(1);
    // The bot: alice approves.
    tx.try_send(Reply {
        by: "alice (chat)".into(),
        approve: true,
    })?;
    let approval = Arc::new(ChatApproval {
        replies: Mutex::new(rx),
    });
    let harness = Harness::new(WorldConfig::default()).with_approval(approval);
    let plan = Plan::new("poc/poc-web", Strategy::canary().compile()?);
    let outcome = harness.run("canary-chat", plan)?;
    println!("{outcome} after {:?} of simulated time", harness.elapsed());
    assert_eq!(outcome.kind(), "promoted");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_runs_to_a_promotion() {
        super::main().expect("promoted");
    }
}
