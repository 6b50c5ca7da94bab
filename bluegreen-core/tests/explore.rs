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
