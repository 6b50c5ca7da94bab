//! Embedding in an async service: deployments started and watched over HTTP (axum). Each deployment runs on
//! its own simulated world, on virtual time, on a blocking thread; with the AWS provider the executor's
//! future would be spawned on the runtime instead (see `bluegreen-aws/examples/embed.rs` for the wiring).
//!
//! ```sh
//! cargo run -p bluegreen-store --example http_service      # prints the address it listens on
//! curl -X POST http://ADDR/deployments/release-1?strategy=canary-auto
//! curl http://ADDR/deployments/release-1                    # {"state":"promoted","outcome":"..."}
//! ```

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bluegreen_core::{Plan, Strategy};
use bluegreen_testkit::{Harness, ScriptedApproval, WorldConfig};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the service knows of each deployment it started.
type Deployments = Arc<Mutex<HashMap<String, Value>>>;

#[derive(Deserialize)]
struct Start {
    /// `gradual` (default), `immediate`, or `canary-auto` (a canary approved after ten simulated minutes).
    strategy: Option<String>,
}

async fn start(
    State(deployments): State<Deployments>,
    Path(id): Path<String>,
    Query(start): Query<Start>,
) -> Result<(StatusCode, Json<Value>), (StatusCode, String)> {
    let bad = |e: String| (StatusCode::BAD_REQUEST, e);
    let strategy = match start.strategy.as_deref().unwrap_or("gradual") {
        "gradual" => Strategy::gradual(),
        "immediate" => Strategy::immediate(),
        "canary-auto" => Strategy::canary(),
        other => return Err(bad(format!("unknown strategy {other:?}"))),
    };
    let plan = Plan::new(
        "poc/poc-web",
        strategy.compile().map_err(|e| bad(e.to_string()))?,
    );
    {
        let mut all = deployments.lock().unwrap_or_else(|e| e.into_inner());
        if all.contains_key(&id) {
            return Err((StatusCode::CONFLICT, format!("deployment {id} exists")));
        }
        all.insert(id.clone(), json!({"state": "running"}));
    }
    let (all, key) = (deployments.clone(), id.clone());
    tokio::task::spawn_blocking(move || {
        let harness = Harness::new(WorldConfig::default());
        let approval = ScriptedApproval::approve_after(harness.clock(), Duration::from_secs(600));
        let harness = harness.with_approval(Arc::new(approval));
        let state = match harness.run(&key, plan) {
            Ok(outcome) => json!({"state": outcome.kind(), "outcome": outcome.to_string()}),
            Err(e) => json!({"state": "refused", "error": e.to_string()}),
        };
        all.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, state);
    });
    Ok((StatusCode::ACCEPTED, Json(json!({"deployment": id}))))
}

async fn status(
    State(deployments): State<Deployments>,
    Path(id): Path<String>,
) -> Result<Json<Value>, StatusCode> {
    let all = deployments.lock().unwrap_or_else(|e| e.into_inner());
    all.get(&id).cloned().map(Json).ok_or(StatusCode::NOT_FOUND)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = Router::new()
        .route("/deployments/{id}", post(start).get(status))
        .route("/health", get(|| async { "ok" }))
        .with_state(Deployments::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
