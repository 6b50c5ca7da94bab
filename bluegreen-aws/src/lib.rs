//! # bluegreen-aws
//!
//! bluegreen's provider traits on AWS: the listener's weighted forward action (ELBv2) as a
//! [`TrafficRouter`](bluegreen_core::TrafficRouter), target health, CloudWatch metrics and alarms as a
//! [`HealthSource`](bluegreen_core::HealthSource), and the colors' Auto Scaling groups as a
//! [`Capacity`](bluegreen_core::Capacity) provider.
//!
//! Wired by hand (the `bluegreen` crate's `Deployer` does this, and more, from the settings `bluegreen.toml`
//! holds — start there):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use bluegreen_aws::{AwsSettings, Connection, Naming, TargetSpec};
//! use bluegreen_core::{DeploymentId, Executor, Plan, Strategy};
//! let settings = AwsSettings { region: Some("ap-northeast-1".into()), ..AwsSettings::default() };
//! let connection = Connection::connect(&settings).await;
//! let providers = connection
//!     .providers(&TargetSpec::by_convention(Naming::new("poc", "poc-web")?))
//!     .await? // resolved (every listener forwarding to both colors), ownership checked
//!     .with_shared_state(connection.store("bluegreen-state", "")); // records, lock, approvals
//! let plan = Plan::new("poc/poc-web", Strategy::canary().compile()?);
//! let outcome = Executor::new(providers).run(DeploymentId::new("release-42")?, plan).await?;
//! println!("{outcome}");
//! # Ok(()) }
//! ```
//!
//! Everything runs against AWS or, with an endpoint URL, a local emulator; the same conformance suite as the
//! testkit's fakes proves both.

#![deny(missing_docs)]

mod action;
mod capacity;
mod clock;
mod connection;
mod counter;
mod discovery;
mod error;
mod health;
pub mod iam;
mod naming;
mod resolved;
mod router;
mod sns;
mod store;

pub use capacity::AsgCapacity;
pub use clock::SystemClock;
pub use connection::{AwsProviders, AwsSettings, Connection};
pub use counter::CallCounter;
pub use discovery::{ActionSpec, ListenerSpec, OWNER_TAG, TargetSpec};
pub use error::AwsError;
pub use health::CloudWatchHealth;
pub use naming::{Naming, NamingError};
pub use resolved::{Resolved, Route};
pub use router::ElbRouter;
pub use sns::SnsPublisher;
pub use store::DynamoStore;
