//! The least-privilege IAM policy the providers need, as data.

use crate::Naming;
use serde_json::{Value, json};

/// One statement: actions on resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Statement id.
    pub sid: &'static str,
    /// Actions, `service:Operation`.
    pub actions: &'static [&'static str],
    /// Resource ARN patterns.
    pub resources: Vec<String>,
    /// A condition block, where the ARN cannot name the application's resources (an EC2 launch template's
    /// ARN holds only its id): its ownership tag then must.
    pub condition: Option<Value>,
}

/// The statements for one application in one account and region. Describe and GetMetricData calls do not
/// support resource-level permissions, so they get `*`; every write is limited to the application's
/// listeners, rules and Auto Scaling groups.
pub fn statements(partition: &str, region: &str, account: &str, naming: &Naming) -> Vec<Statement> {
    let elb = format!("arn:{partition}:elasticloadbalancing:{region}:{account}");
    let lb = naming.load_balancer();
    let prefix = format!("{}-", naming.application_key().replace('/', "-"));
    #[allow(unused_mut)]
    let mut statements = vec![
        Statement {
            sid: "ReadLoadBalancing",
            actions: &[
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeTargetHealth",
                "elasticloadbalancing:DescribeTags",
            ],
            resources: vec!["*".into()],
            condition: None,
        },
        Statement {
            sid: "ShiftTraffic",
            actions: &[
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyRule",
            ],
            resources: vec![
                format!("{elb}:listener/app/{lb}/*"),
                format!("{elb}:listener-rule/app/{lb}/*"),
            ],
            condition: None,
        },
        Statement {
            // `adopt`'s ownership tag, and a running deployment's mark (written, renewed, removed).
            sid: "TagListener",
            actions: &[
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:RemoveTags",
            ],
            resources: vec![
                format!("{elb}:listener/app/{lb}/*"),
                format!("{elb}:listener-rule/app/{lb}/*"),
            ],
            condition: None,
        },
        Statement {
            sid: "ReadMetrics",
            actions: &["cloudwatch:GetMetricData"],
            resources: vec!["*".into()],
            condition: None,
        },
        Statement {
            sid: "ReadAlarms",
            actions: &["cloudwatch:DescribeAlarms"],
            resources: vec![format!(
                "arn:{partition}:cloudwatch:{region}:{account}:alarm:*"
            )],
            condition: None,
        },
        Statement {
            sid: "ReadCapacity",
            actions: &["autoscaling:DescribeAutoScalingGroups"],
            resources: vec!["*".into()],
            condition: None,
        },
        Statement {
            sid: "ChangeCapacity",
            actions: &[
                "autoscaling:SetDesiredCapacity",
                "autoscaling:UpdateAutoScalingGroup",
            ],
            resources: vec![format!(
                "arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{prefix}*"
            )],
            condition: None,
        },
    ];
    // `deploy --ami` (feature `ami`): look the image and the template version up (no resource-level
    // permissions), and add a version to a launch template.
    #[cfg(feature = "ami")]
    statements.extend([
        Statement {
            sid: "ReadImages",
            actions: &["ec2:DescribeImages", "ec2:DescribeLaunchTemplateVersions"],
            resources: vec!["*".into()],
            condition: None,
        },
        Statement {
            sid: "NewImageVersion",
            actions: &["ec2:CreateLaunchTemplateVersion"],
            resources: vec![format!(
                "arn:{partition}:ec2:{region}:{account}:launch-template/*"
            )],
            // Only the application's own templates: those tagged with its ownership tag, as its listeners are.
            condition: Some(json!({"StringEquals": {
                format!("aws:ResourceTag/{}", crate::OWNER_TAG): naming.application_key()
            }})),
        },
    ]);
    statements
}

/// The policy document.
///
/// ```
/// let naming = bluegreen_aws::Naming::new("poc", "poc-web").unwrap();
/// let doc = bluegreen_aws::iam::policy("aws", "ap-northeast-1", "123456789012", &naming);
/// assert_eq!(doc["Version"], "2012-10-17");
/// ```
pub fn policy(partition: &str, region: &str, account: &str, naming: &Naming) -> Value {
    let statements: Vec<Value> = statements(partition, region, account, naming)
        .into_iter()
        .map(|s| {
            let mut statement = json!({"Sid": s.sid, "Effect": "Allow", "Action": s.actions, "Resource": s.resources});
            if let Some(condition) = s.condition {
                statement["Condition"] = condition;
            }
            statement
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The statement of the shared state backend (`DynamoStore`): the item operations it makes, on its table
/// only, and — with a prefix — only on items whose partition key starts with it (`dynamodb:LeadingKeys`).
pub fn state_statement(
    partition: &str,
    region: &str,
    account: &str,
    table: &str,
    prefix: &str,
) -> Value {
    let mut statement = json!({
        "Sid": "SharedState",
        "Effect": "Allow",
        "Action": [
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:Query",
            "dynamodb:ConditionCheckItem",
        ],
        "Resource": [format!("arn:{partition}:dynamodb:{region}:{account}:table/{table}")],
    });
    if !prefix.is_empty() {
        statement["Condition"] =
            json!({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [format!("{prefix}*")]}});
    }
    statement
}

/// [`policy`] with the shared state backend's statement added, for a team that keeps its state in DynamoDB
/// table `table` under `prefix`.
pub fn policy_with_state(
    partition: &str,
    region: &str,
    account: &str,
    naming: &Naming,
    table: &str,
    prefix: &str,
) -> Value {
    let mut doc = policy(partition, region, account, naming);
    if let Some(list) = doc["Statement"].as_array_mut() {
        list.push(state_statement(partition, region, account, table, prefix));
    }
    doc
}

/// The statement of notifications to SNS (`[notify] sns`): `sns:Publish` on that topic only.
///
/// ```
/// let s = bluegreen_aws::iam::notify_statement("arn:aws:sns:ap-northeast-1:123456789012:deploys");
/// assert_eq!(s["Action"][0], "sns:Publish");
/// ```
pub fn notify_statement(topic: &str) -> Value {
    json!({
        "Sid": "Notify",
        "Effect": "Allow",
        "Action": ["sns:Publish"],
        "Resource": [topic],
    })
}

/// Every action of the policy, without its service prefix (`ModifyListener`), as the SDK names operations.
pub fn operations() -> Vec<&'static str> {
    let naming = Naming::new("x", "y").expect("valid");
    let mut ops: Vec<&'static str> = statements("aws", "r", "a", &naming)
        .into_iter()
        .flat_map(|s| {
            s.actions
                .iter()
                .map(|a| a.split_once(':').map_or(*a, |(_, op)| op))
        })
        .collect();
    ops.sort_unstable();
    ops.dedup();
    ops
}
