//! `bluegreen simulate`: a deployment against a scripted world, on virtual time.

use crate::render::Renderer;
use crate::{Ended, Failure, Output};
use bluegreen_core::{
    Plan, StrategyKind, StrategySettings, TimeoutAction, parse_duration, parse_steps,
    strategy::DEFAULT_CANARY_PERCENT,
};
use bluegreen_testkit::{Harness, Scenario, ScriptedApproval};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `simulate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// gradual, immediate or canary.
    #[arg(long, default_value = "gradual")]
    strategy: String,
    /// The simulated world: healthy, green-5xx, green-slow, green-unhealthy or no-traffic.
    #[arg(long, default_value = "healthy")]
    scenario: String,
    /// Gradual steps, percent to the new color, e.g. `10,25,50,75,100`.
    #[arg(long, allow_hyphen_values = true)]
    steps: Option<String>,
    /// Bake after each step, e.g. `3m`, `90s`, `1h30m`.
    #[arg(long, default_value = "3m", allow_hyphen_values = true)]
    bake: String,
    /// Canary share in percent.
    #[arg(long, default_value_t = DEFAULT_CANARY_PERCENT, allow_hyphen_values = true)]
    canary_percent: u32,
    /// Canary: the simulated approver approves this long after being asked.
    #[arg(long, default_value = "5m", allow_hyphen_values = true)]
    approve_after: String,
    /// Seed of the simulated traffic.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    seed: u64,
}

/// Runs `simulate`: a whole deployment against a scripted world on the testkit's virtual clock.
pub fn run(args: Args, output: Output) -> Result<Ended, Failure> {
    let kind: StrategyKind = args.strategy.parse().map_err(Failure::bad_input)?;
    let scenario: Scenario = args.scenario.parse().map_err(Failure::bad_input)?;
    let bake = parse_duration("--bake", &args.bake).map_err(Failure::bad_input)?;
    let approve_after =
        parse_duration("--approve-after", &args.approve_after).map_err(Failure::bad_input)?;
    // The same settings `deploy` builds from its flags; the simulated approver answers well within the
    // approval timeout.
    let settings = StrategySettings {
        strategy: Some(kind),
        steps: args
            .steps
            .as_deref()
            .map(|s| parse_steps(s).map_err(|e| Failure::bad_input(format!("--steps: {e}"))))
            .transpose()?,
        bake: Some(bake),
        canary_percent: Some(args.canary_percent),
        approval_timeout: Some(approve_after + Duration::from_secs(3600)),
        on_timeout: Some(TimeoutAction::Rollback),
    };
    let strategy = settings.strategy().map_err(Failure::bad_input)?;
    let schedule = strategy.compile().map_err(Failure::bad_input)?;
    let harness = Harness::new(scenario.world(args.seed));
    let approver = ScriptedApproval::approve_after(harness.clock(), approve_after);
    let harness = harness.with_approval(Arc::new(approver));
    let world = &harness.world;
    let mut plan = Plan::new(format!("poc/{}", "poc-web"), schedule.clone());
    // The gates `deploy` would use with no configuration; the simulated CloudWatch has no p99.
    plan.gates = crate::config::GatesSection::default()
        .policy(false)
        .map_err(Failure::bad_input)?;
    let renderer = Renderer::new(output, bluegreen_core::Clock::now(world.clock()));
    renderer.intro(&format!(
        "simulating {kind} on {} ({}): {schedule}",
        world.load_balancer(),
        scenario.description()
    ));
    let exec = harness.executor().with_observer(Arc::new(renderer.clone()));
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
