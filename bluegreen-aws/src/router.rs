//! The listener's (or a rule's) weighted forward action as a [`TrafficRouter`].

use crate::action::{fetch_actions, forward_weights};
use crate::error::map_sdk;
use crate::resolved::{Resolved, Route};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{Action, ForwardActionConfig, Tag, TargetGroupTuple};
use bluegreen_core::{
    Color, GroupTimings, PerColor, ProviderError, RouteMark, RouteSet, Routing, TrafficRouter,
    TrafficSplit,
};
use std::sync::{Arc, Mutex};

/// Reads and writes the weights of the forward action of the listener's default actions, or of one rule.
///
/// A write keeps everything else of the actions as it was (other actions, order, stickiness). It reuses the
/// actions of the last read, so a step costs one `ModifyListener` and one read-back, no extra read.
pub struct ElbRouter {
    elb: Client,
    target_groups: PerColor<String>,
    route: Route,
    last_actions: Mutex<Option<Vec<Action>>>,
}

impl ElbRouter {
    /// A router on one route (a listener's default action or a rule) forwarding to `target_groups`.
    pub fn new(elb: Client, target_groups: PerColor<String>, route: Route) -> Self {
        ElbRouter {
            elb,
            target_groups,
            route,
            last_actions: Mutex::new(None),
        }
    }

    /// The router for every route of `resolved`: the one route's [`ElbRouter`], or a [`RouteSet`] of them
    /// that moves them together.
    pub fn for_routes(elb: &Client, resolved: &Resolved) -> Arc<dyn TrafficRouter> {
        let mut routers: Vec<(String, Arc<dyn TrafficRouter>)> = resolved
            .routes
            .iter()
            .map(|r| {
                let router: Arc<dyn TrafficRouter> = Arc::new(ElbRouter::new(
                    elb.clone(),
                    resolved.target_groups.clone(),
                    r.clone(),
                ));
                (r.name.clone(), router)
            })
            .collect();
        if routers.len() == 1 {
            return routers.remove(0).1;
        }
        Arc::new(RouteSet::new(routers).expect("a resolved application has a route"))
    }

    async fn fetch_actions(&self) -> Result<Vec<Action>, ProviderError> {
        fetch_actions(&self.elb, &self.route).await
    }

    /// The forward action to the two colors in `actions`: its index and weights.
    fn forward(&self, actions: &[Action]) -> Result<(usize, PerColor<u32>), ProviderError> {
        forward_weights(actions, &self.target_groups).map_err(|e| ProviderError::Invalid {
            message: format!(
                "{}: expected a forward action to the blue and green target groups, found {}",
                self.route.resource(),
                e.found
            ),
        })
    }
}

#[async_trait]
impl TrafficRouter for ElbRouter {
    async fn read_split(&self) -> Result<TrafficSplit, ProviderError> {
        let actions = self.fetch_actions().await?;
        let (_, w) = self.forward(&actions)?;
        let split =
            TrafficSplit::from_weights(w.blue, w.green).ok_or_else(|| ProviderError::Invalid {
                message: format!(
                    "{}: both target groups have weight 0",
                    self.route.resource()
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
            forward_weights(&actions, &self.target_groups).map_err(|e| ProviderError::Invalid {
                message: format!(
                    "{}: cannot write a split into {}",
                    self.route.resource(),
                    e.found
                ),
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
                    .target_group_arn(self.target_groups.get(*c))
                    .weight(split.alb_weight(*c) as i32)
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
        match &self.route.rule_arn {
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
                let arn = &self.route.listener_arn;
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

    async fn read_routes(&self) -> Result<Routing, ProviderError> {
        Ok(Routing::single(
            self.route.name.clone(),
            self.read_split().await?,
        ))
    }

    /// The forward action's group stickiness, when enabled: one `DescribeListeners` (or `DescribeRules`).
    async fn stickiness(&self) -> Result<Option<std::time::Duration>, ProviderError> {
        let actions = self.fetch_actions().await?;
        let (index, _) = self.forward(&actions)?;
        Ok(actions[index]
            .forward_config()
            .and_then(|f| f.target_group_stickiness_config())
            .filter(|s| s.enabled() == Some(true))
            .map(|s| {
                std::time::Duration::from_secs(s.duration_seconds().unwrap_or(0).max(0) as u64)
            }))
    }

    /// `color`'s target group attributes: one `DescribeTargetGroupAttributes`. An attribute the answer
    /// lacks is AWS's default (deregistration delay 300 s, slow start off).
    async fn group_timings(&self, color: Color) -> Result<Option<GroupTimings>, ProviderError> {
        let arn = self.target_groups.get(color);
        let out = self
            .elb
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| map_sdk("DescribeTargetGroupAttributes", arn, e))?;
        let seconds = |key: &str| {
            out.attributes()
                .iter()
                .find(|a| a.key() == Some(key))
                .and_then(|a| a.value())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(std::time::Duration::from_secs)
        };
        Ok(Some(GroupTimings {
            deregistration_delay: seconds("deregistration_delay.timeout_seconds")
                .unwrap_or(std::time::Duration::from_secs(300)),
            slow_start: seconds("slow_start.duration_seconds").filter(|d| !d.is_zero()),
        }))
    }

    /// The mark, from the listener's (or rule's) tags: one `DescribeTags`.
    async fn read_mark(&self) -> Result<Option<RouteMark>, ProviderError> {
        let resource = self.route.resource();
        let out = self
            .elb
            .describe_tags()
            .resource_arns(resource)
            .send()
            .await
            .map_err(|e| map_sdk("DescribeTags", resource, e))?;
        Ok(RouteMark::from_tags(
            out.tag_descriptions()
                .iter()
                .flat_map(|d| d.tags())
                .filter_map(|t| Some((t.key()?, t.value()?))),
        ))
    }

    /// Tags the listener (or rule) with the mark: one `AddTags`, which replaces the values of its keys.
    async fn write_mark(&self, mark: &RouteMark) -> Result<(), ProviderError> {
        let resource = self.route.resource();
        let tags = mark
            .tags()
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        self.elb
            .add_tags()
            .resource_arns(resource)
            .set_tags(Some(tags))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk("AddTags", resource, e))
    }

    /// Removes the mark's tags: one `RemoveTags`.
    async fn clear_mark(&self) -> Result<(), ProviderError> {
        let resource = self.route.resource();
        self.elb
            .remove_tags()
            .resource_arns(resource)
            .set_tag_keys(Some(
                RouteMark::TAG_KEYS.iter().map(|k| k.to_string()).collect(),
            ))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk("RemoveTags", resource, e))
    }
}
