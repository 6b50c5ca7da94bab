//! `deploy`, `shift`, `resume`, `plan`: everything that runs the executor.

use super::{current_deployment, replay};
use crate::config::{self, duration};
use crate::context::{Context, Wired, provider_failure};
use crate::render::Renderer;
use crate::state::watch_abort;
use crate::{Ended, Failure, Signal};
use bluegreen_core::gate::TYPICAL_PUBLICATION_DELAY;
use bluegreen_core::{
    CapacityPolicy, Clock, Color, DeploymentId, ExecError, Executor, Outcome, Plan, ProviderError,
    Replay, ResumeAction, Schedule, StateStore, Strategy, StrategySettings, parse_steps,
};
use clap::{Args, ValueEnum};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What a deployment covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployType {
    /// Bring the new color to capacity first, scale the old color down after.
    Full,
    /// Only move traffic.
    TrafficOnly,
}

/// Flags shared by `deploy` and `plan`.
#[derive(Args, Debug, Clone)]
pub struct StrategyArgs {
    /// gradual, immediate or canary (default: the file's, or gradual).
    #[arg(long)]
    pub strategy: Option<String>,
    /// Gradual steps, percent to the new color, e.g. 10,25,50,75,100.
    #[arg(long, allow_hyphen_values = true)]
    pub steps: Option<String>,
    /// Bake after each step, e.g. 3m, 90s, 1h30m.
    #[arg(long, allow_hyphen_values = true)]
    pub bake: Option<String>,
    /// Canary share, percent.
    #[arg(long, allow_hyphen_values = true, value_parser = clap::value_parser!(u32).range(1..100))]
    pub canary_percent: Option<u32>,
    /// Canary: how long to wait for `bluegreen promote`.
    #[arg(long, allow_hyphen_values = true)]
    pub approval_timeout: Option<String>,
    /// What an approval timeout does: rollback or promote.
    #[arg(long)]
    pub on_timeout: Option<String>,
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
            approval_timeout: self
                .approval_timeout
                .as_deref()
                .map(|t| duration("--approval-timeout", t))
                .transpose()?,
            on_timeout: self
                .on_timeout
                .as_deref()
                .map(config::on_timeout)
                .transpose()?,
        })
    }
}

/// The strategy: the file's settings, overlaid by the flags; the core applies the defaults.
fn strategy(ctx: &Context, a: &StrategyArgs) -> Result<Strategy, Failure> {
    let file = ctx.file.deploy.strategy_settings()?;
    file.overlaid(a.settings()?)
        .strategy()
        .map_err(Failure::bad_input)
}

/// The plan of `deploy`/`plan`, validated before anything is called.
pub fn plan(ctx: &Context, a: &StrategyArgs) -> Result<Plan, Failure> {
    let f = &ctx.file.deploy;
    let schedule = strategy(ctx, a)?.compile().map_err(Failure::bad_input)?;
    let mut plan = Plan::new(ctx.naming()?.application_key(), schedule);
    plan.gates = ctx.file.gates.policy(ctx.fetches_p99())?;
    plan.on_cancel = f.on_cancel.unwrap_or_default();
    let kind = a.kind.or(f.kind).unwrap_or(DeployType::Full);
    if kind == DeployType::Full {
        let mut c = CapacityPolicy::default();
        if let Some(t) = &f.ready_timeout {
            c.ready_timeout = duration("deploy.ready_timeout", t)?;
        }
        if let Some(t) = &f.scale_down_delay {
            c.scale_down_delay =
                duration("deploy.scale_down_delay", t).map_err(Failure::bad_input)?;
        }
        c.keep_failed = f.keep_failed.unwrap_or(false);
        plan.capacity = Some(c);
    }
    plan.validate().map_err(Failure::bad_input)?;
    Ok(plan)
}

