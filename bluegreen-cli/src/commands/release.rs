//! `release run|plan|status|abort FILE`: one version through many targets in waves (issue 25). The rules are
//! the core's (`bluegreen_core::release`) and the front door's (`bluegreen::release`); here, the words, the
//! signals and the exit code.

use crate::render::{Renderer, out};
use crate::{Context, Ended, Failure, Signal};
use bluegreen::release::{BuiltRelease, ReleaseFile};
use bluegreen_core::release::{ReleaseEvent, TargetResult};
use bluegreen_core::{CancelToken, Outcome, Replay, StateStore};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// `release`.
#[derive(clap::Args, Debug)]
pub struct ReleaseArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Run the release, or continue it (after a crash, from another machine sharing the state): the waves
    /// in order, each target a deployment; halts at the first failure.
    Run {
        /// The release file (bluegreen-release.toml).
        file: PathBuf,
    },
    /// The waves, the targets and each target's deployment id and schedule, every target checked as
    /// `deploy` checks before its start; changes nothing.
    Plan {
        /// The release file.
        file: PathBuf,
    },
    /// Each target's deployment, as its record says.
    Status {
        /// The release file.
        file: PathBuf,
    },
    /// The least-privilege IAM policy every target of the release needs in one account: each target's
    /// statements (its region, its names, its state table, its SNS topic), named after the target.
    IamPolicy {
        /// The release file.
        file: PathBuf,
        #[command(flatten)]
        iam: super::setup::IamArgs,
    },
    /// Approve the next wave of a release waiting between waves (`approve_between = true`).
    Approve {
        /// The release file.
        file: PathBuf,
        /// Who approves, recorded (default: BLUEGREEN_ACTOR, the CI's user, or the OS user).
        #[arg(long)]
        by: Option<String>,
    },
    /// Roll back every target the release took to the new version while its old color is kept (after a
    /// release halted with `on_failure = "halt"`, or a finished one found wanting).
    Rollback {
        /// The release file.
        file: PathBuf,
    },
    /// Stop the release wherever it runs: no target starts after it, running ones roll back.
    Abort {
        /// The release file.
        file: PathBuf,
        /// Who stops it, recorded (default: BLUEGREEN_ACTOR, the CI's user, or the OS user).
        #[arg(long)]
        by: Option<String>,
    },
}

/// `release …`.
pub async fn release(ctx: &Context, a: ReleaseArgs) -> Result<Ended, Failure> {
    let renderer = Renderer::new(ctx.output(), bluegreen_core::Timestamp::default());
    match a.action {
        Action::Plan { file } => {
            let f = load(&file)?;
            let built = f.build(None).await?;
            plan(&renderer, &f, &built);
            Ok(Ended::Done)
        }
        Action::Status { file } => status(&renderer, &load(&file)?).await,
        Action::IamPolicy { file, iam } => iam_policy(ctx, &load(&file)?, &iam),
        Action::Abort { file, by } => {
            let by = crate::by_or_actor(by)?;
            send(
                &renderer,
                &load(&file)?,
                bluegreen_store::Control::Abort { by },
                "its run stops starting targets and rolls back the running ones",
            )
            .await
        }
        Action::Approve { file, by } => {
            let by = crate::by_or_actor(by)?;
            let f = load(&file)?;
            if !f.release.approve_between.unwrap_or(false) {
                return Err(Failure::bad_input(format!(
                    "release {} does not wait between waves (approve_between is not set): nothing was sent",
                    f.release.name
                )));
            }
            send(
                &renderer,
                &f,
                bluegreen_store::Control::Approve {
                    by,
                    pre_approved: false,
                },
                "the wave waiting starts",
            )
            .await
        }
        Action::Rollback { file } => {
            let f = load(&file)?;
            let built = f.open().await?;
            let outcome = built.release.roll_back(&|e| out(&event_words(e))).await;
            let failed: Vec<String> = outcome
                .targets
                .iter()
                .flatten()
                .filter_map(|(name, r)| match r {
                    TargetResult::NotRolledBack { why } => Some(format!("{name}: {why}")),
                    _ => None,
                })
                .collect();
            renderer.result(
                "release",
                &format!(
                    "result: release {} rolled back where its old colors were kept{}",
                    f.release.name,
                    if failed.is_empty() {
                        String::new()
                    } else {
                        format!("; NOT rolled back: {}", failed.join("; "))
                    }
                ),
                serde_json::to_value(&outcome).unwrap_or_default(),
            );
            if failed.is_empty() {
                Ok(Ended::Done)
            } else {
                Err(Failure::provider(format!(
                    "{} target(s) not rolled back: {}",
                    failed.len(),
                    failed.join("; ")
                )))
            }
        }
        Action::Run { file } => {
            let json = matches!(ctx.output(), crate::Output::Json);
            run(&renderer, json, &load(&file)?).await
        }
    }
}

