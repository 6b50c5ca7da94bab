//! Observing a deployment into `tracing`: every recorded event as a structured `info` record (its type, its
//! sequence number, the event as JSON), every notice (retries, stale reads, skipped scale-downs) as a `warn`.
//! Runs on the simulated world, on virtual time:
//!
//! ```sh
//! RUST_LOG=info cargo run -p bluegreen-store --example tracing_events
//! ```

use bluegreen_core::{Notice, Observer, Plan, RecordEntry, Strategy, Timestamp};
use bluegreen_testkit::{Harness, WorldConfig};
use std::sync::Arc;

/// Events and notices as `tracing` records.
struct Traced;

impl Observer for Traced {
    fn on_event(&self, entry: &RecordEntry) {
        tracing::info!(
            target: "bluegreen",
            seq = entry.seq,
            kind = entry.event.kind(),
            at = %entry.at,
            event = %serde_json::to_string(&entry.event).unwrap_or_default(),
        );
    }

    fn on_notice(&self, at: Timestamp, notice: &Notice) {
        tracing::warn!(target: "bluegreen", %at, notice = ?notice);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let subscriber = tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
    );
    // Under `cargo test`, the lines go to the test's captured output.
    #[cfg(test)]
    let subscriber = subscriber.with_test_writer();
    subscriber.init();
    let harness = Harness::new(WorldConfig::default());
    let exec = harness.executor().with_observer(Arc::new(Traced));
    let plan = Plan::new("poc/poc-web", Strategy::gradual().compile()?);
    let id = bluegreen_core::DeploymentId::new("traced-1")?;
    let outcome = bluegreen_testkit::run_virtual(harness.world.clock(), exec.run(id, plan))
        .map_err(|_| "the run stalled")??;
    tracing::info!(target: "bluegreen", outcome = %outcome, "done");
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
