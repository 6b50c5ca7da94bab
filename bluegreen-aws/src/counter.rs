//! An SDK interceptor that counts API calls per operation.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Counts every HTTP request the SDK clients send (retries included), by operation name
/// (`ModifyListener`, `GetMetricData`, ...). Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<Vec<String>>>,
}

impl CallCounter {
    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests per operation.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for op in self.lock().iter() {
            *m.entry(op.clone()).or_insert(0) += 1;
        }
        m
    }

    /// Requests of `operation`.
    pub fn count(&self, operation: &str) -> usize {
        self.lock().iter().filter(|o| *o == operation).count()
    }

    /// Requests in all.
    pub fn total(&self) -> usize {
        self.lock().len()
    }

    /// Forgets every count.
    pub fn reset(&self) {
        self.lock().clear();
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "bluegreen-call-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map_or("unknown", |m| m.name())
            .to_string();
        self.lock().push(name);
        Ok(())
    }
}
