//! Rendering: human lines or JSON Lines. Results go to stdout; errors to stderr (or stdout as JSON).

use crate::Output;
use bluegreen_core::gate::{GateReport, Verdict};
use bluegreen_core::{Event, Notice, Observer, Outcome, RecordEntry, Schedule, Step, Timestamp};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Prints a deployment's events as they happen.
#[derive(Clone)]
pub struct Renderer {
    output: Output,
    start: Timestamp,
    quiet: bool,
    verbose: bool,
    polls: Arc<Mutex<BakeProgress>>,
    spinner: Option<indicatif::ProgressBar>,
    /// The deployment's schedule, to number steps as a person counts them: from its `started` event, or
    /// given (a resume).
    schedule: Arc<Mutex<Option<Schedule>>>,
    /// The plan, from the `started` event (a resume does not show it again): a bake's expected end.
    plan: Arc<Mutex<Option<bluegreen_core::Plan>>>,
    /// The bake under way, for the spinner.
    bake: Arc<Mutex<Option<LiveBake>>>,
}

/// What the spinner shows of the bake under way.
#[derive(Debug, Clone)]
pub struct LiveBake {
    /// The step, as a person counts it, and what it is (`step 2/10: bake 3m`).
    pub label: String,
    /// When the bake began.
    pub started: Timestamp,
    /// Its planned length.
    pub planned: Duration,
    /// When it likely ends and when at the latest (from the plan and CloudWatch's typical delay; a bake
    /// extension moves the latest), when known.
    pub ends: Option<(Timestamp, Timestamp)>,
    /// Polls passed so far.
    pub polls: u32,
    /// The CloudWatch minute the bake waits for (not yet published), if any.
    pub awaiting: Option<Timestamp>,
    /// The last metric values judged, against their limits.
    pub last: Vec<String>,
}

impl LiveBake {
    /// The spinner's line at `now`: elapsed of planned, the minute awaited, the expected end as clock
    /// times, the last values against their limits.
    pub fn line(&self, now: Timestamp) -> String {
        let clock = |d: Duration| {
            let s = d.as_secs();
            format!("{}:{:02}", s / 60, s % 60)
        };
        let mut line = format!(
            "{} — {} of {}, {} polls passed",
            self.label,
            clock(now.since(self.started)),
            clock(self.planned),
            self.polls
        );
        if let Some(minute) = self.awaiting {
            line.push_str(&format!(
                "; waiting for CloudWatch minute {}",
                &clock_time(minute)[..5]
            ));
        }
        if let Some((likely, at_most)) = self.ends {
            if likely == at_most {
                line.push_str(&format!("; ends {}", clock_time(likely)));
            } else {
                line.push_str(&format!(
                    "; ends likely {}, at most {}",
                    clock_time(likely),
                    clock_time(at_most)
                ));
            }
        }
        if !self.last.is_empty() {
            line.push_str(&format!("; last: {}", self.last.join(", ")));
        }
        line
    }
}

/// A gate's value against its limit, short: `5xx-rate 0.00% (limit 5.00%)`.
fn value_against_limit(r: &GateReport) -> Option<String> {
    let value = r.unit.show(r.value?);
    Some(match r.limit {
        Some(limit) => format!("{} {value} (limit {})", r.gate, r.unit.show(limit)),
        None => format!("{} {value}", r.gate),
    })
}

/// Step `index` as a person counts it (`step 2/5`), or the entry's number when the schedule is unknown.
pub fn step_label(index: usize, schedule: Option<&Schedule>) -> String {
    match schedule {
        Some(s) => s.position(index).to_string(),
        None => format!("schedule entry {}", index + 1),
    }
}

/// An outcome in words, with its step as a person counts it when the schedule is known.
pub fn outcome_text(outcome: &Outcome, schedule: Option<&Schedule>) -> String {
    match schedule {
        Some(s) => outcome.describe(s),
        None => outcome.to_string(),
    }
}

/// Writes a line to stdout. A closed pipe (e.g. `| head`) is not an error worth a panic: the rest is
/// dropped.
pub fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth a panic.
    let _ = writeln!(stdout, "{line}");
}

