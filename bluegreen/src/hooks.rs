//! Hooks as shell commands (`sh -c`), with a timeout: a non-zero exit or a timeout fails that gate.

use async_trait::async_trait;
use bluegreen_core::{Color, HookFailure, HookPoint, Hooks};
use std::process::Stdio;
use std::time::Duration;

/// The hooks of `bluegreen.toml`'s `[hooks]`.
pub struct ShellHooks {
    /// Before any traffic moves.
    pub pre_traffic: Vec<String>,
    /// After each weight change.
    pub after_step: Vec<String>,
    /// After the last step, before promotion.
    pub after_switch: Vec<String>,
    /// How long one command may run.
    pub timeout: Duration,
    /// Passed to each command as `BLUEGREEN_ENVIRONMENT`.
    pub environment: String,
    /// Passed to each command as `BLUEGREEN_APPLICATION`.
    pub application: String,
}

#[async_trait]
impl Hooks for ShellHooks {
    async fn run(&self, point: &HookPoint) -> Result<(), HookFailure> {
        let (commands, split) = match point {
            HookPoint::PreTraffic => (&self.pre_traffic, None),
            HookPoint::AfterStep { split, .. } => (&self.after_step, Some(*split)),
            HookPoint::AfterSwitch { split } => (&self.after_switch, Some(*split)),
        };
        for hook in commands {
            let mut cmd = tokio::process::Command::new("sh");
            cmd.args(["-c", hook])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .env("BLUEGREEN_HOOK_POINT", point.to_string())
                .env("BLUEGREEN_ENVIRONMENT", &self.environment)
                .env("BLUEGREEN_APPLICATION", &self.application);
            if let Some(s) = split {
                cmd.env("BLUEGREEN_WEIGHT_BLUE", s.weight(Color::Blue).to_string())
                    .env("BLUEGREEN_WEIGHT_GREEN", s.weight(Color::Green).to_string());
            }
            let failure = |detail: String| HookFailure {
                hook: hook.clone(),
                detail,
            };
            let mut child = cmd
                .spawn()
                .map_err(|e| failure(format!("did not start: {e}")))?;
            match tokio::time::timeout(self.timeout, child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => return Err(failure(format!("exited with {status}"))),
                Ok(Err(e)) => return Err(failure(e.to_string())),
                Err(_) => {
                    let _ = child.kill().await;
                    return Err(failure(format!(
                        "timed out after {}",
                        humantime::format_duration(self.timeout)
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bluegreen_core::TrafficSplit;

    fn hooks(dir: &std::path::Path, after_step: Vec<String>, timeout: Duration) -> ShellHooks {
        ShellHooks {
            pre_traffic: vec![format!("echo pre >> {}/log", dir.display())],
            after_step,
            after_switch: vec![],
            timeout,
            environment: "poc".into(),
            application: "poc-web".into(),
        }
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("bluegreen-hooks-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn each_hook_sees_its_point_the_application_and_the_split_in_order() {
        let dir = scratch("env");
        let log = dir.join("log");
        let h = hooks(
            &dir,
            vec![
                format!(
                    "echo \"$BLUEGREEN_HOOK_POINT $BLUEGREEN_ENVIRONMENT/$BLUEGREEN_APPLICATION $BLUEGREEN_WEIGHT_BLUE/$BLUEGREEN_WEIGHT_GREEN\" >> {}",
                    log.display()
                ),
                format!("echo second >> {}", log.display()),
            ],
            Duration::from_secs(30),
        );
        h.run(&HookPoint::PreTraffic).await.expect("passes");
        let split = TrafficSplit::new(75, 25).unwrap();
        let point = HookPoint::AfterStep { index: 2, split };
        h.run(&point).await.expect("passes");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            text,
            format!("pre\n{point} poc/poc-web 75/25\nsecond\n"),
            "in order, with the variables"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Issue 22: shell hooks keep the contract every `Hooks` implementation keeps.
    #[cfg(feature = "sim")]
    #[tokio::test]
    async fn shell_hooks_pass_the_hooks_contract() {
        use bluegreen_testkit::HookScript;
        let commands = |s: HookScript| match s {
            HookScript::None => vec![],
            HookScript::Pass => vec!["true".to_string()],
            HookScript::Fail => vec!["true".to_string(), "exit 3".to_string()],
        };
        bluegreen_testkit::conformance::hooks_contract(|pre, step, switch| ShellHooks {
            pre_traffic: commands(pre),
            after_step: commands(step),
            after_switch: commands(switch),
            timeout: Duration::from_secs(30),
            environment: "poc".into(),
            application: "poc-web".into(),
        })
        .await;
    }

    #[tokio::test]
    async fn a_failing_hook_stops_the_rest_and_says_how_it_failed() {
        let dir = scratch("fail");
        let log = dir.join("log");
        let h = hooks(
            &dir,
            vec!["exit 3".into(), format!("echo never >> {}", log.display())],
            Duration::from_secs(30),
        );
        let split = TrafficSplit::new(50, 50).unwrap();
        let err = h
            .run(&HookPoint::AfterStep { index: 0, split })
            .await
            .expect_err("fails");
        assert_eq!(err.hook, "exit 3");
        assert!(err.detail.contains('3'), "{}", err.detail);
        assert!(!log.exists(), "the next hook did not run");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_hook_that_outlives_its_timeout_is_killed_and_fails() {
        let dir = scratch("timeout");
        let h = hooks(&dir, vec!["sleep 30".into()], Duration::from_millis(200));
        let split = TrafficSplit::new(50, 50).unwrap();
        let err = h
            .run(&HookPoint::AfterStep { index: 0, split })
            .await
            .expect_err("times out");
        assert!(
            err.detail.contains("timed out after 200ms"),
            "{}",
            err.detail
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
