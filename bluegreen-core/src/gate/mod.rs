//! Health gates: what is judged, when, and what a verdict means.
//!
//! Gates are pure: [`judge_bake_gate`] and [`judge_pre_step`] turn data into [`GateReport`]s, and
//! [`BakeTally`] turns a bake's reports into a decision. The executor fetches the data.

mod checks;
mod compare;
mod config;
mod evidence;
mod judge;
mod minutes;
mod rejudge;
mod report;
mod sequential;
mod tally;

pub use checks::*;
pub use compare::{
    Classification, JUDGE_LIMIT, JudgeVerdict, LATENCY_P99_SEQUENTIAL_GATE,
    LATENCY_SEQUENTIAL_GATE, MetricJudgement, SCORE_GATE, SequentialJudge, SignTest,
    is_judge_report, judge_rollback, show_interval,
};
pub use config::{
    BakeGate, DEFAULT_MIN_ERRORS, DEFAULT_MIN_MINUTES, DEFAULT_POLL_INTERVAL,
    DEFAULT_PUBLICATION_TIMEOUT, DEFAULT_WINDOW, GateMode, GatePolicy, Limits, NoDataPolicy,
    PreStepGate, Relative, TYPICAL_PUBLICATION_DELAY,
};
pub use judge::{Snapshot, judge_bake_gate, judge_pre_step};
pub use minutes::{
    Baseline, JudgedMinute, MinuteBook, MinuteProgress, RecordedMinute, judge_minute,
};
pub use rejudge::{RejudgedMinute, Rejudgement, differences, judge_history, rejudge};
pub use report::{GateReport, Unit, Verdict};
pub use sequential::{
    JudgeMode, LatencyComparison, MinuteCounts, SEQUENTIAL_GATE, SequentialPolicy, SequentialRate,
    SequentialVerdict,
};
pub use tally::{BakeTally, PollDecision};
