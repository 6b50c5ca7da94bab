//! Notifications (issue 24): what each channel is sent, and that no channel — slow, failing or hanging —
//! changes a deployment. On virtual time: a 15-minute deployment runs in milliseconds.

use async_trait::async_trait;
use bluegreen::notify::{
    self, Channel, ChannelKind, Delivery, EventClass, Notifier, PostError, Secret, Transport,
};
use bluegreen_core::{
    Clock, Color, DeploymentId, Event, Executor, Observer, Outcome, Plan, RecordEntry, Strategy,
    TrafficSplit,
};
use bluegreen_testkit::{EPOCH_2026, Harness, ManualClock, WorldConfig, run_virtual};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A transport that never answers.
struct Hangs;

#[async_trait]
impl Transport for Hangs {
    async fn post(&self, _url: &Secret, _body: &str) -> Result<(), PostError> {
        futures::future::pending().await
    }
}

/// A transport that fails its first `fail` posts, then keeps every body.
struct Flaky {
    fail: Mutex<u32>,
    bodies: Mutex<Vec<String>>,
}

#[async_trait]
impl Transport for Flaky {
    async fn post(&self, _url: &Secret, body: &str) -> Result<(), PostError> {
        let mut fail = self.fail.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return Err(PostError("HTTP 503 Service Unavailable".into()));
        }
        self.bodies.lock().unwrap().push(body.to_string());
        Ok(())
    }
}

struct Both(Vec<Arc<dyn Observer>>);

impl Observer for Both {
    fn on_event(&self, entry: &RecordEntry) {
        for o in &self.0 {
            o.on_event(entry);
        }
    }
}

fn context() -> notify::Context {
    notify::Context {
        application: "poc/poc-web".into(),
        deployment: DeploymentId::new("d1").unwrap(),
        report_url: None,
    }
}

fn channel(kind: ChannelKind, events: Option<Vec<EventClass>>) -> Channel {
    Channel {
        kind,
        url: Secret::plain("https://hooks.example.com/x"),
        events,
    }
}

fn warnings() -> (notify::Warn, Arc<Mutex<Vec<String>>>) {
    let said = Arc::new(Mutex::new(Vec::new()));
    let kept = said.clone();
    (Arc::new(move |m| kept.lock().unwrap().push(m)), said)
}

/// The default gradual deployment on a fresh world, without notifications: its verified splits with
/// their offsets, its outcome and its length.
fn deploy_alone() -> (Vec<(Duration, TrafficSplit)>, Outcome, Duration) {
    let h = Harness::new(WorldConfig::default());
    let plan = Plan::new("poc/poc-web", Strategy::gradual().compile().unwrap());
    let outcome = h.run("d1", plan).expect("the deployment ran");
    (h.verified_splits(), outcome, h.elapsed())
}

/// The check: a channel that never answers (every post times out, the queue fills, messages are
/// dropped) leaves the deployment exactly as it is without notifications: the same splits at the same
/// virtual times, the same outcome. The drops are counted and said once.
#[test]
fn a_channel_that_hangs_changes_no_deployment() {
    let alone = deploy_alone();
    assert!(matches!(alone.1, Outcome::Promoted { .. }), "{:?}", alone.1);

    // The notifier runs on the clock of the world the deployment runs on.
    let h = Harness::new(WorldConfig::default());
    let clock: Arc<dyn Clock> = Arc::new(h.world.clock().clone());
    let (warn, said) = warnings();
    let delivery = Delivery {
        queue: 2,
        ..Delivery::default()
    };
    let (notifier, sending) = Notifier::new(
        vec![(
            channel(ChannelKind::Slack, None),
            Arc::new(Hangs) as Arc<dyn Transport>,
        )],
        context(),
        clock,
        delivery,
        warn,
    );
    let notifier = Arc::new(notifier);
    let plan = Plan::new("poc/poc-web", Strategy::gradual().compile().unwrap());
    let exec = Executor::new(h.providers()).with_observer(Arc::new(Both(vec![
        Arc::new(h.events.clone()),
        notifier.clone(),
    ])));
    let run = Box::pin(exec.run(DeploymentId::new("d1").unwrap(), plan));
    let outcome = run_virtual(h.world.clock(), async move {
        match futures::future::select(run, sending).await {
            futures::future::Either::Left((outcome, _)) => outcome,
            futures::future::Either::Right(_) => panic!("the sender ended while the channel hangs"),
        }
    })
    .expect("not stalled")
    .expect("the deployment ran");
    assert_eq!(outcome, alone.1);
    assert_eq!(h.verified_splits(), alone.0);
    assert_eq!(h.elapsed(), alone.2);
    let tally = notifier.tally();
    assert_eq!(tally[0].1.sent, 0);
    assert!(tally[0].1.dropped > 0, "{tally:?}");
    let said = said.lock().unwrap().clone();
    assert_eq!(
        said.iter().filter(|m| m.contains("dropped")).count(),
        1,
        "{said:?}"
    );
    assert!(
        said.iter().all(|m| !m.contains("hooks.example.com")),
        "{said:?}"
    );
}

