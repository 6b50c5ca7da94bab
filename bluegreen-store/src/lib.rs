//! Durable pieces for [bluegreen](bluegreen_core) deployments, outside any binary: what an embedding program
//! needs to get what the `bluegreen` command has. The `bluegreen` crate's `Deployer` (the front door) wires
//! them from settings; use them directly to wire by hand.
//!
//! - [`FileStore`]: the core's [`StateStore`](bluegreen_core::StateStore) in a directory — records, the
//!   per-application lock with its lease and fence — and a [`ControlQueue`] for control requests. It passes
//!   the store conformance suite of `bluegreen-testkit`.
//! - [`ControlQueue`], [`Control`]: requests (approve, reject, abort) one process leaves for another's
//!   running deployment; [`QueueApproval`] is the approval channel over any queue, [`watch_abort`] the abort.
//!   The shared DynamoDB backend (`bluegreen_aws::DynamoStore`) is a queue too, so `bluegreen promote` on
//!   one machine approves a deployment an embedding program runs on another.
//! - [`named_executor`], [`liveness`]: runs named after this process, and whether a lock's holder lives.
//! - [`flock`]: the advisory file locks behind the file store, which give up instead of hanging.
//!
//! ```no_run
//! use bluegreen_store::{FileStore, QueueApproval};
//! use std::sync::Arc;
//! # fn wire(clock: Arc<dyn bluegreen_core::Clock>) -> std::io::Result<()> {
//! let store = FileStore::open(std::path::Path::new(".bluegreen"))?;
//! // The core's store and approval channel, for `bluegreen_core::Providers`; the approval waits on the
//! // deployment's clock (`bluegreen_aws::SystemClock` for real time).
//! let state: Arc<dyn bluegreen_core::StateStore> = Arc::new(store.clone());
//! let approval: Arc<dyn bluegreen_core::Approval> = Arc::new(QueueApproval::new(store, clock));
//! # let _ = (state, approval); Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod conformance;
pub mod control;
pub mod file;
pub mod flock;
pub mod process;

pub use control::{Control, ControlQueue, QueueApproval, watch_abort};
pub use file::{FileStore, atomic_write};
pub use process::{Liveness, host_name, liveness, named_executor};
