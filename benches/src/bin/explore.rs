//! The executor's exhaustive exploration (issue 10), timed: `cargo run --release -p bluegreen-benches --bin
//! explore`. Prints the scope, the counts and the violations (there must be none); the numbers go to
//! `docs/safety.md`.

use bluegreen_testkit::explore::{Scope, explore};

fn main() {
    let scope = Scope::default();
    println!(
        "scope: {} schedules × {} worlds × {} faults (none or one) × every crash point × {} outside changes",
        scope.schedules.len(),
        scope.worlds.len(),
        scope.faults.len(),
        scope.changes.len()
    );
    let report = explore(&scope);
    println!(
        "explored {} combinations, {} runs, {} recorded states in {:.2?}; {} violations",
        report.combinations,
        report.runs,
        report.states,
        report.elapsed,
        report.violations.len()
    );
    for v in report.violations.iter().take(20) {
        println!("  {v}");
    }
    if !report.violations.is_empty() {
        std::process::exit(1);
    }
}
