//! `deploy`, `shift`, `resume`, `plan`: everything that runs the executor.

use super::{current_deployment, replay};
use crate::config::{self, duration};
use crate::context::{Context, Wired, provider_failure};
use crate::render::Renderer;
use crate::{Ended, Failure, Signal};
use bluegreen_core::gate::TYPICAL_PUBLICATION_DELAY;
use bluegreen_core::{
    Color, DeploymentId, ExecError, Executor, Outcome, Plan, ResumeAction, Schedule, Share,
    StrategySettings, parse_steps,
};
use clap::Args;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use bluegreen::DeployType;

/// The strategy flags, shared by `deploy`, `plan` and `simulate`: each is a key of the core's
/// [`StrategySettings`], which also reads `[deploy]` of `bluegreen.toml`.
#[derive(Args, Debug, Clone)]
pub struct StrategyFlags {
    /// gradual, immediate, canary or linear (default: the file's, or gradual).
    #[arg(long)]
    pub strategy: Option<String>,
    /// Gradual steps, percent to the new color, e.g. 10,25,50,75,100.
    #[arg(long, allow_hyphen_values = true)]
    pub steps: Option<String>,
    /// Bake after each step, e.g. 3m, 90s, 1h30m.
    #[arg(long, allow_hyphen_values = true)]
    pub bake: Option<String>,
    /// Canary share, percent: 0.1 to 99.9, tenths allowed (0.5).
    #[arg(long, allow_hyphen_values = true, value_parser = canary_share)]
    pub canary_percent: Option<Share>,
    /// Canary: how long to wait for `bluegreen promote`.
    #[arg(long, allow_hyphen_values = true)]
    pub approval_timeout: Option<String>,
    /// What an approval timeout does: rollback or promote.
    #[arg(long)]
    pub on_timeout: Option<String>,
    /// Linear: the share each step adds, whole percent (20: 20, 40, 60, 80, 100).
    #[arg(long, allow_hyphen_values = true, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub linear_step: Option<u32>,
}

/// Flags shared by `deploy` and `plan`: the strategy and the deployment type.
#[derive(Args, Debug, Clone)]
pub struct StrategyArgs {
    #[command(flatten)]
    /// The strategy flags.
    pub flags: StrategyFlags,
    /// full or traffic-only.
    #[arg(long = "type", value_enum)]
    pub kind: Option<DeployType>,
}

/// `deploy`.
#[derive(Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub(crate) strategy: StrategyArgs,
    /// Point the new color's Auto Scaling group at this launch template version first (`id-or-name:version`).
    #[arg(long)]
    pub launch_template_version: Option<String>,
    /// A new golden image (AMI id): a new version of the new color's launch template is made from the one
    /// its group uses, with this image, and the group pointed at it (after the lock is taken).
    #[arg(long)]
    pub ami: Option<String>,
    /// Show exactly what would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip the pre-traffic hooks (smoke tests).
    #[arg(long)]
    pub skip_tests: bool,
    /// Simulated provider: the world's behavior from now on.
    #[arg(long)]
    pub scenario: Option<String>,
    /// A deployment id (default: generated).
    #[arg(long)]
    pub id: Option<String>,
    /// Continue a rollout from the split as it is (moved by hand with `shift`): the steps at or below the
    /// new color's share are done; the next goes through the pre-step gate. The stable color is the one the
    /// last shift recorded here moved traffic away from, else the one with the larger share.
    #[arg(long)]
    pub from_current: bool,
}

/// `shift`.
#[derive(Args, Debug)]
pub struct ShiftArgs {
    /// The color to send traffic to.
    #[arg(long)]
    pub target: Color,
    /// Its share, 0 to 100.
    #[arg(long, allow_hyphen_values = true, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub percentage: u32,
    /// Watch the gates this long after the shift, and roll back on failure: whole minutes (`5`) or a
    /// duration (`90s`, `1h`).
    #[arg(long, allow_hyphen_values = true, value_parser = validation_duration)]
    pub validation_minutes: Option<Duration>,
}

/// `--canary-percent`: a share strictly between 0 and 100 %, to the tenth.
pub(crate) fn canary_share(text: &str) -> Result<Share, Failure> {
    match text.parse::<Share>() {
        Ok(share) if !share.is_none() && !share.is_all() => Ok(share),
        Ok(share) => Err(Failure::bad_input(format!(
            "a canary of {share}: a canary takes a share strictly between 0 and 100% (0.1 to 99.9)"
        ))),
        Err(e) => Err(Failure::bad_input(e)),
    }
}

