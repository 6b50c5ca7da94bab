//! Whether a deployment accepts a request from outside it (`promote`, `promote --pre-approve`, `reject`,
//! `abort`), decided on its record by the core (issue 22: the rules left the command). Each case is a prefix
//! of a real canary's record: before the approval step, waiting at it, after it, finished.

use bluegreen_core::*;
use bluegreen_testkit::*;
use std::sync::Arc;
use std::time::Duration;

/// A canary's record, promoted after its approval (given 5 minutes after it was asked).
fn canary_record() -> Vec<RecordEntry> {
    let h = Harness::new(WorldConfig::default());
    let approver = ScriptedApproval::approve_after(h.clock(), Duration::from_secs(300));
    let h = h.with_approval(Arc::new(approver));
    let plan = Plan::new(
        "poc/poc-web",
        Strategy::canary().compile().expect("the default canary"),
    );
    let outcome = h.run("c", plan).expect("runs");
    assert!(matches!(outcome, Outcome::Promoted { .. }), "{outcome}");
    h.store.record(&DeploymentId::new("c").unwrap())
}

/// The record up to and including the first entry of `kind`.
fn until(record: &[RecordEntry], kind: &str) -> Replay {
    let end = record
        .iter()
        .position(|e| e.event.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind} in the record"));
    Replay::new(&record[..=end]).expect("a prefix replays")
}

#[test]
fn requests_are_accepted_only_for_what_the_deployment_does_now() {
    use ControlAsk::*;
    let record = canary_record();
    let before = until(&record, "split-verified");
    let waiting = until(&record, "approval-requested");
    let approved = until(&record, "approval-decided");
    let finished = Replay::new(&record).unwrap();
    let kind = |r: Result<(), ControlRefusal>| match r {
        Ok(()) => "accepted",
        Err(ControlRefusal::Finished { .. }) => "finished",
        Err(ControlRefusal::BeingAborted { .. }) => "being aborted",
        Err(ControlRefusal::NoApprovalAhead { .. }) => "no approval ahead",
        Err(ControlRefusal::NotWaitingForApproval { .. }) => "not waiting",
        Err(other) => panic!("{other}"),
    };
    let table = [
        (&before, Approve, "not waiting"),
        (&before, PreApprove, "accepted"),
        (&before, Reject, "not waiting"),
        (&before, Abort, "accepted"),
        (&waiting, Approve, "accepted"),
        (&waiting, PreApprove, "accepted"),
        (&waiting, Reject, "accepted"),
        (&waiting, Abort, "accepted"),
        (&approved, Approve, "not waiting"),
        (&approved, PreApprove, "no approval ahead"),
        (&approved, Abort, "accepted"),
        (&finished, Approve, "finished"),
        (&finished, PreApprove, "finished"),
        (&finished, Abort, "finished"),
    ];
    for (replay, ask, expected) in table {
        assert_eq!(
            kind(replay.accepts(ask, None)),
            expected,
            "{ask:?} at {:?}",
            replay.in_progress
        );
    }
    // An abort on its way wins over any approval, and is named.
    let err = waiting.accepts(Approve, Some("oncall")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "deployment c is being aborted (by oncall): an approval cannot undo that"
    );
    assert_eq!(waiting.accepts(Abort, Some("oncall")), Ok(()));
    // The core says what is wrong in its own terms: no flag, no command.
    let err = before.accepts(Approve, None).unwrap_err().to_string();
    assert_eq!(
        err,
        "deployment c is not waiting for an approval now (a canary waits after its first bake)"
    );
    assert!(!err.contains("--"), "{err}");
}
