//! Rendering: human lines or JSON Lines. Results go to stdout; errors to stderr (or stdout as JSON).

use crate::Output;
use bluegreen_core::gate::{GateReport, Verdict};
use bluegreen_core::{Event, Notice, Observer, Outcome, RecordEntry, Step, Timestamp};
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
    polls: Arc<Mutex<(u32, Option<String>)>>,
}

fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth a panic.
    let _ = writeln!(stdout, "{line}");
}

/// Prints an error: one line on stderr, or a JSON object on stdout.
pub fn error(output: Output, message: &str) {
    match output {
        Output::Human => eprintln!("error: {message}"),
        Output::Json => {
            out(&serde_json::json!({"type": "error", "data": {"message": message}}).to_string())
        }
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
            polls: Arc::new(Mutex::new((0, None))),
        }
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
            Output::Json => out(&serde_json::json!({"type": kind, "data": data}).to_string()),
        }
    }

    /// A first line.
    pub fn intro(&self, text: &str) {
        match self.output {
            Output::Human => out(text),
            Output::Json => {
                out(&serde_json::json!({"type": "intro", "data": {"message": text}}).to_string())
            }
        }
    }

    /// The last lines.
    pub fn summary(
        &self,
        outcome: &Outcome,
        elapsed: Duration,
        calls: &BTreeMap<&'static str, usize>,
    ) {
        match self.output {
            Output::Human => {
                out(&format!("{}  result: {outcome}", offset(elapsed)));
                let calls: Vec<String> = calls.iter().map(|(k, v)| format!("{k} {v}")).collect();
                if calls.is_empty() {
                    out(&format!("took {}", humantime::format_duration(elapsed)));
                } else {
                    out(&format!("took {}; API calls: {}", humantime::format_duration(elapsed), calls.join(", ")));
                }
            }
            Output::Json => out(&serde_json::json!({
                "type": "summary",
                "data": {"outcome": outcome, "simulated_seconds": elapsed.as_secs(), "api_calls": calls}
            })
            .to_string()),
        }
    }

    fn human(&self, entry: &RecordEntry) -> Option<String> {
        let mut polls = self.polls.lock().unwrap_or_else(|e| e.into_inner());
        let text = match &entry.event {
            Event::Started {
                deployment,
                stable,
                plan,
            } => format!(
                "start: deployment {deployment}, {stable} is stable, {} is the new color: {}",
                stable.other(),
                plan.schedule
            ),
            Event::StepStarted { index, step } => {
                *polls = (0, None);
                match step {
                    Step::SetWeight { .. } | Step::Approval { .. } => {
                        format!("step {}: {step}", index + 1)
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
            Event::SplitVerified { split } => format!("split verified: {split}"),
            Event::Polled { reports, .. } => {
                polls.0 += 1;
                let bad = not_passing(reports);
                if bad.is_empty() {
                    polls.1 = Some(
                        reports
                            .iter()
                            .filter_map(|r| r.value.map(|_| r.to_string()))
                            .collect::<Vec<_>>()
                            .join("; "),
                    );
                    return None;
                }
                format!("poll: {bad}")
            }
            Event::StepCompleted { .. } if polls.0 > 0 => {
                let line = format!(
                    "bake passed: {} polls; last: {}",
                    polls.0,
                    polls.1.clone().unwrap_or_else(|| "no data".into())
                );
                *polls = (0, None);
                line
            }
            Event::ApprovalRequested { .. } => "waiting for approval".into(),
            Event::ApprovalDecided { decision, .. } => match decision {
                Some(d) => format!("approval: {}", serde_json::to_string(d).unwrap_or_default()),
                None => "approval timed out: promoting".into(),
            },
            Event::RollbackStarted { reason, .. } => format!("ROLLING BACK: {reason}"),
            Event::RolledBack { split } => format!("rolled back: {split}"),
            Event::Promoted { split } => format!("promoted: {split}"),
            Event::CapacityRequested { color, desired } => format!("scaling {color} to {desired}"),
            Event::CapacityReady {
                color,
                in_service,
                healthy,
            } => {
                format!("{color} ready: {in_service} in service, {healthy} healthy")
            }
            Event::ScaleDownScheduled { color, at } => {
                format!(
                    "{color} will be scaled down at +{}",
                    offset(at.since(self.start)).trim()
                )
            }
            Event::ScaledDown { color } => format!("{color} scaled down"),
            _ => return None,
        };
        Some(format!("{}  {text}", offset(entry.at.since(self.start))))
    }
}

impl Observer for Renderer {
    fn on_event(&self, entry: &RecordEntry) {
        match self.output {
            Output::Human => {
                if let Some(line) = self.human(entry)
                    && !self.quiet
                {
                    out(&line);
                }
            }
            Output::Json => out(&serde_json::json!({"type": "event", "data": entry}).to_string()),
        }
    }

    fn on_notice(&self, at: Timestamp, notice: &Notice) {
        if self.output == Output::Human && self.verbose {
            eprintln!("{}  note: {notice:?}", offset(at.since(self.start)));
        }
    }
}
