//! `healthy-hosts`: the new color keeps enough healthy targets, on every poll.

use super::{CheckKind, CheckSettingError, CheckSettings, CheckSpec, Context, GateKey, KeyType};
use crate::gate::Unit;
use crate::gate::judge::Raw;
use serde::{Deserialize, Serialize};

/// The new color keeps at least `min` healthy hosts throughout the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthyHosts {
    /// Fewest healthy hosts allowed.
    pub min: u32,
}

const MIN: GateKey = GateKey {
    key: "min_healthy_hosts",
    ty: KeyType::Count {
        max: u32::MAX as u64,
    },
    help: "healthy targets the new color keeps during a bake",
};

impl CheckSpec for HealthyHosts {
    const KIND: CheckKind = CheckKind {
        name: "healthy-hosts",
        summary: "the new color's healthy targets, from the load balancer's target health on every poll",
        per_minute: false,
        unit: Unit::Count,
        keys: &[MIN],
        panel: None,
    };

    fn judge(&self, cx: &Context<'_>) -> Raw {
        let min = self.min;
        match cx.new_m.healthy_hosts {
            None => Raw::no_data(
                Unit::Count,
                Some(f64::from(min)),
                "no healthy host data".into(),
            ),
            Some(h) => Raw {
                ok: Some(h >= min),
                value: Some(f64::from(h)),
                stable: None,
                limit: Some(f64::from(min)),
                unit: Unit::Count,
                detail: if h >= min {
                    String::new()
                } else {
                    format!("{h} healthy hosts on {}, fewer than {min}", cx.new)
                },
            },
        }
    }

    fn describe(&self) -> String {
        format!("{} {}", MIN.key, self.min)
    }

    fn configure(&mut self, keys: &CheckSettings) -> Result<(), CheckSettingError> {
        if let Some(v) = keys.count(&MIN) {
            // Bounded when it was read (`KeyType::Count`).
            self.min = u32::try_from(v).unwrap_or(u32::MAX);
        }
        Ok(())
    }
}
