//! The emergency rollback: which color is stable, decided from the records when they can be trusted and from
//! the world when they cannot; refused rather than guessed.
//!
//! The decision is pure ([`choose_stable`] over [`StableEvidence`]); [`Executor::decide_rollback`] gathers
//! the evidence with reads only, and [`Executor::emergency_rollback`] writes the split and verifies it.

use super::retry::with_retry;
use super::{DeploymentId, ExecError, Executor, Replay};
use crate::RetryPolicy;
use crate::{CapacityStatus, Color, PerColor, ProviderError, TargetHealth, TrafficSplit};
use serde::Serialize;

/// What an emergency rollback is asked to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmergencyRequest {
    /// Send all traffic to this color instead of deciding which one is stable.
    pub to: Option<Color>,
    /// Send traffic even to a color with no healthy targets.
    pub force: bool,
}

/// What one deployment record says, as evidence for the emergency rollback.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordState {
    /// The record replays, and it belongs to the application.
    Readable(Box<Replay>),
    /// The record is missing (a lock names it but it has no entries) or cannot be replayed.
    Damaged {
        /// Why it cannot be used, in words.
        reason: String,
    },
    /// The record replays but belongs to another application.
    Foreign {
        /// The application it names.
        application: String,
    },
}

/// Everything the choice of the stable color may use. Built by [`Executor::decide_rollback`]; build it by
/// hand to ask [`choose_stable`] directly.
#[derive(Debug, Clone, PartialEq)]
pub struct StableEvidence {
    /// The deployment whose record speaks: the lock holder's, else the newest record.
    pub subject: Option<(DeploymentId, RecordState)>,
    /// Whether the subject is in progress (holds the lock or never finished).
    pub subject_running: bool,
    /// The split the application stood on before the subject, when known: the last verified split of the
    /// newest readable record older than the subject, if it put all traffic on one color.
    pub before: Option<TrafficSplit>,
    /// The split now.
    pub split: TrafficSplit,
    /// Each color's target health now.
    pub health: PerColor<TargetHealth>,
    /// Each color's capacity now (`None` without a capacity provider).
    pub capacity: Option<PerColor<CapacityStatus>>,
}

/// The stable color and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StableChoice {
    /// The color to send all traffic to.
    pub color: Color,
    /// The evidence that decided it, in words.
    pub basis: String,
}

