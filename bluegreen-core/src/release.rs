//! Releases (issue 25): one version through many targets — environments, applications, regions — in
//! waves, halted and rolled back as one.
//!
//! A [`Release`] is an ordered list of [`Wave`]s; each wave is a set of [`ReleaseTarget`]s, each an
//! [`Executor`] (its own providers: region, account, state) and the [`Plan`] of that target's deployment.
//! [`Release::run`] runs the waves in order, at most [`Release::per_region`] targets of a region at once
//! (regions in parallel), with [`Release::bake_between`] after each wave but the last, and:
//!
//! - stops starting targets the moment one fails (rolled back, refused, aborted, interrupted), the release
//!   is cancelled, or an aggregate alarm ([`Release::alarms`]) is in `ALARM`; the targets running then are
//!   cancelled: each rolls back (or leaves its split, per its plan's `on_cancel`) at its next safe point;
//! - with [`OnFailure::RollbackAll`], rolls back every target the release took to the new version while
//!   its old color is still kept (a watching deployment: resumed with a rollback; a promoted one whose old
//!   color still has healthy targets — a traffic-only deployment — by an emergency rollback).
//!
//! The release keeps no record of its own: each target's deployment id is derived from the release's name
//! and the target's place ([`Release::deployment_id`]), so the targets' records are the release's record.
//! Run again (after a crash, on another machine sharing the state), a release skips the targets its
//! records show done, resumes the unfinished ones, and stays halted if one failed.

use crate::{
    AlarmState, Approval, ApprovalDecision, ApprovalRequest, CancelToken, Clock, DeploymentId,
    EmergencyRequest, ExecError, Executor, HealthSource, Outcome, Plan, Replay, ResumeAction,
    Share, TrafficSplit,
};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a failure does to the targets the release already took to the new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// Leave them on the new version; start no more targets.
    #[default]
    Halt,
    /// Roll them back too, while their old colors are still kept.
    RollbackAll,
}

/// One target of a wave: where (its name and region, for people and for the concurrency rule), and how
/// (an executor on its providers, and its deployment's plan).
pub struct ReleaseTarget {
    /// Its name, e.g. `prod/web@eu-west-1`.
    pub name: String,
    /// Its region (targets of one region run at most [`Release::per_region`] at once).
    pub region: String,
    /// The executor on its providers.
    pub executor: Executor,
    /// Its deployment's plan.
    pub plan: Plan,
}

/// One wave: a name and its targets.
pub struct Wave {
    /// Its name, e.g. `one-box`.
    pub name: String,
    /// Its targets, in order.
    pub targets: Vec<ReleaseTarget>,
}

/// A release: its name (every target's deployment id derives from it), its waves, and its rules.
pub struct Release {
    /// The release's name, e.g. `web-1.4.2` (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// The waves, in order.
    pub waves: Vec<Wave>,
    /// The bake after each wave but the last: the next wave starts only after it, alarms quiet.
    pub bake_between: Duration,
    /// What a failure does to the targets already done.
    pub on_failure: OnFailure,
    /// How many targets of one region a wave runs at once (regions run in parallel).
    pub per_region: usize,
    /// Aggregate alarms: any in `ALARM` halts the release. Read through [`Release::alarm_source`].
    pub alarms: Vec<String>,
    /// Where the aggregate alarms are read (e.g. the first target's health source).
    pub alarm_source: Option<Arc<dyn HealthSource>>,
    /// How often the aggregate alarms are read while targets run and during bakes.
    pub alarm_poll: Duration,
    /// When set, each wave after the first waits, after the bake, for a person's decision through it
    /// (asked under [`Release::control_id`]): approved, the next wave starts; rejected, the release halts.
    pub approval: Option<Arc<dyn Approval>>,
}

/// What became of one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum TargetResult {
    /// Not started: the release halted first.
    NotStarted,
    /// Its deployment ended (or is watching): the outcome.
    Deployed {
        /// The outcome.
        outcome: Outcome,
    },
    /// Its deployment was refused or failed before it changed anything, or could not be run.
    Failed {
        /// Why, in words.
        error: String,
    },
    /// Taken to the new version, then rolled back with the release ([`OnFailure::RollbackAll`]).
    RolledBackWithRelease {
        /// The split after the rollback.
        split: TrafficSplit,
    },
    /// Taken to the new version; the release's rollback could not take it back.
    NotRolledBack {
        /// Why.
        why: String,
    },
}

