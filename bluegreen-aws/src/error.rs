//! Mapping SDK errors to the core's kinds, keeping the AWS error code, the operation and the resource.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use bluegreen_core::ProviderError;
use std::fmt;

/// An error setting up AWS providers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AwsError {
    /// A bad name.
    #[error(transparent)]
    Naming(#[from] crate::NamingError),
    /// The listener or rule is not tagged as this application's.
    #[error(
        "{resource} is not owned by {application}: its tag {tag} is {found}; adopt it first (`bluegreen adopt`) if this application should manage it"
    )]
    NotOwned {
        /// The listener or rule ARN.
        resource: String,
        /// `{environment}/{application}`.
        application: String,
        /// The tag key.
        tag: &'static str,
        /// What the tag says, or `missing`.
        found: String,
    },
    /// `adopt` of a listener or rule that another application owns.
    #[error(
        "{resource} is owned by {owner}, not {application}: refusing to take it over (`bluegreen adopt --force` does, if {owner} no longer deploys there)"
    )]
    OwnedByOther {
        /// The listener or rule ARN.
        resource: String,
        /// The application that owns it.
        owner: String,
        /// The application asking.
        application: String,
    },
    /// The action is not a forward to exactly the two colors' target groups.
    #[error(
        "{resource}: expected a forward action to the blue and green target groups, found {found}"
    )]
    UnexpectedAction {
        /// The listener or rule.
        resource: String,
        /// What was found.
        found: String,
    },
    /// The named AWS profile is not in the shared config or credentials files (the AWS CLI refuses it too).
    #[error("AWS profile {name}: {problem}")]
    Profile {
        /// The profile asked for.
        name: String,
        /// What is wrong, with the profiles that exist.
        problem: String,
    },
    /// The role to assume is not an IAM role's ARN (it is checked before any call).
    #[error("role_arn {arn:?}: expected an IAM role's ARN (arn:aws:iam::ACCOUNT:role/NAME)")]
    RoleArn {
        /// The value given.
        arn: String,
    },
    /// The configured endpoint URL cannot be used (it is checked before any call).
    #[error("endpoint URL {url:?}: {problem}")]
    Endpoint {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A provider call failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl From<AwsError> for ProviderError {
    fn from(e: AwsError) -> ProviderError {
        match e {
            AwsError::Provider(p) => p,
            AwsError::NotOwned { .. } | AwsError::OwnedByOther { .. } => {
                ProviderError::AccessDenied {
                    message: e.to_string(),
                }
            }
            other => ProviderError::Invalid {
                message: other.to_string(),
            },
        }
    }
}

/// Maps an SDK error of `operation` on `resource` to a [`ProviderError`].
pub(crate) fn map_sdk<E, R>(operation: &str, resource: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug + HasStatus + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown");
            let message = se.err().message().unwrap_or("");
            classify(operation, resource, code, message, se.raw().status_code())
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => ProviderError::Unavailable {
            message: format!("{operation} on {resource}: {}", describe(&err)),
        },
        SdkError::ResponseError(_) => ProviderError::Unavailable {
            message: format!(
                "{operation} on {resource}: unreadable response: {}",
                describe(&err)
            ),
        },
        _ => ProviderError::Invalid {
            message: format!("{operation} on {resource}: {}", describe(&err)),
        },
    }
}

fn describe<E: std::error::Error + 'static, R: fmt::Debug + 'static>(
    err: &SdkError<E, R>,
) -> String {
    // SdkError's Display is terse ("dispatch failure"); its sources say why. (`DisplayErrorContext` says it
    // too, then appends kilobytes of `Debug`: one line for people is the chain of messages.)
    let chain = error_chain(err);
    if [
        "loading credentials",
        "provided credentials",
        "no credentials",
    ]
    .iter()
    .any(|m| chain.contains(m))
    {
        return format!(
            "AWS credentials could not be loaded ({chain}); give a profile (--profile or AWS_PROFILE), the key \
             variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), or run with a role"
        );
    }
    chain
}

/// The messages of `err` and its sources, on one line, each said once.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The HTTP status of a raw response.
pub(crate) trait HasStatus {
    /// The status code.
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Classifies an AWS error code (and HTTP status) into the core's kinds.
pub(crate) fn classify(
    operation: &str,
    resource: &str,
    code: &str,
    message: &str,
    status: u16,
) -> ProviderError {
    let detail = if message.is_empty() {
        format!("{code} from {operation} on {resource}")
    } else {
        format!("{code} from {operation} on {resource}: {message}")
    };
    match code {
        c if c.ends_with("NotFound")
            || c.ends_with("NotFoundException")
            || c == "ResourceNotFound" =>
        {
            ProviderError::NotFound { resource: detail }
        }
        "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "SlowDown"
        | "PriorRequestNotComplete" => ProviderError::Throttled { message: detail },
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "SignatureDoesNotMatch"
        | "OperationNotPermitted" => ProviderError::AccessDenied { message: detail },
        "ServiceUnavailable" | "InternalFailure" | "InternalError" | "InternalServiceError" => {
            ProviderError::Unavailable { message: detail }
        }
        _ if status >= 500 => ProviderError::Unavailable { message: detail },
        "ResourceInUse"
        | "ResourceInUseFault"
        | "ScalingActivityInProgress"
        | "ScalingActivityInProgressFault" => ProviderError::Conflict { message: detail },
        _ => ProviderError::Invalid { message: detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(code: &str, status: u16, kind: &str) {
        let e = classify("ModifyListener", "arn:listener/x", code, "why", status);
        assert_eq!(e.kind(), kind, "{code} {status}: {e}");
        assert!(
            e.to_string().contains(code) && e.to_string().contains("ModifyListener"),
            "{e}"
        );
    }

    #[test]
    fn codes_map_to_kinds() {
        check("ListenerNotFound", 400, "not-found");
        check("TargetGroupNotFound", 400, "not-found");
        check("LoadBalancerNotFound", 400, "not-found");
        check("Throttling", 400, "throttled");
        check("RequestLimitExceeded", 400, "throttled");
        check("AccessDenied", 403, "access-denied");
        check("ExpiredToken", 403, "access-denied");
        check("ValidationError", 400, "invalid");
        check("Whatever", 503, "unavailable");
        check("InternalFailure", 500, "unavailable");
        check("ScalingActivityInProgress", 400, "conflict");
    }
}
