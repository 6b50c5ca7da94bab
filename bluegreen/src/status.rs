//! What `status` shows, gathered in one place for the command and for a program embedding the library:
//! the routes and their split, each color's targets and capacity, the alarms the gates name, and the
//! deployment in progress, read from the state.

use crate::{Deployer, current_deployment};
use bluegreen_core::executor::ReplayError;
use bluegreen_core::{
    AlarmStatus, CapacityStatus, Color, DeploymentId, PerColor, ProviderError, Replay, RouteMark,
    Routing, StateStore, TargetHealth, Timestamp,
};

/// One color as the load balancer and its Auto Scaling group see it. Each part is its own answer: one that
/// failed is shown as unknown, never as zero.
#[derive(Debug, Clone)]
pub struct ColorStatus {
    /// Its targets' health.
    pub targets: Result<TargetHealth, ProviderError>,
    /// Its group's capacity; `None` when capacity is not managed.
    pub capacity: Option<Result<CapacityStatus, ProviderError>>,
}

/// The deployment in progress, as its record tells it.
#[derive(Debug, Clone)]
pub struct InProgress {
    /// The deployment.
    pub id: DeploymentId,
    /// Its record.
    pub record: InProgressRecord,
}

/// A record as `status` finds it.
#[derive(Debug, Clone)]
pub enum InProgressRecord {
    /// Replayed.
    Replayed(Box<Replay>),
    /// Empty or not there yet: the lock is taken just before the first entry is written.
    Starting,
    /// Entries that do not read, or do not replay: why.
    Damaged(String),
}

/// A watch in progress ([`bluegreen_core::Step::Watch`]): when it ends and until when a breach rolls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watching {
    /// When the watch ends (the deployment is then promoted).
    pub until: Timestamp,
    /// Until when a breach rolls back.
    pub armed_until: Timestamp,
    /// The color a rollback goes back to.
    pub kept: Color,
    /// When the watch keeps that color at its group's minimum ([`bluegreen_core::WatchKeep::Min`]): the
    /// capacity a rollback raises it back to. `None`: kept at its capacity.
    pub restores_to: Option<u32>,
}

impl InProgress {
    /// The watch it is in, if it is watching.
    pub fn watching(&self) -> Option<Watching> {
        let InProgressRecord::Replayed(r) = &self.record else {
            return None;
        };
        match r.plan.schedule.steps().get(r.watching()?)? {
            bluegreen_core::Step::Watch {
                duration, armed, ..
            } => {
                let until = r.approval_deadline?;
                Some(Watching {
                    until,
                    armed_until: until - *duration + *armed,
                    kept: r.stable,
                    restores_to: r.kept.map(|(_, previous)| previous),
                })
            }
            _ => None,
        }
    }
}

/// Everything `status` shows. Read only: nothing is changed.
#[derive(Debug, Clone)]
pub struct Status {
    /// Every route (listener or rule) and its split.
    pub routing: Routing,
    /// The mark a running deployment left on the routes, if any.
    pub mark: Result<Option<RouteMark>, ProviderError>,
    /// Each color.
    pub colors: PerColor<ColorStatus>,
    /// The alarms the gates name, with their states.
    pub alarms: Result<Vec<AlarmStatus>, ProviderError>,
    /// The deployment in progress, if any.
    pub deployment: Option<InProgress>,
    /// When this was read, on the providers' clock.
    pub at: Timestamp,
}

/// Why a status could not be read at all (the routes, or the state store).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The routes could not be read.
    #[error("{0}")]
    Routes(ProviderError),
    /// The state store could not be read: whether a deployment is in progress is unknown.
    #[error("the state store cannot be read ({0}): whether a deployment is in progress is unknown")]
    Store(ProviderError),
}

impl Deployer {
    /// The deployment in progress: the one holding the lock, else the newest unfinished one (a run that
    /// died, or a watch between two runs).
    pub async fn current(&self) -> Result<Option<DeploymentId>, ProviderError> {
        current_deployment(self.store(), &self.application()).await
    }

    /// The record of deployment `id` and its replay: what `report` renders.
    pub async fn record(
        &self,
        id: &DeploymentId,
    ) -> Result<
        (
            Vec<bluegreen_core::RecordEntry>,
            Result<Replay, ReplayError>,
        ),
        ProviderError,
    > {
        let record = StateStore::load(self.store(), id).await?;
        let replay = Replay::new(&record);
        Ok((record, replay))
    }

    /// What `status` shows: every question asked at once (about one round trip of wall time).
    pub async fn status(&self) -> Result<Status, StatusError> {
        let p = self.providers();
        let capacity = |c: Color| async move {
            match &p.capacity {
                Some(cap) => Some(cap.capacity(c).await),
                None => None,
            }
        };
        let names = self.alarms();
        let alarms = async {
            if names.is_empty() {
                Ok(Vec::new())
            } else {
                p.health.alarm_states(&names).await
            }
        };
        let (routing, mark, blue, green, blue_cap, green_cap, alarms, current) = tokio::join!(
            p.router.read_routes(),
            p.router.read_mark(),
            p.health.target_health(Color::Blue),
            p.health.target_health(Color::Green),
            capacity(Color::Blue),
            capacity(Color::Green),
            alarms,
            self.current(),
        );
        let routing = routing.map_err(StatusError::Routes)?;
        let deployment = match current.map_err(StatusError::Store)? {
            None => None,
            Some(id) => {
                let record = match StateStore::load(self.store(), &id).await {
                    Ok(record) if record.is_empty() => InProgressRecord::Starting,
                    Err(ProviderError::NotFound { .. }) => InProgressRecord::Starting,
                    Ok(record) => match Replay::new(&record) {
                        Ok(r) => InProgressRecord::Replayed(Box::new(r)),
                        Err(e) => InProgressRecord::Damaged(e.to_string()),
                    },
                    Err(e) => InProgressRecord::Damaged(e.to_string()),
                };
                Some(InProgress { id, record })
            }
        };
        Ok(Status {
            routing,
            mark,
            colors: PerColor {
                blue: ColorStatus {
                    targets: blue,
                    capacity: blue_cap,
                },
                green: ColorStatus {
                    targets: green,
                    capacity: green_cap,
                },
            },
            alarms,
            deployment,
            at: p.clock.now(),
        })
    }
}
