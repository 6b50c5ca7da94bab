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
///
/// By default it keeps every call; [`counting_only`](CallLog::counting_only) keeps only the counts per
/// operation, as the AWS provider's call counter does — for simulations of thousands of deployments, where
/// a log of every poll's calls would outweigh the deployment itself.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Log>>,
}

#[derive(Debug, Default)]
struct Log {
    counts_only: bool,
    calls: Vec<Call>,
    counts: BTreeMap<&'static str, usize>,
}

impl CallLog {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A log that counts calls per operation and keeps no list of them.
    pub fn counting_only() -> Self {
        let log = CallLog::default();
        log.lock().counts_only = true;
        log
    }

    /// Records a call.
    pub fn record(&self, at: Timestamp, operation: &'static str) {
        let mut log = self.lock();
        *log.counts.entry(operation).or_insert(0) += 1;
        if !log.counts_only {
            log.calls.push(Call { at, operation });
        }
    }

    /// Every call so far (none kept by a [`counting_only`](CallLog::counting_only) log).
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Calls so far.
    pub fn len(&self) -> usize {
        self.lock().counts.values().sum()
    }

    /// Whether no call was made.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls of `operation` so far.
    pub fn count(&self, operation: &str) -> usize {
        self.lock().counts.get(operation).copied().unwrap_or(0)
    }

    /// Calls per operation.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        self.lock().counts.clone()
    }

    /// Forgets every call.
    pub fn clear(&self) {
        let mut log = self.lock();
        log.calls.clear();
        log.counts.clear();
    }
}
