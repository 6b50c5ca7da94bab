//! Notifications: people told of a deployment's transitions in Slack, Microsoft Teams or any webhook,
//! without the deployment ever waiting for them.
//!
//! A [`Notifier`] is an [`Observer`] of the executor. It picks the events each channel asked for (by
//! [`EventClass`]), turns them into the channel's payload ([`payload`]) and puts them on the channel's
//! bounded queue without blocking; [`Sending`] — a future the caller drives (a spawned task) — posts them
//! in order through a [`Transport`], each post bounded by a timeout and retried with backoff on the
//! deployment's [`Clock`]. A slow, failing or hanging channel therefore changes nothing of a deployment:
//! what cannot be queued is dropped and counted, what cannot be sent is counted, and each is said once
//! through the `warn` callback. Webhook URLs are secrets ([`Secret`]): they come from the environment or an
//! owner-only file, and are never printed.

mod http;
mod payload;

pub use http::{HttpTransport, check_url};

/// Checks that `topic` is an SNS topic's ARN.
pub fn check_topic(what: &str, topic: &str) -> Result<(), NotifyError> {
    let parts: Vec<&str> = topic.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty();
    if ok {
        Ok(())
    } else {
        Err(NotifyError::Topic {
            what: what.to_string(),
            topic: topic.to_string(),
        })
    }
}

/// A [`Transport`] that publishes to an SNS topic (the channel's URL is the topic's ARN; the body is an
/// SNS channel's [`payload`]).
pub struct SnsTransport(pub bluegreen_aws::SnsPublisher);

#[async_trait]
impl Transport for SnsTransport {
    async fn post(&self, url: &Secret, body: &str) -> Result<(), PostError> {
        let v: serde_json::Value = serde_json::from_str(body)
            .map_err(|e| PostError(format!("not an SNS payload: {e}")))?;
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        self.0
            .publish(
                url.expose(),
                &text("subject"),
                &text("message"),
                &text("class"),
            )
            .await
            .map(|_| ())
            .map_err(|e| PostError(e.to_string()))
    }
}
pub use payload::payload;

use async_trait::async_trait;
use bluegreen_core::{Clock, DeploymentId, Event, Observer, Outcome, RecordEntry, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// What a person may want to be told of, one class per kind of moment.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum EventClass {
    /// A deployment started (or was resumed).
    Started,
    /// A step of the schedule passed (a weight change and its bake).
    StepPassed,
    /// A canary waits for `bluegreen promote`.
    WaitingForApproval,
    /// Traffic went back to the stable color.
    RolledBack,
    /// The new color holds all traffic.
    Promoted,
    /// The deployment stopped short of either end: aborted, or the listener was changed by someone else.
    Stopped,
    /// A gate failed and nothing was rolled back: a watch past its armed window, or a gate in observe mode.
    Breach,
    /// A release was refused before it changed anything (the lock held, a deployment still watching, a
    /// pre-flight check): nothing is recorded, so this is the only trace a channel gets
    /// ([`Notifier::refused`]).
    Refused,
}

impl EventClass {
    /// The classes a channel gets unless it says otherwise: everything but each passed step.
    pub const DEFAULT: &'static [EventClass] = &[
        EventClass::Started,
        EventClass::WaitingForApproval,
        EventClass::RolledBack,
        EventClass::Promoted,
        EventClass::Stopped,
        EventClass::Breach,
        EventClass::Refused,
    ];

    /// The class of `event`, if a person is told of it at all.
    pub fn of(event: &Event) -> Option<EventClass> {
        Some(match event {
            Event::Started { .. } | Event::Resumed { .. } => EventClass::Started,
            Event::StepCompleted { .. } => EventClass::StepPassed,
            Event::ApprovalRequested { .. } => EventClass::WaitingForApproval,
            Event::Polled { reports, .. }
                if reports.iter().any(|r| {
                    r.verdict == bluegreen_core::gate::Verdict::Fail
                        && r.mode == bluegreen_core::gate::GateMode::Observe
                }) =>
            {
                EventClass::Breach
            }
            Event::Finished { outcome } => match outcome {
                Outcome::Promoted { .. } => EventClass::Promoted,
                Outcome::RolledBack { .. } => EventClass::RolledBack,
                _ => EventClass::Stopped,
            },
            _ => return None,
        })
    }

    /// Its name (`waiting-for-approval`).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Every class.
    pub fn all() -> &'static [EventClass] {
        <EventClass as strum::VariantArray>::VARIANTS
    }
}

impl std::str::FromStr for EventClass {
    type Err = NotifyError;
    fn from_str(s: &str) -> Result<Self, NotifyError> {
        EventClass::all()
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| NotifyError::UnknownClass(s.to_string()))
    }
}

/// Where a channel's messages go, which decides their payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum ChannelKind {
    /// A Slack incoming webhook: a Block Kit message.
    Slack,
    /// A Microsoft Teams workflow webhook ("Post to a channel when a webhook request is received"): an
    /// Adaptive Card.
    Teams,
    /// Any URL: the event itself as JSON, `{"type": "event", "data": <record entry>}`.
    Webhook,
    /// An Amazon SNS topic (its ARN): a subject and a plain-text message, with the event class as the
    /// `bluegreen.event` message attribute (for subscription filter policies).
    Sns,
}

