//! Starting and resuming a run: the checks before the lock, the lock (taken and released in one place), the
//! checks under it, and the replay a run drives from (a fresh run's is its `started` entry alone).

use super::*;

pub(in crate::executor) async fn start(
    exec: &Executor,
    id: DeploymentId,
    plan: Plan,
) -> Result<Outcome, ExecError> {
    validate(&plan)?;
    if has_record(exec, &id, &plan.retry).await? {
        return Err(ExecError::DuplicateId(id));
    }
    let (application, retry) = (plan.application.clone(), plan.retry);
    locked(exec, &application, &id.clone(), &retry, |lease| {
        start_locked(exec, id, plan, lease)
    })
    .await
}

/// The lock after a run: kept (to release) or lost to another run (not ours to release).
pub(super) enum Held {
    Kept(Lease),
    Lost,
}

/// Takes the application's lock, runs `body` with it, and releases it: the one place a run's lock is
/// released.
async fn locked<F, Fut>(
    exec: &Executor,
    application: &str,
    id: &DeploymentId,
    retry: &RetryPolicy,
    body: F,
) -> Result<Outcome, ExecError>
where
    F: FnOnce(Lease) -> Fut,
    Fut: Future<Output = (Result<Outcome, ExecError>, Held)>,
{
    let lease = lock(exec, application, id, retry).await?;
    let (result, held) = body(lease).await;
    if let Held::Kept(lease) = held {
        // Retried like every store call (a throttled release would hold the application for a whole
        // lease); one that still fails lapses on its own after its TTL, and the outcome is recorded.
        let p = &exec.providers;
        let _ = with_retry(&*p.clock, &*exec.observer, retry, "unlock", || {
            p.store.unlock(&lease)
        })
        .await;
    }
    result
}

async fn start_locked(
    exec: &Executor,
    id: DeploymentId,
    plan: Plan,
    lease: Lease,
) -> (Result<Outcome, ExecError>, Held) {
    // Another run may have started the same deployment between the check before the lock and the lock.
    match has_record(exec, &id, &plan.retry).await {
        Ok(false) => {}
        Ok(true) => return (Err(ExecError::DuplicateId(id)), Held::Kept(lease)),
        Err(e) => return (Err(e), Held::Kept(lease)),
    }
    // One deployment per application: one whose run died (its lease lapsed) is still unfinished.
    match unfinished(exec, &plan.application, &plan.retry).await {
        Ok(None) => {}
        Ok(Some(unfinished)) => {
            return (Err(ExecError::Unfinished(unfinished)), Held::Kept(lease));
        }
        Err(e) => return (Err(e), Held::Kept(lease)),
    }
    let (split, stable, plan) = match preflight(exec, &id, plan).await {
        Ok(v) => v,
        Err(e) => return (Err(e), Held::Kept(lease)),
    };
    let mut run = Run::new(exec, id.clone(), plan.clone(), stable, 0, lease);
    run.last_split = Some(split);
    let started = Event::Started {
        deployment: id,
        stable,
        plan: Box::new(plan),
        by: exec.actor.clone(),
    };
    let entry = RecordEntry {
        seq: 0,
        at: run.now(),
        event: started.clone(),
    };
    if let Err(stop) = run.record(started).await {
        let error = ExecError::Provider {
            operation: "append to the deployment record",
            source: ProviderError::Unavailable {
                message: stop.message(),
            },
        };
        return (Err(error), run.held());
    }
    run.put_mark().await;
    let mut entries = vec![entry];
    if run.plan.from_current && split.sole_color().is_none() {
        // A rollout continued from a split moved by hand: where traffic stood, as read before anything was
        // written, is the record's first verified split (a resume restores it, a rollback starts from it).
        let verified = Event::SplitVerified { split };
        let at = run.now();
        if let Err(stop) = run.record(verified.clone()).await {
            let outcome = run.finish(Err(stop)).await;
            return (Ok(outcome), run.held());
        }
        entries.push(RecordEntry {
            seq: 1,
            at,
            event: verified,
        });
    }
    // A fresh run is the replay of its first entries: the forward path has no separate case for it.
    let replay = Replay::new(&entries).expect("a record of a `started` entry replays");
    let outcome = run.drive(&replay).await;
    (Ok(outcome), run.held())
}

/// Refuses while another deployment's live mark is on the routes: it runs from a machine or directory whose
/// state store this one does not see (the lock did not stop it). A mark of `id` itself (a run of it that
/// died) is this deployment's to replace.
async fn check_mark(
    exec: &Executor,
    id: &DeploymentId,
    retry: &RetryPolicy,
) -> Result<(), ExecError> {
    let p = &exec.providers;
    let mark = with_retry(&*p.clock, &*exec.observer, retry, "read_mark", || {
        p.router.read_mark()
    })
    .await
    .map_err(|source| ExecError::Provider {
        operation: "read the listener's mark",
        source,
    })?;
    match mark {
        Some(mark) if mark.deployment != *id && mark.is_live(p.clock.now()) => {
            Err(ExecError::Marked { mark })
        }
        _ => Ok(()),
    }
}