fn new_id(ctx: &Context, clock: &dyn Clock) -> Result<DeploymentId, Failure> {
    let naming = ctx.naming()?;
    let t = std::time::UNIX_EPOCH + Duration::from_millis(clock.now().as_millis());
    // Milliseconds and the process id: two commands in the same second get different ids.
    let stamp: String = humantime::format_rfc3339_millis(t)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    DeploymentId::new(format!(
        "{}-{stamp}-{}",
        naming.application_key().replace('/', "-"),
        std::process::id()
    ))
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
    let exec = crate::state::named_executor(w.providers.clone())
        .with_lease_ttl(ctx.file.state.lease()?)
        .with_observer(observer);
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
            tokio::select! {
                r = tokio::signal::ctrl_c() => {
                    if r.is_err() {
                        return;
                    }
                    interrupted.store(true, Ordering::SeqCst);
                    eprintln!("interrupted: stopping at the next safe point");
                }
                _ = term.recv() => {
                    terminated.store(true, Ordering::SeqCst);
                    eprintln!("terminated (SIGTERM): stopping at the next safe point");
                }
                _ = hup.recv() => {
                    hung_up.store(true, Ordering::SeqCst);
                    eprintln!("hung up (SIGHUP): stopping at the next safe point");
                }
            }
            token.cancel();
        })
    };
    let abort = tokio::spawn(watch_abort(w.store.clone(), id.clone(), token));
    let result = run(&exec).await;
    ctrl_c.abort();
    abort.abort();
    // A request left for this run has been acted on, or is moot now.
    if result.is_ok() {
        w.store.clear_control(id).await;
    }
    if let Some(hook) = &webhook {
        hook.finish(Duration::from_secs(10)).await;
    }
    let outcome = result.map_err(|e| Failure::from_exec(&e))?;
    renderer.summary(
        &outcome,
        w.providers.clock.now().since(renderer.start()),
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
    w.counter.as_ref().map(|c| c.counts()).unwrap_or_default()
}

/// The configured hooks, unless `--skip-tests`.
fn hooks(ctx: &Context, skip: bool) -> Result<Option<Arc<dyn bluegreen_core::Hooks>>, Failure> {
    let h = &ctx.file.hooks;
    let none = |v: &Option<Vec<String>>| v.as_ref().is_none_or(Vec::is_empty);
    if skip || (none(&h.pre_traffic) && none(&h.after_step) && none(&h.after_switch)) {
        return Ok(None);
    }
    let naming = ctx.naming()?;
    let timeout = match &h.timeout {
        Some(t) => duration("hooks.timeout", t).map_err(Failure::bad_input)?,
        None => Duration::from_secs(300),
    };
    let (environment, application) = naming
        .application_key()
        .split_once('/')
        .map(|(e, a)| (e.to_string(), a.to_string()))
        .unwrap_or_default();
    Ok(Some(Arc::new(crate::hooks::ShellHooks {
        pre_traffic: h.pre_traffic.clone().unwrap_or_default(),
        after_step: h.after_step.clone().unwrap_or_default(),
        after_switch: h.after_switch.clone().unwrap_or_default(),
        timeout,
        environment,
        application,
    })))
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
        if ctx.provider()? != crate::context::ProviderKind::Aws {
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
    if let Some(image) = a.ami.clone().or(ctx.file.deploy.ami.clone()) {
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
        check_image(&w, &plan).await?;
        return show_plan(ctx, &w, &plan, true).await;
    }
    let hooks = hooks(ctx, a.skip_tests)?;
    let mut w = ctx.wire(true, a.scenario.as_deref()).await?;
    w.providers.hooks = hooks;
    check_image(&w, &plan).await?;
    let id = match &a.id {
        Some(id) => DeploymentId::new(id.clone()).map_err(Failure::bad_input)?,
        None => new_id(ctx, &*w.providers.clock)?,
    };
    let renderer = live_renderer(ctx, w.providers.clock.now());
    run_plan(ctx, &w, &renderer, id, plan).await
}

/// Refuses an image that does not exist before anything changes (the executor would only find out under the
/// lock, after the record began).
async fn check_image(w: &Wired, plan: &Plan) -> Result<(), Failure> {
    let (Some(image), Some(cap)) = (
        plan.capacity.as_ref().and_then(|c| c.image.as_ref()),
        &w.providers.capacity,
    ) else {
        return Ok(());
    };
    match cap.image_exists(image).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failure::bad_input(format!(
            "image {image} does not exist (or is not visible to this account): nothing was changed"
        ))),
        Err(ProviderError::Invalid { message }) => Err(Failure::bad_input(format!(
            "--ami: {message} (build with the `ami` feature)"
        ))),
        Err(e) => Err(provider_failure(e)),
    }
}

/// `shift`.
pub async fn shift(ctx: &Context, a: ShiftArgs) -> Result<Ended, Failure> {
    ctx.webhook()?;
    let validation = a.validation_minutes;
    let schedule = Schedule::shift(a.percentage, validation).map_err(Failure::bad_input)?;
    let mut plan = Plan::new(ctx.naming()?.application_key(), schedule);
    plan.gates = ctx
        .file
        .gates
        .policy(ctx.fetches_p99())
        .map_err(Failure::bad_input)?;
    plan.expected_stable = Some(a.target.other());
    plan.validate().map_err(Failure::bad_input)?;
    let w = ctx.wire(true, None).await?;
    let id = new_id(ctx, &*w.providers.clock)?;
    let renderer = live_renderer(ctx, w.providers.clock.now());
    run_plan(ctx, &w, &renderer, id, plan).await
}

