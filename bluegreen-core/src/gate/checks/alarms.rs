//! `alarms`: none of the named CloudWatch alarms is in `ALARM`, on every poll. Its names are the general
//! `[gates] alarms` key, which the pre-step gate reads too ([`crate::GatePolicy::with_alarms`]).

use super::{CheckKind, CheckSpec, Context};
use crate::gate::Unit;
use crate::gate::judge::{Raw, judge_alarms};
use serde::{Deserialize, Serialize};

/// None of the named alarms is in `ALARM`. `INSUFFICIENT_DATA` is no data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarms {
    /// Alarm names.
    pub names: Vec<String>,
}

impl CheckSpec for Alarms {
    const KIND: CheckKind = CheckKind {
        name: "alarms",
        summary: "the named CloudWatch alarms, none in ALARM, on every poll",
        per_minute: false,
        unit: Unit::Count,
        keys: &[],
        panel: None,
    };

    fn judge(&self, cx: &Context<'_>) -> Raw {
        judge_alarms(&self.names, cx.alarms)
    }

    fn describe(&self) -> String {
        format!("{} {}", Self::KIND.name, self.names.join(", "))
    }
}