/// A post that fails is retried with backoff on the deployment's clock and sent when the channel recovers;
/// one that fails every attempt is given up, counted and said once; the order of messages is kept.
#[test]
fn failed_posts_are_retried_then_given_up() {
    let clock = ManualClock::new(EPOCH_2026);
    let flaky = Arc::new(Flaky {
        fail: Mutex::new(2),
        bodies: Mutex::new(Vec::new()),
    });
    let (warn, said) = warnings();
    let (notifier, sending) = Notifier::new(
        vec![(
            channel(ChannelKind::Webhook, None),
            flaky.clone() as Arc<dyn Transport>,
        )],
        context(),
        Arc::new(clock.clone()),
        Delivery::default(),
        warn,
    );
    let entry = |seq, event| RecordEntry {
        seq,
        at: clock.now(),
        event,
    };
    notifier.on_event(&entry(0, Event::StepCompleted { index: 0 }));
    notifier.on_event(&entry(1, Event::StepCompleted { index: 1 }));
    notifier.close();
    let start = clock.now();
    run_virtual(&clock, sending).unwrap();
    // Two failures (1 s, then 2 s of backoff), then both sent, in order.
    assert_eq!(clock.now().since(start), Duration::from_secs(3));
    let indexes: Vec<u64> = flaky
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["data"]["event"]["index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(indexes, [0, 1]);
    assert_eq!(notifier.tally()[0].1.sent, 2);
    assert!(said.lock().unwrap().is_empty());

    // A channel down for good: each message tries 3 times, then is given up; one warning for all.
    let down = Arc::new(Flaky {
        fail: Mutex::new(u32::MAX),
        bodies: Mutex::new(Vec::new()),
    });
    let (warn, said) = warnings();
    let (notifier, sending) = Notifier::new(
        vec![(
            channel(ChannelKind::Teams, Some(vec![EventClass::StepPassed])),
            down as Arc<dyn Transport>,
        )],
        context(),
        Arc::new(clock.clone()),
        Delivery::default(),
        warn,
    );
    notifier.on_event(&entry(0, Event::StepCompleted { index: 0 }));
    notifier.on_event(&entry(1, Event::StepCompleted { index: 1 }));
    notifier.close();
    run_virtual(&clock, sending).unwrap();
    let t = notifier.tally()[0].1;
    assert_eq!((t.sent, t.failed, t.dropped), (0, 2, 0));
    let said = said.lock().unwrap().clone();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("teams notification failed after 3 attempts (HTTP 503"),
        "{said:?}"
    );
}

fn promoted() -> RecordEntry {
    RecordEntry {
        seq: 9,
        at: bluegreen_testkit::EPOCH_2026,
        event: Event::Finished {
            outcome: Outcome::Promoted {
                split: TrafficSplit::all_to(Color::Green),
                scaled_down: Some(Color::Blue),
            },
        },
    }
}

