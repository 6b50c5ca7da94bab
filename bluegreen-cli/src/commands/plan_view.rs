//! What `plan` and `deploy --dry-run` show: the steps, the changes each would make, and the gates in the
//! configuration's own words. Rendering only: the plan and its changes are the core's.

use crate::context::{Context, Wired, provider_failure};
use crate::render::Renderer;
use crate::{Ended, Failure};
use bluegreen_core::Plan;
use bluegreen_core::gate::TYPICAL_PUBLICATION_DELAY;
use std::time::Duration;

/// Shows `plan` (`dry_run`: as `deploy --dry-run`, which says nothing was changed).
pub(crate) async fn show_plan(
    ctx: &Context,
    w: &Wired,
    plan: &Plan,
    dry_run: bool,
) -> Result<Ended, Failure> {
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
    if let Some(s) = &plan.gates.sequential {
        human.push_str(&format!("  {}\n", describe_judge(s)));
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
    if let Some(line) = bake_lengths(plan) {
        human.push_str(&format!("\n{line}"));
    }
    let warnings = plan.timing_warnings(TYPICAL_PUBLICATION_DELAY);
    if let Some(first) = warnings.first() {
        // Steps as a person counts them everywhere else (`step 2/5`: the weight step a bake belongs to),
        // not the schedule's entries.
        let step = |w: &bluegreen_core::BakeWarning| plan.schedule.position(w.index).to_string();
        let rest = |w: &bluegreen_core::BakeWarning| {
            let text = w.to_string();
            text.split_once(": ")
                .map_or(text.clone(), |(_, r)| r.to_string())
        };
        let same = warnings
            .iter()
            .all(|w| (w.bake, w.likely, w.at_most) == (first.bake, first.likely, first.at_most));
        let bakes = plan
            .schedule
            .steps()
            .iter()
            .filter(|s| matches!(s, bluegreen_core::Step::Bake { .. }))
            .count();
        if same && warnings.len() > 1 {
            let which = if warnings.len() == bakes {
                "every bake".to_string()
            } else {
                let steps: Vec<String> = warnings.iter().map(step).collect();
                format!("the bakes of {}", steps.join(", "))
            };
            human.push_str(&format!("\nwarning: {which}: {}", rest(first)));
        } else {
            for warning in &warnings {
                human.push_str(&format!(
                    "\nwarning: the bake of {}: {}",
                    step(warning),
                    rest(warning)
                ));
            }
        }
    }
    renderer.result(
        "plan",
        &human,
        serde_json::json!({"dry_run": dry_run, "split": split, "routes": routing, "stable": stable, "new": new, "plan": plan, "changes": planned.changes, "warnings": warnings, "bakes": bake_expectations(plan)}),
    );
    Ok(Ended::Done)
}

/// The sequential judge in the configuration's own words.
fn describe_judge(s: &bluegreen_core::gate::SequentialPolicy) -> String {
    use bluegreen_core::gate::JudgeMode;
    let latency = match &s.latency {
        Some(l) => format!(
            "latency allowed_latency_increase {}{}",
            l.allowed_increase,
            if l.critical { " (critical)" } else { "" }
        ),
        None => "latency not compared (compare_latency = false)".into(),
    };
    let mode = match s.mode {
        JudgeMode::Enforce => {
            "enforce: a conclusive regression of 5xx, or a score under pass_score, rolls back"
                .to_string()
        }
        JudgeMode::Pause => format!(
            "pause: a 5xx regression, or a score under marginal_score, rolls back; a score under pass_score stops and waits for promote or abort up to {}",
            humantime::format_duration(s.pause_timeout)
        ),
        JudgeMode::Observe => "observe: judged and recorded, never acted on".into(),
    };
    format!(
        "sequential judge (the new color against stable, every minute): 5xx allowed_increase {} (critical), {latency}; alpha {} per deployment; pass_score {}, marginal_score {}; judge_mode {mode}; conclusive evidence of no regression ends a bake early",
        s.allowed_increase, s.alpha, s.pass_score, s.marginal_score
    )
}

/// Every bake's expected lengths at CloudWatch's typical publication delay.
fn bake_expectations(plan: &Plan) -> Vec<bluegreen_core::BakeWarning> {
    (0..plan.schedule.steps().len())
        .filter_map(|i| plan.bake_expectation(i, TYPICAL_PUBLICATION_DELAY))
        .collect()
}

/// The bakes' lengths at CloudWatch's typical publication delay: planned, likely, at most, and with the
/// judge the earliest; one line when every bake has the same.
fn bake_lengths(plan: &Plan) -> Option<String> {
    let d = |d: Duration| humantime::format_duration(d).to_string();
    let all = bake_expectations(plan);
    let line = |e: &bluegreen_core::BakeWarning| {
        format!(
            "planned {}, likely {}, at most {}{}",
            d(e.bake),
            d(e.likely),
            d(e.at_most),
            e.early
                .map(|t| format!(
                    "; the judge may end it from {} once its evidence is conclusive",
                    d(t)
                ))
                .unwrap_or_default()
        )
    };
    let first = all.first()?;
    if all.iter().all(|e| {
        (e.bake, e.likely, e.at_most, e.early)
            == (first.bake, first.likely, first.at_most, first.early)
    }) {
        return Some(format!("bake lengths (each): {}", line(first)));
    }
    let each: Vec<String> = all
        .iter()
        .map(|e| format!("{}: {}", plan.schedule.position(e.index), line(e)))
        .collect();
    Some(format!("bake lengths: {}", each.join("; ")))
}

/// A bake gate in the configuration's own words (the keys of `[gates]`), for `plan`.
fn describe_gate(g: &bluegreen_core::gate::BakeGate) -> String {
    use bluegreen_core::gate::{GateMode, NoDataPolicy};
    // Each check says itself which keys set it.
    let what = g.check.describe();
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
