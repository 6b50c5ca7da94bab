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

/// Prints an error: one line on stderr, or a JSON object on stdout.
pub fn error(output: Output, message: &str) {
    match output {
        Output::Human => eprintln!("error: {message}"),
        Output::Json => json_line("error", serde_json::json!({"message": message})),
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
fn clock_time(t: Timestamp) -> String {
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
        }
    }

    /// Numbers steps by `schedule` (for a resumed deployment, whose `started` event is not shown again).
    pub fn with_schedule(self, schedule: Schedule) -> Self {
        *self.schedule.lock().unwrap_or_else(|e| e.into_inner()) = Some(schedule);
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
        match &entry.event {
            Event::StepStarted { index, step } => pb.set_message(format!(
                "{}: {step}",
                step_label(*index, self.schedule().as_ref())
            )),
            Event::Polled { .. } => {
                let polls = self.polls.lock().map(|p| p.polls).unwrap_or(0);
                let msg = pb.message();
                let base = msg.split(" — ").next().unwrap_or_default().to_string();
                pb.set_message(format!("{base} — {polls} polls passed"));
            }
            Event::ApprovalRequested { .. } => {
                pb.set_message("waiting for approval (bluegreen promote / abort)")
            }
            Event::RollbackStarted { .. } => pb.set_message("rolling back"),
            Event::Finished { .. } => pb.finish_and_clear(),
            _ => {}
        }
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
                    Step::SetWeight { .. } | Step::Approval { .. } => {
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
            Event::StepCompleted { .. } if polls.polls > 0 => {
                let line = format!(
                    "bake passed: {} polls, {} CloudWatch minutes judged; last: {}",
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
        } => format!(
            "start: deployment {deployment}, {stable} is stable, {} is the new color: {}",
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
