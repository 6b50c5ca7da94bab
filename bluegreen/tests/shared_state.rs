//! A whole deployment whose records, lock and lease live in the team's DynamoDB table (on the local emulator),
//! with that store throttling, failing and answering ambiguously (the write landed, the answer was lost):
//! the deployment still ends where it should, and its record holds every entry exactly once.
//!
//! Needs the emulator: `scripts/with-moto cargo test -p bluegreen --test shared_state` (CI runs it through
//! `./scripts/test`).

use bluegreen::{Deployer, Settings};
use bluegreen_aws::Connection;
use bluegreen_core::{Outcome, Replay, StateStore};
use bluegreen_testkit::{FaultHandle, FaultKind, Faults, Faulty, ScriptedFault};
use std::sync::Arc;

fn endpoint() -> Option<String> {
    let e = std::env::var("BLUEGREEN_TEST_AWS_ENDPOINT").ok();
    if e.is_none() {
        eprintln!(
            "skipped: BLUEGREEN_TEST_AWS_ENDPOINT is not set (./scripts/test starts moto and sets it)"
        );
    }
    e
}

#[tokio::test]
async fn a_deployment_on_a_faulty_dynamodb_store_ends_right_and_records_every_entry_once() {
    let Some(endpoint) = endpoint() else { return };
    let dir = std::env::temp_dir().join(format!("bluegreen-shared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let table = format!("bluegreen-front-door-{}", std::process::id());
    let mut settings = Settings::from_toml(&format!(
        r#"
        environment = "poc"
        application = "poc-web"
        provider = "sim"
        [aws]
        region = "us-east-1"
        endpoint_url = "{endpoint}"
        [state]
        backend = "dynamodb"
        table = "{table}"
        lease = "30s"
        [deploy]
        steps = [25, 50, 100]
        bake = "1m"
        scale_down_delay = "1m"
        [sim]
        time_scale = 600.0
        "#
    ))
    .expect("valid settings");
    settings.state_dir = Some(dir.clone());
    let connection = Connection::connect(&settings.aws_settings()).await;
    connection
        .store(&table, "")
        .create_table()
        .await
        .expect("the table is created");
    let mut deployer = Deployer::builder(settings)
        .connection(connection.clone())
        .build()
        .await
        .expect("wires");
    // The executor's store, behind the fault decorator: one call in ten fails (throttled or unavailable,
    // doing nothing), the first three appends land but lose their answer, and the first lease renewal is
    // throttled.
    let faults = FaultHandle::new(7);
    faults.set(Faults {
        error_probability: 0.1,
        script: vec![
            ScriptedFault {
                operation: "append".into(),
                kind: FaultKind::Ambiguous,
                count: 3,
            },
            ScriptedFault {
                operation: "renew".into(),
                kind: FaultKind::Throttle,
                count: 1,
            },
        ],
        ..Faults::default()
    });
    let clock = deployer.providers().clock.clone();
    deployer.providers_mut().store = Arc::new(Faulty::new(
        connection.store(&table, ""),
        clock,
        faults.clone(),
    ));

    let id = deployer.new_id();
    let plan = deployer.plan(Default::default(), None).expect("valid");
    let outcome = deployer.deploy_plan(id.clone(), plan).await.expect("runs");
    assert!(matches!(outcome, Outcome::Promoted { .. }), "{outcome:?}");
    assert!(
        faults.injected() >= 4,
        "faults were injected: {}",
        faults.injected()
    );

    // Read back through a store without faults: every entry once, in order, and the record replays to the
    // same outcome; the lock is released.
    let store = connection.store(&table, "");
    let record = store.load(&id).await.expect("loads");
    let seqs: Vec<u64> = record.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (0..record.len() as u64).collect::<Vec<_>>(),
        "each entry exactly once, in order"
    );
    eprintln!(
        "{} faults injected; {} entries, each once",
        faults.injected(),
        record.len()
    );
    let replay = Replay::new(&record).expect("replays");
    assert_eq!(replay.outcome, Some(outcome));
    assert!(store.holder("poc/poc-web").await.expect("reads").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
