//! Which CloudWatch minutes a bake may judge, and when.
//!
//! Load balancer metrics arrive as one bucket per minute, stamped at the minute's start, published one to
//! several minutes after the minute closes, with zero counts omitted. A [`MinuteBook`] follows one bake:
//! it judges, in order, each complete minute that lies wholly after the split changed, once that minute is
//! published, and never a minute that mixes traffic from before the change.
//!
//! A minute is *published* when either color has any datapoint in it (the per-target-group
//! `HealthyHostCount` is reported every minute, traffic or not). Within a published minute, a missing
//! `RequestCount` means no requests and a missing 5xx count means zero errors. A minute that is absent is
//! *not yet published*: the book waits for it, up to [`GatePolicy::publication_timeout`] after it closed,
//! and only then judges it as no data. A published minute whose verdict is inconclusive (too few requests)
//! is judged final only once it is *settled* — a later minute is published too, or the timeout passed —
//! because CloudWatch may still revise the newest minute as late data lands.

#[cfg(test)]
use super::Check;
#[cfg(test)]
use super::Verdict;
use super::{GatePolicy, GateReport, Snapshot, judge_bake_gate};
use crate::{AlarmStatus, Color, MINUTE, Metrics, MinuteMetrics, PerColor, Timestamp, Window};
use serde::{Deserialize, Serialize};

/// One judged minute as a record keeps it (`Event::Polled`): the minute, the first minute of its split, and
/// both colors' metrics of that minute alone — what [`rejudge`](crate::gate::rejudge) needs to judge it
/// again under other gates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RecordedMinute {
    /// The minute's start.
    pub minute: Timestamp,
    /// The first minute of its split (a window never reaches before it).
    pub segment: Timestamp,
    /// Both colors' datapoints of this minute (absent: not published).
    pub metrics: PerColor<Metrics>,
}

/// One minute judged: the gates' reports over the window that ends with it.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgedMinute {
    /// The minute's start.
    pub minute: Timestamp,
    /// The first minute of its split.
    pub segment: Timestamp,
    /// One report per minute-based gate, each tagged with the minute.
    pub reports: Vec<GateReport>,
    /// Both colors' metrics of this minute alone (not its window): what a sequential judge adds up.
    pub metrics: PerColor<Metrics>,
}

/// What a poll learned about the minutes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MinuteProgress {
    /// Minutes whose verdict became final on this poll, oldest first.
    pub judged: Vec<JudgedMinute>,
    /// The oldest complete post-change minute still waiting to be published or settled, if any.
    pub awaiting: Option<Timestamp>,
}

/// What a minute's stable color is judged as when it had too few requests to compare with (in a watch, all
/// traffic is on the new color): the relative limits of the gates then compare with this, and a report
/// that used it says so.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Baseline {
    /// The same metrics for every minute (the application before the deployment, both colors added up).
    Fixed(Metrics),
    /// The same window this long earlier, both colors added up: the poll fetches
    /// [`MinuteBook::earlier_window`] and passes it to [`MinuteBook::advance_with`].
    Earlier(std::time::Duration),
}

/// Follows a deployment's minutes across its splits. Pure: feed it what CloudWatch answered and the time.
///
/// Every complete minute that lies wholly within one split is judged exactly once, in order, when
/// CloudWatch has published it — even if that happens after the next split change (a late minute of the
/// 10 % step is judged during the 25 % step's bake, and a breach in it rolls back). A minute that
/// straddles a split change is never judged.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteBook {
    /// `[from, to)` of each split's whole minutes, oldest first; the last is open.
    segments: Vec<(Timestamp, Option<Timestamp>)>,
    next: Timestamp,
    window_minutes: u64,
    baseline: Option<Baseline>,
}

impl MinuteBook {
    /// A book whose split changed at `changed_at`: the first minute it may judge is the first whole minute
    /// at or after that instant. Each verdict covers `window` (rounded up to whole minutes, at least one)
    /// ending with the minute judged, never reaching before its split's first minute.
    pub fn new(changed_at: Timestamp, window: std::time::Duration) -> Self {
        let first = changed_at.ceil_minute();
        MinuteBook {
            segments: vec![(first, None)],
            next: first,
            window_minutes: window.as_secs().div_ceil(60).max(1),
            baseline: None,
        }
    }

