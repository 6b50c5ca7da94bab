//! The contract every [`ControlQueue`] keeps, as a function its implementations' tests call (the file
//! store here, the DynamoDB store in `bluegreen-aws`'s emulator tests).

use crate::control::{Control, ControlQueue};
use bluegreen_core::DeploymentId;

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
