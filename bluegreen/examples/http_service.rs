//! Embedding in an async service: deployments started, watched, approved and aborted over HTTP (axum),
//! through the front door. The service and the `bluegreen` command share one world: the records, the lock
//! and the control requests live in the store the settings name, so `bluegreen status` sees what the service
//! started and `bluegreen promote` approves its canary, and the other way round.
//!
//! ```sh
//! cargo run -p bluegreen --example http_service                  # the simulated world in a scratch directory
//! cargo run -p bluegreen --example http_service -- bluegreen.toml    # your settings (AWS, a shared table)
//! curl -X POST 'http://ADDR/deployments/release-1?strategy=canary'   # 202, or 409 while one runs
//! curl http://ADDR/deployments/release-1          # {"state":"waiting-for-approval","green":10,...}
//! curl -X POST http://ADDR/deployments/release-1/approve            # or /abort
//! curl http://ADDR/deployments/release-1          # {"state":"promoted","outcome":"promoted: ..."}
//! ```

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bluegreen::{Deployer, Settings};
use bluegreen_core::{
    DeploymentId, ProviderError, RecordEntry, Replay, StateStore, StrategySettings,
};
use bluegreen_store::Control;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type Failure = (StatusCode, String);

/// The record of `id`; empty when there is none.
async fn record(deployer: &Deployer, id: &DeploymentId) -> Result<Vec<RecordEntry>, Failure> {
    match deployer.store().load(id).await {
        Ok(r) => Ok(r),
        Err(ProviderError::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err((StatusCode::BAD_GATEWAY, e.to_string())),
    }
}

fn bad(e: impl std::fmt::Display) -> Failure {
    (StatusCode::BAD_REQUEST, e.to_string())
}

#[derive(Deserialize)]
struct Start {
    /// `gradual`, `immediate` or `canary` (default: the settings' `[deploy] strategy`).
    strategy: Option<String>,
}

/// Starts a deployment; the executor's lock is the guard against a second one (here or anywhere else).
async fn start(
    State(deployer): State<Arc<Deployer>>,
    Path(id): Path<String>,
    Query(start): Query<Start>,
) -> Result<(StatusCode, Json<Value>), Failure> {
    let id = DeploymentId::new(id).map_err(bad)?;
    let overlay = StrategySettings {
        strategy: start
            .strategy
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(bad)?,
        ..StrategySettings::default()
    };
    let plan = deployer.plan(overlay, None).map_err(bad)?;
    let store = deployer.store();
    if !record(&deployer, &id).await?.is_empty() {
        return Err((StatusCode::CONFLICT, format!("deployment {id} exists")));
    }
    let holder = store.holder(&deployer.application()).await;
    if let Some(lease) = holder.map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))? {
        return Err((
            StatusCode::CONFLICT,
            format!("deployment {} is running", lease.owner.deployment),
        ));
    }
    let (d, run_id) = (deployer.clone(), id.clone());
    tokio::spawn(async move {
        // The outcome is in the record; a refusal (e.g. another process took the lock first) is logged.
        if let Err(e) = d.deploy_plan(run_id.clone(), plan).await {
            eprintln!("{run_id}: {e}");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(json!({"deployment": id}))))
}

