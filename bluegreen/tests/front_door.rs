//! The front door: settings to outcome on the simulated world kept in a state directory, every piece
//! replaceable, bad settings refused before anything is opened, and control requests through the store
//! reaching a deployment the library runs (as `bluegreen abort` and `promote` do).
//!
//! The simulated world runs on its own clock, `time_scale` times faster than real time (600 here: a
//! simulated minute is 0.1 s), so each deployment below takes a second or two of real time.

use async_trait::async_trait;
use bluegreen::{Deployer, Error, Settings};
use bluegreen_core::{
    Approval, ApprovalDecision, ApprovalRequest, Color, DeploymentId, Event, Observer, Outcome,
    ProviderError, RecordEntry, RollbackReason, StateStore, StrategySettings, TrafficSplit,
};
use bluegreen_store::Control;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A state directory of its own per test.
fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "bluegreen-front-door-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Simulated-world settings in `dir` with `[deploy]`/`[hooks]` lines added.
fn settings(dir: &Path, extra: &str) -> Settings {
    let mut s = Settings::from_toml(&format!(
        r#"
        environment = "poc"
        application = "poc-web"
        provider = "sim"
        [sim]
        time_scale = 600.0
        {extra}
        "#
    ))
    .expect("valid settings");
    s.state_dir = Some(dir.to_path_buf());
    s
}

const GRADUAL: &str = r#"
    [deploy]
    steps = [50, 100]
    bake = "1m"
    scale_down_delay = "1m"
"#;

/// Collects the recorded events.
#[derive(Default)]
struct Events(Mutex<Vec<Event>>);

impl Observer for Events {
    fn on_event(&self, entry: &RecordEntry) {
        self.0.lock().unwrap().push(entry.event.clone());
    }
}

impl Events {
    fn kinds(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().iter().map(Event::kind).collect()
    }
}