/// Reads the split and decides the stable color, before anything is written; the plan as it will run (a
/// rollout continued from the current split starts after the steps it passed).
async fn preflight(
    exec: &Executor,
    id: &DeploymentId,
    mut plan: Plan,
) -> Result<(TrafficSplit, Color, Plan), ExecError> {
    check_mark(exec, id, &plan.retry).await?;
    let p = &exec.providers;
    let routing = with_retry(
        &*p.clock,
        &*exec.observer,
        &plan.retry,
        "read_split",
        || p.router.read_routes(),
    )
    .await
    .map_err(|source| ExecError::Provider {
        operation: "read_split",
        source,
    })?;
    // A deployment or a shift moves every route together, from one split.
    let split = routing.uniform().ok_or_else(|| ExecError::RoutesDisagree {
        routing: routing.to_string(),
    })?;
    if plan.schedule.is_shift() {
        // A manual shift may start from any split; the plan names the color to fall back to.
        let stable = plan.expected_stable.ok_or_else(|| {
            ExecError::InvalidPlan(
                "a shift needs the stable color (the one to roll back to)".into(),
            )
        })?;
        return Ok((split, stable, plan));
    }
    if plan.from_current {
        let stable = plan.expected_stable.ok_or_else(|| {
            ExecError::InvalidPlan(
                "a rollout continued from the current split needs the stable color".into(),
            )
        })?;
        if split.sole_color() == Some(stable) {
            // At rest on the stable color: a rollout from the start.
            return Ok((split, stable, plan));
        }
        let new = stable.other();
        plan.schedule = plan
            .schedule
            .continuing_from(split.per_mille(new))
            .ok_or_else(|| {
                ExecError::InvalidPlan(format!(
                    "the split is {split}: {new} already has all the traffic, nothing to continue"
                ))
            })?;
        return Ok((split, stable, plan));
    }
    let stable = split.sole_color().ok_or(ExecError::NotAtRest { split })?;
    if let Some(expected) = plan.expected_stable
        && expected != stable
    {
        return Err(ExecError::UnexpectedStable { expected, split });
    }
    Ok((split, stable, plan))
}

/// Reads `id`'s record, retrying transient errors (a shared store is a network service).
async fn load_record(
    exec: &Executor,
    id: &DeploymentId,
    retry: &RetryPolicy,
) -> Result<Vec<RecordEntry>, ProviderError> {
    let p = &exec.providers;
    with_retry(&*p.clock, &*exec.observer, retry, "load", || {
        p.store.load(id)
    })
    .await
}

/// Whether `id` already has a record.
async fn has_record(
    exec: &Executor,
    id: &DeploymentId,
    retry: &RetryPolicy,
) -> Result<bool, ExecError> {
    match load_record(exec, id, retry).await {
        Ok(entries) => Ok(!entries.is_empty()),
        Err(ProviderError::NotFound { .. }) => Ok(false),
        Err(source) => Err(ExecError::Provider {
            operation: "load record",
            source,
        }),
    }
}

/// The replayed record of `id`.
async fn replay_of(exec: &Executor, id: &DeploymentId) -> Result<Replay, ExecError> {
    // The record's own retry policy is not known before it is read: the default one.
    let entries = match load_record(exec, id, &RetryPolicy::default()).await {
        Ok(e) => e,
        Err(ProviderError::NotFound { .. }) => return Err(ExecError::NoRecord(id.clone())),
        Err(source) => {
            return Err(ExecError::Provider {
                operation: "load record",
                source,
            });
        }
    };
    Replay::new(&entries).map_err(|source| ExecError::BadRecord {
        deployment: id.clone(),
        source,
    })
}

pub(in crate::executor) async fn resume(
    exec: &Executor,
    id: &DeploymentId,
    action: ResumeAction,
) -> Result<Outcome, ExecError> {
    let first = replay_of(exec, id).await?;
    if let Some(outcome) = first.outcome {
        return Ok(outcome);
    }
    if first.promoted && action == ResumeAction::Rollback {
        return Err(ExecError::AlreadyPromoted(id.clone()));
    }
    locked(
        exec,
        &first.plan.application,
        id,
        &first.plan.retry,
        |lease| resume_locked(exec, id, action, lease),
    )
    .await
}

