//! The world's resources: load balancer, listener, target groups with AWS's target states, Auto Scaling
//! groups, alarms. As strict as AWS: weights 0..=999, unknown target groups rejected, desired capacity
//! within min..=max.

use super::traffic::Traffic;
use bluegreen_core::{AlarmState, Color, PerColor, ProviderError, TargetHealth, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Which forward action of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActionRef {
    /// The listener's default action.
    Default,
    /// The rule with this priority.
    Rule(u32),
}

/// A weighted forward action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    /// `(target group ARN, weight)`.
    pub target_groups: Vec<(String, u32)>,
    /// Target group stickiness, if on.
    pub stickiness: Option<Duration>,
}

/// A listener rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its ARN.
    pub arn: String,
    /// Its priority.
    pub priority: u32,
    /// Its forward action.
    pub forward: Forward,
}

/// A listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// Its ARN.
    pub arn: String,
    /// Its port.
    pub port: u16,
    /// The default action.
    pub default_action: Forward,
    /// Rules.
    pub rules: Vec<Rule>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// A target's registration in a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Instance id.
    pub id: String,
    /// When it was registered.
    pub registered_at: Timestamp,
    /// When it was deregistered, if it was.
    pub deregistered_at: Option<Timestamp>,
}

/// A target's health state, as AWS names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TargetState {
    /// Registered, health checks not yet passed.
    Initial,
    /// Passing health checks.
    Healthy,
    /// Failing health checks.
    Unhealthy,
    /// Deregistered, connections draining.
    Draining,
}

/// A target group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// The color it serves.
    pub color: Color,
    /// Registered targets (past and present).
    pub targets: Vec<Target>,
}

/// An Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asg {
    /// Its name.
    pub name: String,
    /// The color it serves.
    pub color: Color,
    /// Minimum size.
    pub min: u32,
    /// Maximum size.
    pub max: u32,
    /// Desired capacity.
    pub desired: u32,
    /// Instances: `(id, launched at, terminated at)`.
    pub instances: Vec<(String, Timestamp, Option<Timestamp>)>,
    /// The launch template version new instances use, `(template, version)`, once set.
    #[serde(default)]
    pub launch_template: Option<(String, String)>,
    /// The launch configuration the group launches from instead of a template (the guide's groups), if so.
    #[serde(default)]
    pub launch_configuration: Option<String>,
}

/// Timings of the world.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Timings {
    pub warmup: Duration,
    pub health_check: Duration,
    pub deregistration_delay: Duration,
    /// Both groups' slow start, if on.
    #[serde(default)]
    pub slow_start: Option<Duration>,
}

/// Everything in a world, behind one lock.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct State {
    pub start: Timestamp,
    pub load_balancer: String,
    pub listeners: Vec<Listener>,
    pub target_groups: Vec<TargetGroup>,
    pub asgs: Vec<Asg>,
    pub alarms: BTreeMap<String, Vec<(Duration, AlarmState)>>,
    pub traffic: Traffic,
    pub timings: Timings,
    /// The action whose weights drive the traffic simulator.
    pub traffic_action: (String, ActionRef),
    pub next_instance: u64,
    pub writes: Vec<WriteRecord>,
    /// Launch template versions created with an image: `(template, version)` → AMI id.
    #[serde(default)]
    pub template_images: BTreeMap<String, String>,
}

/// A weight change as the world saw it, with each color's healthy targets at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRecord {
    /// When.
    pub at: Timestamp,
    /// Listener ARN.
    pub listener: String,
    /// Which action.
    pub action: ActionRef,
    /// `(target group ARN, weight)` written.
    pub weights: Vec<(String, u32)>,
    /// Healthy targets per color at that moment.
    pub healthy: PerColor<u32>,
}

impl State {
    /// The listener `arn`, to change.
    pub fn listener_mut(&mut self, arn: &str) -> Result<&mut Listener, ProviderError> {
        self.listeners
            .iter_mut()
            .find(|l| l.arn == arn)
            .ok_or_else(|| ProviderError::NotFound {
                resource: format!("listener {arn}"),
            })
    }