/// Slack's Block Kit, as its reference states it for incoming webhooks: a `text` fallback; a `header` of
/// `plain_text` (at most 150 characters); a `section` whose `text` is `mrkdwn` (at most 3,000) and whose
/// `fields` are at most 10 `mrkdwn` texts of at most 2,000; a `context` of at most 10 elements.
#[test]
fn slack_gets_block_kit_within_its_limits() {
    let mut long = context();
    long.application = "x".repeat(400);
    for ctx in [context(), long] {
        let p = notify::payload(ChannelKind::Slack, &ctx, &promoted());
        assert!(!p["text"].as_str().unwrap().is_empty());
        let blocks = p["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
        assert_eq!(blocks[1]["type"], "section");
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        assert!(blocks[1]["text"]["text"].as_str().unwrap().chars().count() <= 3000);
        let fields = blocks[1]["fields"].as_array().unwrap();
        assert!(!fields.is_empty() && fields.len() <= 10);
        for f in fields {
            assert_eq!(f["type"], "mrkdwn");
            assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
        }
        assert_eq!(blocks[2]["type"], "context");
        assert!(blocks[2]["elements"].as_array().unwrap().len() <= 10);
        for b in blocks {
            assert!(matches!(
                b["type"].as_str(),
                Some("header" | "section" | "context")
            ));
        }
    }
    let p = notify::payload(ChannelKind::Slack, &context(), &promoted());
    assert_eq!(p["blocks"][0]["text"]["text"], "poc/poc-web: promoted");
}

/// A Teams workflow webhook takes a message whose one attachment is an Adaptive Card: the content type
/// `application/vnd.microsoft.card.adaptive`, a card of `type` `AdaptiveCard` and a `version`, with a body
/// of `TextBlock`s and a `FactSet` of `title`/`value` pairs.
#[test]
fn teams_gets_an_adaptive_card() {
    let p = notify::payload(ChannelKind::Teams, &context(), &promoted());
    assert_eq!(p["type"], "message");
    let a = &p["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &a["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let body = card["body"].as_array().unwrap();
    assert_eq!(body[0]["type"], "TextBlock");
    assert_eq!(body[0]["text"], "poc/poc-web: promoted");
    let facts = body.last().unwrap();
    assert_eq!(facts["type"], "FactSet");
    for f in facts["facts"].as_array().unwrap() {
        assert!(f["title"].is_string() && f["value"].is_string(), "{f}");
    }
}

/// A plain webhook gets the event itself, as the record has it.
#[test]
fn a_webhook_gets_the_record_entry() {
    let e = promoted();
    let p = notify::payload(ChannelKind::Webhook, &context(), &e);
    assert_eq!(p["type"], "event");
    let back: RecordEntry = serde_json::from_value(p["data"].clone()).unwrap();
    assert_eq!(back, e);
}

/// A secret comes from the environment or an owner-only file, is never shown, and a literal is refused.
#[test]
fn secrets_come_from_the_environment_or_an_owner_only_file() {
    use std::os::unix::fs::PermissionsExt;
    let env = |k: &str| (k == "SET").then(|| " https://x.example/1 \n".to_string());
    let s = Secret::resolve("notify.slack", "env:SET", env).unwrap();
    assert_eq!(s.expose(), "https://x.example/1");
    assert_eq!(format!("{s:?} {s}"), "Secret(…) …");
    assert_eq!(
        Secret::resolve("notify.slack", "env:UNSET", env)
            .unwrap_err()
            .to_string(),
        "notify.slack: the environment variable UNSET is not set"
    );
    assert_eq!(
        Secret::resolve("notify.teams", "https://x.example/1", env)
            .unwrap_err()
            .to_string(),
        "notify.teams: a webhook URL is a secret: give env:NAME or file:PATH, not the URL itself"
    );
    let dir = std::env::temp_dir().join(format!("bluegreen-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("url");
    std::fs::write(&path, "https://x.example/2\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let reference = format!("file:{}", path.display());
    let err = Secret::resolve("notify.webhook", &reference, env).unwrap_err();
    assert!(
        err.to_string().contains("readable by others (mode 644)"),
        "{err}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = Secret::resolve("notify.webhook", &reference, env).unwrap();
    assert_eq!(s.expose(), "https://x.example/2");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each class is what a person is told of; the rest of the record is not sent to a class-filtered channel.
#[test]
fn events_are_classed_for_people() {
    assert_eq!(
        EventClass::of(&promoted().event),
        Some(EventClass::Promoted)
    );
    assert_eq!(
        EventClass::of(&Event::StepCompleted { index: 2 }),
        Some(EventClass::StepPassed)
    );
    assert_eq!(
        EventClass::of(&Event::SplitWritten {
            split: TrafficSplit::all_to(Color::Blue)
        }),
        None
    );
    assert!(!EventClass::DEFAULT.contains(&EventClass::StepPassed));
    // A failure that rolls nothing back is a breach to be told of; one that rolls back is told as such.
    let polled = |mode| Event::Polled {
        index: 5,
        window: None,
        reports: vec![bluegreen_core::gate::GateReport {
            gate: "5xx-rate".into(),
            mode,
            verdict: bluegreen_core::gate::Verdict::Fail,
            value: Some(0.3),
            stable: None,
            limit: Some(0.05),
            unit: bluegreen_core::gate::Unit::Ratio,
            detail: String::new(),
            minute: None,
        }],
        awaiting: None,
        minutes: Vec::new(),
    };
    assert_eq!(
        EventClass::of(&polled(bluegreen_core::gate::GateMode::Observe)),
        Some(EventClass::Breach)
    );
    assert_eq!(
        EventClass::of(&polled(bluegreen_core::gate::GateMode::Enforce)),
        None
    );
    assert_eq!(
        "exploded".parse::<EventClass>().unwrap_err().to_string(),
        "unknown event class \"exploded\": expected one of started, step-passed, waiting-for-approval, rolled-back, promoted, stopped, breach, refused"
    );
}

/// SNS gets a subject within its 100 characters, a plain-text message with the facts, and the class (the
/// `bluegreen.event` attribute, for subscription filter policies).
#[test]
fn sns_gets_a_subject_a_message_and_the_class() {
    let mut long = context();
    long.application = "y".repeat(300);
    let p = notify::payload(ChannelKind::Sns, &long, &promoted());
    assert!(p["subject"].as_str().unwrap().chars().count() <= 100);
    let p = notify::payload(ChannelKind::Sns, &context(), &promoted());
    assert_eq!(p["subject"], "poc/poc-web: promoted");
    assert_eq!(p["class"], "promoted");
    let message = p["message"].as_str().unwrap();
    assert!(
        message.starts_with("poc/poc-web: promoted\nthe new color holds all traffic"),
        "{message}"
    );
    assert!(message.contains("\nDeployment: d1"), "{message}");
    assert_eq!(
        notify::check_topic(
            "notify.sns",
            "arn:aws:sns:ap-northeast-1:123456789012:deploys"
        ),
        Ok(())
    );
    assert_eq!(
        notify::check_topic("notify.sns", "deploys")
            .unwrap_err()
            .to_string(),
        "notify.sns \"deploys\": expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
    );
}

/// Issue 24 item 3, the `refused` class: a release refused before it changed anything has no record, so
/// the notifier is told directly (`Notifier::refused`). Each channel that takes the class gets it in its
/// own shape (Block Kit, an Adaptive Card, SNS's subject and class, the webhook's `refused` type); a channel
/// that does not take it gets nothing.
#[test]
fn a_refused_release_is_told_to_the_channels_that_take_it() {
    let clock = ManualClock::new(EPOCH_2026);
    let kept = |kind, events| {
        let t = Arc::new(Flaky {
            fail: Mutex::new(0),
            bodies: Mutex::new(Vec::new()),
        });
        ((channel(kind, events), t.clone() as Arc<dyn Transport>), t)
    };
    let (slack, slack_got) = kept(ChannelKind::Slack, None);
    let (teams, teams_got) = kept(ChannelKind::Teams, Some(EventClass::DEFAULT.to_vec()));
    let (sns, sns_got) = kept(ChannelKind::Sns, Some(vec![EventClass::Refused]));
    let (hook, hook_got) = kept(ChannelKind::Webhook, None);
    let (quiet, quiet_got) = kept(ChannelKind::Slack, Some(vec![EventClass::RolledBack]));
    let (warn, _) = warnings();
    let (notifier, sending) = Notifier::new(
        vec![slack, teams, sns, hook, quiet],
        context(),
        Arc::new(clock.clone()),
        Delivery::default(),
        warn,
    );
    let reason = "deployment d0 of this application did not finish";
    notifier.refused(clock.now(), reason);
    notifier.close();
    run_virtual(&clock, sending).unwrap();
    let one = |got: &Arc<Flaky>| -> Value {
        let bodies = got.bodies.lock().unwrap();
        assert_eq!(bodies.len(), 1, "{bodies:?}");
        serde_json::from_str(&bodies[0]).unwrap()
    };
    let s = one(&slack_got);
    assert_eq!(s["blocks"][0]["type"], "header");
    assert_eq!(
        s["blocks"][0]["text"]["text"],
        "poc/poc-web: release refused"
    );
    assert!(
        s["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains(reason)
    );
    let t = one(&teams_got);
    assert_eq!(t["attachments"][0]["content"]["type"], "AdaptiveCard");
    let n = one(&sns_got);
    assert_eq!(
        (n["subject"].as_str(), n["class"].as_str()),
        (Some("poc/poc-web: release refused"), Some("refused"))
    );
    assert!(n["message"].as_str().unwrap().contains("\nEvent: refused"));
    let w = one(&hook_got);
    assert_eq!(w["type"], "refused");
    assert_eq!(w["data"]["reason"], reason);
    assert!(quiet_got.bodies.lock().unwrap().is_empty());
}
