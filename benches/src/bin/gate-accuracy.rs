//! How right the default gates are on a world that publishes metrics as AWS does.
//!
//! Run: `cargo run --release -p bluegreen-benches --bin gate-accuracy` (add `-- --seeds N` for fewer or
//! more seeds; the default is 1,000 healthy seeds and 50 seeds per breach case; `-- --only side-by-side`
//! runs section 4 alone). Prints, for the numbers
//! in `docs/performance.md` and `docs/gates.md`:
//! 1. healthy gradual releases rolled back, per publication profile;
//! 2. breaches (5xx, latency, healthy hosts, alarm) at each of the 5 steps, beginning 20–120 s into the
//!    step's bake: how many were rolled back by a failing verdict, and the reaction time from the breach's start to the split verified at 100 % stable
//!    (p50 / p95 / max), per trigger and publication profile;
//! 3. a low-traffic application (1 request/s, 10 % canary) with the defaults and with the configuration
//!    `docs/gates.md` recommends;
//! 4. the threshold gates and the sequential judge side by side, for gradual and canaries of 10 % and 1 %,
//!    at 1, 10, 100 and 1,000 requests/s: healthy releases rolled back (3,000 seeds: a 95 % bound of
//!    0.1 % when none is), their length, regressions of the 5xx rate (1.5, 2, 5 × stable) and of latency
//!    (+20, +50, +100 %) caught and when; then healthy releases on the slow and instant profiles.

use bluegreen_core::gate::{Check, ErrorRate, NoDataPolicy, Verdict};
use bluegreen_core::{
    AlarmState, Color, Event, GatePolicy, Outcome, Plan, RollbackReason, Strategy, TrafficSplit,
};
use bluegreen_testkit::{
    Change, Harness, Publication, PublicationDelay, Script, ScriptedApproval, WorldConfig,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALARM: &str = "poc-web-high-latency";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The publication profiles measured: AWS's usual (the testkit's default), a slow day, and instant.
