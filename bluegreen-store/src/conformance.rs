//! The contract every [`ControlQueue`] keeps, as a function its implementations' tests call (the file
//! store here, the DynamoDB store in `bluegreen-aws`'s emulator tests).

use crate::control::{Control, ControlQueue, QueueApproval};
use bluegreen_core::{Approval, ApprovalDecision, ApprovalRequest, Clock, DeploymentId, Share};
use std::sync::Arc;

/// Checks `queue`: nothing for an unknown deployment; a request is received until consumed or cleared; a
/// newer request replaces the older; consuming an older request leaves a newer one; requests of different
/// deployments are apart. Panics with what broke. `name` separates its deployments from other runs.
pub async fn control_queue_contract(queue: &dyn ControlQueue, name: &str) {
    let id = |s: &str| DeploymentId::new(format!("{name}-{s}")).expect("a valid id");
    let (a, b) = (id("a"), id("b"));
    assert_eq!(queue.received(&a).await, None, "{name}: nothing sent yet");
    let approve = Control::Approve {
        by: "alice".into(),
        pre_approved: false,
    };
    queue.send(&a, &approve).await.expect("send works");
    assert_eq!(
        queue.received(&a).await,
        Some(approve.clone()),
        "{name}: received"
    );
    assert_eq!(
        queue.received(&a).await,
        Some(approve.clone()),
        "{name}: kept until consumed"
    );
    assert_eq!(
        queue.received(&b).await,
        None,
        "{name}: deployments are apart"
    );
    let abort = Control::Abort { by: "bob".into() };
    queue.send(&a, &abort).await.expect("send works");
    assert_eq!(
        queue.received(&a).await,
        Some(abort.clone()),
        "{name}: newer replaces older"
    );
    queue.consume(&a, &approve).await;
    assert_eq!(
        queue.received(&a).await,
        Some(abort.clone()),
        "{name}: consuming an older request leaves the newer"
    );
    queue.consume(&a, &abort).await;
    assert_eq!(queue.received(&a).await, None, "{name}: consumed");
    let reject = Control::Reject {
        by: "carol".into(),
        reason: Some("latency".into()),
    };
    queue.send(&b, &reject).await.expect("send works");
    queue.clear(&b).await;
    assert_eq!(queue.received(&b).await, None, "{name}: cleared");
    assert!(queue.poll_interval() > std::time::Duration::ZERO);
}

/// Checks the approval channel over `queue` ([`QueueApproval`] on `clock`): a pre-approval left before the
/// wait is the decision, named so; reading it consumes nothing (the run may have lost its lock), recording it
/// consumes it; a rejection is the decision and stays (it is also the run's abort); an approval sent for
/// another deployment is not this one's. Panics with what broke. `name` separates its deployments.
pub async fn queue_approval_contract(
    queue: Arc<dyn ControlQueue>,
    clock: Arc<dyn Clock>,
    name: &str,
) {
    let id = DeploymentId::new(format!("{name}-approval")).expect("a valid id");
    let other = DeploymentId::new(format!("{name}-other")).expect("a valid id");
    let approval = QueueApproval::new(queue.clone(), clock);
    let request = ApprovalRequest {
        deployment: id.clone(),
        step: 2,
        percent: Share::percent(10),
        watch: false,
    };
    let pre = Control::Approve {
        by: "alice".into(),
        pre_approved: true,
    };
    queue
        .send(
            &other,
            &Control::Reject {
                by: "mallory".into(),
                reason: None,
            },
        )
        .await
        .expect("send works");
    queue.send(&id, &pre).await.expect("send works");
    let decision = approval.wait(&request).await.expect("waits");
    assert_eq!(
        decision,
        ApprovalDecision::Approved {
            by: "alice (pre-approved)".into()
        },
        "{name}: a pre-approval is the decision, named so; another deployment's rejection is not"
    );
    assert_eq!(
        queue.received(&id).await,
        Some(pre),
        "{name}: read, not consumed"
    );
    approval.recorded(&request, &decision).await;
    assert_eq!(
        queue.received(&id).await,
        None,
        "{name}: consumed once recorded"
    );
    let reject = Control::Reject {
        by: "bob".into(),
        reason: Some("latency".into()),
    };
    queue.send(&id, &reject).await.expect("send works");
    let decision = approval.wait(&request).await.expect("waits");
    assert_eq!(
        decision,
        ApprovalDecision::Rejected {
            by: "bob".into(),
            reason: Some("latency".into())
        },
        "{name}: a rejection is the decision"
    );
    approval.recorded(&request, &decision).await;
    assert_eq!(
        queue.received(&id).await,
        Some(reject),
        "{name}: a rejection stays (it is the abort too)"
    );
    queue.clear(&id).await;
    queue.clear(&other).await;
}