impl TargetResult {
    /// Whether the target is on the new version as the release wanted (promoted, or watching).
    pub fn succeeded(&self) -> bool {
        matches!(
            self,
            TargetResult::Deployed {
                outcome: Outcome::Promoted { .. } | Outcome::Watching { .. }
            }
        )
    }

    /// Whether it ended the release's progress: a deployment that did not succeed, or one that failed.
    pub fn failed(&self) -> bool {
        matches!(
            self,
            TargetResult::Failed { .. } | TargetResult::Deployed { .. }
        ) && !self.succeeded()
    }
}

/// One step of a release, for a person (the command renders them).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ReleaseEvent {
    /// A wave began.
    WaveStarted {
        /// Its 0-based index.
        wave: usize,
        /// Its name.
        name: String,
    },
    /// A target's deployment began (or was resumed from an earlier run of the release).
    TargetStarted {
        /// The target.
        target: String,
        /// Its deployment's id.
        deployment: DeploymentId,
        /// Whether an earlier run left it unfinished.
        resumed: bool,
    },
    /// A target's deployment ended.
    TargetEnded {
        /// The target.
        target: String,
        /// What became of it.
        result: TargetResult,
    },
    /// The release stops starting targets.
    Halted {
        /// Why.
        reason: String,
    },
    /// The bake between two waves began.
    Baking {
        /// After this wave (0-based).
        wave: usize,
        /// How long.
        #[serde(with = "humantime_serde")]
        duration: Duration,
    },
    /// The next wave waits for a person's decision (`release approve`, or `release abort`).
    WaitingForApproval {
        /// The wave waiting (0-based).
        wave: usize,
        /// Its name.
        name: String,
    },
    /// A person approved the next wave.
    Approved {
        /// The wave (0-based).
        wave: usize,
        /// Who.
        by: String,
    },
    /// A target the release took to the new version is rolled back with it.
    RollingBack {
        /// The target.
        target: String,
    },
}

/// How a release ended: each target's result, wave by wave, and why it halted, if it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseOutcome {
    /// Per wave, per target: its name and result.
    pub targets: Vec<Vec<(String, TargetResult)>>,
    /// Why the release halted, if it did.
    pub halted: Option<String>,
}

impl ReleaseOutcome {
    /// Whether every target is on the new version.
    pub fn complete(&self) -> bool {
        self.halted.is_none() && self.targets.iter().flatten().all(|(_, r)| r.succeeded())
    }
}

/// Why a release cannot be run as given. Nothing was started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// A name that cannot prefix a deployment id.
    #[error("release name {0:?}: letters, digits, '.', '_' and '-' only, at most 100 characters")]
    BadName(String),
    /// No wave, or a wave without targets.
    #[error("{0}")]
    Empty(String),
    /// Two targets with one name.
    #[error("target {0:?} appears twice: a release deploys each target once")]
    Duplicate(String),
    /// Zero targets at once.
    #[error("per_region 0: at least one target of a region runs at a time")]
    NoConcurrency,
}

/// What the run of one wave shares between its regions.
struct Shared {
    halted: Option<String>,
    running: Vec<((usize, usize), CancelToken)>,
    results: Vec<Vec<(String, TargetResult)>>,
}