    pub fn listener(&self, arn: &str) -> Result<&Listener, ProviderError> {
        self.listeners
            .iter()
            .find(|l| l.arn == arn)
            .ok_or_else(|| ProviderError::NotFound {
                resource: format!("listener {arn}"),
            })
    }

    pub fn forward(&self, listener: &str, action: ActionRef) -> Result<&Forward, ProviderError> {
        let l = self.listener(listener)?;
        match action {
            ActionRef::Default => Ok(&l.default_action),
            ActionRef::Rule(p) => l
                .rules
                .iter()
                .find(|r| r.priority == p)
                .map(|r| &r.forward)
                .ok_or_else(|| ProviderError::NotFound {
                    resource: format!("rule with priority {p} on listener {listener}"),
                }),
        }
    }

    fn forward_mut(&mut self, listener: &str, action: ActionRef) -> Option<&mut Forward> {
        let l = self.listeners.iter_mut().find(|l| l.arn == listener)?;
        match action {
            ActionRef::Default => Some(&mut l.default_action),
            ActionRef::Rule(p) => l
                .rules
                .iter_mut()
                .find(|r| r.priority == p)
                .map(|r| &mut r.forward),
        }
    }

    pub fn target_group(&self, arn: &str) -> Result<&TargetGroup, ProviderError> {
        self.target_groups
            .iter()
            .find(|t| t.arn == arn)
            .ok_or_else(|| ProviderError::NotFound {
                resource: format!("target group {arn}"),
            })
    }

    /// Sets a forward action's weights, as strictly as `ModifyListener`/`ModifyRule`: every target group
    /// must exist and already be in the action, each weight 0..=999.
    pub fn modify_forward(
        &mut self,
        now: Timestamp,
        listener: &str,
        action: ActionRef,
        weights: &[(String, u32)],
    ) -> Result<(), ProviderError> {
        for (arn, w) in weights {
            self.target_group(arn)?;
            if *w > 999 {
                return Err(ProviderError::Invalid {
                    message: format!("ValidationError: weight {w} of {arn} is above 999"),
                });
            }
        }
        let healthy = PerColor::from_fn(|c| self.health_of_color(c, now).healthy);
        let mut updated = self.forward(listener, action)?.clone();
        for (arn, w) in weights {
            match updated.target_groups.iter_mut().find(|(a, _)| a == arn) {
                Some(slot) => slot.1 = *w,
                None => {
                    return Err(ProviderError::Invalid {
                        message: format!("target group {arn} is not in the forward action"),
                    });
                }
            }
        }
        if self.traffic_action == (listener.to_string(), action) {
            let weight_of = |c: Color| {
                updated
                    .target_groups
                    .iter()
                    .find(|(a, _)| {
                        self.target_groups
                            .iter()
                            .any(|t| &t.arn == a && t.color == c)
                    })
                    .map_or(0, |(_, w)| *w)
            };
            let (b, g) = (weight_of(Color::Blue), weight_of(Color::Green));
            self.traffic.weights.push((now, b, g));
        }
        if let Some(slot) = self.forward_mut(listener, action) {
            *slot = updated;
        }
        self.writes.push(WriteRecord {
            at: now,
            listener: listener.to_string(),
            action,
            weights: weights.to_vec(),
            healthy,
        });
        Ok(())
    }

    fn target_state(
        &self,
        tg: &TargetGroup,
        target: &Target,
        now: Timestamp,
    ) -> Option<TargetState> {
        if target.registered_at > now {
            return None;
        }
        if let Some(d) = target.deregistered_at
            && d <= now
        {
            return (now < d + self.timings.deregistration_delay).then_some(TargetState::Draining);
        }
        if now < target.registered_at + self.timings.health_check {
            return Some(TargetState::Initial);
        }
        let _ = tg;
        Some(TargetState::Healthy)
    }

