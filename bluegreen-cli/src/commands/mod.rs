//! The verbs. Each parses its flags, wires providers, calls the core, and renders.

pub mod control;
pub mod deploy;
pub mod inspect;
pub mod judge;
pub mod manual;
mod plan_view;
pub mod release;
pub mod setup;
mod signals;

use crate::Failure;
use crate::context::Wired;
use bluegreen_core::{DeploymentId, Replay, StateStore};

/// The deployment of `application` that holds its lock, or the last unfinished one (the front door's rule).
pub async fn current_deployment(w: &Wired) -> Result<Option<DeploymentId>, Failure> {
    bluegreen::current_deployment(w.store(), &w.application())
        .await
        .map_err(|e| {
            Failure::provider(format!(
                "the state store cannot be read ({e}): whether a deployment is in progress is unknown"
            ))
        })
}

/// The replayed record of `id`.
pub async fn replay(w: &Wired, id: &DeploymentId) -> Result<Replay, Failure> {
    let record = w
        .store()
        .load(id)
        .await
        .map_err(crate::context::provider_failure)?;
    Replay::new(&record)
        .map_err(|e| Failure::bad_input(format!("the record of {id} cannot be read: {e}")))
}

/// Who is acting, for approvals and aborts.
pub fn actor() -> String {
    actor_from(|k| std::env::var(k).ok())
}

/// [`actor`] on the host it runs on, for a request that stops a deployment from afar: `alice (emergency
/// rollback on host ops-1)`.
pub fn actor_on_host(what: &str) -> String {
    format!(
        "{} ({what} on host {})",
        actor(),
        bluegreen_store::host_name()
    )
}

/// Who is acting, from the environment: `BLUEGREEN_ACTOR`, then the CI's user (Jenkins `BUILD_USER_ID`,
/// GitHub Actions `GITHUB_ACTOR`, GitLab `GITLAB_USER_LOGIN`), then the OS user (`USER`, `LOGNAME`), with
/// the CI system named when it is known.
pub fn actor_from(var: impl Fn(&str) -> Option<String>) -> String {
    // Variables are taken only when they are a name (one line, not too long): never a forged log line.
    let set = |k: &str| var(k).and_then(|v| crate::actor_name(&v).ok());
    if let Some(a) = set("BLUEGREEN_ACTOR") {
        return a;
    }
    for (key, system) in [
        ("BUILD_USER_ID", "jenkins"),
        ("GITHUB_ACTOR", "github"),
        ("GITLAB_USER_LOGIN", "gitlab"),
    ] {
        if let Some(a) = set(key) {
            return format!("{a} ({system})");
        }
    }
    set("USER")
        .or_else(|| set("LOGNAME"))
        .unwrap_or_else(|| "unknown".into())
}

/// An environment of `pairs` only, for functions that read variables through a lookup (tests).
#[cfg(test)]
pub(crate) fn fake_env(
    pairs: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<String> {
    move |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::actor_from;
    use super::fake_env as env;

    #[test]
    fn the_actor_comes_from_the_most_specific_variable() {
        assert_eq!(
            actor_from(env(&[("USER", "ci"), ("BLUEGREEN_ACTOR", "alice")])),
            "alice"
        );
        assert_eq!(
            actor_from(env(&[("USER", "jenkins"), ("BUILD_USER_ID", "bob")])),
            "bob (jenkins)"
        );
        assert_eq!(
            actor_from(env(&[("GITHUB_ACTOR", "carol")])),
            "carol (github)"
        );
        assert_eq!(actor_from(env(&[("LOGNAME", "dave")])), "dave");
        assert_eq!(actor_from(env(&[("USER", " ")])), "unknown");
    }
}
