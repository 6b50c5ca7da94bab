//! Configuration and clients: the standard credential chain, region, profile, endpoint override.

use crate::discovery::{self, TargetSpec};
use crate::resolved::Resolved;
use crate::{AsgCapacity, AwsError, CallCounter, CloudWatchHealth, ElbRouter};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_types::region::Region;
use bluegreen_core::TrafficRouter;
use std::sync::Arc;

/// Where and as whom to call AWS. Unset fields come from the standard chain: `AWS_REGION`, `AWS_PROFILE`,
/// `AWS_ENDPOINT_URL`, shared config and credentials files, SSO, instance and container roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// Region, e.g. `ap-northeast-1`.
    pub region: Option<String>,
    /// Named profile.
    pub profile: Option<String>,
    /// A role to assume (`sts:AssumeRole`) with the credentials the chain (or the profile) finds: a
    /// deployment into another account. Session name `bluegreen`.
    pub role_arn: Option<String>,
    /// Endpoint URL for every service (a local emulator, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// SDK attempts per call. Default 1: the SDK does not retry, because the executor retries throttling and
    /// transient errors itself, on its injected clock, reporting each retry (decision 007). Set it only to
    /// use the providers without an executor.
    pub max_attempts: Option<u32>,
    /// Ask CloudWatch for p99 response times (one more series per color).
    pub p99: bool,
}

/// The three SDK clients, sharing one configuration and one [`CallCounter`].
#[derive(Clone, Debug)]
pub struct Connection {
    elb: aws_sdk_elasticloadbalancingv2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    #[cfg(feature = "ami")]
    ec2: aws_sdk_ec2::Client,
    counter: CallCounter,
    p99: bool,
}

/// The providers for one application.
pub struct AwsProviders {
    /// The resources, by ARN.
    pub resolved: Arc<Resolved>,
    /// The weights of every route (listener or rule) that moves together.
    pub router: Arc<dyn TrafficRouter>,
    /// Target health, metrics, alarms.
    pub health: CloudWatchHealth,
    /// The Auto Scaling groups.
    pub capacity: AsgCapacity,
}

impl AwsProviders {
    /// The core's providers: these, the real clock, `store` for records and the lock, and `approval`; no
    /// hooks. Every field of the result stays replaceable.
    pub fn into_providers(
        self,
        store: Arc<dyn bluegreen_core::StateStore>,
        approval: Arc<dyn bluegreen_core::Approval>,
    ) -> bluegreen_core::Providers {
        bluegreen_core::Providers {
            router: self.router,
            health: Arc::new(self.health),
            capacity: Some(Arc::new(self.capacity)),
            clock: Arc::new(crate::SystemClock),
            approval,
            store,
            hooks: None,
        }
    }

    /// The core's providers with a team's shared table (see [`Connection::store`]) as the store and as the
    /// approval channel: `bluegreen promote` or `abort` on any machine reaches the deployment.
    pub fn with_shared_state(self, store: crate::DynamoStore) -> bluegreen_core::Providers {
        let approval = Arc::new(bluegreen_store::QueueApproval::new(
            store.clone(),
            Arc::new(crate::SystemClock),
        ));
        self.into_providers(Arc::new(store), approval)
    }
}

impl AwsSettings {
    /// Checks what can be checked without a call: an endpoint URL must be an `http` or `https` URL with a
    /// host; a named profile must exist in the shared config or credentials files (`AWS_CONFIG_FILE`,
    /// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/`), as the AWS CLI requires.
    pub async fn check(&self) -> Result<(), AwsError> {
        if let Some(url) = &self.endpoint_url {
            let bad = |problem: &str| AwsError::Endpoint {
                url: url.clone(),
                problem: problem.into(),
            };
            let uri: http::Uri = url
                .parse()
                .map_err(|_| bad("not a URL (expected e.g. http://127.0.0.1:5000)"))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) {
                return Err(bad("the scheme must be http or https"));
            }
            if uri.host().is_none_or(str::is_empty) {
                return Err(bad("no host"));
            }
        }
        if let Some(arn) = &self.role_arn {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            let ok = parts.len() == 6
                && parts[0] == "arn"
                && parts[1].starts_with("aws")
                && parts[2] == "iam"
                && parts[4].len() == 12
                && parts[4].bytes().all(|b| b.is_ascii_digit())
                && parts[5]
                    .strip_prefix("role/")
                    .is_some_and(|n| !n.is_empty());
            if !ok {
                return Err(AwsError::RoleArn { arn: arn.clone() });
            }
        }
        let Some(name) = &self.profile else {
            return Ok(());
        };
        let problem = |problem: String| AwsError::Profile {
            name: name.clone(),
            problem,
        };
        let set = aws_config::profile::load(
            &aws_types::os_shim_internal::Fs::real(),
            &aws_types::os_shim_internal::Env::real(),
            &Default::default(),
            None,
        )
        .await
        .map_err(|e| problem(format!("the shared config files cannot be read: {e}")))?;
        if set.get_profile(name).is_some() {
            return Ok(());
        }
        let mut known: Vec<&str> = set.profiles().collect();
        known.sort_unstable();
        Err(problem(if known.is_empty() {
            "not found: there are no profiles in the shared config and credentials files".into()
        } else {
            format!(
                "not found in the shared config and credentials files (profiles: {})",
                known.join(", ")
            )
        }))
    }
}

