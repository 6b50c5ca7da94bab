//! `elb-5xx-rate`: requests to the new color that the load balancer answered itself, because it could not
//! connect to a target. Off unless `max_elb_5xx_rate` is set.

use super::error_rate::MIN_ERRORS;
use super::{
    CheckKind, CheckSettingError, CheckSettings, CheckSpec, Context, GateKey, KeyType, Panel,
};
use crate::gate::judge::{Raw, compare_max};
use crate::gate::{DEFAULT_MIN_ERRORS, Relative, Unit};
use serde::{Deserialize, Serialize};

/// The share of the new color's requests that the load balancer itself answered with a 5xx because it
/// could not connect to a target (`TargetConnectionErrorCount` ÷ `RequestCount`, per target group) at
/// most `max`. `HTTPCode_ELB_5XX_Count` has no target group dimension, so it cannot name a color; a
/// failed connection to the new color's targets can. A rate above the limit counts as a breach only with
/// at least `min_errors` such errors in the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ElbErrorRate {
    /// Highest rate allowed, e.g. 0.01 for 1 %.
    pub max: f64,
    /// Fewest errors that make a breach (0: any).
    #[serde(default)]
    pub min_errors: u64,
}

const MAX: GateKey = GateKey {
    key: "max_elb_5xx_rate",
    ty: KeyType::Rate,
    help: "turns on the elb-5xx-rate gate: the highest share of the new color's requests the load balancer may answer with a 5xx itself, 0.0 to 1.0 (off by default)",
};

impl CheckSpec for ElbErrorRate {
    const KIND: CheckKind = CheckKind {
        name: "elb-5xx-rate",
        summary: "the new color's requests the load balancer answered itself (connections to the targets failed) ÷ its requests",
        per_minute: true,
        unit: Unit::Ratio,
        keys: &[MAX],
        panel: Some(Panel {
            title: "load balancer 5xx (connections to the targets failed)",
            floor: 0.5,
            always: false,
        }),
    };

    fn judge(&self, cx: &Context<'_>) -> Raw {
        let rate = if cx.enough(cx.new_m) {
            cx.new_m.connection_error_rate()
        } else {
            None
        };
        let mut raw = compare_max(rate, None, self.max, None, Unit::Ratio, || cx.too_few());
        let errors = cx.new_m.connection_errors.unwrap_or(0);
        if raw.ok == Some(false) && errors < self.min_errors {
            raw.ok = Some(true);
            raw.detail = format!(
                "above the limit with only {errors} load balancer errors, fewer than the {} that make a breach",
                self.min_errors
            );
        } else if raw.ok == Some(false) {
            raw.detail = format!(
                "{errors} requests to {} answered by the load balancer (its connections to the targets failed): {}",
                cx.new, raw.detail
            );
        }
        raw
    }

    fn describe(&self) -> String {
        format!(
            "{} {} (requests the load balancer answered itself: connections to the targets failed); a breach needs {} {}",
            MAX.key, self.max, MIN_ERRORS.key, self.min_errors
        )
    }

    fn bounds(&self) -> (Option<f64>, Option<Relative>) {
        (Some(self.max), None)
    }

    fn configure(&mut self, keys: &CheckSettings) -> Result<(), CheckSettingError> {
        if let Some(v) = keys.number(&MAX)? {
            self.max = v;
        }
        if let Some(v) = keys.count(&MIN_ERRORS) {
            self.min_errors = v;
        }
        Ok(())
    }

    fn enabled_by(keys: &CheckSettings) -> Result<Option<Self>, CheckSettingError> {
        Ok(keys.number(&MAX)?.map(|max| ElbErrorRate {
            max,
            min_errors: DEFAULT_MIN_ERRORS,
        }))
    }
}
