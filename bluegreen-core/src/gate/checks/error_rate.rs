//! `5xx-rate`: the new color's 5xx rate, alone and against the stable color's.

use super::{
    CheckKind, CheckSettingError, CheckSettings, CheckSpec, Context, GateKey, KeyType, Panel,
};
use crate::gate::judge::{Raw, compare_max};
use crate::gate::{Relative, Unit};
use serde::{Deserialize, Serialize};

/// The new color's 5xx rate (0.0–1.0) at most `max`, and relative to stable if set. A rate above the limit
/// counts as a breach only with at least `min_errors` errors in the window, so that two or three chance
/// errors in a small window do not roll a healthy release back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorRate {
    /// Highest rate allowed, e.g. 0.01 for 1 %.
    pub max: f64,
    /// Comparison with the stable color.
    #[serde(default)]
    pub relative: Option<Relative>,
    /// Fewest errors that make a breach (0: any).
    #[serde(default)]
    pub min_errors: u64,
}

const MAX: GateKey = GateKey {
    key: "max_5xx_rate",
    ty: KeyType::Rate,
    help: "the highest share of 5xx responses the new color may have, 0.0 to 1.0",
};
const FACTOR: GateKey = GateKey {
    key: "relative_5xx_factor",
    ty: KeyType::Number,
    help: "the new color's 5xx share may be at most this times the stable color's (plus the epsilon)",
};
const EPSILON: GateKey = GateKey {
    key: "relative_5xx_epsilon",
    ty: KeyType::Number,
    help: "the allowance added to the relative 5xx limit",
};
/// Also read by `elb-5xx-rate`.
pub(super) const MIN_ERRORS: GateKey = GateKey {
    key: "min_errors",
    ty: KeyType::Count { max: u64::MAX },
    help: "errors a minute needs before its 5xx share can fail (the load balancer's too)",
};

/// The relative limit a key turns on when the gate had none.
const DEFAULT_RELATIVE: Relative = Relative {
    factor: 2.0,
    epsilon: 0.01,
};

impl CheckSpec for ErrorRate {
    const KIND: CheckKind = CheckKind {
        name: "5xx-rate",
        summary: "the new color's 5xx responses ÷ its requests, alone and against the stable color's",
        per_minute: true,
        unit: Unit::Ratio,
        keys: &[MAX, FACTOR, EPSILON, MIN_ERRORS],
        panel: Some(Panel {
            title: "5xx rate",
            floor: 0.5,
            always: true,
        }),
    };

    fn judge(&self, cx: &Context<'_>) -> Raw {
        let pick = |m| if cx.enough(m) { m.error_rate() } else { None };
        let mut raw = compare_max(
            pick(cx.new_m),
            pick(cx.stable_m),
            self.max,
            self.relative,
            Unit::Ratio,
            || cx.too_few(),
        );
        let errors = cx.new_m.errors_5xx.unwrap_or(0);
        if raw.ok == Some(false) && errors < self.min_errors {
            raw.ok = Some(true);
            raw.detail = format!(
                "above the limit with only {errors} errors, fewer than the {} that make a breach",
                self.min_errors
            );
        }
        raw
    }

    fn describe(&self) -> String {
        format!(
            "{} {}{} ({}, {}); a breach needs {} {}",
            MAX.key,
            self.max,
            super::describe_relative(&self.relative, ""),
            FACTOR.key,
            EPSILON.key,
            MIN_ERRORS.key,
            self.min_errors
        )
    }

    fn bounds(&self) -> (Option<f64>, Option<Relative>) {
        (Some(self.max), self.relative)
    }

    fn configure(&mut self, keys: &CheckSettings) -> Result<(), CheckSettingError> {
        if let Some(v) = keys.number(&MAX)? {
            self.max = v;
        }
        let (factor, epsilon) = (keys.number(&FACTOR)?, keys.number(&EPSILON)?);
        if factor.is_some() || epsilon.is_some() {
            let r = self.relative.get_or_insert(DEFAULT_RELATIVE);
            r.factor = factor.unwrap_or(r.factor);
            r.epsilon = epsilon.unwrap_or(r.epsilon);
        }
        if let Some(v) = keys.count(&MIN_ERRORS) {
            self.min_errors = v;
        }
        Ok(())
    }
}