    /// A book with no split yet: nothing to judge until [`split_changed`](Self::split_changed).
    pub fn idle(window: std::time::Duration) -> Self {
        MinuteBook {
            segments: Vec::new(),
            next: Timestamp::from_millis(u64::MAX - u64::MAX % 60_000),
            window_minutes: window.as_secs().div_ceil(60).max(1),
            baseline: None,
        }
    }

    /// Whether a split has been noted (the book has minutes to judge).
    pub fn is_idle(&self) -> bool {
        self.segments.is_empty()
    }

    /// The split changed at `at`: the current split's minutes end with the last whole minute before it,
    /// and the new split's begin with the first whole minute after it.
    pub fn split_changed(&mut self, at: Timestamp) {
        if let Some(last) = self.segments.last_mut()
            && last.1.is_none()
        {
            last.1 = Some(at.floor_minute().max(last.0));
        }
        let first = at.ceil_minute();
        if self.segments.is_empty() {
            self.next = first;
        }
        self.segments.push((first, None));
        self.skip_gaps();
    }

    /// The first minute of the current split.
    pub fn first_minute(&self) -> Timestamp {
        self.segments.last().map_or(self.next, |s| s.0)
    }

    /// The next minute to judge.
    pub fn next_minute(&self) -> Timestamp {
        self.next
    }

    fn segment_of(&self, m: Timestamp) -> Option<(Timestamp, Option<Timestamp>)> {
        self.segments
            .iter()
            .copied()
            .find(|(from, to)| m >= *from && to.is_none_or(|t| m < t))
    }

    /// Moves `next` past minutes that belong to no split (those straddling a change).
    fn skip_gaps(&mut self) {
        if self.segment_of(self.next).is_none()
            && let Some((from, _)) = self
                .segments
                .iter()
                .copied()
                .find(|(from, to)| to.is_none_or(|t| t > self.next) && *from >= self.next)
        {
            self.next = from;
        }
        // Segments wholly judged are forgotten.
        let next = self.next;
        self.segments.retain(|(_, to)| to.is_none_or(|t| t > next));
    }

    fn window_start(&self, m: Timestamp) -> Timestamp {
        let back = MINUTE * (self.window_minutes - 1) as u32;
        let from = self.segment_of(m).map_or(m, |s| s.0);
        from.max(m - back)
    }

    /// The window to ask the provider for at `now`: from the oldest minute still needed to the last
    /// complete one. `None` when every complete minute is judged (nothing to ask).
    pub fn fetch_window(&self, now: Timestamp) -> Option<Window> {
        let to = now.floor_minute();
        (self.next < to).then(|| Window {
            from: self.window_start(self.next),
            to,
        })
    }

    /// Sets what a minute whose stable color had too few requests is compared with ([`Baseline`]).
    pub fn set_baseline(&mut self, baseline: Option<Baseline>) {
        self.baseline = baseline;
    }

    /// The window a poll fetches besides `window` for an [`Earlier`](Baseline::Earlier) baseline.
    pub fn earlier_window(&self, window: Window) -> Option<Window> {
        match self.baseline {
            Some(Baseline::Earlier(by)) => Some(Window {
                from: window.from - by,
                to: window.to - by,
            }),
            _ => None,
        }
    }

    /// Judges every minute that became final, given the series the provider returned for
    /// [`fetch_window`](Self::fetch_window) and the time.
    pub fn advance(
        &mut self,
        gates: &GatePolicy,
        new: Color,
        series: &PerColor<Vec<MinuteMetrics>>,
        now: Timestamp,
    ) -> MinuteProgress {
        self.advance_with(gates, new, series, None, now)
    }