impl Release {
    /// Checks the release before anything runs.
    pub fn validate(&self) -> Result<(), ReleaseError> {
        let ok = !self.name.is_empty()
            && self.name.len() <= 100
            && !self.name.starts_with('.')
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(ReleaseError::BadName(self.name.clone()));
        }
        if self.waves.is_empty() {
            return Err(ReleaseError::Empty("the release has no wave".into()));
        }
        if self.per_region == 0 {
            return Err(ReleaseError::NoConcurrency);
        }
        let mut names: Vec<&str> = Vec::new();
        for wave in &self.waves {
            if wave.targets.is_empty() {
                return Err(ReleaseError::Empty(format!(
                    "wave {:?} has no target",
                    wave.name
                )));
            }
            for t in &wave.targets {
                if names.contains(&t.name.as_str()) {
                    return Err(ReleaseError::Duplicate(t.name.clone()));
                }
                names.push(&t.name);
            }
        }
        Ok(())
    }

    /// The deployment id of target `index` (0-based) of wave `wave` (0-based): `{name}-w{wave+1}-t{index+1}`.
    ///
    /// ```
    /// # use bluegreen_core::release::Release;
    /// assert_eq!(Release::deployment_id_of("web-1.4.2", 1, 2).as_str(), "web-1.4.2-w2-t3");
    /// ```
    pub fn deployment_id_of(name: &str, wave: usize, index: usize) -> DeploymentId {
        DeploymentId::new(format!("{name}-w{}-t{}", wave + 1, index + 1))
            .expect("a valid release name makes a valid id")
    }

    /// [`deployment_id_of`](Self::deployment_id_of) this release.
    pub fn deployment_id(&self, wave: usize, index: usize) -> DeploymentId {
        Self::deployment_id_of(&self.name, wave, index)
    }

    /// The id the release's own requests (an approval between waves, `release abort`) are asked under:
    /// `{name}-release`.
    pub fn control_id_of(name: &str) -> DeploymentId {
        DeploymentId::new(format!("{name}-release")).expect("a valid release name makes a valid id")
    }

    /// [`control_id_of`](Self::control_id_of) this release.
    pub fn control_id(&self) -> DeploymentId {
        Self::control_id_of(&self.name)
    }

    /// Waits for the decision on wave `wave` (0-based); whether it may start (else the release halted).
    async fn approve_wave(
        &self,
        wave: usize,
        shared: &Mutex<Shared>,
        cancel: &CancelToken,
        observer: &(dyn Fn(&ReleaseEvent) + Send + Sync),
    ) -> bool {
        let Some(approval) = &self.approval else {
            return true;
        };
        // A wave an earlier run of the release started was approved then.
        for (i, t) in self.waves[wave].targets.iter().enumerate() {
            if let Ok(entries) = t
                .executor
                .providers()
                .store
                .load(&self.deployment_id(wave, i))
                .await
                && !entries.is_empty()
            {
                return true;
            }
        }
        let request = ApprovalRequest {
            deployment: self.control_id(),
            step: wave,
            percent: Share::NONE,
            watch: false,
        };
        observer(&ReleaseEvent::WaitingForApproval {
            wave,
            name: self.waves[wave].name.clone(),
        });
        let decided = futures::future::select(
            Box::pin(approval.wait(&request)),
            Box::pin(cancel.cancelled()),
        )
        .await;
        let reason = match decided {
            futures::future::Either::Left((Ok(decision), _)) => {
                approval.recorded(&request, &decision).await;
                match decision {
                    ApprovalDecision::Approved { by } => {
                        observer(&ReleaseEvent::Approved { wave, by });
                        return true;
                    }
                    ApprovalDecision::Rejected { by, reason } => format!(
                        "wave {} ({}) rejected by {by}{}",
                        wave + 1,
                        self.waves[wave].name,
                        reason.map(|r| format!(": {r}")).unwrap_or_default()
                    ),
                }
            }
            futures::future::Either::Left((Err(e), _)) => {
                format!("the approval of wave {} cannot be read: {e}", wave + 1)
            }
            futures::future::Either::Right(_) => {
                return !self.check(shared, cancel, observer).await;
            }
        };
        halt(shared, reason, observer);
        false
    }

    /// Rolls back every target whose record shows the release took it to the new version (promoted, or
    /// watching), while its old color is kept — `release rollback`, after a release that halted with
    /// `halt` or finished. A target still in progress (its run may be alive) is left, and said so.
    pub async fn roll_back(
        &self,
        observer: &(dyn Fn(&ReleaseEvent) + Send + Sync),
    ) -> ReleaseOutcome {
        let mut results = Vec::new();
        for (w, wave) in self.waves.iter().enumerate() {
            let mut row = Vec::new();
            for (i, t) in wave.targets.iter().enumerate() {
                let id = self.deployment_id(w, i);
                let result = match t.executor.providers().store.load(&id).await {
                    Ok(entries) if !entries.is_empty() => match Replay::new(&entries) {
                        Ok(r) => match (&r.outcome, r.watching()) {
                            (Some(o), _) => TargetResult::Deployed { outcome: o.clone() },
                            (None, Some(_)) => TargetResult::Deployed {
                                outcome: Outcome::Watching {
                                    until: r.approval_deadline.unwrap_or_default(),
                                    armed_until: r.approval_deadline.unwrap_or_default(),
                                    kept: r.stable,
                                },
                            },
                            (None, None) => TargetResult::Failed {
                                error: format!(
                                    "{id} is in progress: not rolled back (abort it, or let it end)"
                                ),
                            },
                        },
                        Err(e) => TargetResult::Failed {
                            error: format!("the record of {id} cannot be read: {e}"),
                        },
                    },
                    _ => TargetResult::NotStarted,
                };
                row.push((t.name.clone(), result));
            }
            results.push(row);
        }
        let shared = Mutex::new(Shared {
            halted: None,
            running: Vec::new(),
            results,
        });
        self.roll_back_all(&shared, observer).await;
        let s = shared.into_inner().unwrap_or_else(|e| e.into_inner());
        ReleaseOutcome {
            targets: s.results,
            halted: None,
        }
    }

    /// Runs the release on `clock` (the bakes between waves, the alarm polls), telling `observer` of each
    /// step. `cancel` halts it (a signal, `release abort`): no target starts after it, running ones are
    /// cancelled. Never fails as a whole: each target's result says what became of it.
    pub async fn run(
        &self,
        clock: Arc<dyn Clock>,
        cancel: CancelToken,
        observer: &(dyn Fn(&ReleaseEvent) + Send + Sync),
    ) -> ReleaseOutcome {
        let shared = Mutex::new(Shared {
            halted: None,
            running: Vec::new(),
            results: self
                .waves
                .iter()
                .map(|w| {
                    w.targets
                        .iter()
                        .map(|t| (t.name.clone(), TargetResult::NotStarted))
                        .collect()
                })
                .collect(),
        });
        for (w, wave) in self.waves.iter().enumerate() {
            if self.check(&shared, &cancel, observer).await {
                break;
            }
            // After the bake, before the next wave: a person's decision, when the release asks for one.
            if w > 0 && !self.approve_wave(w, &shared, &cancel, observer).await {
                break;
            }
            observer(&ReleaseEvent::WaveStarted {
                wave: w,
                name: wave.name.clone(),
            });
            self.run_wave(w, wave, &shared, &clock, &cancel, observer)
                .await;
            if shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .halted
                .is_some()
            {
                break;
            }
            if w + 1 < self.waves.len() && !self.bake_between.is_zero() {
                observer(&ReleaseEvent::Baking {
                    wave: w,
                    duration: self.bake_between,
                });
                let end = clock.now() + self.bake_between;
                while clock.now() < end {
                    let step = end
                        .since(clock.now())
                        .min(self.alarm_poll.max(Duration::from_secs(1)));
                    futures::future::select(
                        Box::pin(clock.sleep(step)),
                        Box::pin(cancel.cancelled()),
                    )
                    .await;
                    if self.check(&shared, &cancel, observer).await {
                        break;
                    }
                }
            }
        }
        let halted = shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .halted
            .clone();
        if halted.is_some() && self.on_failure == OnFailure::RollbackAll {
            self.roll_back_all(&shared, observer).await;
        }
        let s = shared.into_inner().unwrap_or_else(|e| e.into_inner());
        ReleaseOutcome {
            targets: s.results,
            halted: s.halted,
        }
    }

    /// Halts on a cancellation or an aggregate alarm; whether the release is halted.
    async fn check(
        &self,
        shared: &Mutex<Shared>,
        cancel: &CancelToken,
        observer: &(dyn Fn(&ReleaseEvent) + Send + Sync),
    ) -> bool {
        if shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .halted
            .is_some()
        {
            return true;
        }
        let reason = if cancel.is_cancelled() {
            Some(format!(
                "the release was stopped ({})",
                cancel.reason().unwrap_or_else(|| "cancelled".into())
            ))
        } else {
            self.alarm_breach().await
        };
        match reason {
            Some(reason) => {
                halt(shared, reason, observer);
                true
            }
            None => false,
        }
    }

    /// The aggregate alarms in `ALARM` (or that cannot be read), in words.
    async fn alarm_breach(&self) -> Option<String> {
        let source = self
            .alarm_source
            .as_ref()
            .filter(|_| !self.alarms.is_empty())?;
        match source.alarm_states(&self.alarms).await {
            Ok(states) => {
                let firing: Vec<&str> = states
                    .iter()
                    .filter(|a| a.state == AlarmState::Alarm)
                    .map(|a| a.name.as_str())
                    .collect();
                (!firing.is_empty())
                    .then(|| format!("aggregate alarm in ALARM: {}", firing.join(", ")))
            }
            Err(e) => Some(format!("the aggregate alarms cannot be read: {e}")),
        }
    }

    async fn run_wave(
        &self,
        w: usize,
        wave: &Wave,
        shared: &Mutex<Shared>,
        clock: &Arc<dyn Clock>,
        cancel: &CancelToken,
        observer: &(dyn Fn(&ReleaseEvent) + Send + Sync),
    ) {
        // Each region's targets in order, `per_region` at a time; regions side by side.
        let mut regions: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, t) in wave.targets.iter().enumerate() {
            match regions.iter_mut().find(|(r, _)| *r == t.region) {
                Some((_, v)) => v.push(i),
                None => regions.push((&t.region, vec![i])),
            }
        }
        let lanes = regions.iter().flat_map(|(_, targets)| {
            (0..self.per_region).map(move |lane| {
                targets
                    .iter()
                    .copied()
                    .skip(lane)
                    .step_by(self.per_region)
                    .collect::<Vec<usize>>()
            })
        });
        let lanes = futures::future::join_all(lanes.map(|lane| async move {
            for i in lane {
                if self.check(shared, cancel, observer).await {
                    return;
                }
                self.run_target(w, i, &wave.targets[i], shared, observer)
                    .await;
            }
        }));
        // While the wave runs, the aggregate alarms and the release's cancellation are watched: either halts
        // it at once (the running targets are cancelled, and the wave waits for their rollbacks).
        let monitor = async {
            loop {
                futures::future::select(
                    Box::pin(clock.sleep(self.alarm_poll.max(Duration::from_secs(1)))),
                    Box::pin(cancel.cancelled()),
                )
                .await;
                if self.check(shared, cancel, observer).await {
                    return;
                }
            }
        };
        let (lanes, monitor) = (Box::pin(lanes), Box::pin(monitor));
        if let futures::future::Either::Right(((), lanes)) =
            futures::future::select(lanes, monitor).await
        {
            lanes.await;
        }
    }

    async fn run_target(
        &self,
        w: usize,
        i: usize,
        target: &ReleaseTarget,
        shared: &Mutex<Shared>,
        observer: &(dyn Fn(&ReleaseEvent) + Send + Sync),
    ) {
        let id = self.deployment_id(w, i);
        let exec = &target.executor;
        // An earlier run of this release: what its record says.
        let earlier = match exec.providers().store.load(&id).await {
            Ok(entries) if !entries.is_empty() => match Replay::new(&entries) {
                Ok(r) => Some(r),
                Err(e) => {
                    self.ended(
                        w,
                        i,
                        target,
                        TargetResult::Failed {
                            error: format!("the record of {id} cannot be read: {e}"),
                        },
                        shared,
                        observer,
                    );
                    return;
                }
            },
            _ => None,
        };
        let resumed = earlier.is_some();
        let result = match earlier.as_ref().and_then(|r| r.outcome.clone()) {
            Some(outcome) => Ok(outcome),
            None => {
                {
                    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                    if s.halted.is_some() {
                        return;
                    }
                    s.running.push(((w, i), exec.cancel_token()));
                }
                observer(&ReleaseEvent::TargetStarted {
                    target: target.name.clone(),
                    deployment: id.clone(),
                    resumed,
                });
                if resumed {
                    exec.resume(&id, ResumeAction::Continue).await
                } else {
                    exec.run(id.clone(), target.plan.clone()).await
                }
            }
        };
        let result = match result {
            Ok(outcome) => TargetResult::Deployed { outcome },
            Err(e) => TargetResult::Failed {
                error: error_words(&e),
            },
        };
        self.ended(w, i, target, result, shared, observer);
    }

    fn ended(
        &self,
        w: usize,
        i: usize,
        target: &ReleaseTarget,
        result: TargetResult,
        shared: &Mutex<Shared>,
        observer: &(dyn Fn(&ReleaseEvent) + Send + Sync),
    ) {
        let failed = result.failed();
        let reason = match &result {
            TargetResult::Deployed { outcome } => format!("{}: {outcome}", target.name),
            TargetResult::Failed { error } => format!("{}: {error}", target.name),
            _ => String::new(),
        };
        observer(&ReleaseEvent::TargetEnded {
            target: target.name.clone(),
            result: result.clone(),
        });
        {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            s.results[w][i].1 = result;
            s.running.retain(|(at, _)| *at != (w, i));
        }
        if failed {
            halt(shared, reason, observer);
        }
    }

    /// Rolls back every target the release took to the new version, while its old color is kept.
    async fn roll_back_all(
        &self,
        shared: &Mutex<Shared>,
        observer: &(dyn Fn(&ReleaseEvent) + Send + Sync),
    ) {
        for (w, wave) in self.waves.iter().enumerate() {
            for (i, target) in wave.targets.iter().enumerate() {
                let result = shared.lock().unwrap_or_else(|e| e.into_inner()).results[w][i]
                    .1
                    .clone();
                let TargetResult::Deployed { outcome } = &result else {
                    continue;
                };
                if !result.succeeded() {
                    continue;
                }
                observer(&ReleaseEvent::RollingBack {
                    target: target.name.clone(),
                });
                let exec = &target.executor;
                let back = match outcome {
                    Outcome::Watching { .. } => {
                        match exec
                            .resume(&self.deployment_id(w, i), ResumeAction::Rollback)
                            .await
                        {
                            Ok(Outcome::RolledBack { split, .. }) => {
                                TargetResult::RolledBackWithRelease { split }
                            }
                            Ok(other) => TargetResult::NotRolledBack {
                                why: other.to_string(),
                            },
                            Err(e) => TargetResult::NotRolledBack {
                                why: error_words(&e),
                            },
                        }
                    }
                    Outcome::Promoted { split, .. } => {
                        let old = split.sole_color().map(crate::Color::other);
                        let decided = exec
                            .decide_rollback(
                                &target.plan.application,
                                EmergencyRequest {
                                    to: old,
                                    force: false,
                                },
                            )
                            .await;
                        match decided {
                            Ok(d) => match exec.emergency_rollback(&d).await {
                                Ok(split) => TargetResult::RolledBackWithRelease { split },
                                Err(e) => TargetResult::NotRolledBack {
                                    why: error_words(&e),
                                },
                            },
                            Err(e) => TargetResult::NotRolledBack {
                                why: format!("its old color is no longer kept: {e}"),
                            },
                        }
                    }
                    _ => continue,
                };
                observer(&ReleaseEvent::TargetEnded {
                    target: target.name.clone(),
                    result: back.clone(),
                });
                shared.lock().unwrap_or_else(|e| e.into_inner()).results[w][i].1 = back;
            }
        }
    }
}

/// Halts the release (the first reason stays) and cancels every target running.
fn halt(shared: &Mutex<Shared>, reason: String, observer: &(dyn Fn(&ReleaseEvent) + Send + Sync)) {
    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
    if s.halted.is_some() {
        return;
    }
    s.halted = Some(reason.clone());
    for (_, token) in s.running.drain(..) {
        token.cancel_because(format!("release halted: {reason}"));
    }
    drop(s);
    observer(&ReleaseEvent::Halted { reason });
}

fn error_words(e: &ExecError) -> String {
    e.to_string()
}