/// Every `type` of a JSON line the command writes under `--output json` (docs/cli.md lists the same, by
/// test).
pub const JSON_TYPES: &[&str] = &[
    "intro",
    "event",
    "notice",
    "summary",
    "status",
    "plan",
    "history",
    "report",
    "rolled-back",
    "sent",
    "init",
    "adopted",
    "unlocked",
    "iam-policy",
    "release-event",
    "release",
    "judge",
    "error",
];

/// Writes one JSON line `{"type": kind, "data": data}` to stdout. `kind` is one of [`JSON_TYPES`].
pub fn json_line(kind: &str, data: serde_json::Value) {
    debug_assert!(
        JSON_TYPES.contains(&kind),
        "undocumented JSON line type {kind}"
    );
    out(&serde_json::json!({"type": kind, "data": data}).to_string());
}

/// Prints an error: one line on stderr, or a JSON object on stdout with its kind (`bad-input`, `provider`,
/// `refused`, `local-io`: [`crate::Failure::kind`]) and the exit code the process ends with, so a program
/// needs neither the text nor the process status to act on it.
pub fn error(output: Output, kind: &str, exit_code: u8, message: &str) {
    match output {
        Output::Human => eprintln!("error: {message}"),
        Output::Json => json_line(
            "error",
            serde_json::json!({"message": message, "kind": kind, "exit_code": exit_code}),
        ),
    }
}

/// The reports that did not pass, joined with `; ` (empty when all passed).
fn not_passing(reports: &[GateReport]) -> String {
    let bad: Vec<String> = reports
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .map(|r| r.to_string())
        .collect();
    bad.join("; ")
}

/// The time of day of `t` (UTC), as a person reads a clock: `14:08:30`.
pub fn clock_time(t: Timestamp) -> String {
    let text = t.to_string();
    // `2026-01-01T14:08:30.000Z`: the part between `T` and the fraction.
    text.split_once('T')
        .map(|(_, time)| time.split(['.', 'Z']).next().unwrap_or(time).to_string())
        .unwrap_or(text)
}

fn offset(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:>3}:{:02}", s / 60, s % 60)
}

impl Renderer {
    /// A renderer whose times are offsets from `start`.
    pub fn new(output: Output, start: Timestamp) -> Self {
        Renderer {
            output,
            start,
            quiet: false,
            verbose: false,
            spinner: None,
            polls: Arc::new(Mutex::new(BakeProgress::default())),
            schedule: Arc::new(Mutex::new(None)),
            plan: Arc::new(Mutex::new(None)),
            bake: Arc::new(Mutex::new(None)),
        }
    }