async fn resume_locked(
    exec: &Executor,
    id: &DeploymentId,
    action: ResumeAction,
    lease: Lease,
) -> (Result<Outcome, ExecError>, Held) {
    // Read the record again under the lock: the run that held it may have written more before it ended.
    let replay = match replay_of(exec, id).await {
        Ok(r) => r,
        Err(e) => return (Err(e), Held::Kept(lease)),
    };
    if let Some(outcome) = replay.outcome.clone() {
        return (Ok(outcome), Held::Kept(lease));
    }
    if let Err(e) = check_mark(exec, id, &replay.plan.retry).await {
        return (Err(e), Held::Kept(lease));
    }
    let mut run = Run::new(
        exec,
        id.clone(),
        replay.plan.clone(),
        replay.stable,
        replay.len,
        lease,
    );
    run.resumed = true;
    // The judge's evidence is the record's minutes, in the order they were judged.
    if let Some(judge) = run.judge.as_mut() {
        for m in &replay.minutes {
            judge.add(m);
        }
    }
    run.pause_accepted = replay.approved.iter().any(|i| {
        matches!(
            replay.plan.schedule.steps().get(*i),
            Some(crate::Step::Bake { .. })
        )
    });
    run.last_split = replay.last_verified;
    run.raised = replay.raised;
    run.kept = replay.kept;
    run.current_step = replay.in_progress.or(replay.next_step());
    let step = replay
        .next_step()
        .unwrap_or(replay.plan.schedule.steps().len());
    let resumed = run.record(Event::Resumed { action, step }).await;
    if resumed.is_ok() {
        run.put_mark().await;
    }
    let outcome = match resumed {
        Err(stop) => run.finish(Err(stop)).await,
        Ok(()) => match (&replay.rollback, action) {
            (Some((reason, step)), _) => {
                run.current_step = *step;
                run.finish(Err(Stop::Rollback(reason.clone()))).await
            }
            // The record holds a decision to roll back that the run did not live to act on.
            (None, _) if replay.pending_rollback.is_some() && !replay.promoted => {
                let (reason, step) = replay.pending_rollback.clone().expect("checked");
                run.current_step = Some(step);
                run.finish(Err(Stop::Rollback(reason))).await
            }
            (None, ResumeAction::Rollback) => {
                run.finish(Err(Stop::Rollback(RollbackReason::Requested)))
                    .await
            }
            (None, ResumeAction::Continue) => run.drive(&replay).await,
        },
    };
    (Ok(outcome), run.held())
}

/// The application's latest deployment, if its record has no outcome. A history that cannot be read (after
/// the retries) is an error, never "no unfinished deployment": a split at rest does not tell that a
/// deployment died before it moved traffic (or after it scaled the old color down).
async fn unfinished(
    exec: &Executor,
    application: &str,
    retry: &RetryPolicy,
) -> Result<Option<DeploymentId>, ExecError> {
    let p = &exec.providers;
    let history = |source| ExecError::Provider {
        operation: "read the application's history",
        source,
    };
    let ids = with_retry(&*p.clock, &*exec.observer, retry, "list", || {
        p.store.list(application)
    })
    .await
    .map_err(history)?;
    let Some(last) = ids.last() else {
        return Ok(None);
    };
    let record = match load_record(exec, last, retry).await {
        Ok(r) => r,
        // Listed but gone (removed by hand): nothing to finish.
        Err(ProviderError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(history(e)),
    };
    let finished = record
        .iter()
        .any(|e| matches!(e.event, Event::Finished { .. }));
    Ok((!finished).then(|| last.clone()))
}

fn validate(plan: &Plan) -> Result<(), ExecError> {
    plan.validate()
        .map_err(|e| ExecError::InvalidPlan(e.to_string()))
}

/// Takes the application's lock, retrying transient errors. A lock that was taken but whose answer was lost
/// is found held by this very run on the retry: it is ours.
async fn lock(
    exec: &Executor,
    application: &str,
    id: &DeploymentId,
    retry: &RetryPolicy,
) -> Result<Lease, ExecError> {
    let p = &exec.providers;
    let owner = exec.owner(id);
    let taken = with_retry(&*p.clock, &*exec.observer, retry, "lock", || {
        p.store
            .lock(application, &owner, p.clock.now(), exec.lease_ttl)
    })
    .await;
    match taken {
        Ok(lease) => Ok(lease),
        Err(ProviderError::Conflict { message }) => {
            let held = with_retry(&*p.clock, &*exec.observer, retry, "holder", || {
                p.store.holder(application)
            })
            .await;
            match held {
                Ok(Some(lease)) if lease.owner == owner => Ok(lease),
                _ => Err(ExecError::Locked { message }),
            }
        }
        Err(source) => Err(ExecError::Provider {
            operation: "take the deployment lock",
            source,
        }),
    }
}
