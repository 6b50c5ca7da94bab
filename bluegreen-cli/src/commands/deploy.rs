//! `deploy`, `shift`, `resume`, `plan`: everything that runs the executor.

use super::plan_view::show_plan;
use super::signals::signal_origin;
use super::{current_deployment, replay};
use crate::config::duration;
use crate::context::{Context, Wired};
use crate::render::Renderer;
use crate::{Ended, Failure, Signal};
use bluegreen_core::{
    Color, DeploymentId, ExecError, Executor, Outcome, Plan, ResumeAction, Schedule,
    StrategySettings,
};
use clap::Args;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use bluegreen::DeployType;

/// The strategy flags, shared by `deploy`, `plan` and `simulate`: one per setting of the core's
/// [`StrategySettings::SETTINGS`] (the key with dashes: `canary_percent` is `--canary-percent`), which also
/// names `[deploy]`'s keys in `bluegreen.toml`. A new setting there is a new flag here, with nothing to add.
#[derive(Debug, Clone, Default)]
pub struct StrategyFlags {
    /// The values given, with their setting, as typed.
    values: Vec<(&'static bluegreen_core::strategy::SettingSpec, String)>,
}

impl clap::FromArgMatches for StrategyFlags {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let values = StrategySettings::SETTINGS
            .iter()
            .filter_map(|s| m.get_one::<String>(s.key).map(|v| (s, v.clone())))
            .collect();
        Ok(StrategyFlags { values })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for StrategyFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        StrategySettings::SETTINGS.iter().fold(cmd, |cmd, s| {
            let flag = s.flag();
            let arg = clap::Arg::new(s.key)
                .long(flag)
                .value_name(s.value)
                .help(s.describe())
                .allow_hyphen_values(true);
            // A setting checked as the command line is parsed is refused as the flag's bad value.
            let arg = if s.eager {
                arg.value_parser(move |text: &str| {
                    StrategySettings::default()
                        .set_text(s.key, text, &format!("--{}", s.flag()))
                        .map(|()| text.to_string())
                })
            } else {
                arg
            };
            cmd.arg(arg)
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
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
    /// If a deployment of the application is watching its new color, end its watch first: it is promoted
    /// and its old color scaled down (after `scale_down_delay`), in this process; then this release runs.
    #[arg(long)]
    pub end_watch: bool,
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
        self.flags.settings()
    }
}

impl StrategyFlags {
    /// The flags as strategy settings; a value that does not parse is named with its flag.
    pub fn settings(&self) -> Result<StrategySettings, Failure> {
        let mut settings = StrategySettings::default();
        for (spec, text) in &self.values {
            settings
                .set_text(spec.key, text, &format!("--{}", spec.flag()))
                .map_err(Failure::bad_input)?;
        }
        Ok(settings)
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
        // A release that reaches its watch judges once and exits: the watch is driven by `watch`.
        false,
        true,
    )
    .await
}

/// Runs the executor with Ctrl-C and `bluegreen abort` wired to its cancel token. A `release` refused by
/// the executor before it changed anything (the lock, an unfinished deployment, a live mark) is told to the
/// channels that take `refused`.
async fn execute(
    ctx: &Context,
    w: &Wired,
    renderer: &Renderer,
    run: impl AsyncFnOnce(&Executor) -> Result<Outcome, ExecError>,
    id: &DeploymentId,
    watch_through: bool,
    release: bool,
) -> Result<Ended, Failure> {
    let notifier = crate::notify::start(
        ctx,
        crate::notify::channels(ctx)?,
        id,
        w.application(),
        w.providers().clock.clone(),
    )
    .await?;
    let observer: Arc<dyn bluegreen_core::Observer> = match &notifier {
        Some(n) => Arc::new(crate::notify::Fanout(vec![
            Arc::new(renderer.clone()),
            n.observer(),
        ])),
        None => Arc::new(renderer.clone()),
    };
    let mut exec = w
        .executor()
        .with_observer(observer)
        .with_actor(super::actor());
    if watch_through {
        exec = exec.watching_through();
    }
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
            token.interrupt(signal_origin(signal, |k| std::env::var(k).ok()));
        })
    };
    // `bluegreen abort` cancels it too; a request left for it is cleared once it ended.
    let result = w.supervise(&exec, id, run(&exec)).await;
    ctrl_c.abort();
    if let Some(n) = notifier {
        if let Err(
            e @ (ExecError::Locked { .. } | ExecError::Unfinished(_) | ExecError::Marked { .. }),
        ) = &result
            && release
        {
            n.refused(
                w.providers().clock.now(),
                &Failure::from_exec(e).to_string(),
            );
        }
        n.finish(Duration::from_secs(10)).await;
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
    crate::notify::channels(ctx)?;
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
        w.preflight(&mut plan).await?;
        return show_plan(ctx, &w, &plan, true).await;
    }
    let id =
        a.id.as_ref()
            .map(|id| DeploymentId::new(id.clone()).map_err(Failure::bad_input))
            .transpose()?;
    let w = ctx
        .wire_with(true, a.scenario.as_deref(), !a.skip_tests)
        .await?;
    if a.end_watch
        && let Some(ended) = end_watch(ctx, &w).await?
    {
        return Ok(ended);
    }
    let id = id.unwrap_or_else(|| w.new_id());
    let checked: Result<(), Failure> = async {
        if a.from_current {
            w.continue_from_current(&mut plan).await?;
        }
        w.preflight(&mut plan).await?;
        Ok(())
    }
    .await;
    if let Err(refusal @ (Failure::BadInput(_) | Failure::Refused(_))) = &checked {
        crate::notify::tell_refused(ctx, &w, &id, &refusal.to_string()).await;
    }
    checked?;
    let renderer = live_renderer(ctx, w.providers().clock.now());
    run_plan(ctx, &w, &renderer, id, plan).await
}