    /// [`advance`](Self::advance), with the series of [`earlier_window`](Self::earlier_window) for an
    /// [`Earlier`](Baseline::Earlier) baseline.
    pub fn advance_with(
        &mut self,
        gates: &GatePolicy,
        new: Color,
        series: &PerColor<Vec<MinuteMetrics>>,
        earlier: Option<&PerColor<Vec<MinuteMetrics>>>,
        now: Timestamp,
    ) -> MinuteProgress {
        let at = |c: Color, m: Timestamp| {
            series
                .get(c)
                .iter()
                .find(|x| x.start == m && !x.metrics.is_empty())
                .map(|x| x.metrics)
        };
        let newest_published = Color::ALL
            .iter()
            .flat_map(|c| series.get(*c).iter())
            .filter(|x| !x.metrics.is_empty())
            .map(|x| x.start)
            .max();
        let mut progress = MinuteProgress::default();
        while self.next + MINUTE <= now {
            let m = self.next;
            if self.segment_of(m).is_none() {
                // Only the open split's future minutes remain.
                break;
            }
            let published = Color::ALL.iter().any(|c| at(*c, m).is_some());
            let timed_out = now >= m + MINUTE + gates.publication_timeout;
            let settled = newest_published.is_some_and(|n| n > m) || timed_out;
            if !published && !timed_out {
                progress.awaiting = Some(m);
                break;
            }
            let from = self.window_start(m);
            let combined = PerColor::from_fn(|c| {
                let parts: Vec<Metrics> =
                    std::iter::successors(Some(from), |t| Some(*t + MINUTE).filter(|t| *t <= m))
                        .filter_map(|t| at(c, t))
                        .collect();
                Metrics::combine(&parts)
            });
            let stable = new.other();
            let stable_short = combined
                .get(stable)
                .requests
                .is_none_or(|r| r < gates.min_requests.max(1));
            let baseline = match self.baseline {
                _ if !stable_short => None,
                Some(Baseline::Fixed(b)) => {
                    Some((b, "the application before the deployment".to_string()))
                }
                Some(Baseline::Earlier(by)) => earlier.map(|e| {
                    let parts: Vec<&Metrics> = Color::ALL
                        .iter()
                        .flat_map(|c| e.get(*c).iter())
                        .filter(|x| x.start >= from - by && x.start <= m - by)
                        .map(|x| &x.metrics)
                        .collect();
                    (
                        Metrics::combine(parts),
                        format!(
                            "the same minutes {} earlier",
                            humantime::format_duration(by)
                        ),
                    )
                }),
                None => None,
            };
            let reports = judge_minute(gates, new, combined, baseline, m, published);
            // Too few requests to judge (whatever the no-data policy makes of it) waits until the minute
            // is settled: CloudWatch may still add the datapoints it lacks.
            let enough = combined
                .get(new)
                .requests
                .is_some_and(|r| r >= gates.min_requests.max(1));
            if !enough && !settled {
                progress.awaiting = Some(m);
                break;
            }
            let alone = PerColor::from_fn(|c| at(c, m).unwrap_or_default());
            progress.judged.push(JudgedMinute {
                minute: m,
                segment: self.segment_of(m).map_or(m, |s| s.0),
                reports,
                metrics: alone,
            });
            self.next = m + MINUTE;
            self.skip_gaps();
        }
        progress
    }
}

