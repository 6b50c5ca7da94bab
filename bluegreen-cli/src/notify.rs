//! Wiring of the front door's notifications (`bluegreen::notify`) into a command: the channels of
//! `[notify]` and `[hooks] webhook`, sent by a background task that never holds the deployment up.

use crate::{Context, Failure};
use bluegreen::notify::{self, Channel, ChannelKind, Delivery, HttpTransport, Notifier, Secret};
use bluegreen_core::{Clock, DeploymentId, Observer, RecordEntry};
use std::sync::Arc;
use std::time::Duration;

/// The channels configured, checked (secrets read, URLs and classes checked) before anything runs.
pub fn channels(ctx: &Context) -> Result<Vec<Channel>, Failure> {
    let mut channels = ctx
        .settings
        .notify
        .channels(|k| std::env::var(k).ok())
        .map_err(Failure::bad_input)?;
    // `[hooks] webhook` (or BLUEGREEN_WEBHOOK): every event as JSON, as before `[notify]` existed.
    let hook = std::env::var("BLUEGREEN_WEBHOOK")
        .ok()
        .or(ctx.settings.hooks.webhook.clone());
    if let Some(url) = hook {
        let plain = Secret::plain(url.clone());
        // Not a secret: the error may show it.
        notify::check_url("webhook", &plain).map_err(|_| {
            Failure::bad_input(format!(
                "webhook {url:?}: expected an http:// or https:// URL"
            ))
        })?;
        let url = plain;
        channels.push(Channel {
            kind: ChannelKind::Webhook,
            url,
            events: None,
        });
    }
    Ok(channels)
}

/// A running notifier: the observer, and the task that sends for it.
pub struct Running {
    notifier: Arc<Notifier>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts the notifier of `channels` for deployment `id`, or `None` when there is none. Needs a tokio
/// runtime; an SNS channel uses the command's AWS connection (no call is made until a message is sent).
pub async fn start(
    ctx: &Context,
    channels: Vec<Channel>,
    id: &DeploymentId,
    application: String,
    clock: Arc<dyn Clock>,
) -> Result<Option<Running>, Failure> {
    if channels.is_empty() {
        return Ok(None);
    }
    let mut http: Option<Arc<dyn notify::Transport>> = None;
    let mut paired = Vec::new();
    for channel in channels {
        let transport: Arc<dyn notify::Transport> = match channel.kind {
            ChannelKind::Sns => Arc::new(notify::SnsTransport(ctx.connection().await?.sns())),
            _ => match &http {
                Some(t) => t.clone(),
                None => {
                    let t: Arc<dyn notify::Transport> = Arc::new(
                        HttpTransport::new()
                            .map_err(|e| Failure::bad_input(format!("notifications: {e}")))?,
                    );
                    http = Some(t.clone());
                    t
                }
            },
        };
        paired.push((channel, transport));
    }
    let context = notify::Context {
        application,
        deployment: id.clone(),
        report_url: ctx
            .settings
            .notify
            .report_url
            .as_ref()
            .map(|u| u.replace("{id}", id.as_str())),
    };
    let (notifier, sending) = Notifier::new(
        paired,
        context,
        clock,
        Delivery::default(),
        Arc::new(|m| eprintln!("warning: {m}")),
    );
    Ok(Some(Running {
        notifier: Arc::new(notifier),
        task: tokio::spawn(sending),
    }))
}

impl Running {
    /// The observer to give the executor.
    pub fn observer(&self) -> Arc<dyn Observer> {
        self.notifier.clone()
    }

    /// Tells the channels that take `refused` that the release was refused, and why.
    pub fn refused(&self, at: bluegreen_core::Timestamp, reason: &str) {
        self.notifier.refused(at, reason);
    }

    /// Sends what is queued, waiting at most `limit` (then gives the rest up: the record has it all).
    pub async fn finish(self, limit: Duration) {
        self.notifier.close();
        let _ = tokio::time::timeout(limit, self.task).await;
    }
}

/// Tells the channels that take `refused` that release `id` was refused before it changed anything (the
/// pre-flight checks), waiting at most 10 s for the posts; a channel that cannot be set up says nothing.
pub async fn tell_refused(
    ctx: &Context,
    w: &crate::context::Wired,
    id: &DeploymentId,
    reason: &str,
) {
    let Ok(channels) = channels(ctx) else { return };
    let clock = w.providers().clock.clone();
    if let Ok(Some(running)) = start(ctx, channels, id, w.application(), clock.clone()).await {
        running.refused(clock.now(), reason);
        running.finish(Duration::from_secs(10)).await;
    }
}

/// Sends every event to each observer.
pub struct Fanout(pub Vec<Arc<dyn Observer>>);

impl Observer for Fanout {
    fn on_event(&self, entry: &RecordEntry) {
        for o in &self.0 {
            o.on_event(entry);
        }
    }
    fn on_notice(&self, at: bluegreen_core::Timestamp, notice: &bluegreen_core::Notice) {
        for o in &self.0 {
            o.on_notice(at, notice);
        }
    }
}