/// `deploy --end-watch`: the deployment watching its new color, if any, is approved (its watch ends: it is
/// promoted) and resumed here to its end — the old color scaled down, so that this release raises it
/// afresh from its image. `None` when it was promoted (or nothing was watching): the release goes on;
/// otherwise how it ended (rolled back meanwhile, stopped by a signal), which ends the command.
async fn end_watch(ctx: &Context, w: &Wired) -> Result<Option<Ended>, Failure> {
    let (id, before) = match w.watch_target(None).await? {
        bluegreen::WatchTarget::Watching(id, replay) => (id, replay),
        bluegreen::WatchTarget::Nothing(_) => return Ok(None),
    };
    w.promote(Some(id.clone()), &super::actor(), false)
        .await
        .map_err(|e| Failure::refused(format!("--end-watch: {e}; nothing was changed")))?;
    crate::render::out(&format!(
        "--end-watch: ending the watch of {id} (promoted, its old color scaled down), then this release"
    ));
    let renderer = live_renderer(ctx, before.started_at).with_plan(before.plan.clone());
    let run_id = id.clone();
    let ended = execute(
        ctx,
        w,
        &renderer,
        async move |exec: &Executor| exec.resume(&run_id, ResumeAction::Continue).await,
        &id,
        true,
        false,
    )
    .await?;
    Ok(match ended {
        Ended::Deployment(Outcome::Promoted { .. }) => None,
        other => Some(other),
    })
}

/// `shift`.
pub async fn shift(ctx: &Context, a: ShiftArgs) -> Result<Ended, Failure> {
    crate::notify::channels(ctx)?;
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
    crate::notify::channels(ctx)?;
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
        false,
        false,
    )
    .await
}

/// `watch`.
#[derive(Args, Debug)]
pub struct WatchArgs {
    /// The deployment (default: the one in progress).
    #[arg(long)]
    pub id: Option<String>,
    /// Judge what CloudWatch published since the last run, act on it, and exit: for a schedule (cron,
    /// a CI schedule, EventBridge Scheduler) every few minutes. Without it, watch to the end.
    #[arg(long)]
    pub once: bool,
}

/// `watch`: resumes the deployment that watches the new color after its switch (`[deploy] watch`).
pub async fn watch(ctx: &Context, a: WatchArgs) -> Result<Ended, Failure> {
    crate::notify::channels(ctx)?;
    let w = ctx.wire_with(true, None, true).await?;
    let id =
        a.id.map(|id| DeploymentId::new(id).map_err(Failure::bad_input))
            .transpose()?;
    // The library's rule: only a deployment at its watch; nothing in progress is not an error.
    let (id, before) = match w.watch_target(id).await? {
        bluegreen::WatchTarget::Watching(id, replay) => (id, replay),
        bluegreen::WatchTarget::Nothing(why) => {
            crate::render::out(&format!("nothing to watch: {why}"));
            return Ok(Ended::Done);
        }
    };
    let renderer = live_renderer(ctx, before.started_at).with_plan(before.plan.clone());
    let run_id = id.clone();
    execute(
        ctx,
        &w,
        &renderer,
        async move |exec: &Executor| exec.resume(&run_id, ResumeAction::Continue).await,
        &id,
        !a.once,
        false,
    )
    .await
}

/// `plan`: the schedule, the gates, and the exact changes; changes nothing.
pub async fn plan_command(ctx: &Context, a: StrategyArgs) -> Result<Ended, Failure> {
    let plan = plan(ctx, &a)?;
    let mut w = ctx.wire(false, None).await?;
    // What a deployment would refuse at its start (the image, the group's launch template), the plan refuses.
    let checked = async |w: &Wired| {
        let mut plan = plan.clone();
        w.preflight(&mut plan).await?;
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