/// The minute-based gates' reports on minute `m`, over `combined` (both colors' metrics over the minute's
/// window). `baseline` stands in for the stable color when it had fewer than `min_requests` requests and
/// the baseline itself had enough (a watch), and the reports that compared with it say so; `published`
/// false marks a minute never published.
pub fn judge_minute(
    gates: &GatePolicy,
    new: Color,
    mut combined: PerColor<Metrics>,
    baseline: Option<(Metrics, String)>,
    m: Timestamp,
    published: bool,
) -> Vec<GateReport> {
    let stable = new.other();
    let enough = |x: &Metrics| x.requests.is_some_and(|r| r >= gates.min_requests.max(1));
    let baseline = baseline.filter(|(b, _)| !enough(combined.get(stable)) && enough(b));
    if let Some((b, _)) = &baseline {
        *combined.get_mut(stable) = *b;
    }
    let snapshot = Snapshot {
        metrics: combined,
        alarms: Vec::<AlarmStatus>::new(),
    };
    gates
        .bake
        .iter()
        .filter(|g| g.check.is_minute_based())
        .map(|g| {
            let mut r = judge_bake_gate(g, &snapshot, new, gates.min_requests);
            if !published {
                r.detail = format!(
                    "minute {m} was not published within {} of its end",
                    humantime::format_duration(gates.publication_timeout)
                );
            }
            if let Some((_, what)) = &baseline
                && r.stable.is_some()
            {
                let said = format!("stable: {what}");
                r.detail = if r.detail.is_empty() {
                    said
                } else {
                    format!("{} ({said})", r.detail)
                };
            }
            r.minute = Some(m);
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{BakeGate, GateMode, NoDataPolicy};
    use std::time::Duration;

    const T0: u64 = 1_767_225_600_000; // a whole minute

    fn t(secs: u64) -> Timestamp {
        Timestamp::from_millis(T0 + secs * 1000)
    }

    fn policy() -> GatePolicy {
        GatePolicy {
            bake: vec![BakeGate {
                name: "5xx".into(),
                mode: GateMode::Enforce,
                no_data: NoDataPolicy::Inconclusive,
                check: Check::ErrorRate(super::super::ErrorRate {
                    max: 0.05,
                    relative: None,
                    min_errors: 0,
                }),
            }],
            min_requests: 10,
            ..GatePolicy::default()
        }
    }

    fn minute(start: u64, requests: Option<u64>, errors: Option<u64>) -> MinuteMetrics {
        MinuteMetrics {
            start: t(start),
            metrics: Metrics {
                requests,
                errors_5xx: errors,
                healthy_hosts: Some(2),
                unhealthy_hosts: Some(0),
                ..Metrics::default()
            },
        }
    }

    fn series(green: Vec<MinuteMetrics>) -> PerColor<Vec<MinuteMetrics>> {
        PerColor {
            blue: green
                .iter()
                .map(|m| minute(m.start.as_millis() / 1000 - T0 / 1000, Some(900), None))
                .collect(),
            green,
        }
    }

    #[test]
    fn the_partial_minute_of_the_shift_is_never_judged() {
        // Shift at 0:30: the minute 0:00–1:00 mixes before and after; the first judged minute is 1:00.
        let book = MinuteBook::new(t(30), Duration::from_secs(60));
        assert_eq!(book.first_minute(), t(60));
        assert_eq!(book.fetch_window(t(100)), None, "1:00–2:00 is not complete");
        assert_eq!(
            book.fetch_window(t(125)),
            Some(Window {
                from: t(60),
                to: t(120)
            })
        );
    }

    #[test]
    fn an_unpublished_minute_is_awaited_not_judged() {
        let mut book = MinuteBook::new(t(0), Duration::from_secs(60));
        // At 2:30 neither minute 0 nor minute 1 is published.
        let p = book.advance(&policy(), Color::Green, &PerColor::default(), t(150));
        assert!(p.judged.is_empty());
        assert_eq!(p.awaiting, Some(t(0)));
    }

    #[test]
    fn a_published_minute_without_5xx_has_zero_errors() {
        let mut book = MinuteBook::new(t(0), Duration::from_secs(60));
        let s = series(vec![minute(0, Some(100), None)]);
        let p = book.advance(&policy(), Color::Green, &s, t(150));
        assert_eq!(p.judged.len(), 1);
        assert_eq!(p.judged[0].reports[0].verdict, Verdict::Pass);
        assert_eq!(p.judged[0].reports[0].value, Some(0.0));
        assert_eq!(p.judged[0].reports[0].minute, Some(t(0)));
        assert_eq!(p.awaiting, Some(t(60)));
    }

    #[test]
    fn a_published_minute_without_requests_is_no_traffic_once_settled() {
        let mut book = MinuteBook::new(t(0), Duration::from_secs(60));
        // Minute 0 published (host counts) with no requests to green: it might still be revised.
        let s = series(vec![minute(0, None, None)]);
        let p = book.advance(&policy(), Color::Green, &s, t(150));
        assert!(
            p.judged.is_empty(),
            "the newest minute may still be revised"
        );
        // Minute 1 is published: minute 0 is settled, and had no traffic.
        let s = series(vec![minute(0, None, None), minute(60, Some(100), None)]);
        let p = book.advance(&policy(), Color::Green, &s, t(190));
        assert_eq!(p.judged.len(), 2);
        assert_eq!(p.judged[0].reports[0].verdict, Verdict::Inconclusive);
        assert_eq!(p.judged[0].reports[0].detail, "no request data");
        assert_eq!(p.judged[1].reports[0].verdict, Verdict::Pass);
    }

    #[test]
    fn a_minute_never_published_is_no_data_after_the_timeout() {
        let mut book = MinuteBook::new(t(0), Duration::from_secs(60));
        let g = policy();
        let late = t(60) + g.publication_timeout;
        let p = book.advance(
            &g,
            Color::Green,
            &PerColor::default(),
            late - Duration::from_secs(1),
        );
        assert!(p.judged.is_empty());
        let p = book.advance(&g, Color::Green, &PerColor::default(), late);
        assert_eq!(p.judged.len(), 1);
        assert_eq!(p.judged[0].reports[0].verdict, Verdict::Inconclusive);
        assert!(p.judged[0].reports[0].detail.contains("not published"));
    }

    #[test]
    fn a_breach_is_judged_as_soon_as_its_minute_is_published() {
        let mut book = MinuteBook::new(t(0), Duration::from_secs(60));
        let s = series(vec![minute(0, Some(100), Some(20))]);
        let p = book.advance(&policy(), Color::Green, &s, t(61));
        assert_eq!(p.judged[0].reports[0].verdict, Verdict::Fail);
    }

    #[test]
    fn a_late_minute_of_the_previous_split_is_still_judged_and_the_straddling_minute_never() {
        let mut book = MinuteBook::new(t(0), Duration::from_secs(60));
        // The split changes again at 2:30: minutes 0 and 1 belong to the first split, minute 2 straddles
        // the change, minute 3 is the new split's first.
        book.split_changed(t(150));
        assert_eq!(book.first_minute(), t(180));
        let s = series(vec![
            minute(0, Some(100), None),
            minute(60, Some(100), Some(50)),
            minute(120, Some(100), None),
            minute(180, Some(100), None),
        ]);
        let p = book.advance(&policy(), Color::Green, &s, t(250));
        let judged: Vec<_> = p
            .judged
            .iter()
            .map(|j| (j.minute, j.reports[0].verdict))
            .collect();
        assert_eq!(
            judged,
            [
                (t(0), Verdict::Pass),
                (t(60), Verdict::Fail),
                (t(180), Verdict::Pass)
            ]
        );
        assert_eq!(book.fetch_window(t(250)), None);
    }

    #[test]
    fn a_wider_window_adds_up_minutes_but_never_before_the_change() {
        let mut book = MinuteBook::new(t(0), Duration::from_secs(180));
        let s = series(vec![
            minute(0, Some(4), None),
            minute(60, Some(4), Some(1)),
            minute(120, Some(4), None),
        ]);
        let p = book.advance(&policy(), Color::Green, &s, t(200));
        let values: Vec<_> = p.judged.iter().map(|j| j.reports[0].verdict).collect();
        // 4 requests, then 8, then 12 (≥ 10): only the third window is judged on its rate.
        assert_eq!(
            values,
            [Verdict::Inconclusive, Verdict::Inconclusive, Verdict::Fail]
        );
        assert_eq!(p.judged[2].reports[0].value, Some(1.0 / 12.0));
        assert_eq!(
            book.fetch_window(t(250)),
            Some(Window {
                from: t(60),
                to: t(240)
            })
        );
    }
}