#[tokio::test]
async fn settings_to_outcome_on_the_simulated_world_promotes_and_records() {
    let dir = state_dir("promote");
    let events = Arc::new(Events::default());
    let deployer = Deployer::builder(settings(&dir, GRADUAL))
        .observer(events.clone())
        .build()
        .await
        .expect("wires");
    let outcome = deployer.deploy().await.expect("runs");
    assert!(
        matches!(outcome, Outcome::Promoted { split, scaled_down: Some(Color::Blue) } if split == TrafficSplit::all_to(Color::Green)),
        "{outcome:?}"
    );
    // The world moved: a second deployer (another process, the `bluegreen` command) sees it, and the
    // record in the state directory.
    let again = Deployer::builder(settings(&dir, ""))
        .read_only()
        .build()
        .await
        .expect("wires");
    let split = again.providers().router.read_split().await.expect("reads");
    assert_eq!(split, TrafficSplit::all_to(Color::Green));
    let ids = again.store().list("poc/poc-web").await.expect("lists");
    assert_eq!(ids.len(), 1, "{ids:?}");
    let record = again.store().load(&ids[0]).await.expect("loads");
    assert_eq!(record.len(), events.0.lock().unwrap().len());
    assert!(events.kinds().contains(&"promoted"), "{:?}", events.kinds());
    // The lock was released: the next deployment (back to blue) runs.
    let back = again_mutating(&dir).await.deploy().await.expect("runs");
    assert!(
        matches!(back, Outcome::Promoted { split, .. } if split == TrafficSplit::all_to(Color::Blue))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn again_mutating(dir: &Path) -> Deployer {
    Deployer::from_settings(settings(dir, GRADUAL))
        .await
        .expect("wires")
}

#[tokio::test]
async fn bad_settings_are_refused_before_anything_is_opened() {
    type Change = Box<dyn Fn(&mut Settings)>;
    let cases: [(&str, Change); 5] = [
        ("no environment", Box::new(|s| s.environment = None)),
        ("time scale 0", Box::new(|s| s.sim.time_scale = Some(0.0))),
        (
            "state.lease \"1s\"",
            Box::new(|s| s.state.lease = Some("1s".into())),
        ),
        (
            "hooks.timeout",
            Box::new(|s| {
                s.hooks.pre_traffic = Some(vec!["true".into()]);
                s.hooks.timeout = Some("soon".into());
            }),
        ),
        (
            "needs a table",
            Box::new(|s| s.state.backend = Some(bluegreen::StateBackend::Dynamodb)),
        ),
    ];
    for (expected, change) in cases {
        let dir = state_dir("refused");
        let mut s = settings(&dir, "");
        change(&mut s);
        let err = match Deployer::from_settings(s).await {
            Err(e) => e,
            Ok(_) => panic!("{expected}: accepted"),
        };
        assert!(matches!(err, Error::Settings(_)), "{expected}: {err:?}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
        assert!(!dir.exists(), "{expected}: the state directory was created");
    }
    // A plan that cannot be: the deployer is wired, the deployment refused before the lock.
    let dir = state_dir("bad-plan");
    let deployer = Deployer::from_settings(settings(&dir, "[deploy]\nsteps = [50, 40]"))
        .await
        .expect("wires");
    let err = deployer.deploy().await.expect_err("refused");
    assert!(matches!(err, Error::Settings(_)), "{err:?}");
    let ids = deployer.store().list("poc/poc-web").await.expect("lists");
    assert!(ids.is_empty(), "nothing recorded: {ids:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_settings_file_names_the_line_and_places_the_state_directory_beside_it() {
    let dir = state_dir("file");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bluegreen.toml");
    std::fs::write(
        &path,
        "environment = \"poc\"\n[deploy]\nstrategy = \"fast\"\n",
    )
    .unwrap();
    let err = Settings::load(&path).expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("bluegreen.toml:3"), "{text}");
    assert!(text.contains("gradual"), "names the allowed values: {text}");
    std::fs::write(&path, "environment = \"poc\"\nstate_dir = \"state\"\n").unwrap();
    assert_eq!(
        Settings::load(&path).unwrap().state_dir(),
        dir.join("state")
    );
    std::fs::write(&path, "environment = \"poc\"\n").unwrap();
    assert_eq!(
        Settings::load(&path).unwrap().state_dir(),
        dir.join(".bluegreen")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 21: `canary_percent` takes tenths of a percent in the file as on the command line; finer, or a
/// canary of 0 or 100 %, is refused naming the value.
#[test]
fn a_canary_share_in_the_file_may_be_below_one_percent() {
    let dir = state_dir("tenths");
    let s = settings(
        &dir,
        "[deploy]\nstrategy = \"canary\"\ncanary_percent = 0.5",
    );
    let plan = s.plan(Default::default(), None).expect("plans");
    assert!(
        plan.schedule
            .to_string()
            .starts_with("set 0.5% → bake 3m → approval"),
        "{}",
        plan.schedule
    );
    let err = Settings::from_toml("environment = \"poc\"\n[deploy]\ncanary_percent = 0.05\n")
        .expect_err("refused");
    assert!(err.to_string().contains("0.05"), "{err}");
    assert!(
        err.to_string().starts_with("settings:3: "),
        "names the line: {err}"
    );
    let s = settings(
        &dir,
        "[deploy]\nstrategy = \"canary\"\ncanary_percent = 100",
    );
    let err = s.plan(Default::default(), None).expect_err("refused");
    assert!(
        err.to_string().contains("a canary takes 0.1% to 99.9%"),
        "{err}"
    );
}

/// An approval channel of the program's own: approves at once, and remembers being asked.
#[derive(Default)]
struct Chat(Mutex<Vec<bluegreen_core::Share>>);

#[async_trait]
impl Approval for Chat {
    async fn wait(&self, request: &ApprovalRequest) -> Result<ApprovalDecision, ProviderError> {
        self.0.lock().unwrap().push(request.percent);
        Ok(ApprovalDecision::Approved { by: "chat".into() })
    }
}

const CANARY: &str = r#"
    [deploy]
    strategy = "canary"
    canary_percent = 10
    bake = "1m"
    scale_down_delay = "1m"
"#;

#[tokio::test]
async fn the_approval_channel_and_the_hooks_are_replaceable() {
    let dir = state_dir("replace");
    // The settings' hooks run: a smoke test that fails rolls back before traffic moves.
    let failing = format!("{CANARY}\n[hooks]\npre_traffic = [\"exit 3\"]");
    let outcome = Deployer::from_settings(settings(&dir, &failing))
        .await
        .expect("wires")
        .deploy()
        .await
        .expect("runs");
    assert!(
        matches!(
            outcome,
            Outcome::RolledBack {
                reason: RollbackReason::Hook { .. },
                ..
            }
        ),
        "{outcome:?}"
    );
    // Without them, and with the program's own approval channel, the canary is promoted.
    let chat = Arc::new(Chat::default());
    let outcome = Deployer::builder(settings(&dir, &failing))
        .without_hooks()
        .approval(chat.clone())
        .build()
        .await
        .expect("wires")
        .deploy()
        .await
        .expect("runs");
    assert!(matches!(outcome, Outcome::Promoted { .. }), "{outcome:?}");
    assert_eq!(
        *chat.0.lock().unwrap(),
        vec![10],
        "asked once, at the canary"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn control_requests_through_the_store_reach_a_library_deployment() {
    // The default approval channel is the store's control queue: what `bluegreen promote` and `abort`
    // write, from any process.
    let dir = state_dir("control");
    let deployer = Arc::new(
        Deployer::from_settings(settings(&dir, CANARY))
            .await
            .expect("wires"),
    );
    let id = DeploymentId::new("release-1").unwrap();
    let plan = deployer
        .plan(Default::default(), None)
        .expect("a valid plan");
    let run = tokio::spawn({
        let (deployer, id) = (deployer.clone(), id.clone());
        async move { deployer.deploy_plan(id, plan).await }
    });
    // Another process (a separate store on the same directory) approves once the canary waits.
    let other = Deployer::builder(settings(&dir, ""))
        .read_only()
        .build()
        .await
        .expect("wires");
    wait_for(&other, &id, "approval-requested").await;
    other
        .store()
        .send(
            &id,
            &Control::Approve {
                by: "alice".into(),
                pre_approved: false,
            },
        )
        .await
        .expect("sent");
    let outcome = run.await.expect("joins").expect("runs");
    assert!(matches!(outcome, Outcome::Promoted { .. }), "{outcome:?}");
    let record = other.store().load(&id).await.expect("loads");
    assert!(
        record
            .iter()
            .any(|e| matches!(&e.event, Event::ApprovalDecided { decision: Some(ApprovalDecision::Approved { by }), .. } if by == "alice")),
        "the approval is recorded with its author"
    );

    // An abort from another process stops the next one and rolls it back.
    let id = DeploymentId::new("release-2").unwrap();
    let plan = deployer.plan(Default::default(), None).expect("valid");
    let run = tokio::spawn({
        let (deployer, id) = (deployer.clone(), id.clone());
        async move { deployer.deploy_plan(id, plan).await }
    });
    wait_for(&other, &id, "approval-requested").await;
    other
        .store()
        .send(&id, &Control::Abort { by: "bob".into() })
        .await
        .expect("sent");
    let outcome = run.await.expect("joins").expect("runs");
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    assert_eq!(
        other.store().received(&id).await,
        None,
        "the request was consumed or cleared"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits (real time, bounded) until deployment `id` has recorded an event of `kind`.
async fn wait_for(d: &Deployer, id: &DeploymentId, kind: &str) {
    for _ in 0..600 {
        if let Ok(record) = d.store().load(id).await
            && record.iter().any(|e| e.event.kind() == kind)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{id} never recorded {kind}");
}

#[tokio::test]
async fn a_deployment_is_stopped_by_its_executor_s_cancel_token_and_rolled_back() {
    // What the command does on SIGTERM, and a service on its own stop request: the executor's token,
    // cancelled while the first bake runs, stops at the next safe point and rolls back.
    let dir = state_dir("cancel");
    let deployer = Deployer::from_settings(settings(&dir, GRADUAL))
        .await
        .expect("wires");
    let id = DeploymentId::new("release-stop").unwrap();
    let plan = deployer.plan(Default::default(), None).expect("valid");
    let exec = deployer.executor();
    let token = exec.cancel_token();
    let watcher = Deployer::builder(settings(&dir, ""))
        .read_only()
        .build()
        .await
        .expect("wires");
    let (outcome, ()) = tokio::join!(
        deployer.supervise(&exec, &id, exec.run(id.clone(), plan)),
        async {
            wait_for(&watcher, &id, "split-verified").await;
            token.cancel_because("stopped by the embedding program");
        }
    );
    let outcome = outcome.expect("runs");
    assert!(
        matches!(
            outcome,
            Outcome::RolledBack {
                reason: RollbackReason::Cancelled { by: Some(ref by) },
                ..
            } if by == "stopped by the embedding program"
        ),
        "{outcome:?}"
    );
    let split = watcher.providers().router.read_split().await.unwrap();
    assert_eq!(split, TrafficSplit::all_to(Color::Blue));
    assert!(
        watcher
            .store()
            .holder("poc/poc-web")
            .await
            .unwrap()
            .is_none(),
        "the lock was released"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_fenced_out_run_leaves_its_successor_s_control_requests() {
    // Issue 20: run A of a deployment was frozen past its lease, run B resumed it and waits at the canary's
    // approval, C sends `abort`. A wakes, is fenced out, and returns an outcome ("another run may be driving
    // the deployment"). On the old main its supervisor then deleted the deployment's control request — B's
    // abort — and B promoted. A's run is modelled by what it returns: the interleaving is the point.
    let dir = state_dir("fenced");
    let deployer = Arc::new(
        Deployer::from_settings(settings(&dir, CANARY))
            .await
            .expect("wires"),
    );
    let id = DeploymentId::new("release-1").unwrap();
    let plan = deployer.plan(Default::default(), None).expect("valid");
    let b = tokio::spawn({
        let (deployer, id) = (deployer.clone(), id.clone());
        async move { deployer.deploy_plan(id, plan).await }
    });
    let other = Deployer::builder(settings(&dir, ""))
        .read_only()
        .build()
        .await
        .expect("wires");
    wait_for(&other, &id, "approval-requested").await;
    other
        .store()
        .send(&id, &Control::Abort { by: "carol".into() })
        .await
        .expect("sent");
    let a = deployer.executor();
    let fenced = deployer
        .supervise(&a, &id, async {
            Ok(Outcome::Aborted {
                reason: "the deployment lock could not be renewed; another run may be driving the deployment: this one stopped without touching traffic".into(),
                split: None,
            })
        })
        .await
        .expect("returns");
    assert_eq!(fenced.kind(), "aborted");
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), b)
        .await
        .expect("B saw the abort (it would wait for its approval forever)")
        .expect("joins")
        .expect("runs");
    assert!(
        matches!(outcome, Outcome::RolledBack { .. }),
        "B acted on carol's abort: {outcome:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 21 item 3: a traffic-only deployment to a color with no registered targets (its group scaled down
/// after the last promotion) began its record and then rolled back at the pre-step gate (exit 1, a "failed
/// release"). It is refused before any change, by `preflight` (`plan`, `--dry-run`) and by `deploy`.
#[tokio::test]
async fn a_color_without_registered_targets_is_refused_before_any_change() {
    let dir = state_dir("no-targets");
    let first = again_mutating(&dir).await.deploy().await.expect("runs");
    assert!(
        matches!(
            first,
            Outcome::Promoted {
                scaled_down: Some(Color::Blue),
                ..
            }
        ),
        "{first:?}"
    );
    let traffic_only = Deployer::from_settings(settings(&dir, "[deploy]\ntype = \"traffic-only\""))
        .await
        .expect("wires");
    // Blue's instances go (their targets drain, then leave the group).
    let start = std::time::Instant::now();
    loop {
        let t = traffic_only
            .providers()
            .health
            .target_health(Color::Blue)
            .await
            .expect("reads");
        if t.healthy + t.unhealthy + t.other == 0 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{t:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let plan = traffic_only
        .plan(StrategySettings::default(), None)
        .expect("plans");
    let refused = traffic_only.preflight(&mut plan.clone()).await.unwrap_err();
    let text = refused.to_string();
    assert!(
        matches!(refused, bluegreen::Error::Refused(_)),
        "{refused:?}"
    );
    assert!(
        text.contains("blue's target group has no registered targets")
            && text.contains("Nothing was changed"),
        "{text}"
    );
    let refused = traffic_only.deploy().await.unwrap_err();
    assert!(
        matches!(refused, bluegreen::Error::Refused(_)),
        "{refused:?}"
    );
    let ids = traffic_only
        .store()
        .list("poc/poc-web")
        .await
        .expect("lists");
    assert_eq!(ids.len(), 1, "no second record: {ids:?}");
    let split = traffic_only
        .providers()
        .router
        .read_split()
        .await
        .expect("reads");
    assert_eq!(split, TrafficSplit::all_to(Color::Green), "nothing written");
    // A full deployment raises blue first: not refused.
    let full = again_mutating(&dir).await;
    full.preflight(&mut full.plan(StrategySettings::default(), None).unwrap())
        .await
        .expect("a full deployment raises blue first");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 24 item 4 (issue 21 item 3 refused this plan; now it is kept safe instead): group stickiness of 20
/// minutes on the listener, the old color scaled down one minute after promotion — clients pinned to the
/// old color would have been sent to a scaled-down group. The plan reads the stickiness and the groups'
/// deregistration delay before the start and says when; the scale-down waits for the longer of them from
/// the switch; a deregistration delay longer than the stickiness sets the wait instead; traffic-only
/// deployments read nothing.
#[tokio::test]
async fn the_scale_down_waits_for_the_listener_s_stickiness_and_the_deregistration_delay() {
    use std::time::Duration;
    let dir = state_dir("sticky");
    let events = Arc::new(Events::default());
    let deployer = Deployer::builder(settings(&dir, GRADUAL))
        .observer(events.clone())
        .build()
        .await
        .expect("wires");
    let world = deployer.sim().expect("the simulated world");
    world
        .with_world(|w| {
            w.set_stickiness(Some(Duration::from_secs(1200)));
            w.set_group_timings(Duration::from_secs(300), Some(Duration::from_secs(60)));
        })
        .expect("sets");
    let mut plan = deployer.plan(StrategySettings::default(), None).unwrap();
    deployer.preflight(&mut plan).await.expect("reads");
    let wait = plan
        .capacity
        .as_ref()
        .and_then(|c| c.drain_wait())
        .expect("a wait");
    assert_eq!(
        (wait.after_switch, wait.cause),
        (Duration::from_secs(1200), "group stickiness")
    );
    let changes = plan
        .changes(TrafficSplit::all_to(Color::Blue))
        .expect("changes")
        .changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        changes.contains(
            "1m after promotion and no sooner than 20m after the switch (the listener's group stickiness: clients holding its cookie still reach blue)"
        ),
        "{changes}"
    );
    let outcome = deployer.deploy().await.expect("runs");
    assert!(
        matches!(
            outcome,
            Outcome::Promoted {
                scaled_down: Some(Color::Blue),
                ..
            }
        ),
        "{outcome:?}"
    );
    // The switch: the last split written (all on green); the scale-down 20 minutes later, not 1.
    let history = deployer.history().await.expect("history");
    let (id, _) = history.last().expect("one deployment");
    let (entries, _) = deployer.record(id).await.expect("record");
    let switched = entries
        .iter()
        .filter(|e| matches!(&e.event, Event::SplitWritten { split } if *split == TrafficSplit::all_to(Color::Green)))
        .map(|e| e.at)
        .next_back()
        .expect("switched");
    let scheduled = entries
        .iter()
        .find_map(|e| match &e.event {
            Event::ScaleDownScheduled { at, .. } => Some(*at),
            _ => None,
        })
        .expect("scheduled");
    let after = scheduled.since(switched);
    assert!(
        after >= Duration::from_secs(1200) && after < Duration::from_secs(1260),
        "scaled down {after:?} after the switch"
    );
    let promoted = entries
        .iter()
        .find(|e| matches!(e.event, Event::Promoted { .. }))
        .expect("promoted")
        .at;
    assert!(scheduled.since(promoted) > Duration::from_secs(60));

    // A deregistration delay longer than the stickiness sets the wait.
    world
        .with_world(|w| w.set_group_timings(Duration::from_secs(3600), None))
        .expect("sets");
    let mut plan = deployer.plan(StrategySettings::default(), None).unwrap();
    deployer.preflight(&mut plan).await.expect("reads");
    let wait = plan
        .capacity
        .as_ref()
        .and_then(|c| c.drain_wait())
        .expect("a wait");
    assert_eq!(
        (wait.after_switch, wait.cause),
        (Duration::from_secs(3600), "deregistration delay")
    );
    // Traffic-only deployments scale nothing down: nothing to wait for, nothing read.
    let traffic_only = Deployer::from_settings(settings(&dir, "[deploy]\ntype = \"traffic-only\""))
        .await
        .expect("wires");
    let mut plan = traffic_only
        .plan(StrategySettings::default(), None)
        .unwrap();
    traffic_only.preflight(&mut plan).await.expect("passes");
    assert!(plan.capacity.is_none_or(|c| c.drain.is_none()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 22: the front door has the command's verbs, with its rules (decided by the core on the record):
/// `promote` is refused before the approval step and sends nothing, accepted while it waits; `abort` of
/// nothing in progress and `unlock` of a free lock say so; `history` replays every deployment.
#[tokio::test]
async fn a_library_program_promotes_aborts_unlocks_and_reads_history_with_the_command_s_rules() {
    let dir = state_dir("verbs");
    let deployer = Arc::new(
        Deployer::from_settings(settings(&dir, CANARY))
            .await
            .expect("wires"),
    );
    let err = deployer
        .abort(None, "carol")
        .await
        .expect_err("nothing runs");
    assert!(
        matches!(err, bluegreen::ControlError::NoneInProgress { .. }),
        "{err}"
    );
    assert_eq!(
        deployer.unlock(false).await.expect("reads the lock"),
        bluegreen::Unlocked::NotLocked
    );
    let id = DeploymentId::new("release-1").unwrap();
    let plan = deployer.plan(Default::default(), None).expect("valid");
    let run = tokio::spawn({
        let (deployer, id) = (deployer.clone(), id.clone());
        async move { deployer.deploy_plan(id, plan).await }
    });
    let other = Deployer::builder(settings(&dir, ""))
        .read_only()
        .build()
        .await
        .expect("wires");
    wait_for(&other, &id, "split-verified").await;
    // Before the approval step (the canary's bake, a simulated minute at least, is ahead): refused, and
    // nothing is left behind for later.
    let e = other
        .promote(Some(id.clone()), "alice", false)
        .await
        .expect_err("not waiting yet");
    assert!(
        matches!(
            e,
            bluegreen::ControlError::Refused(
                bluegreen_core::ControlRefusal::NotWaitingForApproval { .. }
            )
        ),
        "{e}"
    );
    assert_eq!(other.store().received(&id).await, None, "nothing was sent");
    wait_for(&other, &id, "approval-requested").await;
    let sent_to = other
        .promote(None, "alice", false)
        .await
        .expect("accepted while it waits");
    assert_eq!(sent_to, id, "the deployment holding the lock");
    let outcome = run.await.expect("joins").expect("runs");
    assert!(matches!(outcome, Outcome::Promoted { .. }), "{outcome:?}");
    // Finished: every request is refused with the outcome.
    let err = other
        .abort(Some(id.clone()), "bob")
        .await
        .expect_err("finished");
    assert!(err.to_string().contains("already finished"), "{err}");
    let history = other.history().await.expect("lists");
    assert_eq!(history.len(), 1);
    match &history[0] {
        (hid, bluegreen::Recorded::Replayed(r)) => {
            assert_eq!(hid, &id);
            assert!(
                matches!(r.outcome, Some(Outcome::Promoted { .. })),
                "{:?}",
                r.outcome
            );
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 22: the front door's `Store` (what the command and an embedding program use) keeps the control
/// queue's contract and the approval channel's over it, as the file store and the DynamoDB store do; and its
/// clock, the simulated world's, keeps the clock's.
#[tokio::test]
async fn the_front_door_s_store_keeps_the_queue_and_approval_contracts() {
    let dir = state_dir("contracts");
    let deployer = Deployer::from_settings(settings(&dir, ""))
        .await
        .expect("wires");
    let store = deployer.store().clone();
    bluegreen_store::conformance::control_queue_contract(&store, "front-door").await;
    let clock = deployer.providers().clock.clone();
    bluegreen_testkit::conformance::clock_contract(&*clock, std::time::Duration::from_secs(60))
        .await;
    bluegreen_store::conformance::queue_approval_contract(Arc::new(store), clock, "front-door")
        .await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 24 (and 22's "the library has everything the command has"): a release with a watch returns
/// `Watching` once its watch has begun; `status` shows the watch and the kept color; `watch(once)` resumes
/// and stops again; `promote` ends it and the next `watch` promotes; then nothing is in progress.
#[tokio::test]
async fn the_library_drives_a_watch_as_the_command_does() {
    let dir = state_dir("watch");
    let d = Deployer::from_settings(settings(
        &dir,
        "[deploy]\nsteps = [100]\nbake = \"1m\"\ntype = \"traffic-only\"\nwatch = \"2h\"\nwatch_armed = \"1h\"\n",
    ))
    .await
    .unwrap();
    let outcome = d.deploy().await.unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Watching {
                kept: Color::Blue,
                ..
            }
        ),
        "{outcome}"
    );
    let status = d.status().await.unwrap();
    assert_eq!(status.routing.overall(), TrafficSplit::all_to(Color::Green));
    let watching = status
        .deployment
        .as_ref()
        .and_then(bluegreen::InProgress::watching)
        .expect("watching");
    assert_eq!(watching.kept, Color::Blue);
    assert_eq!(
        watching.until.since(watching.armed_until),
        std::time::Duration::from_secs(3600)
    );
    // Another release is refused while it watches.
    assert!(matches!(d.deploy().await, Err(Error::Exec(_))));
    let (id, again) = d.watch(None, true).await.unwrap().expect("in progress");
    assert!(matches!(again, Outcome::Watching { .. }), "{again}");
    d.promote(None, "alice", false).await.unwrap();
    let (same, ended) = d.watch(None, true).await.unwrap().expect("in progress");
    assert_eq!(same, id);
    assert!(matches!(ended, Outcome::Promoted { .. }), "{ended}");
    assert!(d.watch(None, true).await.unwrap().is_none());
    assert!(d.status().await.unwrap().deployment.is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
