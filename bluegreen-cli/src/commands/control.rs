//! `promote`, `abort`, `reject`: a control request sent to a running deployment. The rules are the library's
//! (`bluegreen::send_control`, the core's `Replay::accepts`); here, the words and the exit code.

use crate::context::{Context, provider_failure};
use crate::render::Renderer;
use crate::{Ended, Failure};
use bluegreen_core::DeploymentId;

/// Sends a control request to the deployment in progress.
pub async fn control(
    ctx: &Context,
    id: Option<String>,
    request: bluegreen_store::Control,
) -> Result<Ended, Failure> {
    let store = ctx.store().await?;
    let application = ctx.naming()?.application_key();
    let id = id
        .map(|id| DeploymentId::new(id).map_err(Failure::bad_input))
        .transpose()?;
    // The rules are the library's (`Replay::accepts`, through `bluegreen::send_control`); the words to type
    // next are the command's.
    let id = bluegreen::send_control(&store, &application, id, &request)
        .await
        .map_err(control_failure)?;
    let renderer = Renderer::new(ctx.output(), bluegreen_core::Timestamp::default());
    let what = match &request {
        bluegreen_store::Control::Approve {
            pre_approved: true, ..
        } => "pre-approval",
        bluegreen_store::Control::Approve { .. } => "approval",
        bluegreen_store::Control::Reject { .. } => "rejection",
        bluegreen_store::Control::Abort { .. } => "abort request",
    };
    renderer.result(
        "sent",
        &format!("{what} sent to deployment {id} by {}", request.by()),
        serde_json::json!({"deployment": id, "request": request}),
    );
    Ok(Ended::Done)
}

/// A request that was not sent, as the command says it: the exit code of its kind, and what to type next.
fn control_failure(e: bluegreen::ControlError) -> Failure {
    use bluegreen::ControlError as E;
    use bluegreen_core::ControlRefusal as R;
    match e {
        E::Refused(R::BeingAborted { .. }) => Failure::refused(e),
        E::Refused(R::NoApprovalAhead { .. }) => {
            Failure::bad_input(format!("{e}; nothing was sent"))
        }
        E::Refused(R::NotWaitingForApproval { .. }) => Failure::bad_input(format!(
            "{e}; --pre-approve approves it ahead of time; nothing was sent"
        )),
        E::StoreUnreadable { .. } | E::Unreachable { .. } => Failure::provider(e),
        E::Unreadable { source, .. } => provider_failure(source),
        _ => Failure::bad_input(e),
    }
}
