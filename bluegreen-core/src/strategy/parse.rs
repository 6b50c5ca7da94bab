use super::ScheduleError;
use super::schedule::check_weight_sequence;
use crate::model::Share;
use std::time::Duration;

/// Parses a comma-separated list of percentages as people type them: `10,25,50,75,100` (spaces allowed,
/// a trailing `%` allowed). Checks each step's range and order and that the list ends at 100.
///
/// ```
/// use bluegreen_core::parse_steps;
/// assert_eq!(parse_steps("10, 50,100").unwrap(), vec![10, 50, 100]);
/// assert_eq!(
///     parse_steps("10,5,100").unwrap_err().to_string(),
///     "step 2 (5%) is not increasing: it must be above the step before it (10%)"
/// );
/// ```
pub fn parse_steps(text: &str) -> Result<Vec<u32>, ScheduleError> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.iter().all(|p| p.is_empty()) {
        return Err(ScheduleError::Empty);
    }
    let mut steps = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let digits = part.strip_suffix('%').unwrap_or(part).trim();
        let percent: u32 = digits.parse().map_err(|_| ScheduleError::NotANumber {
            step: i + 1,
            text: (*part).to_string(),
        })?;
        steps.push(percent);
    }
    check_weights(&steps)?;
    Ok(steps)
}

/// Checks a list of weights as [`Schedule::new`](crate::Schedule::new) would: each in 1..=100, strictly
/// increasing, ending at 100.
pub fn check_weights(steps: &[u32]) -> Result<(), ScheduleError> {
    if steps.is_empty() {
        return Err(ScheduleError::Empty);
    }
    if let Some((i, &percent)) = steps.iter().enumerate().find(|(_, p)| **p > 100) {
        return Err(ScheduleError::AboveAll {
            step: i + 1,
            percent,
        });
    }
    check_weight_sequence(
        steps
            .iter()
            .enumerate()
            .map(|(i, p)| (i + 1, Share::percent(*p))),
    )
}

/// Parses a duration as people type it: `90s`, `3m`, `1h30m`, `1h 30m`, `500ms`. A bare number is refused,
/// since its unit would be a guess. `what` names the setting in the error.
///
/// ```
/// use bluegreen_core::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("bake", "1h30m").unwrap(), Duration::from_secs(5400));
/// assert!(parse_duration("bake", "3").is_err());
/// ```
pub fn parse_duration(what: &str, text: &str) -> Result<Duration, ScheduleError> {
    humantime::parse_duration(text.trim()).map_err(|e| ScheduleError::BadDuration {
        what: what.to_string(),
        text: text.to_string(),
        reason: e.to_string(),
    })
}