/// `--validation-minutes`: a number of minutes, as the guide's Jenkins parameter has it, or a duration.
fn validation_duration(text: &str) -> Result<Duration, Failure> {
    match text.trim().parse::<u64>() {
        Ok(m) if m <= 30 * 24 * 60 => Ok(Duration::from_secs(m * 60)),
        Ok(m) => Err(Failure::bad_input(format!(
            "{m} minutes is longer than the 30 days a deployment may wait"
        ))),
        Err(_) => duration("--validation-minutes", text),
    }
}

/// `resume`.
#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// The deployment (default: the one in progress).
    #[arg(long)]
    pub id: Option<String>,
    /// Roll back instead of continuing.
    #[arg(long)]
    pub rollback: bool,
    /// Skip the hooks (smoke tests).
    #[arg(long)]
    pub skip_tests: bool,
}

impl DeployArgs {
    /// The strategy flags.
    pub fn strategy_args(&self) -> &StrategyArgs {
        &self.strategy
    }
}

impl StrategyArgs {
    /// The flags as strategy settings; a value that does not parse is named with its flag.
    pub fn settings(&self) -> Result<StrategySettings, Failure> {
        self.flags.settings()
    }
}

impl StrategyFlags {
    /// The flags as strategy settings; a value that does not parse is named with its flag.
    pub fn settings(&self) -> Result<StrategySettings, Failure> {
        Ok(StrategySettings {
            strategy: self
                .strategy
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(Failure::bad_input)?,
            steps: self
                .steps
                .as_deref()
                .map(|s| parse_steps(s).map_err(|e| Failure::bad_input(format!("--steps: {e}"))))
                .transpose()?,
            bake: self
                .bake
                .as_deref()
                .map(|b| duration("--bake", b))
                .transpose()?,
            canary_percent: self.canary_percent,
            linear_step: self.linear_step,
            approval_timeout: self
                .approval_timeout
                .as_deref()
                .map(|t| duration("--approval-timeout", t))
                .transpose()?,
            on_timeout: self
                .on_timeout
                .as_deref()
                .map(config::on_timeout)
                .transpose()
                .map_err(Failure::bad_input)?,
        })
    }
}

/// The plan of `deploy`/`plan`: the settings' (the library's `Settings::plan`, which an embedding program
/// uses too) with the flags over `[deploy]`; validated before anything is called.
pub fn plan(ctx: &Context, a: &StrategyArgs) -> Result<Plan, Failure> {
    ctx.settings
        .plan(a.settings()?, a.kind)
        .map_err(Failure::bad_input)
}

/// The renderer of a running deployment: progress lines, and a spinner on a terminal.
fn live_renderer(ctx: &Context, start: bluegreen_core::Timestamp) -> Renderer {
    Renderer::new(ctx.output(), start)
        .quiet(ctx.global.quiet)
        .verbose(ctx.global.verbose > 0)
        .live()
}

/// Runs a new deployment of `plan`.
async fn run_plan(
    ctx: &Context,
    w: &Wired,
    renderer: &Renderer,
    id: DeploymentId,
    plan: Plan,
) -> Result<Ended, Failure> {
    let run_id = id.clone();
    execute(
        ctx,
        w,
        renderer,
        async move |exec: &Executor| exec.run(run_id, plan).await,
        &id,
    )
    .await
}

