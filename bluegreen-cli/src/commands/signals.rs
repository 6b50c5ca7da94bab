//! Who stopped a deployment with a signal, in words for the record.

/// Who stopped a deployment with a signal, in words for the record: the signal, the host and process, and
/// the CI job that owns the process when the environment names one (`SIGTERM on host ci-7 (pid 4242),
/// Jenkins poc-deploy-42`).
pub fn signal_origin(signal: &str, var: impl Fn(&str) -> Option<String>) -> String {
    let mut text = format!(
        "{signal} on host {} (pid {})",
        bluegreen_store::host_name(),
        std::process::id()
    );
    let set = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    if let Some(tag) = set("BUILD_TAG") {
        text.push_str(&format!(", Jenkins {tag}"));
    } else if let (Some(repo), Some(run)) = (set("GITHUB_REPOSITORY"), set("GITHUB_RUN_ID")) {
        text.push_str(&format!(", GitHub Actions {repo} run {run}"));
    } else if let Some(job) = set("CI_JOB_URL") {
        text.push_str(&format!(", GitLab {job}"));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_signal_names_the_host_the_process_and_the_ci_job() {
        use crate::commands::fake_env as env;
        let jenkins =
            super::signal_origin("SIGTERM", env(&[("BUILD_TAG", "jenkins-poc-deploy-42")]));
        assert!(jenkins.starts_with("SIGTERM on host "), "{jenkins}");
        assert!(
            jenkins.contains(&format!("(pid {})", std::process::id())),
            "{jenkins}"
        );
        assert!(
            jenkins.ends_with(", Jenkins jenkins-poc-deploy-42"),
            "{jenkins}"
        );
        let github = super::signal_origin(
            "SIGTERM",
            env(&[("GITHUB_REPOSITORY", "acme/web"), ("GITHUB_RUN_ID", "77")]),
        );
        assert!(
            github.ends_with(", GitHub Actions acme/web run 77"),
            "{github}"
        );
        let person = super::signal_origin("SIGINT (Ctrl-C)", env(&[]));
        assert!(person.ends_with(')'), "no CI named: {person}");
    }
}