fn profiles() -> Vec<(&'static str, Publication)> {
    vec![
        (
            "default (60-120 s, 10 % up to 4.5 min, 10 % revised)",
            Publication::default(),
        ),
        (
            "slow (120-240 s, 20 % up to 6 min, 20 % revised)",
            Publication::Realistic(PublicationDelay {
                base: secs(120),
                jitter: secs(120),
                tail_probability: 0.2,
                tail: secs(120),
                revision_probability: 0.2,
            }),
        ),
        ("instant (at the minute's close)", Publication::Instant),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Trigger {
    Errors,
    Latency,
    HealthyHosts,
    Alarm,
}

fn world(seed: u64, publication: Publication) -> WorldConfig {
    WorldConfig {
        seed,
        publication,
        ..WorldConfig::default()
    }
}

fn plan(strategy: Strategy) -> Plan {
    Plan::new("poc/poc-web", strategy.compile().expect("valid strategy"))
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn healthy(seeds: u64) {
    println!("## 1. Healthy gradual releases (5 steps, 3 min bakes, default gates)");
    for (name, publication) in profiles() {
        let t = Instant::now();
        let mut rolled_back = Vec::new();
        let mut elapsed = Vec::new();
        for seed in 0..seeds {
            let h = Harness::new(world(seed, publication));
            let outcome = h.run("d1", plan(Strategy::gradual())).expect("runs");
            if outcome.kind() != "promoted" {
                rolled_back.push(seed);
            }
            elapsed.push(h.elapsed().as_secs());
        }
        elapsed.sort_unstable();
        println!(
            "- {name}: {} of {seeds} rolled back {:?}; duration p50 {} s, p95 {} s, max {} s ({:.1} s wall)",
            rolled_back.len(),
            &rolled_back[..rolled_back.len().min(10)],
            percentile(&elapsed, 0.5),
            percentile(&elapsed, 0.95),
            elapsed.last().copied().unwrap_or(0),
            t.elapsed().as_secs_f64()
        );
    }
}

fn breach_world(
    trigger: Trigger,
    at: Duration,
    seed: u64,
    publication: Publication,
) -> WorldConfig {
    let mut config = world(seed, publication);
    let script = |c: Change| Script::default().at(at, c);
    match trigger {
        Trigger::Errors => config.scripts.green = script(Change::ErrorRate(0.2)),
        Trigger::Latency => config.scripts.green = script(Change::LatencyAvg(secs(3))),
        Trigger::HealthyHosts => config.scripts.green = script(Change::UnhealthyTargets(2)),
        Trigger::Alarm => {}
    }
    let alarm = if trigger == Trigger::Alarm {
        vec![(at, AlarmState::Alarm)]
    } else {
        vec![]
    };
    config.alarms.insert(ALARM.into(), alarm);
    config
}

fn breaches(seeds: u64) {
    println!();
    println!(
        "## 2. Breaches at each step: caught by a failing verdict; reaction from breach start to 100 % stable verified"
    );
    for (name, publication) in profiles() {
        println!("- {name}:");
        for trigger in [
            Trigger::Errors,
            Trigger::Latency,
            Trigger::HealthyHosts,
            Trigger::Alarm,
        ] {
            let (mut caught, mut total) = (0, 0);
            let mut reaction = Vec::new();
            let mut misses = Vec::new();
            for step in 0..5u64 {
                for seed in 0..seeds {
                    // The breach starts at a pseudo-random second of the step's bake, early enough that a
                    // whole minute of it lies within the bake (a breach that begins in the last minute of
                    // the final bake is not seen before promotion: see docs/gates.md).
                    let offset = 20 + (seed * 37 + step * 11) % 100;
                    let at = secs(step * 180 + offset);
                    let h = Harness::new(breach_world(trigger, at, seed, publication));
                    let mut p = plan(Strategy::gradual());
                    p.gates = GatePolicy::default().with_alarms(&[ALARM.to_string()]);
                    let outcome = h.run("d1", p).expect("runs");
                    total += 1;
                    let by_failure = matches!(
                        &outcome,
                        Outcome::RolledBack { reason: RollbackReason::Gate { report, .. }, split, .. }
                            if report.verdict == Verdict::Fail && *split == TrafficSplit::all_to(Color::Blue)
                    );
                    if by_failure {
                        caught += 1;
                        let verified = h
                            .verified_splits()
                            .last()
                            .map(|(t, _)| *t)
                            .unwrap_or_default();
                        reaction.push(verified.saturating_sub(at).as_secs());
                    } else {
                        misses.push((step, seed, outcome.kind()));
                    }
                }
            }
            reaction.sort_unstable();
            println!(
                "  - {trigger:?}: {caught}/{total} rolled back by a failing verdict; reaction p50 {} s, p95 {} s, max {} s{}",
                percentile(&reaction, 0.5),
                percentile(&reaction, 0.95),
                reaction.last().copied().unwrap_or(0),
                if misses.is_empty() {
                    String::new()
                } else {
                    format!("; missed {:?}", &misses[..misses.len().min(5)])
                }
            );
        }
    }
}

fn low_traffic() {
    println!();
    println!(
        "## 3. Low traffic: 1 request/s, canary at 10 % (about 6 requests a minute to the new color), approved after 10 min"
    );
    let run = |name: &str, gates: GatePolicy, seed: u64| {
        let h = Harness::new(WorldConfig {
            seed,
            request_rate: 1.0,
            ..WorldConfig::default()
        });
        let h = {
            let a = ScriptedApproval::approve_after(h.clock(), secs(600));
            h.with_approval(Arc::new(a))
        };
        let mut p = plan(Strategy::canary());
        p.gates = gates;
        let outcome = h.run("d1", p).expect("runs");
        let judged = h
            .events
            .entries()
            .iter()
            .filter_map(|e| match &e.event {
                Event::Polled { reports, .. } => Some(
                    reports
                        .iter()
                        .filter(|r| r.minute.is_some() && r.gate == "5xx-rate")
                        .count(),
                ),
                _ => None,
            })
            .sum::<usize>();
        println!(
            "- {name} (seed {seed}): {} after {} s, {judged} minutes judged by the 5xx gate — {}",
            outcome.kind(),
            h.elapsed().as_secs(),
            outcome
        );
    };
    run("defaults", GatePolicy::default(), 1);
    let recommended = low_traffic_gates();
    run(
        "recommended: window 10m, min_requests 20",
        recommended.clone(),
        1,
    );
    // And a breach under the recommended configuration: green fails 30 % from minute 2.
    let h = Harness::new(WorldConfig {
        seed: 1,
        request_rate: 1.0,
        scripts: bluegreen_core::PerColor {
            blue: Script::default(),
            green: Script::default().at(secs(120), Change::ErrorRate(0.3)),
        },
        ..WorldConfig::default()
    });
    let mut p = plan(Strategy::canary());
    p.gates = recommended;
    let outcome = h.run("d1", p).expect("runs");
    println!(
        "- recommended, green failing 30 % from 2:00: {} after {} s — {}",
        outcome.kind(),
        h.elapsed().as_secs(),
        outcome
    );
}

/// What `docs/gates.md` recommends for a few requests a minute: judge ten minutes at a time, with fewer
/// requests and errors needed.
fn low_traffic_gates() -> GatePolicy {
    let mut g = GatePolicy {
        window: Some(secs(600)),
        min_requests: 20,
        ..GatePolicy::default()
    };
    for gate in &mut g.bake {
        if let Check::ErrorRate(ErrorRate { min_errors, .. }) = &mut gate.check {
            *min_errors = 3;
        }
        if gate.no_data == NoDataPolicy::Inconclusive {
            gate.no_data = NoDataPolicy::ExtendBake;
        }
    }
    g.limits.inconclusive = 10;
    g.max_extension = secs(600);
    g
}

/// The strategies compared in section 4: the default gradual, and canaries of 1 % and 10 % (3 min bake,
/// approved at once, 3 min after the switch).
fn side_strategies() -> Vec<(&'static str, Strategy)> {
    let canary = |percent| Strategy::Canary {
        percent: bluegreen_core::Share::percent(percent),
        bake: secs(180),
        approval_timeout: None,
        on_timeout: bluegreen_core::TimeoutAction::Rollback,
    };
    vec![
        ("gradual", Strategy::gradual()),
        ("canary 10 %", canary(10)),
        ("canary 1 %", canary(1)),
    ]
}

/// What green does differently from blue (0.1 % 5xx, 80 ms) from the start.
#[derive(Debug, Clone, Copy)]
enum Regression {
    None,
    Errors(f64),
    Latency(f64),
}

/// One release at `rate` requests a second with `regression`; the thresholds alone (`judge` false) or with
/// the sequential judge (the default). Whether it was rolled back, and how long it ran.
fn side_by_side_run(
    seed: u64,
    publication: Publication,
    rate: f64,
    strategy: &Strategy,
    regression: Regression,
    judge: bool,
) -> (bool, u64) {
    let mut config = world(seed, publication);
    config.request_rate = rate;
    config.scripts.blue = Script::default().at(Duration::ZERO, Change::ErrorRate(0.001));
    config.scripts.green = match regression {
        Regression::None => Script::default().at(Duration::ZERO, Change::ErrorRate(0.001)),
        Regression::Errors(x) => Script::default().at(Duration::ZERO, Change::ErrorRate(0.001 * x)),
        Regression::Latency(x) => Script::default()
            .at(Duration::ZERO, Change::ErrorRate(0.001))
            .at(
                Duration::ZERO,
                Change::LatencyAvg(Duration::from_secs_f64(0.080 * x)),
            ),
    };
    let h = Harness::new(config);
    let clock = h.clock();
    let h = h.with_approval(Arc::new(
        ScriptedApproval::approve_after(clock, Duration::ZERO).steps_only(),
    ));
    let mut p = plan(strategy.clone());
    // As the settings make it without `[aws] p99 = true` (the default): no p99 gate, so the judge compares
    // 5xx and the average latency.
    p.gates
        .bake
        .retain(|g| !matches!(g.check, Check::LatencyP99(_)));
    if !judge {
        p.gates.sequential = None;
    }
    let outcome = h.run("d1", p).expect("runs");
    (outcome.kind() == "rolled-back", h.elapsed().as_secs())
}

/// A 95 % upper bound on a rate of `k` events in `n`: the rule of three for none, Wilson's otherwise.
fn upper_bound(k: u64, n: u64) -> f64 {
    if k == 0 {
        return 3.0 / n as f64;
    }
    let (p, n, z) = (k as f64 / n as f64, n as f64, 1.96f64);
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    (centre + spread) / (1.0 + z * z / n)
}

/// Issue 23: the threshold gates and the sequential judge side by side, per strategy and traffic level, on
/// the default publication profile: healthy releases rolled back (with a 95 % upper bound) and their
/// length; regressions of the 5xx rate (1.5, 2, 5 ×) and of latency (+20, +50, +100 %) caught, and the
/// median time to the rollback. Then healthy releases on the slow and instant profiles. Prints markdown
/// table rows.
fn side_by_side(seeds: u64, regression_seeds: u64) {
    println!();
    println!(
        "## 4. Thresholds vs the sequential judge (stable 0.1 % 5xx, 80 ms; {seeds} healthy seeds, {regression_seeds} per regression)"
    );
    println!();
    println!(
        "| strategy | traffic | judge | healthy rolled back (95 % bound) | healthy length p50 | 5xx 1.5 × | 2 × | 5 × | latency +20 % | +50 % | +100 % |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    // "n/a": too little traffic for either judge — healthy releases are rolled back for want of data
    // (docs/gates.md's low-traffic advice), so a rollback of a regression says nothing.
    let regressions = [
        Regression::Errors(1.5),
        Regression::Errors(2.0),
        Regression::Errors(5.0),
        Regression::Latency(1.2),
        Regression::Latency(1.5),
        Regression::Latency(2.0),
    ];
    let default = Publication::default();
    for (name, strategy) in side_strategies() {
        for rate in [1.0, 10.0, 100.0, 1000.0] {
            for judge in [false, true] {
                let t = Instant::now();
                let mut false_rollbacks = 0;
                let mut lengths = Vec::new();
                for seed in 0..seeds {
                    let (rolled_back, secs) =
                        side_by_side_run(seed, default, rate, &strategy, Regression::None, judge);
                    false_rollbacks += u64::from(rolled_back);
                    lengths.push(secs);
                }
                lengths.sort_unstable();
                let mut caught = Vec::new();
                // Where healthy releases are rolled back for want of data, a rollback says nothing.
                let starved = false_rollbacks * 2 > seeds;
                for regression in regressions {
                    if starved {
                        caught.push("n/a".to_string());
                        continue;
                    }
                    let mut when = Vec::new();
                    for seed in 0..regression_seeds {
                        let (rolled_back, secs) =
                            side_by_side_run(seed, default, rate, &strategy, regression, judge);
                        if rolled_back {
                            when.push(secs);
                        }
                    }
                    when.sort_unstable();
                    caught.push(if when.is_empty() {
                        "0".to_string()
                    } else {
                        format!(
                            "{} % ({:.1} min)",
                            when.len() as u64 * 100 / regression_seeds,
                            percentile(&when, 0.5) as f64 / 60.0
                        )
                    });
                }
                println!(
                    "| {name} | {rate} req/s | {} | {false_rollbacks} / {seeds} (≤ {:.2} %) | {:.1} min | {} |",
                    if judge { "**judge**" } else { "thresholds" },
                    upper_bound(false_rollbacks, seeds) * 100.0,
                    percentile(&lengths, 0.5) as f64 / 60.0,
                    caught.join(" | ")
                );
                eprintln!(
                    "  ({name}, {rate} req/s, judge {judge}: {:.1} s wall)",
                    t.elapsed().as_secs_f64()
                );
            }
        }
    }
    println!();
    println!(
        "Healthy releases on the other publication profiles (gradual and canary 10 %, 100 req/s):"
    );
    println!();
    for (profile, publication) in profiles().into_iter().skip(1) {
        for (name, strategy) in side_strategies().into_iter().take(2) {
            for judge in [false, true] {
                let mut false_rollbacks = 0;
                let mut lengths = Vec::new();
                for seed in 0..seeds {
                    let (rolled_back, secs) = side_by_side_run(
                        seed,
                        publication,
                        100.0,
                        &strategy,
                        Regression::None,
                        judge,
                    );
                    false_rollbacks += u64::from(rolled_back);
                    lengths.push(secs);
                }
                lengths.sort_unstable();
                println!(
                    "- {profile}, {name}, {}: {false_rollbacks} / {seeds} rolled back (≤ {:.2} %), length p50 {:.1} min",
                    if judge { "judge" } else { "thresholds" },
                    upper_bound(false_rollbacks, seeds) * 100.0,
                    percentile(&lengths, 0.5) as f64 / 60.0
                );
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds = args
        .iter()
        .position(|a| a == "--seeds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    let t = Instant::now();
    // `--only side-by-side`: section 4 alone.
    if !args.iter().any(|a| a == "side-by-side") {
        healthy(seeds.unwrap_or(1000));
        breaches(seeds.map_or(50, |s: u64| s.min(50)));
        low_traffic();
    }
    side_by_side(
        seeds.unwrap_or(3000),
        seeds.map_or(200, |s: u64| s.min(200)),
    );
    println!();
    println!("({:.1} s wall in all)", t.elapsed().as_secs_f64());
}
