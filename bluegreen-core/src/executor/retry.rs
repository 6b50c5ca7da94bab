use super::{Notice, Observer, RetryPolicy};
use crate::{Clock, ProviderError};
use std::future::Future;

/// Calls `f` until it succeeds, fails with a non-transient error, or `policy.attempts` calls have been made,
/// sleeping on `clock` between calls with exponential backoff. Each retry is reported as a [`Notice`].
pub(crate) async fn with_retry<T, F, Fut>(
    clock: &dyn Clock,
    observer: &dyn Observer,
    policy: &RetryPolicy,
    operation: &'static str,
    mut f: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut backoff = policy.initial_backoff;
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && attempt < policy.attempts.max(1) => {
                observer.on_notice(
                    clock.now(),
                    &Notice::Retrying {
                        operation,
                        attempt,
                        error: e,
                    },
                );
                clock.sleep(backoff).await;
                backoff = (backoff * 2).min(policy.max_backoff);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