/// Runs the executor with Ctrl-C and `bluegreen abort` wired to its cancel token.
async fn execute(
    ctx: &Context,
    w: &Wired,
    renderer: &Renderer,
    run: impl AsyncFnOnce(&Executor) -> Result<Outcome, ExecError>,
    id: &DeploymentId,
) -> Result<Ended, Failure> {
    let webhook = match ctx.webhook()? {
        Some(uri) => Some(Arc::new(crate::webhook::Webhook::start(uri)?)),
        None => None,
    };
    let observer: Arc<dyn bluegreen_core::Observer> = match &webhook {
        Some(hook) => Arc::new(crate::webhook::Fanout(vec![
            Arc::new(renderer.clone()),
            hook.clone(),
        ])),
        None => Arc::new(renderer.clone()),
    };
    let exec = w.executor().with_observer(observer);
    let token = exec.cancel_token();
    let interrupted = Arc::new(AtomicBool::new(false));
    let terminated = Arc::new(AtomicBool::new(false));
    let hung_up = Arc::new(AtomicBool::new(false));
    // SIGINT (Ctrl-C) and SIGTERM (what Jenkins and GitHub Actions send on cancel) both stop the deployment
    // at a safe point, roll back (or leave the split, per on_cancel), record it and release the lock.
    // SIGHUP (the terminal went away) too. Once the handlers are installed, a second signal is ignored:
    // it cannot abandon a rollback halfway (kill -9 still can).
    let ctrl_c = {
        let (token, interrupted, terminated, hung_up) = (
            token.clone(),
            interrupted.clone(),
            terminated.clone(),
            hung_up.clone(),
        );
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            let signal = tokio::select! {
                r = tokio::signal::ctrl_c() => {
                    if r.is_err() {
                        return;
                    }
                    interrupted.store(true, Ordering::SeqCst);
                    eprintln!("interrupted: stopping at the next safe point");
                    "SIGINT (Ctrl-C)"
                }
                _ = term.recv() => {
                    terminated.store(true, Ordering::SeqCst);
                    eprintln!("terminated (SIGTERM): stopping at the next safe point");
                    "SIGTERM"
                }
                _ = hup.recv() => {
                    hung_up.store(true, Ordering::SeqCst);
                    eprintln!("hung up (SIGHUP): stopping at the next safe point");
                    "SIGHUP"
                }
            };
            token.cancel_because(signal_origin(signal, |k| std::env::var(k).ok()));
        })
    };
    // `bluegreen abort` cancels it too; a request left for it is cleared once it ended.
    let result = w.supervise(&exec, id, run(&exec)).await;
    ctrl_c.abort();
    if let Some(hook) = &webhook {
        hook.finish(Duration::from_secs(10)).await;
    }
    let outcome = result.map_err(|e| Failure::from_exec(&e))?;
    renderer.summary(
        &outcome,
        w.providers().clock.now().since(renderer.start()),
        &counts(w),
    );
    let _ = ctx;
    let signal = if interrupted.load(Ordering::SeqCst) {
        Some(Signal::Interrupt)
    } else if terminated.load(Ordering::SeqCst) {
        Some(Signal::Terminate)
    } else if hung_up.load(Ordering::SeqCst) {
        Some(Signal::HangUp)
    } else {
        None
    };
    Ok(match signal {
        Some(signal) => Ended::Stopped { signal, outcome },
        None => Ended::Deployment(outcome),
    })
}

fn counts(w: &Wired) -> std::collections::BTreeMap<String, usize> {
    w.counter().map(|c| c.counts()).unwrap_or_default()
}

/// `deploy`.
pub async fn deploy(ctx: &Context, a: DeployArgs) -> Result<Ended, Failure> {
    ctx.webhook()?;
    let mut plan = plan(ctx, &a.strategy)?;
    let launch_template = match &a.launch_template_version {
        Some(v) => Some(
            v.rsplit_once(':')
                .map(|(t, ver)| (t.to_string(), ver.to_string()))
                .ok_or_else(|| {
                    Failure::bad_input(format!(
                        "--launch-template-version {v:?}: expected TEMPLATE:VERSION, e.g. lt-0abc:7"
                    ))
                })?,
        ),
        None => None,
    };
    // The executor points the new color at the new version after it took the lock, and records it: a second
    // deployment can never change this one's image.
    if let Some(lt) = launch_template {
        if ctx.provider() != crate::context::ProviderKind::Aws {
            return Err(Failure::bad_input(
                "--launch-template-version needs the aws provider",
            ));
        }
        match plan.capacity.as_mut() {
            Some(c) => c.launch_template = Some(lt),
            None => {
                return Err(Failure::bad_input(
                    "--launch-template-version needs --type full (the new color is brought up from it)",
                ));
            }
        }
    }
    // `[deploy] ami` is in the settings' plan already; the flag overrides it.
    if let Some(image) = a.ami.clone() {
        match plan.capacity.as_mut() {
            Some(c) => c.image = Some(image),
            None => {
                return Err(Failure::bad_input(
                    "--ami needs --type full (the new color is brought up from the image)",
                ));
            }
        }
        plan.validate().map_err(Failure::bad_input)?;
    }
    if a.dry_run {
        let w = ctx.wire(false, None).await?;
        if a.from_current {
            w.continue_from_current(&mut plan).await?;
        }
        w.preflight(&plan).await?;
        return show_plan(ctx, &w, &plan, true).await;
    }
    let id =
        a.id.as_ref()
            .map(|id| DeploymentId::new(id.clone()).map_err(Failure::bad_input))
            .transpose()?;
    let w = ctx
        .wire_with(true, a.scenario.as_deref(), !a.skip_tests)
        .await?;
    if a.from_current {
        w.continue_from_current(&mut plan).await?;
    }
    w.preflight(&plan).await?;
    let id = id.unwrap_or_else(|| w.new_id());
    let renderer = live_renderer(ctx, w.providers().clock.now());
    run_plan(ctx, &w, &renderer, id, plan).await
}