/// `resume`.
pub async fn resume(ctx: &Context, a: ResumeArgs) -> Result<Ended, Failure> {
    ctx.webhook()?;
    let hooks = hooks(ctx, a.skip_tests)?;
    let mut w = ctx.wire(true, None).await?;
    w.providers.hooks = hooks;
    let id = match a.id {
        Some(id) => DeploymentId::new(id).map_err(Failure::bad_input)?,
        None => current_deployment(&w).await.ok_or_else(|| {
            Failure::bad_input(format!("no deployment of {} to resume", w.application))
        })?,
    };
    let action = if a.rollback {
        ResumeAction::Rollback
    } else {
        ResumeAction::Continue
    };
    let before = replay(&w, &id).await?;
    let renderer =
        live_renderer(ctx, before.started_at).with_schedule(before.plan.schedule.clone());
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
    match (show_plan(ctx, &w, &plan, false).await, w.cached.take()) {
        // Cached names that no longer match the world: forget them, resolve afresh, ask again.
        (Err(_), Some(cache)) => {
            cache.invalidate();
            let w = ctx.wire(false, None).await?;
            show_plan(ctx, &w, &plan, false).await
        }
        (result, _) => result,
    }
}

async fn show_plan(ctx: &Context, w: &Wired, plan: &Plan, dry_run: bool) -> Result<Ended, Failure> {
    let routing = w
        .providers
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
    let renderer = Renderer::new(ctx.output(), w.providers.clock.now());
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
    request: crate::state::Control,
) -> Result<Ended, Failure> {
    let store = ctx.store().await?;
    let application = ctx.naming()?.application_key();
    let id = match id {
        Some(id) => DeploymentId::new(id).map_err(Failure::bad_input)?,
        None => store.lock_holder(&application).await.ok_or_else(|| {
            Failure::bad_input(format!("no deployment of {application} is in progress"))
        })?,
    };
    // A request must be meant for what the deployment is doing now: nothing is left behind for later.
    let record = match StateStore::load(&store, &id).await {
        Ok(r) => r,
        Err(ProviderError::NotFound { .. }) => {
            return Err(Failure::bad_input(format!(
                "no deployment {id} of {application}"
            )));
        }
        Err(e) => return Err(provider_failure(e)),
    };
    let replay = Replay::new(&record).map_err(|e| {
        Failure::bad_input(format!("the record of deployment {id} is damaged: {e}"))
    })?;
    if let Some(outcome) = &replay.outcome {
        return Err(Failure::bad_input(format!(
            "deployment {id} already finished: {outcome}"
        )));
    }
    if !matches!(request, crate::state::Control::Abort { .. }) {
        if let Some(crate::state::Control::Abort { by }) = store.received(&id).await {
            return Err(Failure::refused(format!(
                "deployment {id} is being aborted (by {by}): an approval cannot undo that"
            )));
        }
        let pre_approve = matches!(
            request,
            crate::state::Control::Approve {
                pre_approved: true,
                ..
            }
        );
        if pre_approve {
            // An approval step still ahead (or waiting now), not yet decided.
            let ahead = replay
                .plan
                .schedule
                .steps()
                .iter()
                .enumerate()
                .any(|(i, step)| {
                    matches!(step, bluegreen_core::Step::Approval { .. })
                        && !replay.completed.contains(&i)
                        && !replay.approved.contains(&i)
                });
            if !ahead || replay.rollback.is_some() {
                return Err(Failure::bad_input(format!(
                    "deployment {id} has no approval step ahead to pre-approve; nothing was sent"
                )));
            }
        } else if replay.waiting_for_approval().is_none() {
            return Err(Failure::bad_input(format!(
                "deployment {id} is not waiting for an approval now (a canary waits after its first bake; --pre-approve approves it ahead of time); nothing was sent"
            )));
        }
    }
    store
        .send(&id, &request)
        .await
        .map_err(|e| Failure::provider(format!("cannot reach deployment {id}: {e}")))?;
    let renderer = Renderer::new(ctx.output(), bluegreen_core::Timestamp::default());
    let what = match &request {
        crate::state::Control::Approve {
            pre_approved: true, ..
        } => "pre-approval",
        crate::state::Control::Approve { .. } => "approval",
        crate::state::Control::Reject { .. } => "rejection",
        crate::state::Control::Abort { .. } => "abort request",
    };
    renderer.result(
        "sent",
        &format!("{what} sent to deployment {id} by {}", request.by()),
        serde_json::json!({"deployment": id, "request": request}),
    );
    Ok(Ended::Done)
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
}