/// Decides which color is stable, or says (in one sentence) why it cannot tell and what it would need.
///
/// The rules, in order:
/// 1. A readable record of the application decides: a deployment in progress falls back to the color it
///    started from (or its new color once it was promoted); a finished one stands on its last verified split
///    when that split put all traffic on one color; a finished shift that left traffic split falls back to
///    the color it moved traffic away from. A finished record that never wrote a split (a refused shift)
///    does not decide: it is taken as no record.
/// 2. Otherwise (no record, a damaged or foreign one, or a finished deployment that left traffic split) the world
///    decides: the color that held all traffic before the subject, if it still has healthy targets and still
///    receives traffic; else the only color with healthy targets and instances in service, if the other has
///    neither.
///    With no record at all (or none that changed a weight), a split that puts all traffic on a color with
///    healthy targets decides.
/// 3. Otherwise it refuses. It never picks the color a deployment in progress may be moving traffic to.
pub fn choose_stable(e: &StableEvidence) -> Result<StableChoice, Undecided> {
    let mut why_not = String::from("no deployment record");
    // No record, or none that changed a weight: the split as it is may speak.
    let mut unrecorded = e.subject.is_none();
    if let Some((id, state)) = &e.subject {
        match state {
            // A finished deployment that never wrote a split (a refused shift, a pre-step gate that
            // failed first) says nothing about where traffic stood: the world decides, as with no record.
            RecordState::Readable(r) if !e.subject_running && !r.wrote => {
                why_not = format!("the last deployment, {id}, changed no weight");
                unrecorded = true;
            }
            RecordState::Readable(r) => {
                if e.subject_running {
                    let color = if r.promoted && !r.schedule_is_shift() {
                        r.target()
                    } else {
                        r.stable
                    };
                    let basis = if color == r.stable {
                        format!("deployment {id} in progress started from {color}")
                    } else {
                        format!("deployment {id} in progress already promoted {color}")
                    };
                    return Ok(StableChoice { color, basis });
                }
                if let Some(color) = r.last_verified.and_then(TrafficSplit::sole_color) {
                    return Ok(StableChoice {
                        color,
                        basis: format!(
                            "the last deployment, {id}, ended with all traffic on {color}"
                        ),
                    });
                }
                if r.schedule_is_shift() {
                    return Ok(StableChoice {
                        color: r.stable,
                        basis: format!(
                            "the last shift, {id}, moved traffic away from {}",
                            r.stable
                        ),
                    });
                }
                why_not = format!("the last deployment, {id}, left traffic split");
            }
            RecordState::Damaged { reason } => {
                why_not = format!("the record of deployment {id} is unusable ({reason})");
            }
            RecordState::Foreign { application } => {
                why_not = format!(
                    "the record of deployment {id} belongs to another application ({application})"
                );
            }
        }
    }
    let healthy = |c: Color| e.health.get(c).healthy > 0;
    let serving = |c: Color| {
        e.capacity
            .as_ref()
            .is_none_or(|cap| cap.get(c).in_service > 0)
    };
    if let (true, Some(color)) = (unrecorded, e.split.sole_color())
        && healthy(color)
    {
        return Ok(StableChoice {
            color,
            basis: format!("{why_not}, and all traffic is on {color}"),
        });
    }
    if let Some(before) = e.before.and_then(TrafficSplit::sole_color)
        && healthy(before)
        && e.split.weight(before) > 0
    {
        return Ok(StableChoice {
            color: before,
            basis: format!(
                "{why_not}; all traffic was on {before} before it, {before} still receives traffic and has healthy targets"
            ),
        });
    }
    let able: Vec<Color> = Color::ALL
        .into_iter()
        .filter(|&c| healthy(c) && serving(c))
        .collect();
    if let [only] = able[..] {
        let other = only.other();
        let idle = e.health.get(other).healthy == 0
            && e.capacity
                .as_ref()
                .is_none_or(|cap| cap.get(other).in_service == 0);
        if idle {
            return Ok(StableChoice {
                color: only,
                basis: format!(
                    "{why_not}; {only} is the only color with healthy targets and {other} has none in service"
                ),
            });
        }
    }
    Err(Undecided {
        why_not,
        split: e.split,
        colors: match able.len() {
            2 => ServingColors::Both,
            0 => ServingColors::Neither,
            _ => ServingColors::OneWithoutRecord,
        },
    })
}

/// Why [`choose_stable`] cannot tell the stable color: what the records said, the split, and which colors
/// could serve. A person names the color instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot tell which color is stable: {why_not}, the split is {split}, and {colors}")]
pub struct Undecided {
    /// Why the records did not decide, in words.
    pub why_not: String,
    /// The split as read.
    pub split: TrafficSplit,
    /// Which colors have healthy targets in service.
    pub colors: ServingColors,
}

/// Which colors could take all traffic, when the records do not say which is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServingColors {
    /// Both have healthy targets in service.
    Both,
    /// Neither has.
    Neither,
    /// One has, but the other is not idle and no earlier record says where traffic stood.
    OneWithoutRecord,
}

impl std::fmt::Display for ServingColors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ServingColors::Both => "both colors have healthy targets",
            ServingColors::Neither => "neither color has healthy targets in service",
            ServingColors::OneWithoutRecord => "no earlier record says where traffic stood",
        })
    }
}

/// Why an emergency rollback did not write.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EmergencyError {
    /// The stable color cannot be told from the records or the world.
    #[error(transparent)]
    Undecided(#[from] Undecided),
    /// The chosen color has no healthy targets and the request was not forced.
    #[error(
        "{color} has no healthy targets ({} unhealthy, {} other): sending all traffic there would be an outage",
        health.unhealthy, health.other
    )]
    Unhealthy {
        /// The color.
        color: Color,
        /// Its target health.
        health: TargetHealth,
    },
    /// A provider failed (nothing was written), or the write could not be verified.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// A decided emergency rollback, ready to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmergencyDecision {
    /// Where all traffic goes, and why.
    pub to: StableChoice,
    /// The split before the rollback.
    pub split: TrafficSplit,
    /// The deployment in progress, if any: stop it too, or it may move traffic again.
    pub running: Option<DeploymentId>,
    /// A watch in progress keeps the chosen color at its group's minimum ([`crate::WatchKeep::Min`]): its
    /// capacity from before, which the rollback restores first (`None`: nothing to raise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raise: Option<u32>,
}

