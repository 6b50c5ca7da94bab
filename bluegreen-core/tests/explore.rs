//! Small-scope exhaustive exploration of the executor (issue 10): every crash point × every single fault
//! per operation × an outside change between crash and resume, every invariant checked. The counts and
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
