//! Simulation speed and hot paths. Run: `cargo bench -p bluegreen-benches`.
//!
//! Before the criterion groups, prints one line with the memory of 10,000 concurrent simulated deployments
//! (peak heap bytes per deployment, from a counting allocator).

use bluegreen_core::gate::{
    RecordedMinute, SequentialJudge, SequentialPolicy, Snapshot, judge_bake_gate,
};
use bluegreen_core::{
    Color, DeploymentId, Event, GatePolicy, Metrics, PerColor, Plan, RecordEntry, Replay, Share,
    StateStore, Step, Strategy, Timestamp, TrafficSplit,
};
use bluegreen_core::{Executor, Providers};
use bluegreen_testkit::{
    CountingStore, Harness, ManualClock, MemoryStore, ScriptedApproval, SimWorld, WorldConfig,
    run_virtual,
};
use criterion::{Criterion, criterion_group};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the wrapper only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc` is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn plan(strategy: Strategy) -> Plan {
    Plan::new("poc/poc-web", strategy.compile().expect("valid"))
}

fn one(strategy: Strategy) -> Duration {
    let h = Harness::new(WorldConfig::default());
    let h = {
        let a = ScriptedApproval::approve_after(h.clock(), Duration::from_secs(60));
        h.with_approval(Arc::new(a))
    };
    let outcome = h.run("bench", plan(strategy)).expect("runs");
    assert_eq!(outcome.kind(), "promoted");
    h.elapsed()
}

/// `n` gradual deployments on one virtual clock, each with its own world. Records are counted, not kept (in
/// production they live in the state directory, not in memory), nothing observes the events, and each
/// world counts its API calls without listing them (as the AWS provider's counter does).
fn concurrent(n: usize) -> usize {
    let clock = ManualClock::default();
    let store = CountingStore::new();
    let executors: Vec<Executor> = (0..n)
        .map(|i| {
            let world = SimWorld::with_clock(
                WorldConfig {
                    seed: i as u64,
                    ..WorldConfig::default()
                },
                clock.clone(),
            )
            .counting_calls_only();
            let shared: Arc<dyn bluegreen_core::Clock> = Arc::new(clock.clone());
            Executor::new(Providers {
                router: Arc::new(world.router()),
                health: Arc::new(world.health()),
                capacity: None,
                approval: Arc::new(ScriptedApproval::never(shared.clone())),
                clock: shared,
                store: Arc::new(store.clone()),
                hooks: None,
            })
        })
        .collect();
    let runs = executors.iter().enumerate().map(|(i, e)| {
        let mut p = plan(Strategy::gradual());
        p.application = format!("app-{i}");
        e.run(DeploymentId::new(format!("d{i}")).expect("valid"), p)
    });
    let outcomes = run_virtual(&clock, futures::future::join_all(runs)).expect("no stall");
    outcomes
        .iter()
        .filter(|o| matches!(o, Ok(o) if o.kind() == "promoted"))
        .count()
}

/// A release of `n` targets (10 waves, 4 regions, 25 targets of a region at once), each a gradual
/// deployment on its own world, all on one virtual clock; `failing` makes one target of the middle wave
/// regress. Returns the targets promoted and whether the release halted.
fn release_of(n: usize, failing: bool) -> (usize, bool) {
    use bluegreen_core::release::{OnFailure, Release, ReleaseTarget, Wave};
    let clock = ManualClock::default();
    let store = CountingStore::new();
    let per_wave = n / 10;
    let bad = (5, per_wave / 2);
    let waves = (0..10)
        .map(|w| Wave {
            name: format!("wave-{w}"),
            targets: (0..per_wave)
                .map(|i| {
                    let mut config = WorldConfig {
                        seed: (w * per_wave + i) as u64,
                        ..WorldConfig::default()
                    };
                    if failing && (w, i) == bad {
                        config.scripts.green = bluegreen_testkit::Script::default()
                            .at(Duration::ZERO, bluegreen_testkit::Change::ErrorRate(0.3));
                    }
                    let world = SimWorld::with_clock(config, clock.clone()).counting_calls_only();
                    let shared: Arc<dyn bluegreen_core::Clock> = Arc::new(clock.clone());
                    let mut p = plan(Strategy::gradual());
                    p.application = format!("app-{w}-{i}");
                    ReleaseTarget {
                        name: format!("app-{w}-{i}"),
                        region: format!("region-{}", i % 4),
                        executor: Executor::new(Providers {
                            router: Arc::new(world.router()),
                            health: Arc::new(world.health()),
                            capacity: None,
                            approval: Arc::new(ScriptedApproval::never(shared.clone())),
                            clock: shared,
                            store: Arc::new(store.clone()),
                            hooks: None,
                        }),
                        plan: p,
                    }
                })
                .collect(),
        })
        .collect();
    let release = Release {
        name: "bench".into(),
        waves,
        bake_between: Duration::from_secs(600),
        on_failure: OnFailure::Halt,
        per_region: 25,
        alarms: Vec::new(),
        alarm_source: None,
        alarm_poll: Duration::from_secs(60),
        approval: None,
    };
    let observer = |_: &bluegreen_core::release::ReleaseEvent| {};
    let outcome = run_virtual(
        &clock,
        release.run(
            Arc::new(clock.clone()),
            bluegreen_core::CancelToken::new(),
            &observer,
        ),
    )
    .expect("no stall");
    let promoted = outcome
        .targets
        .iter()
        .flatten()
        .filter(|(_, r)| r.succeeded())
        .count();
    (promoted, outcome.halted.is_some())
}

fn report_memory() {
    const N: usize = 10_000;
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let t = Instant::now();
    let promoted = concurrent(N);
    let wall = t.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    eprintln!(
        "concurrent: {N} gradual deployments (5 steps, 3 min bakes, each until its minutes are published) in {wall:?}; {promoted} promoted; \
         peak heap {:.1} MiB = {:.1} KiB per deployment",
        peak as f64 / 1048576.0,
        peak as f64 / 1024.0 / N as f64
    );
    let t = Instant::now();
    let (promoted, halted) = release_of(1_000, false);
    eprintln!(
        "release: 1000 targets (10 waves, 4 regions, 25 at once per region, gradual each) in {:?}; {promoted} promoted, halted {halted}",
        t.elapsed()
    );
    let t = Instant::now();
    let (promoted, halted) = release_of(1_000, true);
    eprintln!(
        "release: the same with a regression in wave 6, in {:?}; {promoted} promoted, halted {halted}",
        t.elapsed()
    );
    let t = Instant::now();
    let simulated = one(Strategy::gradual());
    let wall = t.elapsed();
    eprintln!(
        "single: gradual {simulated:?} simulated in {wall:?} wall = {:.0}x faster than real time",
        simulated.as_secs_f64() / wall.as_secs_f64()
    );
}

fn simulations(c: &mut Criterion) {
    report_memory();
    let mut g = c.benchmark_group("simulated deployment");
    g.bench_function("gradual 5 steps, 3m bakes, 10s polls", |b| {
        b.iter(|| one(Strategy::gradual()))
    });
    g.bench_function("canary", |b| b.iter(|| one(Strategy::canary())));
    g.bench_function("immediate", |b| b.iter(|| one(Strategy::immediate())));
    g.finish();
    let mut g = c.benchmark_group("concurrent");
    g.sample_size(10);
    g.bench_function("10000 gradual deployments", |b| {
        b.iter(|| concurrent(10_000))
    });
    g.bench_function("release of 1000 targets in 10 waves", |b| {
        b.iter(|| release_of(1_000, false))
    });
    g.finish();
}

fn hot_paths(c: &mut Criterion) {
    c.bench_function("compile gradual", |b| {
        b.iter(|| black_box(Strategy::gradual()).compile())
    });
    let gates = GatePolicy::default();
    let m = |r: u64| Metrics {
        requests: Some(r),
        errors_5xx: Some(r / 500),
        latency_avg: Some(Duration::from_millis(80)),
        latency_p99: Some(Duration::from_millis(250)),
        healthy_hosts: Some(2),
        unhealthy_hosts: Some(0),
        connection_errors: None,
    };
    let snapshot = Snapshot {
        metrics: PerColor {
            blue: m(10_800),
            green: m(1_200),
        },
        alarms: vec![],
    };
    c.bench_function("judge default bake gates over one window", |b| {
        b.iter(|| {
            gates
                .bake
                .iter()
                .map(|g| judge_bake_gate(g, black_box(&snapshot), Color::Green, gates.min_requests))
                .collect::<Vec<_>>()
        })
    });
    // The sequential judge's cost per judged minute, 60 minutes into a deployment (its Hodges–Lehmann
    // estimate grows with the minutes: 1,830 pairs here).
    let minute = |t: u64| RecordedMinute {
        minute: Timestamp::from_millis(t * 60_000),
        segment: Timestamp::from_millis((t / 15) * 15 * 60_000),
        metrics: PerColor {
            blue: Metrics {
                errors_5xx: Some(54 + t % 7),
                latency_avg: Some(Duration::from_millis(80 + t % 5)),
                ..m(5_400)
            },
            green: Metrics {
                errors_5xx: Some(6 + t % 3),
                latency_avg: Some(Duration::from_millis(79 + t % 4)),
                ..m(600)
            },
        },
    };
    let mut judge = SequentialJudge::new(SequentialPolicy::default(), Color::Green, 50, 4);
    for t in 0..59 {
        judge.add(&minute(t));
    }
    let next = minute(59);
    c.bench_function(
        "sequential judge: one judged minute at minute 60 (add, reports)",
        |b| {
            b.iter_batched(
                || judge.clone(),
                |mut j| {
                    j.add(black_box(&next));
                    j.reports()
                },
                criterion::BatchSize::SmallInput,
            )
        },
    );
    let id = DeploymentId::new("r").expect("valid");
    let mut record = vec![RecordEntry {
        seq: 0,
        at: Timestamp::from_millis(0),
        event: Event::Started {
            deployment: id.clone(),
            stable: Color::Blue,
            plan: Box::new(plan(Strategy::gradual())),
            by: None,
        },
    }];
    for i in 1..1000u64 {
        let event = match i % 3 {
            0 => Event::StepStarted {
                index: 0,
                step: Step::SetWeight {
                    percent: Share::percent(10),
                },
            },
            1 => Event::SplitVerified {
                split: TrafficSplit::new(90, 10).expect("valid"),
            },
            _ => Event::StepCompleted { index: 0 },
        };
        record.push(RecordEntry {
            seq: i,
            at: Timestamp::from_millis(i),
            event,
        });
    }
    c.bench_function("append 1000 transitions to a memory store", |b| {
        b.iter(|| {
            let store = MemoryStore::new();
            let clock = ManualClock::default();
            run_virtual(&clock, async {
                let owner = bluegreen_core::LockOwner {
                    deployment: id.clone(),
                    run: "bench".into(),
                    host: "bench".into(),
                };
                let lease = store
                    .lock(
                        "app",
                        &owner,
                        bluegreen_core::Clock::now(&clock),
                        Duration::from_secs(60),
                    )
                    .await
                    .expect("locks");
                for e in &record {
                    store.append(&lease, &id, e).await.expect("appends");
                }
            })
            .expect("no stall");
        })
    });
    c.bench_function("replay 1000 transitions", |b| {
        b.iter(|| Replay::new(black_box(&record)).expect("replays"))
    });
}

criterion_group!(benches, simulations, hot_paths);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
