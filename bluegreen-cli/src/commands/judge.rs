//! `judge ID [--gates FILE]`: a recorded deployment's minutes judged again under other gates (issue 23 item
//! 4). The judgement is the core's (`bluegreen_core::gate::rejudge`); here, the words.

use crate::render::Renderer;
use crate::{Context, Ended, Failure};
use bluegreen_core::gate::{differences, rejudge};
use serde_json::json;
use std::path::PathBuf;

/// `judge`.
#[derive(clap::Args, Debug)]
pub struct JudgeArgs {
    /// The deployment.
    pub id: String,
    /// A settings file whose `[gates]` judge instead of the deployment's own (e.g. a tuned
    /// bluegreen.toml); without it, the record's own gates, which reproduce its verdicts.
    #[arg(long)]
    pub gates: Option<PathBuf>,
}

/// `judge`.
pub async fn judge(ctx: &Context, a: JudgeArgs) -> Result<Ended, Failure> {
    let (id, record, replay) = super::inspect::recorded(ctx, a.id).await?;
    let (gates, whose) = match &a.gates {
        Some(path) => {
            let s = bluegreen::Settings::load(path).map_err(Failure::bad_input)?;
            let policy = s
                .gates
                .policy(s.fetches_p99())
                .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
            (policy, format!("the [gates] of {}", path.display()))
        }
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