    /// Numbers steps and expects bakes by `plan` (for a resumed deployment, whose `started` event is not
    /// shown again).
    pub fn with_plan(self, plan: bluegreen_core::Plan) -> Self {
        *self.schedule.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan.schedule.clone());
        *self.plan.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan);
        self
    }

    fn schedule(&self) -> Option<Schedule> {
        self.schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Only results and errors.
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// Notices (retries, stale reads) too.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// A spinner on stderr showing the current step, when stderr is a terminal and the output is human.
    pub fn live(mut self) -> Self {
        if self.output == Output::Human
            && !self.quiet
            && std::io::IsTerminal::is_terminal(&std::io::stderr())
        {
            let pb = indicatif::ProgressBar::new_spinner();
            pb.enable_steady_tick(Duration::from_millis(120));
            self.spinner = Some(pb);
        }
        self
    }

    fn update_spinner(&self, entry: &RecordEntry) {
        let Some(pb) = &self.spinner else { return };
        if let Some(line) = self.track_bake(entry) {
            pb.set_message(line);
            return;
        }
        match &entry.event {
            Event::StepStarted { index, step } => pb.set_message(format!(
                "{}: {step}",
                step_label(*index, self.schedule().as_ref())
            )),
            Event::ApprovalRequested { index, .. }
                if matches!(
                    self.schedule().and_then(|s| s.steps().get(*index).cloned()),
                    Some(Step::Watch { .. })
                ) =>
            {
                pb.set_message("watching the new color (bluegreen promote ends the watch / abort)")
            }
            Event::ApprovalRequested { .. } => {
                pb.set_message("waiting for approval (bluegreen promote / abort)")
            }
            Event::RollbackStarted { .. } => pb.set_message("rolling back"),
            Event::Finished { .. } => pb.finish_and_clear(),
            _ => {}
        }
    }

    /// Follows the bake under way through `entry`; the spinner's line while one runs.
    pub fn track_bake(&self, entry: &RecordEntry) -> Option<String> {
        let mut bake = self.bake.lock().unwrap_or_else(|e| e.into_inner());
        match &entry.event {
            Event::StepStarted {
                index,
                step: Step::Bake { duration },
            } => {
                let plan = self.plan.lock().unwrap_or_else(|e| e.into_inner());
                let ends = plan
                    .as_ref()
                    .and_then(|p| {
                        p.bake_expectation(*index, bluegreen_core::gate::TYPICAL_PUBLICATION_DELAY)
                    })
                    .map(|e| (entry.at + e.likely, entry.at + e.at_most));
                *bake = Some(LiveBake {
                    label: format!(
                        "{}: bake {}",
                        step_label(*index, self.schedule().as_ref()),
                        humantime::format_duration(*duration)
                    ),
                    started: entry.at,
                    planned: *duration,
                    ends,
                    polls: 0,
                    awaiting: None,
                    last: Vec::new(),
                });
            }
            Event::Polled {
                reports, awaiting, ..
            } => {
                let b = bake.as_mut()?;
                b.polls += 1;
                b.awaiting = *awaiting;
                let judged: Vec<String> = reports
                    .iter()
                    .filter(|r| r.minute.is_some())
                    .filter_map(value_against_limit)
                    .collect();
                if !judged.is_empty() {
                    b.last = judged;
                }
            }
            Event::BakeExtended { until, .. } => {
                let b = bake.as_mut()?;
                let likely = b.ends.map_or(*until, |(likely, _)| likely.min(*until));
                b.ends = Some((likely, (*until).max(likely)));
            }
            Event::StepStarted { .. }
            | Event::StepCompleted { .. }
            | Event::RollbackStarted { .. }
            | Event::Finished { .. } => {
                *bake = None;
                return None;
            }
            _ => return None,
        }
        bake.as_ref().map(|b| b.line(entry.at))
    }

    /// Where offsets count from.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// Chatter for people, on stderr; nothing in JSON mode or when quiet.
    pub fn progress(&self, text: &str) {
        if self.output == Output::Human && !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A line of result on stdout (human), or `{"type": kind, "data": data}` (JSON).
    pub fn result(&self, kind: &str, human: &str, data: serde_json::Value) {
        match self.output {
            Output::Human => out(human),
            Output::Json => json_line(kind, data),
        }
    }

    /// A first line.
    pub fn intro(&self, text: &str) {
        match self.output {
            Output::Human => out(text),
            Output::Json => json_line("intro", serde_json::json!({"message": text})),
        }
    }

    /// The last lines.
    pub fn summary(&self, outcome: &Outcome, elapsed: Duration, calls: &BTreeMap<String, usize>) {
        match self.output {
            Output::Human => {
                out(&format!(
                    "{}  result: {}",
                    offset(elapsed),
                    outcome_text(outcome, self.schedule().as_ref())
                ));
                if let Outcome::Watching { until, .. } = outcome {
                    out(&format!(
                        "the deployment stays in progress until {}: run `bluegreen watch --once` every few minutes (a schedule), or `bluegreen watch`; `bluegreen promote` ends the watch, `bluegreen abort` rolls back",
                        clock_time(*until)
                    ));
                }
                let calls: Vec<String> = calls.iter().map(|(k, v)| format!("{k} {v}")).collect();
                if calls.is_empty() {
                    out(&format!("took {}", humantime::format_duration(elapsed)));
                } else {
                    out(&format!(
                        "took {}; API calls: {}",
                        humantime::format_duration(elapsed),
                        calls.join(", ")
                    ));
                }
            }
            Output::Json => json_line(
                "summary",
                serde_json::json!({"outcome": outcome, "simulated_seconds": elapsed.as_secs(), "api_calls": calls}),
            ),
        }
    }

    /// The live, condensed view: passing polls are summed up per bake; writes and passing checks are quiet.
    fn human(&self, entry: &RecordEntry) -> Option<String> {
        let mut polls = self.polls.lock().unwrap_or_else(|e| e.into_inner());
        let text = match &entry.event {
            Event::StepStarted { step, .. } => {
                *polls = BakeProgress::default();
                match step {
                    Step::SetWeight { .. } | Step::Approval { .. } | Step::Watch { .. } => {
                        describe(&entry.event, self.start, self.schedule().as_ref())
                    }
                    _ => return None,
                }
            }
            Event::PreStepChecked { reports, .. } => {
                let failed = not_passing(reports);
                if failed.is_empty() {
                    return None;
                }
                format!("pre-step gate: {failed}")
            }
            Event::Polled { reports, .. } => {
                polls.polls += 1;
                let minutes: Vec<_> = reports.iter().filter_map(|r| r.minute).collect();
                if let Some(last) = minutes.iter().max() {
                    polls.minutes += minutes
                        .iter()
                        .collect::<std::collections::BTreeSet<_>>()
                        .len() as u32;
                    polls.last_minute = Some(
                        reports
                            .iter()
                            .filter(|r| r.minute == Some(*last))
                            .map(|r| r.to_string())
                            .collect::<Vec<_>>()
                            .join("; "),
                    );
                }
                let bad = not_passing(reports);
                if bad.is_empty() {
                    return None;
                }
                format!("poll: {bad}")
            }
            Event::StepCompleted { index } if polls.polls > 0 => {
                let what = match self.schedule().and_then(|s| s.steps().get(*index).cloned()) {
                    Some(Step::Watch { .. }) => "watch ended",
                    _ => "bake passed",
                };
                let line = format!(
                    "{what}: {} polls, {} CloudWatch minutes judged; last: {}",
                    polls.polls,
                    polls.minutes,
                    polls
                        .last_minute
                        .clone()
                        .unwrap_or_else(|| "no minute judged".into())
                );
                *polls = BakeProgress::default();
                line
            }
            Event::StepCompleted { .. } | Event::SplitWritten { .. } | Event::Finished { .. } => {
                return None;
            }
            other => describe(other, self.start, self.schedule().as_ref()),
        };
        Some(format!("{}  {text}", offset(entry.at.since(self.start))))
    }
}

/// What the live view sums up of a bake's passing polls.
#[derive(Debug, Default)]
struct BakeProgress {
    polls: u32,
    minutes: u32,
    last_minute: Option<String>,
}

/// A notice in words.
fn describe_notice(notice: &Notice) -> String {
    match notice {
        Notice::Retrying {
            operation,
            attempt,
            error,
        } => format!("{operation} failed (attempt {attempt}), retrying: {error}"),
        Notice::StaleRead {
            expected,
            read,
            attempt,
        } => format!("read back {read} after writing {expected} (read {attempt}), reading again"),
        Notice::RollbackRetrying {
            round,
            error,
            next_in,
        } => format!(
            "ROLLBACK NOT DONE YET (round {round}: {error}); trying again in {}",
            humantime::format_duration(*next_in)
        ),
        Notice::NotRecorded { event, error } => {
            format!("RECORD BEHIND: `{event}` happened but could not be recorded ({error})")
        }
        Notice::RecordPending {
            events,
            round,
            error,
            next_in,
        } => format!(
            "RECORD BEHIND (round {round}: {error}): {} kept, appended again in {}",
            events.join(", "),
            humantime::format_duration(*next_in)
        ),
        Notice::ScaleDownSkipped { color, split } => {
            format!("{color} not scaled down: it holds traffic again ({split})")
        }
        Notice::MarkFailed { operation, error } => format!(
            "the listener's mark could not be {} ({error}); the deployment goes on, but other machines see it only through shared state",
            match *operation {
                "write" => "written",
                "renew" => "renewed",
                _ => "removed",
            }
        ),
        other => format!("{other:?}"),
    }
}

/// One event in words, in full (every gate report with its values). `start` anchors times; `schedule`
/// numbers steps as a person counts them.
pub fn describe(event: &Event, start: Timestamp, schedule: Option<&Schedule>) -> String {
    let schedule = match event {
        Event::Started { plan, .. } => Some(&plan.schedule),
        _ => schedule,
    };
    let reports = |r: &[GateReport]| {
        r.iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    };
    match event {
        Event::Started {
            deployment,
            stable,
            plan,
            by,
        } => format!(
            "start: deployment {deployment}{}, {stable} is stable, {} is the new color: {}",
            by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default(),
            stable.other(),
            plan.schedule
        ),
        Event::Resumed { action, step } => format!(
            "resumed at {}: {}",
            step_label(*step, schedule),
            match action {
                bluegreen_core::ResumeAction::Continue => "continue",
                bluegreen_core::ResumeAction::Rollback => "roll back",
            }
        ),
        Event::StepStarted { index, step } => format!("{}: {step}", step_label(*index, schedule)),
        Event::StepCompleted { index } => match schedule.map(|s| s.position(*index)) {
            Some(p) => match &p.step {
                Some(step) => format!("{p}: {step} done"),
                None => format!("{p} done"),
            },
            None => format!("{} done", step_label(*index, None)),
        },
        Event::PreStepChecked { reports: r, .. } => format!("pre-step gate: {}", reports(r)),
        Event::Polled { reports: r, .. } => format!("gates: {}", reports(r)),
        Event::BakeExtended { until, .. } => {
            format!(
                "bake extended until {} (+{}: waiting for CloudWatch's minutes)",
                clock_time(*until),
                offset(until.since(start)).trim()
            )
        }
        Event::SplitWritten { split } => format!("split written: {split}"),
        Event::SplitVerified { split } => format!("split verified: {split}"),
        Event::ApprovalRequested {
            index,
            deadline: Some(d),
        } if matches!(
            schedule.and_then(|s| s.steps().get(*index)),
            Some(Step::Watch { .. })
        ) =>
        {
            format!(
                "watching until {} (+{}): `bluegreen promote` ends the watch, `bluegreen abort` rolls back",
                clock_time(*d),
                offset(d.since(start)).trim()
            )
        }
        Event::ApprovalRequested { deadline, .. } => match deadline {
            Some(d) => format!(
                "waiting for approval until +{}",
                offset(d.since(start)).trim()
            ),
            None => "waiting for approval".into(),
        },
        Event::ApprovalDecided { decision, .. } => match decision {
            Some(bluegreen_core::ApprovalDecision::Approved { by }) => format!("approved by {by}"),
            Some(bluegreen_core::ApprovalDecision::Rejected { by, reason }) => match reason {
                Some(why) => format!("rejected by {by}: {why}"),
                None => format!("rejected by {by}"),
            },
            None => "approval timed out: promoting".into(),
        },
        Event::JudgePaused { report, .. } => format!(
            "PAUSED by the sequential judge ({}): `bluegreen promote` goes on, `bluegreen abort` rolls back",
            report.detail
        ),
        Event::RollbackStarted { reason, .. } => format!("ROLLING BACK: {reason}"),
        Event::RolledBack { split } => format!("rolled back: {split}"),
        // A manual shift ends where the person asked, not at a promotion.
        Event::Promoted { split } if schedule.is_some_and(Schedule::is_shift) => {
            format!("shifted: {split}")
        }
        Event::Promoted { split } => format!("promoted: {split}"),
        Event::CapacityRequested { color, desired, .. } => format!("scaling {color} to {desired}"),
        Event::CapacityRestored { color, desired } => {
            format!("{color} back to its capacity from before the deployment: {desired}")
        }
        Event::LaunchTemplateSet {
            color,
            template,
            version,
            image,
        } => match image {
            Some(image) => {
                format!("{color} now launches {template} version {version} (image {image})")
            }
            None => format!("{color} now launches {template} version {version}"),
        },
        Event::CapacityReady {
            color,
            in_service,
            healthy,
        } => format!("{color} ready: {in_service} in service, {healthy} healthy"),
        Event::ScaleDownScheduled { color, at } => {
            format!(
                "{color} will be scaled down at +{}",
                offset(at.since(start)).trim()
            )
        }
        Event::ScaledDown { color } => format!("{color} scaled down"),
        Event::Finished { outcome } => format!("finished: {}", outcome_text(outcome, schedule)),
        Event::HooksRan { point, failure } => match failure {
            None => format!("hooks {point}: passed"),
            Some(f) => format!("hooks {point}: {f}"),
        },
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

impl Observer for Renderer {
    fn on_event(&self, entry: &RecordEntry) {
        if let Event::Started { plan, .. } = &entry.event {
            *self.schedule.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan.schedule.clone());
            *self.plan.lock().unwrap_or_else(|e| e.into_inner()) = Some((**plan).clone());
        }
        match self.output {
            Output::Human => {
                if let Some(line) = self.human(entry)
                    && !self.quiet
                {
                    match &self.spinner {
                        Some(pb) => pb.suspend(|| out(&line)),
                        None => out(&line),
                    }
                }
                self.update_spinner(entry);
            }
            Output::Json => json_line("event", serde_json::json!(entry)),
        }
    }

    fn on_notice(&self, at: Timestamp, notice: &Notice) {
        // Notices a person must see (a rollback that keeps failing, an old color left running) are shown
        // always; the others (retries, stale reads) with --verbose.
        match self.output {
            Output::Human if self.verbose || notice.is_alarming() => eprintln!(
                "{}  note: {}",
                offset(at.since(self.start)),
                describe_notice(notice)
            ),
            Output::Human => {}
            Output::Json => json_line(
                "notice",
                serde_json::json!({"at": at, "alarming": notice.is_alarming(), "message": describe_notice(notice)}),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bluegreen_core::gate::{GateMode, Unit};
    use bluegreen_core::{DeploymentId, Plan, Strategy, Window};

    fn entry(seq: u64, at: Timestamp, event: Event) -> RecordEntry {
        RecordEntry { seq, at, event }
    }

    /// Issue 21 item 5: the spinner said `step 1/5: bake 3m — 14 polls passed`. While baking it now says
    /// elapsed of planned, the CloudWatch minute awaited, the expected end as clock times (likely / at
    /// most, a bake extension moving the latest) and the last values against their limits.
    #[test]
    fn the_live_bake_line_says_how_far_what_it_waits_for_and_when_it_ends() {
        let t0 = Timestamp::from_millis(1_796_473_200_000); // 2026-12-05T12:20:00Z
        let plan = Plan::new("poc/poc-web", Strategy::gradual().compile().unwrap());
        let r = Renderer::new(Output::Human, t0);
        let started = Event::Started {
            deployment: DeploymentId::new("d1").unwrap(),
            stable: bluegreen_core::Color::Blue,
            plan: Box::new(plan.clone()),
            by: None,
        };
        r.on_event(&entry(0, t0, started));
        let bake = plan
            .schedule
            .steps()
            .iter()
            .position(|s| matches!(s, Step::Bake { .. }))
            .unwrap();
        let line = r
            .track_bake(&entry(
                1,
                t0,
                Event::StepStarted {
                    index: bake,
                    step: plan.schedule.steps()[bake].clone(),
                },
            ))
            .unwrap();
        let expected = plan
            .bake_expectation(bake, bluegreen_core::gate::TYPICAL_PUBLICATION_DELAY)
            .unwrap();
        assert!(expected.likely > expected.bake, "{expected:?}");
        assert!(
            line.starts_with("step 1/5: bake 3m — 0:00 of 3:00, 0 polls passed"),
            "{line}"
        );
        let likely = clock_time(t0 + expected.likely);
        let at_most = clock_time(t0 + expected.at_most);
        assert!(
            line.contains(&format!("ends likely {likely}, at most {at_most}")),
            "{line}"
        );
        let report = GateReport {
            gate: "5xx-rate".into(),
            mode: GateMode::Enforce,
            verdict: Verdict::Pass,
            value: Some(0.0012),
            stable: None,
            limit: Some(0.05),
            unit: Unit::Ratio,
            detail: String::new(),
            minute: Some(t0),
        };
        let polled = Event::Polled {
            index: bake,
            window: Some(Window {
                from: t0,
                to: t0 + Duration::from_secs(60),
            }),
            reports: vec![report],
            awaiting: Some(t0 + Duration::from_secs(60)),
            minutes: Vec::new(),
        };
        let line = r
            .track_bake(&entry(2, t0 + Duration::from_secs(100), polled))
            .unwrap();
        assert!(line.contains("— 1:40 of 3:00, 1 polls passed"), "{line}");
        assert!(
            line.contains("waiting for CloudWatch minute 12:21"),
            "{line}"
        );
        assert!(
            line.contains("last: 5xx-rate 0.12% (limit 5.00%)"),
            "{line}"
        );
        let until = t0 + Duration::from_secs(600);
        let line = r
            .track_bake(&entry(
                3,
                t0 + Duration::from_secs(180),
                Event::BakeExtended { index: bake, until },
            ))
            .unwrap();
        assert!(
            line.contains(&format!(
                "ends likely {likely}, at most {}",
                clock_time(until)
            )),
            "{line}"
        );
        // Nothing after the step: no bake is under way.
        assert_eq!(
            r.track_bake(&entry(
                4,
                t0 + Duration::from_secs(300),
                Event::StepCompleted { index: bake }
            )),
            None
        );
    }
}
