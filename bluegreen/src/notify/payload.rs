//! Each channel's payload for one event: Slack's Block Kit, a Teams Adaptive Card, or the event as JSON.

use super::{ChannelKind, Context, EventClass};
use bluegreen_core::{Event, Outcome, RecordEntry, Timestamp};
use serde_json::{Value, json};

/// The payload `kind` posts for `entry`.
pub fn payload(kind: ChannelKind, context: &Context, entry: &RecordEntry) -> Value {
    match kind {
        ChannelKind::Webhook => json!({"type": "event", "data": entry}),
        ChannelKind::Slack => slack(context, entry),
        ChannelKind::Teams => teams(context, entry),
        ChannelKind::Sns => sns(context, entry),
    }
}

/// The payload `kind` posts for a release refused before it changed anything ([`EventClass::Refused`]).
pub fn refused(kind: ChannelKind, context: &Context, at: Timestamp, reason: &str) -> Value {
    let title = format!("{}: release refused", context.application);
    let detail = format!("nothing was changed; why: {reason}");
    let facts = facts_of(context, EventClass::Refused.name(), at);
    match kind {
        ChannelKind::Webhook => json!({
            "type": "refused",
            "data": {"application": context.application, "deployment": context.deployment, "at": at, "reason": reason},
        }),
        ChannelKind::Slack => slack_of(context, &title, &detail, facts),
        ChannelKind::Teams => teams_of(&title, &detail, facts),
        ChannelKind::Sns => sns_of(&title, &detail, facts, EventClass::Refused.name()),
    }
}

/// What [`super::SnsTransport`] publishes: a subject, a plain-text message, the event's class.
fn sns(context: &Context, entry: &RecordEntry) -> Value {
    let (title, detail) = words(context, &entry.event);
    let class = EventClass::of(&entry.event).map_or(entry.event.kind(), |c| c.name());
    sns_of(&title, &detail, facts(context, entry), class)
}

fn sns_of(title: &str, detail: &str, facts: Vec<(&'static str, String)>, class: &str) -> Value {
    let mut message = title.to_string();
    if !detail.is_empty() {
        message.push_str(&format!("\n{detail}"));
    }
    message.push('\n');
    for (k, v) in facts {
        message.push_str(&format!("\n{k}: {v}"));
    }
    json!({
        "subject": clip(title, 100),
        "message": message,
        "class": class,
    })
}

/// The title and the line under it, in words.
fn words(context: &Context, event: &Event) -> (String, String) {
    let app = &context.application;
    match event {
        Event::Started { stable, plan, .. } => (
            format!("{app}: deployment started"),
            format!(
                "{} takes traffic from {stable}: {}",
                stable.other(),
                plan.schedule
            ),
        ),
        Event::Resumed { action, step } => (
            format!("{app}: deployment resumed"),
            format!("{action:?} from step {}", step + 1).to_lowercase(),
        ),
        Event::StepCompleted { index } => (
            format!("{app}: step {} passed", index + 1),
            "its gates passed".into(),
        ),
        Event::ApprovalRequested { deadline, .. } => (
            format!("{app}: waiting for approval"),
            match deadline {
                Some(at) => format!(
                    "`bluegreen promote` to go on, `bluegreen abort` to roll back; times out at {at}"
                ),
                None => "`bluegreen promote` to go on, `bluegreen abort` to roll back".into(),
            },
        ),
        Event::Finished { outcome } => match outcome {
            Outcome::Promoted { split, .. } => (
                format!("{app}: promoted"),
                format!("the new color holds all traffic ({split})"),
            ),
            Outcome::RolledBack { reason, .. } => {
                (format!("{app}: rolled back"), format!("why: {reason}"))
            }
            other => (format!("{app}: stopped"), other.to_string()),
        },
        Event::Polled { reports, .. } => {
            let failed: Vec<String> = reports
                .iter()
                .filter(|r| r.verdict == bluegreen_core::gate::Verdict::Fail)
                .map(|r| r.to_string())
                .collect();
            (
                format!("{app}: a gate failed, nothing was rolled back"),
                format!(
                    "{} (past the watch's armed window, or a gate in observe mode: `bluegreen abort` rolls back)",
                    failed.join("; ")
                ),
            )
        }
        other => (format!("{app}: {}", other.kind()), String::new()),
    }
}

fn facts(context: &Context, entry: &RecordEntry) -> Vec<(&'static str, String)> {
    facts_of(
        context,
        EventClass::of(&entry.event).map_or(entry.event.kind(), |c| c.name()),
        entry.at,
    )
}

fn facts_of(context: &Context, class: &str, at: Timestamp) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        ("Application", context.application.clone()),
        ("Deployment", context.deployment.to_string()),
        ("Event", class.to_string()),
        ("At", at.to_string()),
    ];
    if let Some(url) = &context.report_url {
        facts.push(("Report", url.clone()));
    }
    facts
}

/// Block Kit, as an incoming webhook takes it: `text` is the notification's fallback; a header, a section
/// with the details and fields, a context line. Within Slack's limits (header 150 characters, section text
/// 3,000, at most 10 fields of 2,000).
fn slack(context: &Context, entry: &RecordEntry) -> Value {
    let (title, detail) = words(context, &entry.event);
    slack_of(context, &title, &detail, facts(context, entry))
}

fn slack_of(
    context: &Context,
    title: &str,
    detail: &str,
    facts: Vec<(&'static str, String)>,
) -> Value {
    let fields: Vec<Value> = facts
        .into_iter()
        .map(|(k, v)| json!({"type": "mrkdwn", "text": clip(&format!("*{k}*\n{v}"), 2000)}))
        .collect();
    let mut section = json!({"type": "section", "fields": fields});
    if !detail.is_empty() {
        section["text"] = json!({"type": "mrkdwn", "text": clip(detail, 3000)});
    }
    json!({
        "text": clip(&format!("{title}. {detail}"), 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": clip(title, 150)}},
            section,
            {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(&format!("bluegreen · `bluegreen report --id {}`", context.deployment), 3000)}]},
        ],
    })
}

/// A message with one Adaptive Card (1.4), as a Teams workflow webhook takes it.
fn teams(context: &Context, entry: &RecordEntry) -> Value {
    let (title, detail) = words(context, &entry.event);
    teams_of(&title, &detail, facts(context, entry))
}

fn teams_of(title: &str, detail: &str, facts: Vec<(&'static str, String)>) -> Value {
    let facts: Vec<Value> = facts
        .into_iter()
        .map(|(k, v)| json!({"title": k, "value": v}))
        .collect();
    let mut body = vec![
        json!({"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true}),
    ];
    if !detail.is_empty() {
        body.push(json!({"type": "TextBlock", "text": detail, "wrap": true}));
    }
    body.push(json!({"type": "FactSet", "facts": facts}));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

/// `text` cut to at most `max` characters (an ellipsis marks the cut).
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}
