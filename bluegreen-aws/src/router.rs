//! The listener's (or a rule's) weighted forward action as a [`TrafficRouter`].

use crate::discovery::Resolved;
use crate::error::map_sdk;
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, Listener, TargetGroupTuple,
};
use bluegreen_core::{Color, PerColor, ProviderError, TrafficRouter, TrafficSplit};
use std::sync::{Arc, Mutex};

/// Reads and writes the weights of the forward action of the listener's default actions, or of one rule.
///
/// A write keeps everything else of the actions as it was (other actions, order, stickiness). It reuses the
/// actions of the last read, so a step costs one `ModifyListener` and one read-back, no extra read.
pub struct ElbRouter {
    elb: Client,
    resolved: Arc<Resolved>,
    last_actions: Mutex<Option<Vec<Action>>>,
}

impl ElbRouter {
    /// A router on `resolved`'s listener or rule.
    pub fn new(elb: Client, resolved: Arc<Resolved>) -> Self {
        ElbRouter {
            elb,
            resolved,
            last_actions: Mutex::new(None),
        }
    }

    async fn fetch_actions(&self) -> Result<Vec<Action>, ProviderError> {
        fetch_actions(&self.elb, &self.resolved).await
    }
}

/// One listener, by ARN.
pub(crate) async fn describe_listener(elb: &Client, arn: &str) -> Result<Listener, ProviderError> {
    let out = elb
        .describe_listeners()
        .listener_arns(arn)
        .send()
        .await
        .map_err(|e| map_sdk("DescribeListeners", arn, e))?;
    out.listeners()
        .first()
        .cloned()
        .ok_or_else(|| ProviderError::NotFound {
            resource: format!("listener {arn}"),
        })
}

/// The actions of `resolved`'s rule, or its listener's default actions.
pub(crate) async fn fetch_actions(
    elb: &Client,
    resolved: &Resolved,
) -> Result<Vec<Action>, ProviderError> {
    match &resolved.rule_arn {
        Some(rule) => {
            let out = elb
                .describe_rules()
                .rule_arns(rule)
                .send()
                .await
                .map_err(|e| map_sdk("DescribeRules", rule, e))?;
            let r = out.rules().first().ok_or_else(|| ProviderError::NotFound {
                resource: format!("rule {rule}"),
            })?;
            Ok(r.actions().to_vec())
        }
        None => Ok(describe_listener(elb, &resolved.listener_arn)
            .await?
            .default_actions()
            .to_vec()),
    }
}

/// The single forward action among `actions`, and its weights for the two colors' target groups; an error
/// that says what was found otherwise.
pub(crate) fn forward_weights(
    actions: &[Action],
    target_groups: &PerColor<String>,
) -> Result<(usize, PerColor<u32>), String> {
    let forwards: Vec<usize> = (0..actions.len())
        .filter(|i| actions[*i].r#type() == Some(&ActionTypeEnum::Forward))
        .collect();
    let [index] = forwards[..] else {
        let types: Vec<String> = actions
            .iter()
            .map(|a| {
                a.r#type()
                    .map_or("unknown".into(), |t| t.as_str().to_string())
            })
            .collect();
        return Err(format!("actions [{}]", types.join(", ")));
    };
    let tuples = actions[index]
        .forward_config()
        .map(ForwardActionConfig::target_groups)
        .unwrap_or_default();
    let found: Vec<String> = tuples
        .iter()
        .map(|t| {
            format!(
                "{} (weight {})",
                t.target_group_arn().unwrap_or("?"),
                t.weight().unwrap_or(1)
            )
        })
        .collect();
    let describe = || {
        format!(
            "a forward to {}",
            if found.is_empty() {
                "a single target group".into()
            } else {
                found.join(", ")
            }
        )
    };
    if tuples.len() != 2 {
        return Err(describe());
    }
    let mut weights = PerColor::default();
    for c in Color::ALL {
        let t = tuples
            .iter()
            .find(|t| t.target_group_arn() == Some(target_groups.get(c).as_str()))
            .ok_or_else(describe)?;
        *weights.get_mut(c) = t.weight().unwrap_or(1).max(0) as u32;
    }
    Ok((index, weights))
}

#[async_trait]
impl TrafficRouter for ElbRouter {
    async fn read_split(&self) -> Result<TrafficSplit, ProviderError> {
        let actions = self.fetch_actions().await?;
        let (_, w) = forward_weights(&actions, &self.resolved.target_groups).map_err(|found| ProviderError::Invalid {
            message: format!(
                "{}: expected a forward action to the blue and green target groups, found {found}",
                self.resolved.action_resource()
            ),
        })?;
        let split =
            TrafficSplit::from_weights(w.blue, w.green).ok_or_else(|| ProviderError::Invalid {
                message: format!(
                    "{}: both target groups have weight 0",
                    self.resolved.action_resource()
                ),
            })?;
        *self.last_actions.lock().unwrap_or_else(|e| e.into_inner()) = Some(actions);
        Ok(split)
    }

    async fn write_split(&self, split: TrafficSplit) -> Result<(), ProviderError> {
        let cached = self
            .last_actions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let mut actions = match cached {
            Some(a) => a,
            None => self.fetch_actions().await?,
        };
        let (index, _) =
            forward_weights(&actions, &self.resolved.target_groups).map_err(|found| {
                ProviderError::Invalid {
                    message: format!(
                        "{}: cannot write a split into {found}",
                        self.resolved.action_resource()
                    ),
                }
            })?;
        let forward = &mut actions[index];
        let stickiness = forward
            .forward_config()
            .and_then(|f| f.target_group_stickiness_config())
            .cloned();
        let tuples = Color::ALL
            .iter()
            .map(|c| {
                TargetGroupTuple::builder()
                    .target_group_arn(self.resolved.target_groups.get(*c))
                    .weight(split.weight(*c) as i32)
                    .build()
            })
            .collect();
        forward.forward_config = Some(
            ForwardActionConfig::builder()
                .set_target_groups(Some(tuples))
                .set_target_group_stickiness_config(stickiness)
                .build(),
        );
        forward.target_group_arn = None;
        match &self.resolved.rule_arn {
            Some(rule) => self
                .elb
                .modify_rule()
                .rule_arn(rule)
                .set_actions(Some(actions.clone()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_sdk("ModifyRule", rule, e)),
            None => {
                let arn = &self.resolved.listener_arn;
                self.elb
                    .modify_listener()
                    .listener_arn(arn)
                    .set_default_actions(Some(actions.clone()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| map_sdk("ModifyListener", arn, e))
            }
        }?;
        *self.last_actions.lock().unwrap_or_else(|e| e.into_inner()) = Some(actions);
        Ok(())
    }
}
