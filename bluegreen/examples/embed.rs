//! Embedding bluegreen: from settings to outcome, on AWS or on the simulated world, with nothing of the
//! testkit in your code.
//!
//! ```sh
//! cargo run -p bluegreen --features sim --example embed        # the simulated world, in a temporary directory
//! cargo run -p bluegreen --features sim --example embed -- bluegreen.toml # your settings: AWS (provider = "aws"), with
//!                                                              # `[state] backend = "dynamodb"` for a team
//! ```

use bluegreen::{Deployer, Settings};
use bluegreen_core::{Observer, RecordEntry};
use std::sync::Arc;

/// Prints each transition as it is recorded.
struct Print;

impl Observer for Print {
    fn on_event(&self, entry: &RecordEntry) {
        let event = serde_json::to_string(&entry.event).unwrap_or_default();
        println!("{:>4} {event}", entry.seq);
    }
}

/// From settings to outcome: what an embedding program writes.
async fn deploy(settings: Settings) -> Result<bluegreen_core::Outcome, bluegreen::Error> {
    let deployer = Deployer::builder(settings)
        .observer(Arc::new(Print))
        .build()
        .await?;
    deployer.deploy().await
}

/// Settings for the simulated world, as `bluegreen.toml` would have them: a gradual 50→100 with one-minute
/// bakes, on a clock 600 times faster than real time (about a quarter of a second per simulated minute).
fn simulated(dir: &std::path::Path) -> Result<Settings, bluegreen::SettingsError> {
    let mut settings = Settings::from_toml(
        r#"
        environment = "poc"
        application = "poc-web"
        provider = "sim"

        [deploy]
        steps = [50, 100]
        bake = "1m"
        scale_down_delay = "1m"

        [sim]
        time_scale = 600.0
        "#,
    )?;
    settings.state_dir = Some(dir.to_path_buf());
    Ok(settings)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (settings, scratch) = match std::env::args().nth(1) {
        Some(path) => (Settings::load(path.as_ref())?, None),
        None => {
            let dir = std::env::temp_dir().join(format!("bluegreen-embed-{}", std::process::id()));
            (simulated(&dir)?, Some(dir))
        }
    };
    let outcome = deploy(settings).await;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    println!("{}", outcome?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_example_promotes_on_the_simulated_world() {
        let dir = std::env::temp_dir().join(format!("bluegreen-embed-test-{}", std::process::id()));
        let outcome = deploy(simulated(&dir).unwrap()).await;
        let _ = std::fs::remove_dir_all(&dir);
        let outcome = outcome.expect("runs");
        assert_eq!(outcome.kind(), "promoted", "{outcome}");
    }
}
