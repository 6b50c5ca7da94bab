//! Blue-green and canary deployments on AWS Application Load Balancers, from settings to outcome.
//!
//! This is the front door of the bluegreen crates, and the `bluegreen` command is built on it. Settings are
//! `bluegreen.toml`'s ([`Settings`], the same serde types); a [`Deployer`] wires them to a ready executor
//! on AWS (`provider = "aws"`) or on the simulated world kept in the state directory (`provider = "sim"`),
//! with the store `[state]` names (the state directory, or the team's DynamoDB table), approvals and aborts
//! through that store (`bluegreen promote` and `bluegreen abort` reach your deployment), and `[hooks]`.
//!
//! ```no_run
//! # async fn run() -> Result<(), bluegreen::Error> {
//! let settings = bluegreen::Settings::load("bluegreen.toml".as_ref())?;
//! let outcome = bluegreen::Deployer::from_settings(settings).await?.deploy().await?;
//! println!("{outcome}");
//! # Ok(()) }
//! ```
//!
//! Every piece is replaceable: [`Deployer::builder`] takes your approval channel, hooks, observer and AWS
//! connection; [`Deployer::providers_mut`] any provider; [`Deployer::executor`] gives the core's
//! [`Executor`](bluegreen_core::Executor) for `resume`, `set_split` or the emergency rollback. Below it:
//! `bluegreen-core` (strategies, gates, the executor), `bluegreen-aws` (the AWS providers),
//! `bluegreen-store` (the durable pieces) and `bluegreen-testkit` (the simulated world).

#![deny(missing_docs)]

mod cache;
mod control;
mod deployer;
mod hooks;
pub mod notify;
pub mod release;
pub mod settings;
#[cfg(feature = "sim")]
pub mod sim;
/// Without the `sim` feature there is no simulated world: a stand-in that cannot be made.
#[cfg(not(feature = "sim"))]
mod sim {
    /// The simulated world's file (never made without the `sim` feature).
    pub enum SimFile {}

    impl SimFile {
        /// Never called: there is no value of this type.
        pub fn time_scale(&self) -> f64 {
            match *self {}
        }
    }
}
mod status;
mod store;

pub use cache::ResolvedCache;
pub use control::{
    ControlError, UnlockError, Unlocked, ask_of, current_deployment, send_control, unlock,
};
pub use deployer::{Deployer, DeployerBuilder, Error, Recorded, WatchTarget, history};
pub use hooks::ShellHooks;
pub use settings::{DeployType, ProviderKind, Settings, SettingsError, StateBackend};
pub use status::{ColorStatus, InProgress, InProgressRecord, Status, StatusError, Watching};
pub use store::{Store, StoreApproval, open_state_dir};

pub use bluegreen_aws;
pub use bluegreen_core;
pub use bluegreen_store;
#[cfg(feature = "sim")]
pub use bluegreen_testkit;