/// How many of the newest records the decision reads.
const RECORDS_READ: usize = 20;

impl Executor {
    /// Decides an emergency rollback of `application` with reads only: the records (the lock holder's, the
    /// newest ones), the split, each color's target health and capacity; see [`choose_stable`]. Refuses a
    /// color with no healthy targets unless forced.
    pub async fn decide_rollback(
        &self,
        application: &str,
        request: EmergencyRequest,
    ) -> Result<EmergencyDecision, EmergencyError> {
        let p = &self.providers;
        let provider = |operation: &'static str| {
            move |source| EmergencyError::Exec(ExecError::Provider { operation, source })
        };
        // The executor's retries (decision 007): on its clock, each reported.
        let retry = super::RetryPolicy::default();
        let (clock, observer) = (&*p.clock, &*self.observer);
        // Routes that disagree stand as one split that gives traffic to every color any route does.
        let split = with_retry(clock, observer, &retry, "read_split", || {
            p.router.read_routes()
        })
        .await
        .map_err(provider("read_split"))?
        .overall();
        let mut health = PerColor::<TargetHealth>::default();
        for color in Color::ALL {
            *health.get_mut(color) = with_retry(clock, observer, &retry, "target_health", || {
                p.health.target_health(color)
            })
            .await
            .map_err(provider("target_health"))?;
        }
        // The application's records, listed once for both the subject and the split before it.
        let ids = with_retry(clock, observer, &retry, "list", || {
            p.store.list(application)
        })
        .await;
        let (subject, running) = self.subject(application, &ids).await?;
        let to = match request.to {
            Some(color) => StableChoice {
                color,
                basis: "asked for".into(),
            },
            None => {
                let capacity = match &p.capacity {
                    Some(cap) => {
                        let mut c = PerColor::<CapacityStatus>::default();
                        for color in Color::ALL {
                            *c.get_mut(color) =
                                with_retry(clock, observer, &retry, "capacity", || {
                                    cap.capacity(color)
                                })
                                .await
                                .map_err(provider("capacity"))?;
                        }
                        Some(c)
                    }
                    None => None,
                };
                let before = self.split_before(application, &ids, &subject).await;
                choose_stable(&StableEvidence {
                    subject: subject.clone(),
                    subject_running: running,
                    before,
                    split,
                    health,
                    capacity,
                })
                .map_err(EmergencyError::Undecided)?
            }
        };
        let target_health = *health.get(to.color);
        if target_health.healthy == 0 && !request.force {
            return Err(EmergencyError::Unhealthy {
                color: to.color,
                health: target_health,
            });
        }
        let raise = match &subject {
            Some((_, RecordState::Readable(r))) if r.outcome.is_none() && p.capacity.is_some() => r
                .kept
                .filter(|(color, _)| *color == to.color)
                .map(|(_, previous)| previous),
            _ => None,
        };
        Ok(EmergencyDecision {
            to,
            split,
            running: subject.filter(|_| running).map(|(id, _)| id),
            raise,
        })
    }

    /// Writes the decided rollback: all traffic to the chosen color, read back and verified. Takes no lock
    /// and writes no record (see [`Executor::set_split`]).
    pub async fn emergency_rollback(
        &self,
        decision: &EmergencyDecision,
    ) -> Result<TrafficSplit, ExecError> {
        // A color a watch kept at its minimum is raised back first: its kept instances take the traffic at
        // once, the rest as they launch. A failure to raise does not hold the rollback up.
        if let (Some(desired), Some(cap)) = (decision.raise, &self.providers.capacity) {
            let retry = super::RetryPolicy::default();
            let color = decision.to.color;
            let _ = with_retry(
                &*self.providers.clock,
                &*self.observer,
                &retry,
                "set_desired",
                || cap.set_desired(color, desired),
            )
            .await;
        }
        self.set_split(TrafficSplit::all_to(decision.to.color))
            .await
    }

    /// The deployment whose record speaks, and whether it is in progress.
    async fn subject(
        &self,
        application: &str,
        ids: &Result<Vec<DeploymentId>, ProviderError>,
    ) -> Result<(Option<(DeploymentId, RecordState)>, bool), EmergencyError> {
        // A lock that cannot be read is no evidence either way; the records still are.
        let holder = self
            .providers
            .store
            .holder(application)
            .await
            .ok()
            .flatten();
        let id = match holder {
            Some(lease) => Some(lease.owner.deployment),
            // Without a holder the records must be readable to tell anything.
            None => ids
                .as_ref()
                .map_err(|source| ExecError::Provider {
                    operation: "list records",
                    source: source.clone(),
                })?
                .last()
                .cloned(),
        };
        let Some(id) = id else {
            return Ok((None, false));
        };
        let state = self.record_state(application, &id).await;
        let running = match &state {
            RecordState::Readable(r) => r.outcome.is_none(),
            // Unreadable or foreign: assume it may still be moving traffic.
            _ => true,
        };
        Ok((Some((id, state)), running))
    }

    async fn record_state(&self, application: &str, id: &DeploymentId) -> RecordState {
        // A throttled read must not pass for a damaged record: retried like every store read.
        let p = &self.providers;
        let read = with_retry(
            &*p.clock,
            &*self.observer,
            &RetryPolicy::default(),
            "load",
            || p.store.load(id),
        )
        .await;
        match read {
            Err(e) => RecordState::Damaged {
                reason: e.to_string(),
            },
            Ok(entries) if entries.is_empty() => RecordState::Damaged {
                reason: "it has no entries".into(),
            },
            Ok(entries) => match Replay::new(&entries) {
                Err(e) => RecordState::Damaged {
                    reason: e.to_string(),
                },
                Ok(r) if r.plan.application != application => RecordState::Foreign {
                    application: r.plan.application.clone(),
                },
                Ok(r) => RecordState::Readable(Box::new(r)),
            },
        }
    }

    /// The last verified split of the newest readable record older than the subject, when the subject's own
    /// record cannot decide.
    async fn split_before(
        &self,
        application: &str,
        ids: &Result<Vec<DeploymentId>, ProviderError>,
        subject: &Option<(DeploymentId, RecordState)>,
    ) -> Option<TrafficSplit> {
        let ids = ids.as_ref().ok()?;
        let subject_id = subject.as_ref().map(|(id, _)| id);
        let older = match subject_id.and_then(|s| ids.iter().position(|i| i == s)) {
            Some(at) => &ids[..at],
            // The subject has no listed record (a lock naming a deployment that never wrote): all are older.
            None => &ids[..],
        };
        for id in older.iter().rev().take(RECORDS_READ) {
            if let RecordState::Readable(r) = self.record_state(application, id).await {
                return if r.outcome.is_some() {
                    r.last_verified
                } else {
                    // An older deployment that never finished: where traffic stood is not known.
                    None
                };
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Plan, RecordEntry, Strategy, Timestamp};

    fn replay(stable: Color, finished_on: Option<TrafficSplit>, promoted: bool) -> Replay {
        let id = DeploymentId::new("d1").expect("valid");
        let plan = Plan::new("app", Strategy::immediate().compile().expect("valid"));
        let mut r = Replay::new(&[RecordEntry {
            seq: 0,
            at: Timestamp::from_millis(0),
            event: Event::Started {
                deployment: id,
                stable,
                plan: Box::new(plan),
                by: None,
            },
        }])
        .expect("replays");
        r.promoted = promoted;
        if let Some(split) = finished_on {
            r.last_verified = Some(split);
            r.wrote = true;
            r.outcome = Some(crate::Outcome::Aborted {
                reason: "test".into(),
                split: Some(split),
            });
        }
        r
    }

    fn healthy(blue: u32, green: u32) -> PerColor<TargetHealth> {
        PerColor {
            blue: TargetHealth {
                healthy: blue,
                ..Default::default()
            },
            green: TargetHealth {
                healthy: green,
                ..Default::default()
            },
        }
    }

    fn evidence(state: Option<RecordState>, running: bool) -> StableEvidence {
        StableEvidence {
            subject: state.map(|s| (DeploymentId::new("d1").expect("valid"), s)),
            subject_running: running,
            before: None,
            split: TrafficSplit::new(75, 25).expect("valid"),
            health: healthy(2, 2),
            capacity: Some(PerColor {
                blue: CapacityStatus {
                    desired: 2,
                    in_service: 2,
                    minimum: 0,
                },
                green: CapacityStatus {
                    desired: 2,
                    in_service: 2,
                    minimum: 0,
                },
            }),
        }
    }

    #[test]
    fn a_readable_deployment_in_progress_falls_back_to_where_it_started() {
        let e = evidence(
            Some(RecordState::Readable(Box::new(replay(
                Color::Green,
                None,
                false,
            )))),
            true,
        );
        assert_eq!(choose_stable(&e).expect("decides").color, Color::Green);
        let e = evidence(
            Some(RecordState::Readable(Box::new(replay(
                Color::Green,
                None,
                true,
            )))),
            true,
        );
        assert_eq!(choose_stable(&e).expect("decides").color, Color::Blue);
    }

    #[test]
    fn a_finished_deployment_stands_on_its_last_verified_split() {
        let e = evidence(
            Some(RecordState::Readable(Box::new(replay(
                Color::Blue,
                Some(TrafficSplit::all_to(Color::Green)),
                true,
            )))),
            false,
        );
        assert_eq!(choose_stable(&e).expect("decides").color, Color::Green);
    }

    /// The case: an older record (a shift that ended with all traffic on green) must not be read as
    /// "blue is stable" while a deployment with a damaged record moves traffic from green to blue.
    #[test]
    fn a_damaged_record_falls_back_to_where_traffic_stood_before_it() {
        let mut e = evidence(
            Some(RecordState::Damaged {
                reason: "entry 3 is out of order".into(),
            }),
            true,
        );
        e.split = TrafficSplit::new(25, 75).expect("valid");
        e.before = Some(TrafficSplit::all_to(Color::Green));
        let choice = choose_stable(&e).expect("decides");
        assert_eq!(choice.color, Color::Green);
        assert!(choice.basis.contains("out of order"), "{}", choice.basis);
    }

    #[test]
    fn a_damaged_record_with_both_colors_healthy_and_no_history_is_refused() {
        for state in [
            RecordState::Damaged {
                reason: "it has no entries".into(),
            },
            RecordState::Foreign {
                application: "other/app".into(),
            },
        ] {
            let e = evidence(Some(state), true);
            let why = choose_stable(&e).expect_err("refuses");
            assert_eq!(why.colors, ServingColors::Both);
            let text = why.to_string();
            assert!(text.contains("both colors have healthy targets"), "{text}");
            // The core says what it cannot tell; the command says which flag decides (issue 22), as
            // tests/cli_sim.rs checks: "pass --to blue|green".
            assert!(!text.contains("--"), "{text}");
            assert_eq!(text.lines().count(), 1);
        }
    }

    #[test]
    fn where_traffic_stood_before_does_not_count_once_it_left_that_color() {
        let mut e = evidence(
            Some(RecordState::Damaged {
                reason: "unreadable".into(),
            }),
            true,
        );
        e.before = Some(TrafficSplit::all_to(Color::Green));
        e.split = TrafficSplit::all_to(Color::Blue);
        assert!(choose_stable(&e).is_err());
        // ... nor when that color has no healthy targets.
        e.split = TrafficSplit::new(50, 50).expect("valid");
        e.health = healthy(2, 0);
        assert!(choose_stable(&e).is_err());
    }

    #[test]
    fn the_only_color_in_service_is_stable_when_the_other_has_nothing() {
        let mut e = evidence(None, false);
        e.health = healthy(3, 0);
        e.capacity.as_mut().expect("some").green = CapacityStatus::default();
        assert_eq!(choose_stable(&e).expect("decides").color, Color::Blue);
        // Instances in service on green that are not healthy yet: a release starting; cannot tell.
        e.capacity.as_mut().expect("some").green.in_service = 2;
        assert!(choose_stable(&e).is_err());
    }

    #[test]
    fn with_no_record_at_all_the_color_holding_all_traffic_is_stable() {
        let mut e = evidence(None, false);
        e.split = TrafficSplit::all_to(Color::Green);
        assert_eq!(choose_stable(&e).expect("decides").color, Color::Green);
        e.health = healthy(2, 0);
        assert!(
            choose_stable(&e).is_err(),
            "not a color without healthy targets"
        );
    }
}