/// `shift`.
pub async fn shift(ctx: &Context, a: ShiftArgs) -> Result<Ended, Failure> {
    ctx.webhook()?;
    let validation = a.validation_minutes;
    let schedule = Schedule::shift(a.percentage, validation).map_err(Failure::bad_input)?;
    let mut plan = Plan::new(ctx.naming()?.application_key(), schedule);
    plan.gates = ctx
        .settings
        .gates
        .policy(ctx.settings.fetches_p99())
        .map_err(Failure::bad_input)?;
    plan.expected_stable = Some(a.target.other());
    plan.validate().map_err(Failure::bad_input)?;
    let w = ctx.wire(true, None).await?;
    let id = w.new_id();
    let renderer = live_renderer(ctx, w.providers().clock.now());
    run_plan(ctx, &w, &renderer, id, plan).await
}

/// `resume`.
pub async fn resume(ctx: &Context, a: ResumeArgs) -> Result<Ended, Failure> {
    ctx.webhook()?;
    let w = ctx.wire_with(true, None, !a.skip_tests).await?;
    let id = match a.id {
        Some(id) => DeploymentId::new(id).map_err(Failure::bad_input)?,
        None => current_deployment(&w).await?.ok_or_else(|| {
            Failure::bad_input(format!("no deployment of {} to resume", w.application()))
        })?,
    };
    let action = if a.rollback {
        ResumeAction::Rollback
    } else {
        ResumeAction::Continue
    };
    let before = replay(&w, &id).await?;
    let renderer = live_renderer(ctx, before.started_at).with_plan(before.plan.clone());
    let run_id = id.clone();
    execute(
        ctx,
        &w,
        &renderer,
        async move |exec: &Executor| exec.resume(&run_id, action).await,
        &id,
    )
    .await
}

/// `plan`: the schedule, the gates, and the exact changes; changes nothing.
pub async fn plan_command(ctx: &Context, a: StrategyArgs) -> Result<Ended, Failure> {
    let plan = plan(ctx, &a)?;
    let mut w = ctx.wire(false, None).await?;
    // What a deployment would refuse at its start (the image, the group's launch template), the plan refuses.
    let checked = async |w: &Wired| {
        w.preflight(&plan).await?;
        show_plan(ctx, w, &plan, false).await
    };
    match (checked(&w).await, w.take_cache()) {
        // Cached names that no longer match the world: forget them, resolve afresh, ask again.
        (Err(_), Some(cache)) => {
            cache.invalidate();
            let w = ctx.wire(false, None).await?;
            checked(&w).await
        }
        (result, _) => result,
    }
}

