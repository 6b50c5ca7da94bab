//! Small-scope exhaustive exploration of the executor (issues 10 and 20): every crash point × every single
//! fault per operation × an outside change between crash and resume, a second crash at every point of the
//! resume, a change at every poll of a live run, a store outage from every entry of a rollback; every
//! invariant checked. The counts and
//! the time go to `docs/safety.md`; `cargo run --release -p bluegreen-benches --bin explore` prints them.

use bluegreen_testkit::explore::{Scope, explore};

#[test]
fn the_executor_keeps_its_invariants_in_every_explored_state() {
    let report = explore(&Scope::default());
    eprintln!(
        "explored {} combinations, {} runs, {} recorded states in {:.1?}; {} violations",
        report.combinations,
        report.runs,
        report.states,
        report.elapsed,
        report.violations.len()
    );
    for (name, runs, violations) in &report.dimensions {
        eprintln!("  {name}: {runs} runs, {violations} violations");
    }
    assert!(
        report.runs > 1000,
        "the scope is explored: {} runs",
        report.runs
    );
    assert!(
        report.violations.is_empty(),
        "{} violations, first ones:\n{}",
        report.violations.len(),
        report.violations[..report.violations.len().min(20)].join("\n")
    );
}

/// Issue 20, the explorer's new dimension: two runs of one deployment with a lease lapse between them and
/// a control request in flight (run A frozen every 20 s of its canary, in the bake and in the approval
/// wait; B resumes once A's lease lapsed; an abort or an approval sent before or after B resumed; A waking
/// at the moment it is sent, just after, or after B's end). No violation with the control queue consumed
/// once the decision is recorded under the lock; with one consumed when first seen (the old front door's
/// way), the dimension finds the abort that B never gets.
#[test]
fn two_runs_with_a_lease_lapse_and_a_control_request_in_flight_keep_the_request() {
    let (runs, violations) = bluegreen_testkit::explore::takeovers(false);
    eprintln!("takeovers: {runs} runs, {} violations", violations.len());
    assert!(runs >= 100, "{runs} runs");
    assert!(
        violations.is_empty(),
        "{} violations:\n{}",
        violations.len(),
        violations[..violations.len().min(20)].join("\n")
    );
    let (runs, broken) = bluegreen_testkit::explore::takeovers(true);
    eprintln!(
        "takeovers with a queue consumed when seen: {runs} runs, {} violations",
        broken.len()
    );
    assert!(
        broken
            .iter()
            .any(|v| v.contains("does not name carol") || v.contains("B ended")),
        "the broken queue is caught: {broken:?}"
    );
}
