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