impl ChannelKind {
    /// Its name, as `[notify]` keys use it (`slack`).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Every kind.
    pub fn all() -> &'static [ChannelKind] {
        <ChannelKind as strum::VariantArray>::VARIANTS
    }
}

/// A secret, such as a webhook URL: its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret from a reference as configured: `env:NAME` (an environment variable, read through `env`) or
    /// `file:PATH` (a file readable by its owner only; surrounding whitespace is trimmed). A literal value is
    /// refused: a configuration file is shared and logged, a secret must not be in it.
    pub fn resolve(
        what: &str,
        reference: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Secret, NotifyError> {
        let bad = |why: String| NotifyError::Secret {
            what: what.to_string(),
            why,
        };
        if let Some(name) = reference.strip_prefix("env:") {
            let value = env(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| bad(format!("the environment variable {name} is not set")))?;
            return Ok(Secret(value.trim().to_string()));
        }
        if let Some(path) = reference.strip_prefix("file:") {
            use std::os::unix::fs::PermissionsExt;
            let meta =
                std::fs::metadata(path).map_err(|e| bad(format!("cannot read {path}: {e}")))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(bad(format!(
                    "{path} is readable by others (mode {:o}); make it the owner's only (chmod 600)",
                    meta.permissions().mode() & 0o777
                )));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad(format!("cannot read {path}: {e}")))?;
            let value = text.trim();
            if value.is_empty() {
                return Err(bad(format!("{path} is empty")));
            }
            return Ok(Secret(value.to_string()));
        }
        Err(bad(
            "a webhook URL is a secret: give env:NAME or file:PATH, not the URL itself".into(),
        ))
    }

    /// A secret that is not one (a URL the configuration may show, as `[hooks] webhook`).
    pub fn plain(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the transport only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("…")
    }
}

/// One channel: where, what payload, and which events (`None`: every event, as `[hooks] webhook`).
#[derive(Debug, Clone)]
pub struct Channel {
    /// Its kind.
    pub kind: ChannelKind,
    /// Its URL.
    pub url: Secret,
    /// The classes it gets; `None`: every event.
    pub events: Option<Vec<EventClass>>,
}

impl Channel {
    /// Whether it gets `event`.
    pub fn wants(&self, event: &Event) -> bool {
        self.wants_class(EventClass::of(event))
    }

    /// Whether it gets a message of `class` (`None`: an event no class names, for channels that get all).
    pub fn wants_class(&self, class: Option<EventClass>) -> bool {
        match &self.events {
            None => true,
            Some(classes) => class.is_some_and(|c| classes.contains(&c)),
        }
    }
}

/// What every message says besides its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The application (`poc-web`).
    pub application: String,
    /// The deployment.
    pub deployment: DeploymentId,
    /// A link to its report, if there is one (`[notify] report_url` with `{id}` replaced).
    pub report_url: Option<String>,
}

/// What is wrong with a notification setting. Nothing was sent or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// An event class that does not exist.
    #[error("unknown event class {0:?}: expected one of {classes}", classes = class_names())]
    UnknownClass(String),
    /// A secret that cannot be had.
    #[error("{what}: {why}")]
    Secret {
        /// The setting.
        what: String,
        /// Why.
        why: String,
    },
    /// A URL that is not http(s).
    #[error("{what}: expected an http:// or https:// URL")]
    Url {
        /// The setting.
        what: String,
    },
    /// A topic that is not an SNS topic's ARN.
    #[error("{what} {topic:?}: expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")]
    Topic {
        /// The setting.
        what: String,
        /// The value.
        topic: String,
    },
}

fn class_names() -> String {
    let names: Vec<&str> = EventClass::all().iter().map(|c| c.name()).collect();
    names.join(", ")
}

/// Why a post failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PostError(pub String);

/// Sends one payload to a URL.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Posts `body` (JSON) to `url`; `Ok` on a 2xx answer.
    async fn post(&self, url: &Secret, body: &str) -> Result<(), PostError>;
}

/// How a channel is sent to: the queue's length, each post's timeout, the attempts and the first backoff
/// (doubled after each failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Messages a channel may have waiting; more are dropped.
    pub queue: usize,
    /// How long one post may take.
    pub timeout: Duration,
    /// Posts of one message before it is given up.
    pub attempts: u32,
    /// The wait after the first failed post.
    pub backoff: Duration,
}

impl Default for Delivery {
    /// 64 messages, 10 s per post, 3 attempts, 1 s then 2 s between them.
    fn default() -> Self {
        Delivery {
            queue: 64,
            timeout: Duration::from_secs(10),
            attempts: 3,
            backoff: Duration::from_secs(1),
        }
    }
}

/// What became of one channel's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Posted.
    pub sent: u64,
    /// Given up after every attempt.
    pub failed: u64,
    /// Dropped because the queue was full.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// A callback told of a channel's trouble (once per channel and kind of trouble), in words without the URL.
