//! Embedding bluegreen in your own program: the core's executor with the AWS provider, or with the testkit's
//! simulated world.
//!
//! ```sh
//! cargo run -p bluegreen-aws --example embed -- sim            # simulated, on virtual time
//! cargo run -p bluegreen-aws --example embed -- aws poc poc-web bluegreen-state
//!     # on AWS (standard credentials), records and the lock in the team's DynamoDB table (docs/teams.md)
//! ```

use bluegreen_aws::{AwsSettings, Connection, Naming, TargetSpec};
use bluegreen_core::{DeploymentId, Executor, Observer, Outcome, Plan, RecordEntry, Strategy};
use bluegreen_testkit::{Harness, WorldConfig, run_virtual};
use std::sync::Arc;
use std::time::Duration;

/// Prints each transition as it is recorded.
struct Print;

impl Observer for Print {
    fn on_event(&self, entry: &RecordEntry) {
        println!(
            "{:>6} {}",
            entry.seq,
            serde_json::to_string(&entry.event).unwrap_or_default()
        );
    }
}

fn plan(application: &str) -> Plan {
    let strategy = Strategy::Gradual {
        steps: vec![10, 50, 100],
        bake: Duration::from_secs(120),
    };
    Plan::new(application, strategy.compile().expect("a valid strategy"))
}

fn simulated() -> Outcome {
    let h = Harness::new(WorldConfig::default());
    let exec = h.executor().with_observer(Arc::new(Print));
    let id = DeploymentId::new("embedded-sim").expect("a valid id");
    run_virtual(h.world.clock(), exec.run(id, plan("poc/poc-web")))
        .expect("no stall")
        .expect("starts")
}

/// On AWS nothing of the testkit is used: the providers, the team's shared DynamoDB table as the durable
/// store *and* the approval channel (so `bluegreen promote` on any machine approves a canary run here), and
/// the real clock. From settings to outcome:
async fn on_aws(
    environment: &str,
    application: &str,
    table: &str,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let naming = Naming::new(environment, application)?;
    let connection = Connection::connect(&AwsSettings::default()).await;
    let providers = connection
        .providers(&TargetSpec::by_convention(naming.clone()))
        .await?
        .with_shared_state(connection.store(table, ""));
    let id = DeploymentId::new(format!("{environment}-{application}-embedded"))?;
    let outcome = Executor::new(providers)
        .with_observer(Arc::new(Print))
        .run(id, plan(&naming.application_key()))
        .await?;
    println!("API calls: {:?}", connection.counter().counts());
    Ok(outcome)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["sim"] | [] => simulated(),
        ["aws", environment, application, table] => on_aws(environment, application, table).await?,
        _ => return Err("usage: embed [sim | aws ENVIRONMENT APPLICATION TABLE]".into()),
    };
    println!("{outcome}");
    Ok(())
}
