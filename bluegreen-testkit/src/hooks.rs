//! Hooks that pass or fail as scripted, recording every point they ran at.

use async_trait::async_trait;
use bluegreen_core::{HookFailure, HookPoint, Hooks};
use std::sync::Mutex;

/// Which kind of [`HookPoint`] a script entry is for (a point's step and split are not compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// [`HookPoint::PreTraffic`].
    PreTraffic,
    /// [`HookPoint::AfterStep`].
    AfterStep,
    /// [`HookPoint::AfterSwitch`].
    AfterSwitch,
}

impl HookKind {
    /// The kind of `point`.
    pub fn of(point: &HookPoint) -> HookKind {
        match point {
            HookPoint::PreTraffic => HookKind::PreTraffic,
            HookPoint::AfterStep { .. } => HookKind::AfterStep,
            HookPoint::AfterSwitch { .. } => HookKind::AfterSwitch,
        }
    }
}

/// What the hooks of one kind of point do, for [`crate::conformance::hooks_contract`] and scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HookScript {
    /// No hook is configured there.
    #[default]
    None,
    /// One hook that succeeds.
    Pass,
    /// A hook that succeeds, then one that fails (the rest must not run).
    Fail,
}

/// [`Hooks`] that do as scripted per kind of point, and record each point they were run at.
#[derive(Debug, Default)]
pub struct ScriptedHooks {
    /// Pre-traffic.
    pub pre_traffic: HookScript,
    /// After each step.
    pub after_step: HookScript,
    /// After the switch.
    pub after_switch: HookScript,
    ran: Mutex<Vec<HookPoint>>,
}

impl ScriptedHooks {
    /// Hooks scripted per kind of point.
    pub fn new(pre_traffic: HookScript, after_step: HookScript, after_switch: HookScript) -> Self {
        ScriptedHooks {
            pre_traffic,
            after_step,
            after_switch,
            ran: Mutex::new(Vec::new()),
        }
    }

    /// Every point run at, in order.
    pub fn ran(&self) -> Vec<HookPoint> {
        self.ran.lock().unwrap().clone()
    }
}

#[async_trait]
impl Hooks for ScriptedHooks {
    async fn run(&self, point: &HookPoint) -> Result<(), HookFailure> {
        self.ran.lock().unwrap().push(point.clone());
        let script = match HookKind::of(point) {
            HookKind::PreTraffic => self.pre_traffic,
            HookKind::AfterStep => self.after_step,
            HookKind::AfterSwitch => self.after_switch,
        };
        match script {
            HookScript::None | HookScript::Pass => Ok(()),
            HookScript::Fail => Err(HookFailure {
                hook: format!("scripted {point} hook"),
                detail: "exited with exit status: 1".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_hooks_pass_the_hooks_contract() {
        let clock = crate::ManualClock::new(crate::EPOCH_2026);
        crate::run_virtual(
            &clock,
            crate::conformance::hooks_contract(ScriptedHooks::new),
        )
        .expect("the contract needs no time");
    }
}
