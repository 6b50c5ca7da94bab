//! Every fake records its API calls, so tests can count them.

use bluegreen_core::Timestamp;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// One API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// When, on the world's clock.
    pub at: Timestamp,
    /// The operation, named as AWS names it (`ModifyListener`, `GetMetricData`, ...).
    pub operation: &'static str,
}

/// A shared, append-only log of calls. Clones share the log.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl CallLog {
    fn lock(&self) -> MutexGuard<'_, Vec<Call>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a call.
    pub fn record(&self, at: Timestamp, operation: &'static str) {
        self.lock().push(Call { at, operation });
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().clone()
    }

    /// Calls so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no call was made.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Calls of `operation` so far.
    pub fn count(&self, operation: &str) -> usize {
        self.lock()
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    /// Calls per operation.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for c in self.lock().iter() {
            *m.entry(c.operation).or_insert(0) += 1;
        }
        m
    }

    /// Forgets every call.
    pub fn clear(&self) {
        self.lock().clear();
    }
}
