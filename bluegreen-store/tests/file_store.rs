//! The file store keeps the store contract (also behind the fault decorator) and the control queue's; a
//! lock held by a dead local process is taken over; approvals and aborts arrive through the queue.

use bluegreen_core::*;
use bluegreen_store::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn temp_store(name: &str) -> (FileStore, PathBuf) {
    let dir = std::env::temp_dir().join(format!("bluegreen-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    (FileStore::open(&dir).expect("state directory"), dir)
}

#[tokio::test]
async fn the_file_store_keeps_the_store_contract() {
    let (store, dir) = temp_store("contract");
    let now = bluegreen_testkit::EPOCH_2026;
    bluegreen_testkit::conformance::store_contract(&store, "file", now).await;
    // Through the fault decorator too.
    let clock: Arc<dyn Clock> = Arc::new(bluegreen_testkit::ManualClock::new(now));
    let faulty = bluegreen_testkit::Faulty::new(
        store.clone(),
        clock,
        bluegreen_testkit::FaultHandle::new(1),
    );
    bluegreen_testkit::conformance::store_contract(&faulty, "file-faulty", now).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_file_store_keeps_the_control_queue_contract() {
    let (store, dir) = temp_store("queue");
    conformance::control_queue_contract(&store, "file").await;
    conformance::queue_approval_contract(Arc::new(store.clone()), Arc::new(TokioClock), "file")
        .await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn state_files_are_readable_only_by_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let (store, dir) = temp_store("modes");
    let owner = LockOwner {
        deployment: DeploymentId::new("d").unwrap(),
        run: "r".into(),
        host: "elsewhere:1".into(),
    };
    store
        .lock(
            "app",
            &owner,
            bluegreen_testkit::EPOCH_2026,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.clone()), 0o700);
    assert_eq!(mode(dir.join("locks")), 0o700);
    assert_eq!(mode(dir.join("locks/app.lock")), 0o600);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_lock_held_by_a_dead_local_process_is_taken_over() {
    let (store, dir) = temp_store("dead");
    let now = bluegreen_testkit::EPOCH_2026;
    let ttl = Duration::from_secs(3600);
    let dead = LockOwner {
        deployment: DeploymentId::new("old").unwrap(),
        run: "old-run".into(),
        // A pid that cannot exist (above the kernel's pid_max).
        host: format!("{}:{}", host_name(), 4_194_999),
    };
    store.lock("app", &dead, now, ttl).await.unwrap();
    let alive = LockOwner {
        deployment: DeploymentId::new("new").unwrap(),
        run: "new-run".into(),
        host: format!("{}:{}", host_name(), std::process::id()),
    };
    let lease = store.lock("app", &alive, now, ttl).await.unwrap();
    assert_eq!(lease.fence, 2, "taken over");
    assert_eq!(liveness(&lease, now), Liveness::Live);
    // A live one (this process) is not taken over.
    let other = LockOwner {
        deployment: DeploymentId::new("other").unwrap(),
        run: "other-run".into(),
        host: "elsewhere:1".into(),
    };
    assert!(matches!(
        store.lock("app", &other, now, ttl).await,
        Err(ProviderError::Conflict { .. })
    ));
    let _ = std::fs::remove_dir_all(dir);
}

/// Real time, for the tests that wait on a real process's queue.
struct TokioClock;

#[async_trait::async_trait]
impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        Timestamp::from_millis(ms as u64)
    }
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Issue 22: the approval channel and the abort watch wait on the deployment's clock, not on tokio's: on
/// virtual time, a request sent 45 minutes into a wait is answered at the first poll after it, and the
/// hour of waiting takes no real time.
#[test]
fn the_queue_is_polled_on_the_deployment_s_clock() {
    let (store, dir) = temp_store("virtual");
    let id = DeploymentId::new("d1").unwrap();
    let clock = bluegreen_testkit::ManualClock::new(Timestamp::from_millis(0));
    let poll = Duration::from_secs(10);
    let approval = QueueApproval::new(store.clone(), Arc::new(clock.clone())).poll_every(poll);
    let request = ApprovalRequest {
        deployment: id.clone(),
        step: 2,
        percent: Share::percent(10),
        watch: false,
    };
    let sent_at = Duration::from_secs(45 * 60 + 3);
    let run = async {
        let send = async {
            clock.sleep(sent_at).await;
            store
                .send(
                    &id,
                    &Control::Approve {
                        by: "alice".into(),
                        pre_approved: false,
                    },
                )
                .unwrap();
        };
        let (decision, ()) = tokio::join!(approval.wait(&request), send);
        (decision.unwrap(), clock.now())
    };
    let (decision, at) = bluegreen_testkit::run_virtual(&clock, run).expect("no stall");
    assert_eq!(decision, ApprovalDecision::Approved { by: "alice".into() });
    assert_eq!(
        at.as_millis(),
        45 * 60_000 + 10_000,
        "the first poll after the request"
    );
    // The abort watch, too.
    let token = CancelToken::new();
    let watch = async {
        let send = async {
            clock.sleep(Duration::from_secs(95)).await;
            store
                .send(&id, &Control::Abort { by: "carol".into() })
                .unwrap();
        };
        tokio::join!(
            watch_abort(
                store.clone(),
                id.clone(),
                token.clone(),
                Arc::new(clock.clone()),
                poll
            ),
            send
        );
        clock.now()
    };
    let start = clock.now();
    let seen = bluegreen_testkit::run_virtual(&clock, watch).expect("no stall");
    assert!(token.is_cancelled());
    assert_eq!(
        seen.since(start),
        Duration::from_secs(100),
        "the first look after the abort"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn approvals_and_aborts_arrive_through_the_queue() {
    let (store, dir) = temp_store("approval");
    let id = DeploymentId::new("d1").unwrap();
    let request = ApprovalRequest {
        deployment: id.clone(),
        step: 2,
        percent: bluegreen_core::Share::percent(10),
        watch: false,
    };
    let approval = QueueApproval::new(store.clone(), Arc::new(TokioClock));
    store
        .send(
            &id,
            &Control::Approve {
                by: "alice".into(),
                pre_approved: true,
            },
        )
        .unwrap();
    let decision = approval.wait(&request).await.unwrap();
    assert_eq!(
        decision,
        ApprovalDecision::Approved {
            by: "alice (pre-approved)".into()
        }
    );
    // Reading it consumes nothing (the run may have lost its lock: the request is then its successor's);
    // once the decision is recorded under the lock, it is consumed.
    assert!(
        matches!(store.received(&id), Some(Control::Approve { .. })),
        "read, not consumed"
    );
    approval.recorded(&request, &decision).await;
    assert_eq!(store.received(&id), None, "consumed once recorded");
    store
        .send(
            &id,
            &Control::Reject {
                by: "bob".into(),
                reason: Some("latency".into()),
            },
        )
        .unwrap();
    assert_eq!(
        approval.wait(&request).await.unwrap(),
        ApprovalDecision::Rejected {
            by: "bob".into(),
            reason: Some("latency".into())
        }
    );
    // An abort cancels the run that watches for it.
    let token = CancelToken::new();
    let watcher = tokio::spawn(watch_abort(
        store.clone(),
        id.clone(),
        token.clone(),
        Arc::new(TokioClock),
        store.poll_interval(),
    ));
    store
        .send(&id, &Control::Abort { by: "carol".into() })
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), watcher)
        .await
        .expect("the abort is seen within a few polls")
        .unwrap();
    assert!(token.is_cancelled());
    let _ = std::fs::remove_dir_all(dir);
}