    /// Each present target's state at `now`; the script's unhealthy targets turn the first healthy ones
    /// unhealthy.
    pub fn target_states(&self, tg: &TargetGroup, now: Timestamp) -> Vec<(String, TargetState)> {
        let forced = self
            .traffic
            .scripts
            .get(tg.color)
            .behavior_at(now.since(self.start))
            .unhealthy_targets;
        let mut turned = 0;
        tg.targets
            .iter()
            .filter_map(|t| {
                let mut s = self.target_state(tg, t, now)?;
                if s == TargetState::Healthy && turned < forced {
                    turned += 1;
                    s = TargetState::Unhealthy;
                }
                Some((t.id.clone(), s))
            })
            .collect()
    }

    pub fn health_of(&self, tg: &TargetGroup, now: Timestamp) -> TargetHealth {
        let mut h = TargetHealth::default();
        for (_, s) in self.target_states(tg, now) {
            match s {
                TargetState::Healthy => h.healthy += 1,
                TargetState::Unhealthy => h.unhealthy += 1,
                _ => h.other += 1,
            }
        }
        h
    }

    pub fn health_of_color(&self, color: Color, now: Timestamp) -> TargetHealth {
        self.target_groups
            .iter()
            .find(|t| t.color == color)
            .map(|tg| self.health_of(tg, now))
            .unwrap_or_default()
    }

    pub fn asg_mut(&mut self, name: &str) -> Result<&mut Asg, ProviderError> {
        self.asgs
            .iter_mut()
            .find(|a| a.name == name)
            .ok_or_else(|| ProviderError::NotFound {
                resource: format!("auto scaling group {name}"),
            })
    }

    /// Sets an ASG's desired capacity as `SetDesiredCapacity` does (within min..=max), launching or
    /// terminating instances now; instances register with the color's target group once in service and
    /// deregister (draining) when terminated.
    pub fn set_desired(
        &mut self,
        now: Timestamp,
        name: &str,
        desired: u32,
    ) -> Result<(), ProviderError> {
        let warmup = self.timings.warmup;
        let mut next = self.next_instance;
        let asg = self.asg_mut(name)?;
        if desired < asg.min || desired > asg.max {
            return Err(ProviderError::Invalid {
                message: format!(
                    "ValidationError: desired capacity {desired} is outside {}..={} of {name}",
                    asg.min, asg.max
                ),
            });
        }
        asg.desired = desired;
        let color = asg.color;
        let mut live: Vec<usize> = (0..asg.instances.len())
            .filter(|i| asg.instances[*i].2.is_none())
            .collect();
        let mut launched = Vec::new();
        let mut terminated = Vec::new();
        while (live.len() as u32) < desired {
            let id = format!("i-{next:017x}");
            next += 1;
            asg.instances.push((id.clone(), now, None));
            live.push(asg.instances.len() - 1);
            launched.push(id);
        }
        while (live.len() as u32) > desired {
            let Some(i) = live.pop() else { break };
            asg.instances[i].2 = Some(now);
            terminated.push(asg.instances[i].0.clone());
        }
        self.next_instance = next;
        if let Some(tg) = self.target_groups.iter_mut().find(|t| t.color == color) {
            for id in launched {
                tg.targets.push(Target {
                    id,
                    registered_at: now + warmup,
                    deregistered_at: None,
                });
            }
            for id in terminated {
                if let Some(t) = tg
                    .targets
                    .iter_mut()
                    .find(|t| t.id == id && t.deregistered_at.is_none())
                {
                    // An instance terminated before it was in service never registered.
                    t.deregistered_at = Some(now.max(t.registered_at));
                }
            }
        }
        Ok(())
    }

    pub fn in_service(&self, asg: &Asg, now: Timestamp) -> u32 {
        asg.instances
            .iter()
            .filter(|(_, launched, terminated)| {
                terminated.is_none() && *launched + self.timings.warmup <= now
            })
            .count() as u32
    }

    pub fn alarm_state(&self, name: &str, now: Timestamp) -> Result<AlarmState, ProviderError> {
        let script = self
            .alarms
            .get(name)
            .ok_or_else(|| ProviderError::NotFound {
                resource: format!("alarm {name}"),
            })?;
        let offset = now.since(self.start);
        Ok(script
            .iter()
            .take_while(|(t, _)| *t <= offset)
            .last()
            .map_or(AlarmState::Ok, |(_, s)| *s))
    }
}