/// What the record says: whoever started the deployment (this service, the command, another machine).
async fn status(
    State(deployer): State<Arc<Deployer>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Failure> {
    let id = DeploymentId::new(id).map_err(bad)?;
    let entries = record(&deployer, &id).await?;
    if entries.is_empty() {
        return Err((StatusCode::NOT_FOUND, format!("no deployment {id}")));
    }
    let r = Replay::new(&entries).map_err(bad)?;
    let split = r.last_verified.map(|s| json!(s));
    Ok(Json(match (&r.outcome, r.waiting_for_approval()) {
        (Some(o), _) => json!({"state": o.kind(), "outcome": o.to_string(), "split": split}),
        (None, Some(_)) => json!({"state": "waiting-for-approval", "split": split}),
        (None, None) => json!({"state": "running", "split": split}),
    }))
}

/// Leaves a control request, as `bluegreen promote` and `bluegreen abort` do: only for a deployment that
/// runs, and an approval only for one that waits for it.
async fn control(deployer: &Deployer, id: String, control: Control) -> Result<StatusCode, Failure> {
    let id = DeploymentId::new(id).map_err(bad)?;
    let entries = record(deployer, &id).await?;
    if entries.is_empty() {
        return Err((StatusCode::NOT_FOUND, format!("no deployment {id}")));
    }
    let r = Replay::new(&entries).map_err(bad)?;
    let conflict = |why: String| Err((StatusCode::CONFLICT, why));
    if let Some(o) = &r.outcome {
        return conflict(format!("deployment {id} has ended: {o}"));
    }
    if matches!(control, Control::Approve { .. }) && r.waiting_for_approval().is_none() {
        return conflict(format!("deployment {id} is not waiting for approval"));
    }
    deployer.store().send(&id, &control).await.map_err(bad)?;
    Ok(StatusCode::ACCEPTED)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = match std::env::args().nth(1) {
        Some(path) => Settings::load(path.as_ref())?,
        None => {
            // The simulated world, its clock 60 times real time: a canary's bake takes seconds.
            let mut s = Settings::from_toml(
                "environment = \"poc\"\napplication = \"poc-web\"\nprovider = \"sim\"\n\
                 [deploy]\nbake = \"2m\"\nscale_down_delay = \"1m\"\n",
            )?;
            s.state_dir = Some(
                std::env::temp_dir().join(format!("bluegreen-http-service-{}", std::process::id())),
            );
            s
        }
    };
    let deployer = Arc::new(Deployer::from_settings(settings).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(deployer)).await?;
    Ok(())
}

/// The service's routes.
fn app(deployer: Arc<Deployer>) -> Router {
    Router::new()
        .route("/deployments/{id}", post(start).get(status))
        .route(
            "/deployments/{id}/approve",
            post(
                |State(d): State<Arc<Deployer>>, Path(id): Path<String>| async move {
                    let by = "http-service".to_string();
                    control(
                        &d,
                        id,
                        Control::Approve {
                            by,
                            pre_approved: false,
                        },
                    )
                    .await
                },
            ),
        )
        .route(
            "/deployments/{id}/abort",
            post(
                |State(d): State<Arc<Deployer>>, Path(id): Path<String>| async move {
                    control(
                        &d,
                        id,
                        Control::Abort {
                            by: "http-service".into(),
                        },
                    )
                    .await
                },
            ),
        )
        .route("/health", get(|| async { "ok" }))
        .with_state(deployer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    /// One request to the service: its status and body.
    async fn send(app: &Router, method: &str, uri: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Polls the deployment (real time, bounded) until its state is `state`.
    async fn until(app: &Router, id: &str, state: &str) -> String {
        for _ in 0..400 {
            let (code, body) = send(app, "GET", &format!("/deployments/{id}")).await;
            if code == StatusCode::OK && body.contains(&format!("\"state\":\"{state}\"")) {
                return body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{id} never reached {state}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_service_starts_reports_approves_and_aborts_deployments() {
        let dir = std::env::temp_dir().join(format!("bluegreen-http-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut settings = Settings::from_toml(
            "environment = \"poc\"\napplication = \"poc-web\"\nprovider = \"sim\"\n\
             [deploy]\nbake = \"1m\"\nscale_down_delay = \"1m\"\n[sim]\ntime_scale = 600.0\n",
        )
        .unwrap();
        settings.state_dir = Some(dir.clone());
        let app = app(Arc::new(Deployer::from_settings(settings).await.unwrap()));

        let (code, body) = send(&app, "POST", "/deployments/r1?strategy=canary").await;
        assert_eq!(code, StatusCode::ACCEPTED, "{body}");
        // Refused while it runs (the lock is taken at once; the record exists once it started).
        until(&app, "r1", "waiting-for-approval").await;
        assert_eq!(
            send(&app, "POST", "/deployments/r2").await.0,
            StatusCode::CONFLICT
        );
        assert_eq!(
            send(&app, "POST", "/deployments/r1").await.0,
            StatusCode::CONFLICT
        );
        let bad = send(&app, "POST", "/deployments/r3?strategy=fast").await;
        assert_eq!(bad.0, StatusCode::BAD_REQUEST, "{}", bad.1);
        assert!(bad.1.contains("fast"), "{}", bad.1);
        assert_eq!(
            send(&app, "GET", "/deployments/none").await.0,
            StatusCode::NOT_FOUND
        );
        let (code, body) = send(&app, "POST", "/deployments/r1/approve").await;
        assert_eq!(code, StatusCode::ACCEPTED, "{body}");
        let done = until(&app, "r1", "promoted").await;
        assert!(done.contains("\"green\":100"), "{done}");
        // Ended: no more control requests.
        assert_eq!(
            send(&app, "POST", "/deployments/r1/abort").await.0,
            StatusCode::CONFLICT
        );

        // The next one (back to blue) is aborted while it waits: rolled back.
        assert_eq!(
            send(&app, "POST", "/deployments/r4?strategy=canary")
                .await
                .0,
            StatusCode::ACCEPTED
        );
        until(&app, "r4", "waiting-for-approval").await;
        assert_eq!(
            send(&app, "POST", "/deployments/r4/abort").await.0,
            StatusCode::ACCEPTED
        );
        let done = until(&app, "r4", "rolled-back").await;
        assert!(
            done.contains("\"green\":100"),
            "traffic stayed on green: {done}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
