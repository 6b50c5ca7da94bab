//! The listener's (or a rule's) weighted forward action as a [`TrafficRouter`].

use crate::action::{fetch_actions, forward_weights};
use crate::error::map_sdk;
use crate::resolved::Resolved;
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{Action, ForwardActionConfig, TargetGroupTuple};
use bluegreen_core::{Color, ProviderError, TrafficRouter, TrafficSplit};
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

#[async_trait]
impl TrafficRouter for ElbRouter {
    async fn read_split(&self) -> Result<TrafficSplit, ProviderError> {
        let actions = self.fetch_actions().await?;
        let (_, w) = forward_weights(&actions, &self.resolved.target_groups).map_err(|e| {
            ProviderError::Invalid {
                message: format!(
                    "{}: expected a forward action to the blue and green target groups, found {}",
                    self.resolved.action_resource(),
                    e.found
                ),
            }
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
        let (index, _) = forward_weights(&actions, &self.resolved.target_groups).map_err(|e| {
            ProviderError::Invalid {
                message: format!(
                    "{}: cannot write a split into {}",
                    self.resolved.action_resource(),
                    e.found
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