async fn show_plan(ctx: &Context, w: &Wired, plan: &Plan, dry_run: bool) -> Result<Ended, Failure> {
    let routing = w
        .providers()
        .router
        .read_routes()
        .await
        .map_err(provider_failure)?;
    // A run refuses routes that disagree; so does its plan.
    let split = routing.uniform().ok_or_else(|| {
        Failure::from_exec(&bluegreen_core::ExecError::RoutesDisagree {
            routing: routing.to_string(),
        })
    })?;
    let routes: Vec<&str> = routing.routes().iter().map(|r| r.route.as_str()).collect();
    let renderer = Renderer::new(ctx.output(), w.providers().clock.now());
    // The core decides what would change (and refuses what a run would refuse); this renders it.
    let planned = plan.changes(split).map_err(|e| Failure::from_exec(&e))?;
    let (stable, new) = (planned.stable, planned.new);
    let gates: Vec<String> = plan.gates.bake.iter().map(describe_gate).collect();
    let title = if dry_run {
        "dry run: nothing was changed"
    } else {
        "plan"
    };
    let mut human = format!(
        "{title}\napplication: {}\nnow: {split} ({stable} is stable, {new} is new)\n{}schedule: {}\nchanges:\n",
        plan.application,
        if routes.len() > 1 {
            format!("routes (moved together): {}\n", routes.join(", "))
        } else {
            String::new()
        },
        plan.schedule
    );
    for (i, c) in planned.changes.iter().enumerate() {
        human.push_str(&format!("  {}. {c}\n", i + 1));
    }
    human.push_str(&format!(
        "pre-step gate: at least {} healthy targets, none unhealthy",
        plan.gates.pre_step.min_healthy
    ));
    if !plan.gates.pre_step.alarms.is_empty() {
        human.push_str(&format!(
            ", alarms {} not in ALARM",
            plan.gates.pre_step.alarms.join(", ")
        ));
    }
    human.push_str("\nbake gates:\n");
    for g in &gates {
        human.push_str(&format!("  {g}\n"));
    }
    let g = &plan.gates;
    let d = |d: Duration| humantime::format_duration(d).to_string();
    human.push_str(&format!(
        "limits: failures {}, consecutive_failures {}, inconclusive {}; interval {}, window {}, min_requests {}, min_minutes {}, publication_timeout {}, max_extension {}",
        g.limits.failures,
        g.limits.consecutive_failures,
        g.limits.inconclusive,
        d(g.interval),
        d(g.window_length()),
        g.min_requests,
        g.min_minutes,
        d(g.publication_timeout),
        d(g.max_extension)
    ));
    let warnings = plan.timing_warnings(TYPICAL_PUBLICATION_DELAY);
    if let Some(first) = warnings.first() {
        let steps: Vec<String> = warnings.iter().map(|w| (w.index + 1).to_string()).collect();
        let same = warnings
            .iter()
            .all(|w| (w.bake, w.likely, w.at_most) == (first.bake, first.likely, first.at_most));
        if same && warnings.len() > 1 {
            let text = first.to_string();
            let rest = text.split_once(": ").map_or(text.as_str(), |(_, r)| r);
            human.push_str(&format!("\nwarning: steps {}: {rest}", steps.join(", ")));
        } else {
            for warning in &warnings {
                human.push_str(&format!("\nwarning: {warning}"));
            }
        }
    }
    renderer.result(
        "plan",
        &human,
        serde_json::json!({"dry_run": dry_run, "split": split, "routes": routing, "stable": stable, "new": new, "plan": plan, "changes": planned.changes, "warnings": warnings}),
    );
    Ok(Ended::Done)
}

/// A bake gate in the configuration's own words (the keys of `[gates]`), for `plan`.
fn describe_gate(g: &bluegreen_core::gate::BakeGate) -> String {
    use bluegreen_core::gate::{Check, GateMode, NoDataPolicy};
    let d = |d: &Duration| humantime::format_duration(*d).to_string();
    let relative = |r: &Option<bluegreen_core::gate::Relative>, unit: &str| match r {
        Some(r) => format!(", and at most {} × stable + {}{unit}", r.factor, r.epsilon),
        None => String::new(),
    };
    let what = match &g.check {
        Check::ErrorRate {
            max,
            relative: r,
            min_errors,
        } => format!(
            "max_5xx_rate {max}{} (relative_5xx_factor, relative_5xx_epsilon); a breach needs min_errors {min_errors}",
            relative(r, "")
        ),
        Check::ElbErrorRate { max, min_errors } => format!(
            "max_elb_5xx_rate {max} (requests the load balancer answered itself: connections to the targets failed); a breach needs min_errors {min_errors}"
        ),
        Check::LatencyAvg { max, relative: r } => {
            format!("max_latency_avg {}{}", d(max), relative(r, "s"))
        }
        Check::LatencyP99 { max, relative: r } => {
            format!("max_latency_p99 {}{}", d(max), relative(r, "s"))
        }
        Check::HealthyHosts { min } => format!("min_healthy_hosts {min}"),
        Check::Alarms { names } => format!("alarms {}", names.join(", ")),
    };
    let mode = match g.mode {
        GateMode::Enforce => "enforce",
        GateMode::Observe => "observe",
    };
    let no_data = match g.no_data {
        NoDataPolicy::Fail => "fail",
        NoDataPolicy::Inconclusive => "inconclusive",
        NoDataPolicy::ExtendBake => "extend-bake",
        NoDataPolicy::Pass => "pass",
    };
    format!("{}: {what} (mode {mode}, no_data {no_data})", g.name)
}

