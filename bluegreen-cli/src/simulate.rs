//! `bluegreen simulate`: a deployment against a scripted world, on virtual time.

use crate::commands::deploy::StrategyFlags;
use crate::render::Renderer;
use crate::{Ended, Failure, Output};
use bluegreen_core::parse_duration;
use bluegreen_testkit::{Harness, Scenario, ScriptedApproval};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `simulate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The strategy, exactly as `deploy` takes it (the same flags, the same checks).
    #[command(flatten)]
    strategy: StrategyFlags,
    /// The simulated world: healthy, green-5xx, green-slow, green-unhealthy, green-slower or no-traffic.
    #[arg(long, default_value = "healthy")]
    scenario: String,
    /// Canary: the simulated approver approves this long after being asked.
    #[arg(long, default_value = "5m", allow_hyphen_values = true)]
    approve_after: String,
    /// Seed of the simulated traffic.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    seed: u64,
}

/// Runs `simulate`: a whole deployment against a scripted world on the testkit's virtual clock.
pub fn run(args: Args, output: Output) -> Result<Ended, Failure> {
    let mut settings = args.strategy.settings()?;
    let scenario: Scenario = args.scenario.parse().map_err(Failure::bad_input)?;
    let approve_after =
        parse_duration("--approve-after", &args.approve_after).map_err(Failure::bad_input)?;
    // The settings `deploy` builds from the same flags; unless told otherwise, the simulated approver answers
    // well within the approval timeout.
    settings.approval_timeout = settings
        .approval_timeout
        .or(Some(approve_after + Duration::from_secs(3600)));
    let strategy = settings.strategy().map_err(Failure::bad_input)?;
    let schedule = settings.schedule().map_err(Failure::bad_input)?;
    let harness = Harness::new(scenario.world(args.seed));
    // The simulated approver approves approval steps; a watch runs its course on virtual time.
    let approver = ScriptedApproval::approve_after(harness.clock(), approve_after).steps_only();
    let harness = harness.with_approval(Arc::new(approver));
    let world = &harness.world;
    // The plan `deploy` makes of the same flags with no configuration (the settings' one resolution): the
    // simulated world's gates (no p99 in its CloudWatch), traffic only (the harness moves no capacity).
    let plan = bluegreen::Settings::from_toml(
        "environment = \"poc\"\napplication = \"poc-web\"\nprovider = \"sim\"\n",
    )
    .and_then(|s| s.plan(settings.clone(), Some(bluegreen::DeployType::TrafficOnly)))
    .map_err(Failure::bad_input)?;
    let renderer = Renderer::new(output, bluegreen_core::Clock::now(world.clock()));
    let kind = strategy.kind();
    renderer.intro(&format!(
        "simulating {kind} on {} ({}): {schedule}",
        world.load_balancer(),
        scenario.description()
    ));
    // Virtual time: a watch is watched to its end in the same run.
    let exec = harness
        .executor()
        .with_observer(Arc::new(renderer.clone()))
        .watching_through();
    let id = bluegreen_core::DeploymentId::new("simulated-1").map_err(Failure::bad_input)?;
    let outcome = bluegreen_testkit::run_virtual(world.clock(), exec.run(id, plan))
        .map_err(|_| Failure::bad_input("the simulation stalled"))?
        .map_err(|e| Failure::from_exec(&e))?;
    let calls = world
        .calls()
        .counts()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    renderer.summary(&outcome, harness.elapsed(), &calls);
    Ok(Ended::Deployment(outcome))
}
