//! A webhook that receives every event as JSON (one POST per event), without slowing the deployment: events
//! are queued and sent in order by a background task. A failing webhook is reported once and never fails a
//! deployment: the record in the state directory stays the source of truth.

use crate::Failure;
use bluegreen_core::{Observer, RecordEntry};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Posts events to a URL.
pub struct Webhook {
    tx: Mutex<Option<mpsc::UnboundedSender<String>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Checks a webhook URL before anything runs.
pub fn parse(url: &str) -> Result<hyper::Uri, Failure> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| Failure::bad_input(format!("webhook {url:?} is not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.host().is_some() => Ok(uri),
        _ => Err(Failure::bad_input(format!(
            "webhook {url:?}: expected an http:// or https:// URL"
        ))),
    }
}

impl Webhook {
    /// Starts the sender. Needs a tokio runtime.
    pub fn start(uri: hyper::Uri) -> Result<Self, Failure> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| Failure::bad_input(format!("webhook: no TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let task = tokio::spawn(async move {
            let mut warned = false;
            while let Some(body) = rx.recv().await {
                let request = hyper::Request::post(uri.clone())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)));
                let result = match request {
                    Ok(r) => match tokio::time::timeout(Duration::from_secs(10), client.request(r))
                        .await
                    {
                        Ok(Ok(resp)) if resp.status().is_success() => Ok(()),
                        Ok(Ok(resp)) => Err(format!("HTTP {}", resp.status())),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("timed out".into()),
                    },
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = result
                    && !warned
                {
                    warned = true;
                    eprintln!(
                        "warning: the webhook failed ({e}); events are still recorded in the state directory"
                    );
                }
            }
        });
        Ok(Webhook {
            tx: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
        })
    }

    /// Sends what is queued, waiting at most `limit`.
    pub async fn finish(&self, limit: Duration) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(limit, task).await;
        }
    }
}

impl Observer for Webhook {
    fn on_event(&self, entry: &RecordEntry) {
        if let Some(tx) = &*self.tx.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = tx.send(serde_json::json!({"type": "event", "data": entry}).to_string());
        }
    }
}

/// Sends every event to each observer.
pub struct Fanout(pub Vec<std::sync::Arc<dyn Observer>>);

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