pub type Warn = Arc<dyn Fn(String) + Send + Sync>;

/// One channel's queue: the channel, its sender (`None` once closed) and its counts.
type Queue = (Channel, Option<mpsc::Sender<String>>, Arc<Counters>);

/// The observer that queues notifications. See the module's documentation.
pub struct Notifier {
    context: Context,
    queues: Mutex<Vec<Queue>>,
    warn: Warn,
    warned_full: Mutex<Vec<ChannelKind>>,
}

/// The future that sends what a [`Notifier`] queued; it ends once the notifier is [closed](Notifier::close)
/// (or dropped) and every queue is drained.
pub type Sending = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Notifier {
    /// A notifier for `channels`, each with the transport that posts for it, and the future that sends for
    /// it. Nothing is sent until the future runs.
    pub fn new(
        channels: Vec<(Channel, Arc<dyn Transport>)>,
        context: Context,
        clock: Arc<dyn Clock>,
        delivery: Delivery,
        warn: Warn,
    ) -> (Notifier, Sending) {
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        for (channel, transport) in channels {
            let (tx, rx) = mpsc::channel::<String>(delivery.queue.max(1));
            let counters = Arc::new(Counters::default());
            workers.push(worker(
                channel.clone(),
                rx,
                counters.clone(),
                transport,
                clock.clone(),
                delivery,
                warn.clone(),
            ));
            queues.push((channel, Some(tx), counters));
        }
        let sending: Sending = Box::pin(async move {
            futures::future::join_all(workers).await;
        });
        (
            Notifier {
                context,
                queues: Mutex::new(queues),
                warn,
                warned_full: Mutex::new(Vec::new()),
            },
            sending,
        )
    }

    /// Stops queueing: [`Sending`] ends once what is queued is sent (or given up).
    pub fn close(&self) {
        for q in self
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            q.1.take();
        }
    }

    /// What became of each channel's messages so far.
    pub fn tally(&self) -> Vec<(ChannelKind, Tally)> {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(c, _, n)| {
                (
                    c.kind,
                    Tally {
                        sent: n.sent.load(Ordering::SeqCst),
                        failed: n.failed.load(Ordering::SeqCst),
                        dropped: n.dropped.load(Ordering::SeqCst),
                    },
                )
            })
            .collect()
    }
}

impl Notifier {
    /// Tells the channels that take [`EventClass::Refused`] that the release was refused before it changed
    /// anything, and why (one line, as the command said it). Queued like an event: it never waits.
    pub fn refused(&self, at: Timestamp, reason: &str) {
        self.queue(Some(EventClass::Refused), &|kind| {
            payload::refused(kind, &self.context, at, reason)
        });
    }

    fn queue(&self, class: Option<EventClass>, body: &dyn Fn(ChannelKind) -> serde_json::Value) {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        for (channel, tx, counters) in queues.iter() {
            let Some(tx) = tx else { continue };
            if !channel.wants_class(class) {
                continue;
            }
            let body = body(channel.kind).to_string();
            if tx.try_send(body).is_err() {
                counters.dropped.fetch_add(1, Ordering::SeqCst);
                let mut warned = self.warned_full.lock().unwrap_or_else(|e| e.into_inner());
                if !warned.contains(&channel.kind) {
                    warned.push(channel.kind);
                    (self.warn)(format!(
                        "{} notifications are not keeping up: a message was dropped (the deployment goes on; its record is complete)",
                        channel.kind.name()
                    ));
                }
            }
        }
    }
}

impl Observer for Notifier {
    fn on_event(&self, entry: &RecordEntry) {
        self.queue(EventClass::of(&entry.event), &|kind| {
            payload(kind, &self.context, entry)
        });
    }
}

async fn worker(
    channel: Channel,
    mut rx: mpsc::Receiver<String>,
    counters: Arc<Counters>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    delivery: Delivery,
    warn: Warn,
) {
    let mut warned = false;
    while let Some(body) = rx.recv().await {
        let mut backoff = delivery.backoff;
        let mut last = None;
        for attempt in 1..=delivery.attempts.max(1) {
            let post = transport.post(&channel.url, &body);
            let timeout = clock.sleep(delivery.timeout);
            let result = match futures::future::select(post, timeout).await {
                futures::future::Either::Left((r, _)) => r,
                futures::future::Either::Right(_) => Err(PostError(format!(
                    "no answer within {}",
                    humantime::format_duration(delivery.timeout)
                ))),
            };
            match result {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
            if attempt < delivery.attempts {
                clock.sleep(backoff).await;
                backoff *= 2;
            }
        }
        match last {
            None => {
                counters.sent.fetch_add(1, Ordering::SeqCst);
            }
            Some(e) => {
                counters.failed.fetch_add(1, Ordering::SeqCst);
                if !warned {
                    warned = true;
                    warn(format!(
                        "{} notification failed after {} attempts ({e}); the deployment goes on, its record is complete",
                        channel.kind.name(),
                        delivery.attempts.max(1)
                    ));
                }
            }
        }
    }
}