/// Sends a control request to the deployment in progress.
pub async fn control(
    ctx: &Context,
    id: Option<String>,
    request: bluegreen_store::Control,
) -> Result<Ended, Failure> {
    let store = ctx.store().await?;
    let application = ctx.naming()?.application_key();
    let id = id
        .map(|id| DeploymentId::new(id).map_err(Failure::bad_input))
        .transpose()?;
    // The rules are the library's (`Replay::accepts`, through `bluegreen::send_control`); the words to type
    // next are the command's.
    let id = bluegreen::send_control(&store, &application, id, &request)
        .await
        .map_err(control_failure)?;
    let renderer = Renderer::new(ctx.output(), bluegreen_core::Timestamp::default());
    let what = match &request {
        bluegreen_store::Control::Approve {
            pre_approved: true, ..
        } => "pre-approval",
        bluegreen_store::Control::Approve { .. } => "approval",
        bluegreen_store::Control::Reject { .. } => "rejection",
        bluegreen_store::Control::Abort { .. } => "abort request",
    };
    renderer.result(
        "sent",
        &format!("{what} sent to deployment {id} by {}", request.by()),
        serde_json::json!({"deployment": id, "request": request}),
    );
    Ok(Ended::Done)
}

/// A request that was not sent, as the command says it: the exit code of its kind, and what to type next.
fn control_failure(e: bluegreen::ControlError) -> Failure {
    use bluegreen::ControlError as E;
    use bluegreen_core::ControlRefusal as R;
    match e {
        E::Refused(R::BeingAborted { .. }) => Failure::refused(e),
        E::Refused(R::NoApprovalAhead { .. }) => {
            Failure::bad_input(format!("{e}; nothing was sent"))
        }
        E::Refused(R::NotWaitingForApproval { .. }) => Failure::bad_input(format!(
            "{e}; --pre-approve approves it ahead of time; nothing was sent"
        )),
        E::StoreUnreadable { .. } | E::Unreachable { .. } => Failure::provider(e),
        E::Unreadable { source, .. } => provider_failure(source),
        _ => Failure::bad_input(e),
    }
}

/// Who stopped a deployment with a signal, in words for the record: the signal, the host and process, and
/// the CI job that owns the process when the environment names one (`SIGTERM on host ci-7 (pid 4242),
/// Jenkins poc-deploy-42`).
pub fn signal_origin(signal: &str, var: impl Fn(&str) -> Option<String>) -> String {
    let mut text = format!(
        "{signal} on host {} (pid {})",
        bluegreen_store::host_name(),
        std::process::id()
    );
    let set = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    if let Some(tag) = set("BUILD_TAG") {
        text.push_str(&format!(", Jenkins {tag}"));
    } else if let (Some(repo), Some(run)) = (set("GITHUB_REPOSITORY"), set("GITHUB_RUN_ID")) {
        text.push_str(&format!(", GitHub Actions {repo} run {run}"));
    } else if let Some(job) = set("CI_JOB_URL") {
        text.push_str(&format!(", GitLab {job}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::validation_duration;
    use std::time::Duration;

    #[test]
    fn validation_takes_whole_minutes_or_a_duration() {
        assert_eq!(validation_duration("5"), Ok(Duration::from_secs(300)));
        assert_eq!(validation_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(validation_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(validation_duration("soon").is_err());
        assert!(
            validation_duration("99999999")
                .unwrap_err()
                .to_string()
                .contains("30 days")
        );
    }

    #[test]
    fn a_signal_names_the_host_the_process_and_the_ci_job() {
        use crate::commands::fake_env as env;
        let jenkins =
            super::signal_origin("SIGTERM", env(&[("BUILD_TAG", "jenkins-poc-deploy-42")]));
        assert!(jenkins.starts_with("SIGTERM on host "), "{jenkins}");
        assert!(
            jenkins.contains(&format!("(pid {})", std::process::id())),
            "{jenkins}"
        );
        assert!(
            jenkins.ends_with(", Jenkins jenkins-poc-deploy-42"),
            "{jenkins}"
        );
        let github = super::signal_origin(
            "SIGTERM",
            env(&[("GITHUB_REPOSITORY", "acme/web"), ("GITHUB_RUN_ID", "77")]),
        );
        assert!(
            github.ends_with(", GitHub Actions acme/web run 77"),
            "{github}"
        );
        let person = super::signal_origin("SIGINT (Ctrl-C)", env(&[]));
        assert!(person.ends_with(')'), "no CI named: {person}");
    }
}
