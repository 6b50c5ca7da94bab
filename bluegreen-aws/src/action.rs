//! The listener and its forward action: reading them, and finding the weighted forward to the two colors'
//! target groups. Discovery (which checks the action once) and the router (which reads and writes it on
//! every step) both depend on this module, not on each other.

use crate::error::map_sdk;
use crate::resolved::Route;
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, Listener,
};
use bluegreen_core::{Color, PerColor, ProviderError};

/// Actions that are not one weighted forward to the blue and green target groups.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("found {found}")]
pub(crate) struct NotAForward {
    /// What was found instead, in words.
    pub found: String,
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

/// The actions of `route`'s rule, or its listener's default actions.
pub(crate) async fn fetch_actions(
    elb: &Client,
    route: &Route,
) -> Result<Vec<Action>, ProviderError> {
    match &route.rule_arn {
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
        None => Ok(describe_listener(elb, &route.listener_arn)
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
) -> Result<(usize, PerColor<u32>), NotAForward> {
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
        return Err(NotAForward {
            found: format!("actions [{}]", types.join(", ")),
        });
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
        return Err(NotAForward { found: describe() });
    }
    let mut weights = PerColor::default();
    for c in Color::ALL {
        let t = tuples
            .iter()
            .find(|t| t.target_group_arn() == Some(target_groups.get(c).as_str()))
            .ok_or_else(|| NotAForward { found: describe() })?;
        *weights.get_mut(c) = t.weight().unwrap_or(1).max(0) as u32;
    }
    Ok((index, weights))
}
