//! Error mapping and retries without a server: the SDK clients answer from aws-smithy-mocks rules.

use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance, LifecycleState};
use aws_sdk_elasticloadbalancingv2::operation::describe_listeners::{
    DescribeListenersError, DescribeListenersOutput,
};
use aws_sdk_elasticloadbalancingv2::types::error::ListenerNotFoundException;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, Listener};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use bluegreen_aws::{AsgCapacity, ElbRouter, Resolved, Route};
use bluegreen_core::{Capacity, Color, PerColor, ProviderError, TrafficRouter};
use std::sync::Arc;
use std::time::Duration;

fn resolved() -> Arc<Resolved> {
    Arc::new(Resolved {
        application: "poc/poc-web".into(),
        load_balancer_arn:
            "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/poc-poc-web-alb/1".into(),
        routes: vec![Route {
            name: "HTTP:80".into(),
            listener_arn:
                "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/poc-poc-web-alb/1/2".into(),
            rule_arn: None,
        }],
        target_groups: PerColor::from_fn(|c| {
            format!("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/poc-poc-web-{c}-tg/3")
        }),
        auto_scaling_groups: PerColor::from_fn(|c| format!("poc-poc-web-{c}-asg")),
    })
}

fn router(elb: aws_sdk_elasticloadbalancingv2::Client) -> ElbRouter {
    let r = resolved();
    ElbRouter::new(elb, r.target_groups.clone(), r.routes[0].clone())
}

fn aws_error(code: &str, status: u16) -> String {
    let _ = status;
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>because</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
}

#[tokio::test]
async fn a_missing_listener_is_not_found_with_code_operation_and_resource() {
    let rule = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners).then_error(|| {
        // As the SDK builds it from the wire: the code travels in the error's metadata.
        let meta = ErrorMetadata::builder()
            .code("ListenerNotFound")
            .message("gone")
            .build();
        DescribeListenersError::ListenerNotFoundException(
            ListenerNotFoundException::builder()
                .message("gone")
                .meta(meta)
                .build(),
        )
    });
    let elb = mock_client!(aws_sdk_elasticloadbalancingv2, [&rule]);
    let err = router(elb).read_split().await.unwrap_err();
    let ProviderError::NotFound { resource } = &err else {
        panic!("{err}")
    };
    assert!(resource.contains("ListenerNotFound"), "{resource}");
    assert!(resource.contains("DescribeListeners"), "{resource}");
    assert!(
        resource.contains("listener/app/poc-poc-web-alb"),
        "{resource}"
    );
}

#[tokio::test]
async fn aws_error_codes_map_to_kinds() {
    for (code, status, kind) in [
        ("Throttling", 400, "throttled"),
        ("AccessDenied", 403, "access-denied"),
        ("ValidationError", 400, "invalid"),
        ("InternalFailure", 500, "unavailable"),
    ] {
        let body = aws_error(code, status);
        let rule = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners)
            .sequence()
            .http_status(status, Some(body))
            .build();
        let elb = mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::Sequential,
            [&rule],
            |c| c.retry_config(RetryConfig::disabled())
        );
        let err = router(elb).read_split().await.unwrap_err();
        assert_eq!(err.kind(), kind, "{code}: {err}");
    }
}

#[tokio::test]
async fn transient_errors_are_retried_by_the_sdk() {
    let group = AutoScalingGroup::builder()
        .auto_scaling_group_name("poc-poc-web-blue-asg")
        .desired_capacity(2)
        .min_size(0)
        .max_size(4)
        .instances(
            Instance::builder()
                .instance_id("i-1")
                .lifecycle_state(LifecycleState::InService)
                .build(),
        )
        .instances(
            Instance::builder()
                .instance_id("i-2")
                .lifecycle_state(LifecycleState::Pending)
                .build(),
        )
        .build();
    let rule = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .sequence()
        .http_status(400, Some(aws_error("Throttling", 400)))
        .http_status(503, None)
        .output(move || {
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(group.clone())
                .build()
        })
        .build();
    let asg = mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, [&rule], |c| c
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
        ));
    let capacity = AsgCapacity::new(asg, resolved().auto_scaling_groups.clone());
    let status = capacity.capacity(Color::Blue).await.unwrap();
    assert_eq!((status.desired, status.in_service), (2, 1));
    assert_eq!(rule.num_calls(), 3, "two transient failures, then success");
}

#[tokio::test]
async fn a_single_target_group_forward_is_refused_with_what_was_found() {
    let rule =
        mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners).then_output(|| {
            let action = Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/other/9")
                .build();
            DescribeListenersOutput::builder()
                .listeners(Listener::builder().default_actions(action).build())
                .build()
        });
    let elb = mock_client!(aws_sdk_elasticloadbalancingv2, [&rule]);
    let err = router(elb).read_split().await.unwrap_err();
    assert!(
        err.to_string().contains("expected a forward action to the blue and green target groups, found a forward to a single target group"),
        "{err}"
    );
}