impl Connection {
    /// Loads the configuration (no call is made yet) and builds the clients. A named profile wins over
    /// credentials in the environment (`AWS_ACCESS_KEY_ID`, ...), as `aws --profile` does; check it first
    /// with [`AwsSettings::check`].
    pub async fn connect(settings: &AwsSettings) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(r) = &settings.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(p) = &settings.profile {
            // The default chain asks the environment first: an explicit profile must not lose to keys
            // left in it.
            loader = loader.profile_name(p).credentials_provider(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .profile_name(p)
                    .build(),
            );
        }
        if let Some(e) = &settings.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        // One retry policy: the executor's (decision 007). Retries inside the SDK would run off the injected
        // clock, unreported, multiplied by the executor's own.
        loader = loader.retry_config(match settings.max_attempts {
            Some(n) if n > 1 => RetryConfig::standard().with_max_attempts(n),
            _ => RetryConfig::disabled(),
        });
        let mut config = loader.load().await;
        if let Some(role) = &settings.role_arn {
            // Assumed with the credentials found above, refreshed before they expire.
            let assumed = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("bluegreen")
                .configure(&config)
                .build()
                .await;
            config = config
                .to_builder()
                .credentials_provider(aws_types::sdk_config::SharedCredentialsProvider::new(
                    assumed,
                ))
                .build();
        }
        let counter = CallCounter::default();
        let elb = aws_sdk_elasticloadbalancingv2::Client::from_conf(
            aws_sdk_elasticloadbalancingv2::config::Builder::from(&config)
                .interceptor(counter.clone())
                .build(),
        );
        let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&config)
                .interceptor(counter.clone())
                .build(),
        );
        let autoscaling = aws_sdk_autoscaling::Client::from_conf(
            aws_sdk_autoscaling::config::Builder::from(&config)
                .interceptor(counter.clone())
                .build(),
        );
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(counter.clone())
                .build(),
        );
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&config)
                .interceptor(counter.clone())
                .build(),
        );
        #[cfg(feature = "ami")]
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&config)
                .interceptor(counter.clone())
                .build(),
        );
        Connection {
            elb,
            cloudwatch,
            autoscaling,
            dynamodb,
            sns,
            #[cfg(feature = "ami")]
            ec2,
            counter,
            p99: settings.p99,
        }
    }

    /// Requests sent so far, per operation.
    pub fn counter(&self) -> &CallCounter {
        &self.counter
    }

    /// The ELBv2 client.
    pub fn elb(&self) -> &aws_sdk_elasticloadbalancingv2::Client {
        &self.elb
    }

    /// The CloudWatch client.
    pub fn cloudwatch(&self) -> &aws_sdk_cloudwatch::Client {
        &self.cloudwatch
    }

    /// The DynamoDB client (the shared state backend).
    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        &self.dynamodb
    }

    /// The shared state backend: records and locks in DynamoDB table `table`, keys prefixed with `prefix`.
    pub fn store(&self, table: &str, prefix: &str) -> crate::DynamoStore {
        crate::DynamoStore::new(self.dynamodb.clone(), table, prefix)
    }

    /// Publishes notifications to SNS topics (`[notify] sns`).
    pub fn sns(&self) -> crate::SnsPublisher {
        crate::SnsPublisher::new(self.sns.clone())
    }

    /// The Auto Scaling client.
    pub fn autoscaling(&self) -> &aws_sdk_autoscaling::Client {
        &self.autoscaling
    }

    /// Finds the resources of `spec`, and checks the forward action. Changes nothing.
    pub async fn resolve(&self, spec: &TargetSpec) -> Result<Resolved, AwsError> {
        discovery::resolve(&self.elb, spec).await
    }

    /// Resolves `spec`, refuses unless the listener or rule is owned by the application, and builds the
    /// providers.
    pub async fn providers(&self, spec: &TargetSpec) -> Result<AwsProviders, AwsError> {
        let resolved = self.resolve(spec).await?;
        discovery::ensure_owned(&self.elb, &resolved).await?;
        Ok(self.providers_for(Arc::new(resolved)))
    }

    /// Builds the providers for resources already resolved (and checked).
    pub fn providers_for(&self, resolved: Arc<Resolved>) -> AwsProviders {
        AwsProviders {
            router: ElbRouter::for_routes(&self.elb, &resolved),
            health: CloudWatchHealth::new(
                self.elb.clone(),
                self.cloudwatch.clone(),
                resolved.clone(),
                self.p99,
            ),
            capacity: {
                let capacity = AsgCapacity::new(
                    self.autoscaling.clone(),
                    resolved.auto_scaling_groups.clone(),
                );
                #[cfg(feature = "ami")]
                let capacity = capacity.with_ec2(self.ec2.clone());
                capacity
            },
            resolved,
        }
    }

    /// Tags the listener or rule of `spec` as owned by the application (the explicit adopt operation).
    pub async fn adopt(&self, spec: &TargetSpec) -> Result<Resolved, AwsError> {
        let resolved = self.resolve(spec).await?;
        discovery::adopt(&self.elb, &resolved, false).await?;
        Ok(resolved)
    }

    /// Like [`adopt`](Self::adopt), taking over a listener or rule that another application owns;
    /// returns that application, if any.
    pub async fn adopt_forced(
        &self,
        spec: &TargetSpec,
    ) -> Result<(Resolved, Option<String>), AwsError> {
        let resolved = self.resolve(spec).await?;
        let previous = discovery::adopt(&self.elb, &resolved, true).await?;
        Ok((resolved, previous))
    }
}
