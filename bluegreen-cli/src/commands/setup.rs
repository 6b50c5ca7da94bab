//! `init`, `adopt`, `iam-policy`, `completions`.

use crate::config::TEMPLATE;
use crate::context::{Context, ProviderKind};
use crate::render::Renderer;
use crate::{Ended, Failure};
use clap::Args;
use std::path::PathBuf;

/// `init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Where to write it.
    #[arg(long, default_value = "bluegreen.toml")]
    pub path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `iam-policy`.
#[derive(Args, Debug)]
pub struct IamArgs {
    /// The AWS account id (default: any account, `*`).
    #[arg(long, default_value = "*")]
    pub account: String,
    /// The partition.
    #[arg(long, default_value = "aws")]
    pub partition: String,
}

/// `--account`: `*` or 12 digits.
pub(crate) fn check_account(account: &str) -> Result<(), Failure> {
    if account != "*" && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())) {
        return Err(Failure::bad_input(format!(
            "--account {account:?}: an AWS account id is 12 digits"
        )));
    }
    Ok(())
}

/// Writes a commented `bluegreen.toml`.
pub fn init(ctx: &Context, a: InitArgs) -> Result<Ended, Failure> {
    if a.path.exists() && !a.force {
        return Err(Failure::bad_input(format!(
            "{} exists; pass --force to overwrite it",
            a.path.display()
        )));
    }
    std::fs::write(&a.path, TEMPLATE)
        .map_err(|e| Failure::local_io(format!("cannot write {}: {e}", a.path.display())))?;
    Renderer::new(ctx.output(), bluegreen_core::Timestamp::default()).result(
        "init",
        &format!("wrote {}", a.path.display()),
        serde_json::json!({"path": a.path}),
    );
    Ok(Ended::Done)
}

/// `adopt`.
#[derive(Args, Debug)]
pub struct AdoptArgs {
    /// Take over a listener (or rule) that another application owns.
    #[arg(long)]
    pub force: bool,
}

/// Tags the listener (or rule) as owned by the application; refuses (exit 4) one that another application
/// owns, unless `--force`.
pub async fn adopt(ctx: &Context, a: AdoptArgs) -> Result<Ended, Failure> {
    let renderer = Renderer::new(ctx.output(), bluegreen_core::Timestamp::default());
    let naming = ctx.naming()?;
    match ctx.provider() {
        ProviderKind::Aws => {
            let spec = ctx.target_spec()?;
            let conn = ctx.connection().await?;
            let adopted = if a.force {
                conn.adopt_forced(&spec).await
            } else {
                conn.adopt(&spec).await.map(|r| (r, None))
            };
            let (resolved, previous) = adopted.map_err(|e| match e {
                bluegreen_aws::AwsError::Provider(p) => crate::context::provider_failure(p),
                e @ bluegreen_aws::AwsError::OwnedByOther { .. } => Failure::refused(e.to_string()),
                other => Failure::bad_input(other),
            })?;
            renderer.result(
                "adopted",
                &format!(
                    "{} {} now owned by {} (tag {}){}",
                    resolved.action_resources().join(", "),
                    if resolved.routes.len() == 1 { "is" } else { "are" },
                    resolved.application,
                    bluegreen_aws::OWNER_TAG,
                    previous.as_ref().map_or(String::new(), |p| format!(", taken over from {p}"))
                ),
                serde_json::json!({"resource": resolved.routes[0].resource(), "resources": resolved.action_resources(), "application": resolved.application, "previous_owner": previous}),
            );
        }
        ProviderKind::Sim => {
            let w = ctx.wire(false, None).await?;
            if let Some(sim) = &w.sim() {
                let me = naming.application_key();
                let previous = sim
                    .with_world(|world| {
                        let previous = world
                            .listener_tag(bluegreen_aws::OWNER_TAG)
                            .filter(|o| *o != me);
                        if previous.is_none() || a.force {
                            world.tag_listener(bluegreen_aws::OWNER_TAG, &me);
                        }
                        previous
                    })
                    .map_err(crate::context::provider_failure)?;
                if let Some(owner) = previous
                    && !a.force
                {
                    return Err(Failure::refused(format!(
                        "the simulated listener is owned by {owner}, not {me}: refusing to take it over (`bluegreen adopt --force` does, if {owner} no longer deploys there)"
                    )));
                }
            }
            renderer.result(
                "adopted",
                &format!(
                    "the simulated listener is owned by {}",
                    naming.application_key()
                ),
                serde_json::json!({"application": naming.application_key()}),
            );
        }
    }
    Ok(Ended::Done)
}

/// The least-privilege policy one application's settings need in `a.account`: its names in its region,
/// its shared state table, its SNS topic. `iam-policy` prints it; `release iam-policy` joins each target's.
pub(crate) fn policy_for(
    settings: &bluegreen::Settings,
    a: &IamArgs,
) -> Result<serde_json::Value, Failure> {
    let naming = settings.naming().map_err(Failure::bad_input)?;
    check_account(&a.account)?;
    let region = settings.aws.region.clone().unwrap_or_else(|| "*".into());
    let mut policy = match settings.shared_state().map_err(Failure::bad_input)? {
        Some((table, prefix)) => bluegreen_aws::iam::policy_with_state(
            &a.partition,
            &region,
            &a.account,
            &naming,
            &table,
            &prefix,
        ),
        None => bluegreen_aws::iam::policy(&a.partition, &region, &a.account, &naming),
    };
    if let Some(topic) = &settings.notify.sns
        && let Some(list) = policy["Statement"].as_array_mut()
    {
        list.push(bluegreen_aws::iam::notify_statement(topic));
    }
    Ok(policy)
}

/// Prints the least-privilege policy.
pub fn iam_policy(ctx: &Context, a: IamArgs) -> Result<Ended, Failure> {
    let policy = policy_for(&ctx.settings, &a)?;
    // The policy document itself on a terminal or in a file; one JSON Lines object under --output json.
    match ctx.output() {
        crate::Output::Json => crate::render::json_line("iam-policy", serde_json::json!(policy)),
        crate::Output::Human => {
            crate::render::out(&serde_json::to_string_pretty(&policy).unwrap_or_default())
        }
    }
    Ok(Ended::Done)
}