/// One policy for every target of the release in one account: each target's statements, their `Sid`s
/// suffixed with the target's place (`ReadTopologyW1T1`), read only from the file (no AWS call).
fn iam_policy(
    ctx: &Context,
    f: &ReleaseFile,
    iam: &super::setup::IamArgs,
) -> Result<Ended, Failure> {
    super::setup::check_account(&iam.account)?;
    let mut statements = Vec::new();
    for (w, (_, targets)) in f.waves.iter().enumerate() {
        for (i, t) in targets.iter().enumerate() {
            let mut policy = super::setup::policy_for(&t.settings, iam)?;
            let list = policy["Statement"]
                .as_array_mut()
                .map(std::mem::take)
                .unwrap_or_default();
            for mut st in list {
                if let Some(sid) = st["Sid"].as_str() {
                    st["Sid"] = serde_json::json!(format!("{sid}W{}T{}", w + 1, i + 1));
                }
                statements.push(st);
            }
        }
    }
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    match ctx.output() {
        crate::Output::Json => crate::render::json_line("iam-policy", policy),
        crate::Output::Human => out(&serde_json::to_string_pretty(&policy).unwrap_or_default()),
    }
    Ok(Ended::Done)
}

/// Queues `control` for the release's run, in the first target's state.
async fn send(
    renderer: &Renderer,
    f: &ReleaseFile,
    control: bluegreen_store::Control,
    then: &str,
) -> Result<Ended, Failure> {
    let built = f.open().await?;
    let first = built.deployers.first().expect("a release has a target");
    let id = built.control_id();
    bluegreen_store::ControlQueue::send(first.store(), &id, &control)
        .await
        .map_err(Failure::provider)?;
    let what = match &control {
        bluegreen_store::Control::Abort { .. } => "abort",
        _ => "approval",
    };
    renderer.result(
        "sent",
        &format!(
            "{what} sent to release {} by {}: {then}",
            f.release.name,
            control.by()
        ),
        serde_json::json!({"release": f.release.name, "request": control}),
    );
    Ok(Ended::Done)
}

fn load(file: &std::path::Path) -> Result<ReleaseFile, Failure> {
    ReleaseFile::load(file).map_err(Failure::bad_input)
}

