/// An error from a provider (AWS, the testkit's fakes, a state directory, ...).
///
/// Providers keep their own detailed errors and map them to one of these kinds; the message keeps the
/// detail (for AWS: the error code, the operation and the resource).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// A named resource does not exist.
    #[error("not found: {resource}")]
    NotFound {
        /// What was looked for, by name or ARN.
        resource: String,
    },
    /// The request was refused as invalid.
    #[error("invalid request: {message}")]
    Invalid {
        /// Why.
        message: String,
    },
    /// The provider asked us to slow down. Transient.
    #[error("throttled: {message}")]
    Throttled {
        /// The provider's words, with the operation and resource (e.g. `Throttling from ModifyListener on arn:...`).
        message: String,
    },
    /// The caller lacks permission.
    #[error("access denied: {message}")]
    AccessDenied {
        /// Detail, e.g. the action that was denied.
        message: String,
    },
    /// The provider failed or did not answer in time (HTTP 5xx, timeouts, connection errors). Transient.
    #[error("unavailable: {message}")]
    Unavailable {
        /// What failed and how: the operation, the resource, the status or the connection error.
        message: String,
    },
    /// Someone else holds the resource (e.g. the per-application deployment lock).
    #[error("conflict: {message}")]
    Conflict {
        /// Detail, naming the holder.
        message: String,
    },
    /// Anything else.
    #[error("{message}")]
    Other {
        /// What happened, in words (e.g. a write read back as a different split).
        message: String,
    },
}

impl ProviderError {
    /// Whether retrying the same call later may succeed (throttling, unavailability).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::Throttled { .. } | ProviderError::Unavailable { .. }
        )
    }

    /// A short name of the kind, for logs and JSON (`not-found`, `throttled`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::NotFound { .. } => "not-found",
            ProviderError::Invalid { .. } => "invalid",
            ProviderError::Throttled { .. } => "throttled",
            ProviderError::AccessDenied { .. } => "access-denied",
            ProviderError::Unavailable { .. } => "unavailable",
            ProviderError::Conflict { .. } => "conflict",
            ProviderError::Other { .. } => "other",
        }
    }
}
