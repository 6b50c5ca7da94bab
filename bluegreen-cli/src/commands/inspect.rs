//! `status`, `history`, `report`: read-only views.

use super::{current_deployment, replay};
use crate::context::{Context, Wired};
use crate::render::Renderer;
use crate::{Ended, Failure};
use bluegreen::{InProgress, InProgressRecord};
use bluegreen_core::gate::GateReport;
use bluegreen_core::{Color, DeploymentId, Event, Replay, StateStore};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use std::time::Duration;

/// `status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Redraw every 2 seconds until interrupted.
    #[arg(long, conflicts_with = "wait")]
    pub watch: bool,
    /// Wait until the deployment in progress ends, then show how it ended and exit with its outcome's code
    /// (0 promoted, 1 rolled back, 3 aborted, 6 changed outside), as `kubectl argo rollouts status` does.
    /// With none in progress, the last deployment's outcome at once.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (e.g. 30m): exit 3, the deployment goes on.
    #[arg(long, requires = "wait", value_parser = wait_timeout)]
    pub timeout: Option<Duration>,
}

fn wait_timeout(text: &str) -> Result<Duration, String> {
    match crate::config::duration("--timeout", text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than 0s".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Lines for people.
    Text,
    /// The record as JSON.
    Json,
    /// One self-contained HTML file with a timeline chart (see `--out`).
    Html,
}

/// `report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The deployment.
    pub id: String,
    /// text, json or html (default: text, or json with --output json).
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Where to write an HTML report (default: report-ID.html).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

fn fmt_err(e: impl std::fmt::Display) -> String {
    format!("unknown ({e})")
}

async fn snapshot(w: &Wired) -> Result<(String, Value), Failure> {
    let p = &w.providers();
    // Every question at once, by the library: the wall time is about one round trip, not seven.
    let st = w.status().await.map_err(|e| match e {
        bluegreen::StatusError::Routes(e) => crate::context::provider_failure(e),
        other => Failure::provider(other),
    })?;
    let (routing, mark, alarms) = (st.routing.clone(), st.mark.clone(), st.alarms.clone());
    let (blue, green) = (
        st.colors.blue.targets.clone(),
        st.colors.green.targets.clone(),
    );
    let (blue_cap, green_cap) = (
        st.colors.blue.capacity.clone(),
        st.colors.green.capacity.clone(),
    );

    // Several routes (listeners or rules) move together: each is shown; the colors' weights are the mean
    // when they disagree (which a deployment refuses to start from).
    let split = routing.overall();
    let mut human = match routing.uniform() {
        Some(split) if routing.routes().len() == 1 => format!("split: {split}\n"),
        Some(split) => format!(
            "split: {split} on each of {} routes\n",
            routing.routes().len()
        ),
        None => "split: the routes disagree (roll back or shift to bring them together)\n".into(),
    };
    if routing.routes().len() > 1 {
        for r in routing.routes() {
            human.push_str(&format!("  {:<16} {}\n", r.route, r.split));
        }
    }
    let mut colors = serde_json::Map::new();
    for (c, health, capacity) in [
        (Color::Blue, blue, blue_cap),
        (Color::Green, green, green_cap),
    ] {
        human.push_str(&format!(
            "{c:<5}  weight {:>4}  targets: {}  capacity: {}\n",
            split.percent_text(c),
            match &health {
                Ok(h) => format!(
                    "{} healthy, {} unhealthy, {} other",
                    h.healthy, h.unhealthy, h.other
                ),
                Err(e) => fmt_err(e),
            },
            match &capacity {
                Some(Ok(s)) => format!("{} desired, {} in service", s.desired, s.in_service),
                Some(Err(e)) => fmt_err(e),
                None => "not managed".into(),
            }
        ));
        colors.insert(
            c.to_string(),
            json!({
                "weight": split.weight(c),
                "share_percent": f64::from(split.per_mille(c)) / 10.0,
                "alb_weight": split.alb_weight(c),
                "targets": health.as_ref().ok(),
                "capacity": capacity.and_then(|r| r.ok()),
            }),
        );
    }
    let alarms = match alarms {
        Ok(a) => a,
        Err(e) => {
            human.push_str(&format!("alarms: {}\n", fmt_err(e)));
            Vec::new()
        }
    };
    for a in &alarms {
        let state = match a.state {
            bluegreen_core::AlarmState::Ok => "OK",
            bluegreen_core::AlarmState::Alarm => "ALARM",
            bluegreen_core::AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        };
        human.push_str(&format!("alarm {}: {state}\n", a.name));
    }
    let deployment = match &st.deployment {
        Some(InProgress {
            id,
            record: InProgressRecord::Replayed(r),
        }) => {
            human.push_str(&in_progress(id, r, st.at));
            let watching = st.deployment.as_ref().and_then(InProgress::watching);
            json!({"id": id, "step": r.next_step().map(|i| r.plan.schedule.position(i)), "stable": r.stable, "outcome": r.outcome,
                   "rolling_back": r.rollback.is_some(), "waiting_for_approval": r.waiting_for_approval(), "approval_deadline": r.waiting_for_approval().and(r.approval_deadline),
                   "watching": watching.map(|w| json!({"until": w.until, "armed_until": w.armed_until, "kept": w.kept, "restores_to": w.restores_to})),
                   "last_gates": last_gates(w, id).await})
        }
        Some(InProgress {
            id,
            record: InProgressRecord::Starting,
        }) => {
            human.push_str(&format!("deployment {id}: starting\n"));
            json!({"id": id, "step": null})
        }
        // Entries that do not read (or replay): damaged, as `history` lists it.
        Some(InProgress {
            id,
            record: InProgressRecord::Damaged(why),
        }) => {
            human.push_str(&format!(
                "deployment {id}: its record is DAMAGED ({why}) — if traffic is split, `bluegreen rollback` \
                 decides from the world; then move the record aside (it blocks new deployments)\n"
            ));
            json!({"id": id, "step": null, "damaged": why})
        }
        None => {
            human.push_str("no deployment in progress\n");
            Value::Null
        }
    };
    let (last, ended_at) = if deployment.is_null() {
        last_deployment(w, &mut human).await?
    } else {
        (Value::Null, None)
    };
    // The mark a running deployment leaves on the listener: one that is not the deployment recorded here
    // runs from another directory or machine.
    let now = p.clock.now();
    let mark = match mark {
        Ok(mark) => mark,
        Err(e) => {
            human.push_str(&format!(
                "listener mark: {}
",
                fmt_err(e)
            ));
            None
        }
    };
    let here = deployment["id"].as_str();
    let elsewhere = mark
        .as_ref()
        .filter(|m| m.is_live(now) && here != Some(m.deployment.as_str()));
    match &mark {
        Some(m) if elsewhere.is_some() => human.push_str(&format!(
            "the listener is marked by {m}: it runs from another directory or machine whose state this one \
             does not share (a deployment here is refused until it ends; docs/teams.md)\n"
        )),
        Some(m) if !m.is_live(now) => human.push_str(&format!(
            "the listener carries the mark of deployment {}, lapsed at {} (its run stopped without removing \
             it; it refuses nothing)\n",
            m.deployment, m.expires
        )),
        _ => {}
    }
    let mark_json = mark.as_ref().map(|m| {
        json!({"deployment": m.deployment, "host": m.host, "expires": m.expires, "live": m.is_live(now)})
    });
    // A split off rest that no record here left there: someone is moving it from elsewhere, or moved it by
    // hand. (A manual shift ends off rest, recorded.)
    let unrecorded = deployment.is_null()
        && (routing.uniform().is_none() || split.sole_color().is_none())
        && routing.uniform() != ended_at;
    if unrecorded && elsewhere.is_none() {
        human.push_str(&format!(
            "the listener is not at rest ({}) and no deployment is recorded in {}: one may be running from \
             another directory or machine — give every machine one shared state (docs/teams.md); to bring it \
             to rest: bluegreen rollback, or bluegreen shift\n",
            routing,
            store_location(w)
        ));
    }
    let lock = match w.store().read_lease(&w.application()).await {
        Ok(Some(lease)) => {
            let state = bluegreen_store::liveness(&lease, w.providers().clock.now());
            human.push_str(&format!(
                "lock: {} — {}\n",
                lease,
                match state {
                    bluegreen_store::Liveness::Live => "alive",
                    bluegreen_store::Liveness::Dead =>
                        "its process is gone: `bluegreen resume` takes the lock over and finishes the deployment (`resume --rollback` rolls it back)",
                    bluegreen_store::Liveness::Lapsed =>
                        "lease lapsed: `bluegreen resume` takes the lock over and finishes the deployment (`resume --rollback` rolls it back)",
                }
            ));
            json!({"holder": lease.owner, "since": lease.since, "expires": lease.expires, "fence": lease.fence, "state": state})
        }
        Ok(None) => Value::Null,
        Err(e) => {
            human.push_str(&format!("lock: {}\n", e));
            json!({"state": "unreadable", "detail": e.to_string()})
        }
    };
    let data = json!({"application": w.application(), "split": split, "routes": routing, "routes_agree": routing.uniform().is_some(), "colors": colors, "alarms": alarms, "deployment": deployment, "last_deployment": last, "unrecorded_split": unrecorded, "mark": mark_json, "lock": lock});
    Ok((human.trim_end().to_string(), data))
}

/// The newest finished deployment, in a line for people (outcome, when, why, the report command) and as JSON,
/// with the split its record last verified.
async fn last_deployment(
    w: &Wired,
    human: &mut String,
) -> Result<(Value, Option<bluegreen_core::TrafficSplit>), Failure> {
    let ids = w
        .store()
        .list(&w.application())
        .await
        .map_err(|e| Failure::provider(format!("the state store cannot be read ({e})")))?;
    let Some(id) = ids.last() else {
        return Ok((Value::Null, None));
    };
    let Ok(r) = replay(w, id).await else {
        human.push_str(&format!(
            "last deployment {id}: its record cannot be read (bluegreen history)\n"
        ));
        return Ok((json!({"id": id, "damaged": true}), None));
    };
    let Some(outcome) = &r.outcome else {
        return Ok((Value::Null, r.last_verified));
    };
    human.push_str(&format!(
        "last deployment {id} ended {}: {}\n  details: bluegreen report {id}\n",
        r.last_at,
        outcome.describe(&r.plan.schedule)
    ));
    let data = json!({"id": id, "result": outcome.kind(), "shift": r.plan.schedule.is_shift(), "at": r.last_at, "outcome": outcome});
    Ok((data, r.last_verified))
}

/// Where this command's records live, for a person: the state directory or the shared table.
fn store_location(w: &Wired) -> String {
    match w.settings().shared_state() {
        Ok(Some((table, prefix))) => format!("the shared table {table} (prefix {prefix:?})"),
        _ => w.settings().state_dir().display().to_string(),
    }
}

fn in_progress(id: &DeploymentId, r: &Replay, now: bluegreen_core::Timestamp) -> String {
    let steps = r.plan.schedule.steps();
    let next = match (r.next_step(), &r.rollback) {
        (_, Some((reason, _))) => format!("rolling back: {reason}"),
        (Some(i), None) => format!("{}: {}", r.plan.schedule.position(i), steps[i]),
        (None, None) => "cleanup".into(),
    };
    let waiting = match r.waiting_for_approval() {
        None => String::new(),
        Some(i) if watching(r).is_some() => {
            let (until, armed_until) = watching(r).unwrap_or_default();
            let _ = i;
            let armed = if armed_until > now {
                format!("rollback to {} armed until {armed_until}", r.stable)
            } else {
                format!(
                    "rollback to {} no longer armed (since {armed_until}): a breach is told, not acted on",
                    r.stable
                )
            };
            let kept = match r.kept {
                Some((_, previous)) => format!(
                    "{} kept at its group's minimum, raised back to {previous} on a rollback",
                    r.stable
                ),
                None => format!("{} kept at its capacity", r.stable),
            };
            format!(
                " — watching until {until}; {armed} ({kept}); `bluegreen watch --once` drives it, `bluegreen promote` ends it, `bluegreen abort` rolls back"
            )
        }
        Some(i) if r.paused == Some(i) => format!(
            " — paused by the sequential judge (a marginal score) until {} (then rolls back): `bluegreen promote` goes on, `bluegreen abort` rolls back",
            r.approval_deadline
                .map_or("its pause timeout".to_string(), |d| d.to_string())
        ),
        Some(i) => {
            let until = match (r.approval_deadline, steps.get(i)) {
                (Some(deadline), Some(bluegreen_core::Step::Approval { on_timeout, .. })) => {
                    format!(
                        " until {deadline} (then {})",
                        match on_timeout {
                            bluegreen_core::TimeoutAction::Rollback => "rolls back",
                            bluegreen_core::TimeoutAction::Promote => "promotes",
                        }
                    )
                }
                _ => String::new(),
            };
            format!(
                " — waiting for approval{until}: `bluegreen promote` to approve, `bluegreen abort` to roll back"
            )
        }
    };
    format!(
        "deployment {id}{}: {} → {}; {next}{waiting}\n",
        r.started_by
            .as_ref()
            .map(|b| format!(" (started by {b})"))
            .unwrap_or_default(),
        r.stable,
        r.target(),
    )
}

/// A watch in progress: when it ends and until when its rollback is armed.
fn watching(r: &Replay) -> Option<(bluegreen_core::Timestamp, bluegreen_core::Timestamp)> {
    let w = InProgress {
        id: r.deployment.clone(),
        record: InProgressRecord::Replayed(Box::new(r.clone())),
    }
    .watching()?;
    Some((w.until, w.armed_until))
}

async fn last_gates(w: &Wired, id: &DeploymentId) -> Vec<GateReport> {
    let Ok(record) = w.store().load(id).await else {
        return Vec::new();
    };
    record
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            Event::Polled { reports, .. } => Some(reports.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// `status`.
pub async fn status(ctx: &Context, a: StatusArgs) -> Result<Ended, Failure> {
    if a.wait {
        return wait_for_end(ctx, a.timeout).await;
    }
    let mut w = ctx.wire(false, None).await?;
    let renderer = Renderer::new(ctx.output(), bluegreen_core::Timestamp::default());
    loop {
        let (human, data) = match (snapshot(&w).await, w.take_cache()) {
            (Ok(v), _) => v,
            // Cached names that no longer match the world: forget them, resolve afresh, ask again.
            (Err(_), Some(cache)) => {
                cache.invalidate();
                w = ctx.wire(false, None).await?;
                snapshot(&w).await?
            }
            (Err(e), None) => return Err(e),
        };
        if a.watch
            && ctx.output() == crate::Output::Human
            && std::io::IsTerminal::is_terminal(&std::io::stdout())
        {
            use std::io::Write as _;
            let _ = write!(std::io::stdout(), "\x1b[2J\x1b[H");
        }
        renderer.result("status", &human, data);
        if !a.watch {
            return Ok(Ended::Done);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(Ended::Done),
        }
    }
}

/// `status --wait`: polls the store (every 2 s of real time) until the deployment in progress has ended;
/// its outcome decides the exit code. Reads only.
async fn wait_for_end(ctx: &Context, timeout: Option<Duration>) -> Result<Ended, Failure> {
    let w = ctx.wire(false, None).await?;
    let renderer = Renderer::new(ctx.output(), bluegreen_core::Timestamp::default());
    let started = std::time::Instant::now();
    let id = match current_deployment(&w).await? {
        Some(id) => {
            renderer.progress(&format!("waiting for deployment {id} to end"));
            id
        }
        None => {
            let ids = w
                .store()
                .list(&w.application())
                .await
                .map_err(crate::context::provider_failure)?;
            match ids.last() {
                Some(id) => id.clone(),
                None => {
                    renderer.result(
                        "status",
                        "no deployment yet",
                        json!({"application": w.application(), "deployment": null}),
                    );
                    return Ok(Ended::Done);
                }
            }
        }
    };
    loop {
        let r = replay(&w, &id).await?;
        if let Some(outcome) = r.outcome {
            let text = outcome.describe(&r.plan.schedule);
            renderer.result(
                "status",
                &format!("deployment {id} ended {}: {text}", r.last_at),
                json!({"application": w.application(), "id": id, "at": r.last_at, "outcome": outcome}),
            );
            return Ok(Ended::Deployment(outcome));
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            return Err(Failure::provider(format!(
                "deployment {id} is still in progress after {}: stopped waiting (the deployment goes on)",
                humantime::format_duration(timeout.unwrap_or_default())
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(Ended::Done),
        }
    }
}

/// `history`.
pub async fn history(ctx: &Context) -> Result<Ended, Failure> {
    let store = ctx.store().await?;
    let application = ctx.naming()?.application_key();
    // The listing is the library's (a store that cannot be read is an error, not a shorter history).
    let recorded = bluegreen::history(&store, &application)
        .await
        .map_err(crate::context::provider_failure)?;
    let renderer = Renderer::new(ctx.output(), bluegreen_core::Timestamp::default());
    let mut rows = Vec::new();
    let mut human = String::new();
    for (id, recorded) in recorded {
        let damaged = |why: String| {
            format!(
                "{id}  DAMAGED: {why} — if traffic is split, `bluegreen rollback` decides from the world; then move the record aside (it blocks new deployments)\n"
            )
        };
        let r = match recorded {
            bluegreen::Recorded::Replayed(r) => r,
            bluegreen::Recorded::Unparsable { message } => {
                human.push_str(&damaged(message.clone()));
                rows.push(json!({"id": id, "damaged": message}));
                continue;
            }
            bluegreen::Recorded::Damaged(e) => {
                human.push_str(&damaged(e.to_string()));
                rows.push(json!({"id": id, "damaged": e.to_string()}));
                continue;
            }
            other => {
                let why = format!("{other:?}");
                human.push_str(&damaged(why.clone()));
                rows.push(json!({"id": id, "damaged": why}));
                continue;
            }
        };
        // How it ended, and for any end but a promotion, why and who stopped it.
        let outcome = match &r.outcome {
            None => "in progress".to_string(),
            Some(bluegreen_core::Outcome::Promoted { .. }) if r.plan.schedule.is_shift() => {
                "shifted".into()
            }
            Some(o @ bluegreen_core::Outcome::Promoted { .. }) => o.kind().to_string(),
            Some(o) => format!("{}: {}", o.kind(), o.describe(&r.plan.schedule)),
        };
        human.push_str(&format!(
            "{id}  {}  {} → {}  {}  {outcome}{}\n",
            r.started_at,
            r.stable,
            r.target(),
            r.plan.schedule,
            r.started_by
                .as_ref()
                .map(|b| format!("  (started by {b})"))
                .unwrap_or_default()
        ));
        rows.push(json!({"id": id, "started_at": r.started_at, "started_by": r.started_by, "stable": r.stable, "schedule": r.plan.schedule, "outcome": r.outcome}));
    }
    if rows.is_empty() && human.is_empty() {
        human = format!("no deployments of {application} yet");
    }
    renderer.result("history", human.trim_end(), json!(rows));
    Ok(Ended::Done)
}

/// Deployment `id`'s record and its replay, from the state; a record that does not replay is bad input.
pub(crate) async fn recorded(
    ctx: &Context,
    id: String,
) -> Result<(DeploymentId, Vec<bluegreen_core::RecordEntry>, Replay), Failure> {
    let store = ctx.store().await?;
    let id = DeploymentId::new(id).map_err(Failure::bad_input)?;
    let record = store
        .load(&id)
        .await
        .map_err(crate::context::provider_failure)?;
    let r = Replay::new(&record)
        .map_err(|e| Failure::bad_input(format!("the record of {id} cannot be read: {e}")))?;
    Ok((id, record, r))
}

/// `report ID`.
pub async fn report(ctx: &Context, a: ReportArgs) -> Result<Ended, Failure> {
    let (id, record, r) = recorded(ctx, a.id).await?;
    let format = a.format.unwrap_or(if ctx.output() == crate::Output::Json {
        ReportFormat::Json
    } else {
        ReportFormat::Text
    });
    match format {
        ReportFormat::Html => {
            let path = a.out.unwrap_or_else(|| format!("report-{id}.html").into());
            let html = crate::html::report(id.as_str(), &r, &record);
            std::fs::write(&path, html)
                .map_err(|e| Failure::local_io(format!("cannot write {}: {e}", path.display())))?;
            Renderer::new(ctx.output(), bluegreen_core::Timestamp::default()).result(
                "report",
                &format!("wrote {}", path.display()),
                json!({"path": path}),
            );
        }
        ReportFormat::Json => {
            crate::render::json_line(
                "report",
                json!({"id": id, "outcome": r.outcome, "record": record}),
            );
        }
        ReportFormat::Text => {
            crate::render::out(&format!(
                "deployment {id} of {}: {} → {}, {}",
                r.plan.application,
                r.stable,
                r.target(),
                r.plan.schedule
            ));
            for e in &record {
                let at = e.at.since(r.started_at);
                let line = crate::render::describe(&e.event, r.started_at, Some(&r.plan.schedule));
                crate::render::out(&format!(
                    "{:>8}  {line}",
                    humantime::format_duration(Duration::from_secs(at.as_secs())).to_string()
                ));
            }
        }
    }
    Ok(Ended::Done)
}