fn plan(renderer: &Renderer, f: &ReleaseFile, built: &BuiltRelease) {
    let mut text = format!(
        "release {}: {} waves, {} targets; {} between waves; on failure: {}; {} target(s) of a region at once\n",
        f.release.name,
        built.release.waves.len(),
        built.deployers.len(),
        humantime::format_duration(built.release.bake_between),
        match built.release.on_failure {
            bluegreen_core::release::OnFailure::Halt => "halt",
            bluegreen_core::release::OnFailure::RollbackAll => "rollback-all",
        },
        built.release.per_region
    );
    if !built.release.alarms.is_empty() {
        text.push_str(&format!(
            "aggregate alarms: {}\n",
            built.release.alarms.join(", ")
        ));
    }
    let ids = f.deployment_ids();
    for (w, wave) in built.release.waves.iter().enumerate() {
        text.push_str(&format!("wave {} ({}):\n", w + 1, wave.name));
        for (i, t) in wave.targets.iter().enumerate() {
            text.push_str(&format!(
                "  {} — deployment {}: {}\n",
                t.name, ids[w][i].1, t.plan.schedule
            ));
        }
    }
    renderer.result(
        "plan",
        text.trim_end(),
        serde_json::json!({
            "release": f.release.name,
            "waves": built.release.waves.iter().enumerate().map(|(w, wave)| serde_json::json!({
                "name": wave.name,
                "targets": wave.targets.iter().enumerate().map(|(i, t)| serde_json::json!({
                    "target": t.name, "region": t.region, "deployment": ids[w][i].1,
                    "schedule": t.plan.schedule.to_string(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }),
    );
}

async fn status(renderer: &Renderer, f: &ReleaseFile) -> Result<Ended, Failure> {
    let built = f.open().await?;
    let ids = f.deployment_ids();
    let mut text = format!("release {}\n", f.release.name);
    let mut data = Vec::new();
    let mut k = 0;
    for (w, (wave, _)) in f.waves.iter().enumerate() {
        text.push_str(&format!("wave {} ({wave}):\n", w + 1));
        for (name, id) in &ids[w] {
            let deployer = &built.deployers[k];
            k += 1;
            let state = match StateStore::load(deployer.store(), id).await {
                Ok(entries) if entries.is_empty() => "not started".to_string(),
                Ok(entries) => match Replay::new(&entries) {
                    Ok(r) => match &r.outcome {
                        Some(o) => o.describe(&r.plan.schedule),
                        None if r.watching().is_some() => "watching".into(),
                        None => "in progress".into(),
                    },
                    Err(e) => format!("record unreadable: {e}"),
                },
                Err(bluegreen_core::ProviderError::NotFound { .. }) => "not started".into(),
                Err(e) => format!("state unreadable: {e}"),
            };
            // The record says what the deployment did; the routes say where traffic is now (a rollback with
            // the release, or by hand, leaves no record of its own).
            let now = match deployer.providers().router.read_routes().await {
                Ok(r) => r.overall().to_string(),
                Err(e) => format!("unreadable: {e}"),
            };
            text.push_str(&format!("  {name} — {id}: {state}; traffic now: {now}\n"));
            data.push(serde_json::json!({"wave": w + 1, "target": name, "deployment": id, "state": state, "traffic": now}));
        }
    }
    renderer.result(
        "status",
        text.trim_end(),
        serde_json::json!({"release": f.release.name, "targets": data}),
    );
    Ok(Ended::Done)
}

async fn run(renderer: &Renderer, json: bool, f: &ReleaseFile) -> Result<Ended, Failure> {
    let mut built = f.build(None).await?;
    // Each target's record says who started the release.
    let actor = super::actor();
    for wave in &mut built.release.waves {
        for t in &mut wave.targets {
            t.executor.set_actor(actor.clone());
        }
    }
    let cancel = CancelToken::new();
    // 0: none, else the signal.
    let signal = Arc::new(AtomicU8::new(0));
    let watcher = {
        let (cancel, signal) = (cancel.clone(), signal.clone());
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal as unix};
            let (Ok(mut term), Ok(mut hup)) =
                (unix(SignalKind::terminate()), unix(SignalKind::hangup()))
            else {
                return;
            };
            let (code, name) = tokio::select! {
                _ = tokio::signal::ctrl_c() => (1, "SIGINT (Ctrl-C)"),
                _ = term.recv() => (2, "SIGTERM"),
                _ = hup.recv() => (3, "SIGHUP"),
            };
            signal.store(code, Ordering::SeqCst);
            eprintln!("{name}: the release stops starting targets; the running ones roll back");
            cancel.cancel_because(super::signals::signal_origin(name, |k| {
                std::env::var(k).ok()
            }));
        })
    };
    let observer = move |e: &ReleaseEvent| {
        if json {
            out(&serde_json::json!({"type": "release-event", "data": e}).to_string());
            return;
        }
        out(&event_words(e));
    };
    let outcome = built.run(cancel, &observer).await;
    watcher.abort();
    let done: usize = outcome
        .targets
        .iter()
        .flatten()
        .filter(|(_, r)| r.succeeded())
        .count();
    let total: usize = outcome.targets.iter().map(Vec::len).sum();
    let summary = match &outcome.halted {
        None => format!(
            "result: release {} complete: {done} of {total} targets on the new version",
            f.release.name
        ),
        Some(why) => format!(
            "result: release {} halted ({why}): {done} of {total} targets on the new version",
            f.release.name
        ),
    };
    renderer.result(
        "release",
        &summary,
        serde_json::to_value(&outcome).unwrap_or_default(),
    );
    Ok(Ended::Release {
        complete: outcome.complete(),
        signal: match signal.load(Ordering::SeqCst) {
            1 => Some(Signal::Interrupt),
            2 => Some(Signal::Terminate),
            3 => Some(Signal::HangUp),
            _ => None,
        },
    })
}

/// A release's step, as a line for a person.
fn event_words(e: &ReleaseEvent) -> String {
    match e {
        ReleaseEvent::WaveStarted { wave, name } => format!("wave {} ({name})", wave + 1),
        ReleaseEvent::TargetStarted {
            target,
            deployment,
            resumed,
        } => format!(
            "  {target}: {} {deployment}",
            if *resumed { "resuming" } else { "deploying" }
        ),
        ReleaseEvent::TargetEnded { target, result } => {
            format!("  {target}: {}", result_words(result))
        }
        ReleaseEvent::Halted { reason } => format!("HALTED: {reason}"),
        ReleaseEvent::Baking { wave, duration } => format!(
            "wave {} done: baking {} before the next",
            wave + 1,
            humantime::format_duration(*duration)
        ),
        ReleaseEvent::RollingBack { target } => {
            format!("  {target}: rolling back with the release")
        }
        ReleaseEvent::WaitingForApproval { wave, name } => format!(
            "wave {} ({name}) waits for `bluegreen release approve` (or `release abort`)",
            wave + 1
        ),
        ReleaseEvent::Approved { wave, by } => format!("wave {} approved by {by}", wave + 1),
    }
}

fn result_words(r: &TargetResult) -> String {
    match r {
        TargetResult::NotStarted => "not started".into(),
        TargetResult::Deployed { outcome } => match outcome {
            Outcome::Watching { until, .. } => format!("watching until {until}"),
            o => o.to_string(),
        },
        TargetResult::Failed { error } => format!("failed: {error}"),
        TargetResult::RolledBackWithRelease { split } => {
            format!("rolled back with the release: {split}")
        }
        TargetResult::NotRolledBack { why } => format!("NOT rolled back: {why}"),
    }
}
