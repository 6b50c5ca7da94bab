//! `judge ID [--gates FILE]`: a recorded deployment's minutes judged again under other gates; `judge --from T
//! --to T --new COLOR`: CloudWatch's history of both colors judged (issue 23 item 4). The judgement is the
//! core's (`bluegreen_core::gate::rejudge`, `judge_history`); here, the words.

use crate::render::Renderer;
use crate::{Context, Ended, Failure};
use bluegreen_core::gate::{differences, judge_history, rejudge};
use bluegreen_core::{Color, Timestamp, Window};
use serde_json::json;
use std::path::PathBuf;

/// `judge`.
#[derive(clap::Args, Debug)]
pub struct JudgeArgs {
    /// The deployment (or --from, --to and --new for CloudWatch's history).
    #[arg(required_unless_present = "from", conflicts_with_all = ["from", "to", "new"])]
    pub id: Option<String>,
    /// CloudWatch's history from this time (RFC 3339, UTC: 2026-12-01T10:00:00Z), with --to and --new: both
    /// colors' minutes judged as one bake of a split (at most 24 hours, within CloudWatch's 15 days of
    /// one-minute data).
    #[arg(long, requires_all = ["to", "new"], value_parser = instant)]
    pub from: Option<Timestamp>,
    /// The end of the history to judge.
    #[arg(long, requires = "from", value_parser = instant)]
    pub to: Option<Timestamp>,
    /// The color that was new (judged against the other).
    #[arg(long, requires = "from")]
    pub new: Option<Color>,
    /// A settings file whose `[gates]` judge instead of the deployment's own (e.g. a tuned
    /// bluegreen.toml); without it, the record's own gates, which reproduce its verdicts.
    #[arg(long)]
    pub gates: Option<PathBuf>,
}

/// A time as typed: RFC 3339 (`2026-12-01T10:00:00Z`).
fn instant(text: &str) -> Result<Timestamp, String> {
    let t = humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("{text:?}: {e} (expected e.g. 2026-12-01T10:00:00Z)"))?;
    let millis = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("{text:?}: before 1970"))?
        .as_millis();
    Ok(Timestamp::from_millis(millis as u64))
}

/// The longest history judged at once.
const HISTORY_MAX: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// How far back CloudWatch keeps one-minute data.
const HISTORY_KEPT: std::time::Duration = std::time::Duration::from_secs(15 * 24 * 3600);

/// The `[gates]` of `path`, read as a tuned settings file.
fn gates_of(path: &std::path::Path) -> Result<bluegreen_core::GatePolicy, Failure> {
    let s = bluegreen::Settings::load(path).map_err(Failure::bad_input)?;
    s.gates
        .policy(s.fetches_p99())
        .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))
}

/// `judge`.
pub async fn judge(ctx: &Context, a: JudgeArgs) -> Result<Ended, Failure> {
    let Some(id) = a.id else {
        return history(ctx, a).await;
    };
    let (id, record, replay) = super::inspect::recorded(ctx, id).await?;
    let (gates, whose) = match &a.gates {
        Some(path) => (
            gates_of(path)?,
            format!("the [gates] of {}", path.display()),
        ),
        None => (replay.plan.gates.clone(), "its own gates".to_string()),
    };
    let again = rejudge(&gates, &record)
        .map_err(|e| Failure::bad_input(format!("the record of {id} cannot be read: {e}")))?;
    let changed = differences(&again.minutes);
    let mut text = format!(
        "deployment {id} ({}), judged again under {whose}: {} minutes, {} verdicts different\n",
        replay
            .outcome
            .as_ref()
            .map_or("in progress".to_string(), |o| o
                .describe(&replay.plan.schedule)),
        again.minutes.len(),
        changed.len()
    );
    for (minute, gate, then, now) in changed.iter().take(20) {
        text.push_str(&format!(
            "  minute {minute} {gate}: {then} then, {now} now\n"
        ));
    }
    if changed.len() > 20 {
        text.push_str(&format!("  ... and {} more\n", changed.len() - 20));
    }
    if again.without_metrics > 0 {
        text.push_str(&format!(
            "  {} minutes of the record carry no metrics (recorded before records kept them): not judged\n",
            again.without_metrics
        ));
    }
    text.push_str(&match &again.rollback {
        Some((step, minute, limit, report)) => format!(
            "would have rolled back at {} on minute {minute}: {report}: {limit}",
            replay.plan.schedule.position(*step)
        ),
        None => "would have rolled back nowhere: every minute judged passed its limits".into(),
    });
    Renderer::new(ctx.output(), bluegreen_core::Timestamp::default()).result(
        "judge",
        &text,
        json!({"id": id, "gates": whose, "judgement": again}),
    );
    Ok(Ended::Done)
}

/// `judge --from --to --new`: CloudWatch's minutes of both colors over the range, judged as one bake.
async fn history(ctx: &Context, a: JudgeArgs) -> Result<Ended, Failure> {
    let (Some(from), Some(to), Some(new)) = (a.from, a.to, a.new) else {
        return Err(Failure::bad_input(
            "judge needs a deployment id, or --from, --to and --new",
        ));
    };
    // Checked before anything is asked of AWS.
    let w = ctx.wire(false, None).await?;
    let now = w.providers().clock.now();
    if to <= from {
        return Err(Failure::bad_input(format!(
            "--to {to} is not after --from {from}"
        )));
    }
    if to.since(from) > HISTORY_MAX {
        return Err(Failure::bad_input(format!(
            "--from {from} --to {to}: {} is more than the 24 hours judged at once",
            humantime::format_duration(to.since(from))
        )));
    }
    if to > now + bluegreen_core::MINUTE {
        return Err(Failure::bad_input(format!("--to {to} is in the future")));
    }
    if now.since(from) > HISTORY_KEPT {
        return Err(Failure::bad_input(format!(
            "--from {from} is older than the 15 days CloudWatch keeps one-minute data"
        )));
    }
    let (gates, whose) = match &a.gates {
        Some(path) => (
            gates_of(path)?,
            format!("the [gates] of {}", path.display()),
        ),
        None => (
            ctx.settings
                .gates
                .policy(ctx.settings.fetches_p99())
                .map_err(Failure::bad_input)?,
            "the settings' gates".to_string(),
        ),
    };
    let window = Window { from, to };
    let series = w
        .providers()
        .health
        .metrics(window)
        .await
        .map_err(crate::context::provider_failure)?;
    let judged = judge_history(&gates, new, window, &series);
    let judge_line = judged
        .minutes
        .iter()
        .rev()
        .flat_map(|m| &m.reports)
        .find(|r| r.gate == bluegreen_core::gate::SCORE_GATE)
        .map_or(
            if gates.sequential.is_some() {
                "the sequential judge: no metric had data"
            } else {
                "the sequential judge: off (sequential = false)"
            }
            .to_string(),
            |r| format!("the sequential judge: {}", r.detail),
        );
    let text = format!(
        "history of {} from {from} to {to}, {new} as the new color, judged under {whose}: {} minutes\n{judge_line}\n{}",
        ctx.settings
            .naming()
            .map(|n| n.application_key())
            .unwrap_or_default(),
        judged.minutes.len(),
        match &judged.rollback {
            Some((_, minute, limit, report)) => {
                format!("would have rolled back on minute {minute}: {report}: {limit}")
            }
            None => "would have rolled back nowhere".into(),
        }
    );
    Renderer::new(ctx.output(), Timestamp::default()).result(
        "judge",
        &text,
        json!({"from": from, "to": to, "new": new, "gates": whose, "judgement": judged}),
    );
    Ok(Ended::Done)
}
