//! The changes a plan would make, from the split it would start on: what `plan` and `--dry-run` show, as data
//! the CLI only renders.

use super::{ExecError, Plan};
use crate::{Color, Step, TimeoutAction, TrafficSplit};
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// One change a deployment would make, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PlannedChange {
    /// Point the new color's Auto Scaling group at a launch template version (the new image).
    SetLaunchTemplate {
        /// The new color.
        color: Color,
        /// The template, by id or name.
        template: String,
        /// Its version.
        version: String,
    },
    /// Create a new version of the new color's launch template with a new image, and point its group at it.
    NewImage {
        /// The new color.
        color: Color,
        /// The image (AMI id).
        image: String,
    },
    /// Raise the new color's group to the stable color's desired capacity and wait for healthy targets.
    RaiseCapacity {
        /// The new color.
        color: Color,
        /// The color whose desired capacity it takes.
        like: Color,
        /// How long to wait for healthy targets.
        #[serde(with = "humantime_serde")]
        ready_timeout: Duration,
    },
    /// Check the pre-step gate of `checked`, then write `split` and read it back.
    SetWeights {
        /// The schedule entry.
        index: usize,
        /// The split written.
        split: TrafficSplit,
        /// The color whose share rises (its targets are checked first).
        checked: Color,
    },
    /// Hold the split while the bake gates are polled.
    Bake {
        /// The schedule entry.
        index: usize,
        /// The planned length (CloudWatch's publication delay may extend it).
        #[serde(with = "humantime_serde")]
        duration: Duration,
        /// How often the gates are polled.
        #[serde(with = "humantime_serde")]
        interval: Duration,
    },
    /// Wait for a person's approval while the gates keep watching.
    Approval {
        /// The schedule entry.
        index: usize,
        /// How long to wait, if bounded.
        #[serde(with = "humantime_serde")]
        timeout: Option<Duration>,
        /// What a timeout does.
        on_timeout: TimeoutAction,
    },
    /// Hold the split without judging anything.
    Pause {
        /// The schedule entry.
        index: usize,
        /// How long.
        #[serde(with = "humantime_serde")]
        duration: Duration,
    },
    /// Keep the old color able to take traffic back while the new one is judged ([`Step::Watch`]).
    Watch {
        /// The schedule entry.
        index: usize,
        /// How long.
        #[serde(with = "humantime_serde")]
        duration: Duration,
        /// How long a breach rolls back.
        #[serde(with = "humantime_serde")]
        armed: Duration,
        /// The old color, kept at its capacity.
        kept: Color,
        /// How often the gates are polled.
        #[serde(with = "humantime_serde")]
        interval: Duration,
        /// What the old color keeps.
        keep: crate::WatchKeep,
        /// What the new color is compared with.
        baseline: crate::WatchBaseline,
        /// The kept color's group's slow start, when it has one: instances launched on a rollback of a
        /// watch that keeps it at its minimum take their full share only after it.
        #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
        slow_start: Option<Duration>,
    },
    /// After promotion and a delay, scale the old color's group to 0.
    ScaleDown {
        /// The old color.
        color: Color,
        /// The delay after promotion.
        #[serde(with = "humantime_serde")]
        after: Duration,
        /// And no sooner than this after the switch, for what the load balancer still sends the old color.
        #[serde(skip_serializing_if = "Option::is_none")]
        drain: Option<crate::DrainWait>,
        /// The watch before the promotion, if any: a stickiness that outlives it keeps the old color longer.
        #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
        watch: Option<Duration>,
    },
}

impl fmt::Display for PlannedChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |d: &Duration| humantime::format_duration(*d).to_string();
        match self {
            PlannedChange::SetLaunchTemplate {
                color,
                template,
                version,
            } => write!(
                f,
                "point {color}'s Auto Scaling group at launch template {template} version {version}"
            ),
            PlannedChange::NewImage { color, image } => write!(
                f,
                "create a version of {color}'s launch template with image {image} and point its Auto Scaling group at it"
            ),
            PlannedChange::RaiseCapacity {
                color,
                like,
                ready_timeout,
            } => write!(
                f,
                "raise {color}'s Auto Scaling group to {like}'s desired capacity and wait up to {} for healthy targets",
                d(ready_timeout)
            ),
            PlannedChange::SetWeights { split, checked, .. } => write!(
                f,
                "set the listener's weights to {split} (after checking {checked}'s targets)"
            ),
            PlannedChange::Bake {
                duration, interval, ..
            } => write!(f, "bake {} (gates every {})", d(duration), d(interval)),
            PlannedChange::Approval {
                timeout,
                on_timeout,
                ..
            } => match timeout {
                Some(t) => write!(
                    f,
                    "wait up to {} for an approval (then {})",
                    d(t),
                    match on_timeout {
                        TimeoutAction::Rollback => "roll back",
                        TimeoutAction::Promote => "promote",
                    }
                ),
                None => write!(f, "wait for an approval"),
            },
            PlannedChange::Pause { duration, .. } => write!(f, "pause {}", d(duration)),
            PlannedChange::Watch {
                duration,
                armed,
                kept,
                interval,
                keep,
                baseline,
                slow_start,
                ..
            } => {
                write!(
                    f,
                    "watch for {} with {kept} kept {}, polling the gates every {}, the new color's minutes compared with {}; a breach in the first {} rolls back to {kept}{}, later ones are told, not acted on; `promote` ends the watch, `abort` rolls back",
                    d(duration),
                    match keep {
                        crate::WatchKeep::Full => "at its capacity",
                        crate::WatchKeep::Min =>
                            "at its group's minimum (at least 1 instance; its capacity restored on a rollback)",
                    },
                    d(interval),
                    match baseline {
                        crate::WatchBaseline::Before =>
                            "the application's 30 minutes before the deployment (and the absolute limits)",
                        crate::WatchBaseline::PreviousDay =>
                            "the same minutes a day earlier (and the absolute limits)",
                        crate::WatchBaseline::None => "the absolute limits only",
                    },
                    d(armed),
                    match keep {
                        crate::WatchKeep::Full => "",
                        crate::WatchKeep::Min => " at once, its group raised back meanwhile",
                    }
                )?;
                if let (crate::WatchKeep::Min, Some(ramp)) = (keep, slow_start) {
                    write!(
                        f,
                        " (the instances it launches then ramp up over its target group's slow start, {})",
                        d(ramp)
                    )?;
                }
                Ok(())
            }
            PlannedChange::ScaleDown {
                color,
                after,
                drain,
                watch,
            } => {
                write!(f, "{} after promotion", d(after))?;
                // The switch comes before the promotion: a wait no longer than the delay changes nothing.
                if let Some(w) = drain.filter(|w| w.after_switch > *after) {
                    write!(
                        f,
                        " and no sooner than {} after the switch ({})",
                        d(&w.after_switch),
                        if w.cause == "group stickiness" {
                            format!(
                                "the listener's group stickiness: clients holding its cookie still reach {color}"
                            )
                        } else {
                            format!(
                                "the deregistration delay of {color}'s target group: requests still running there finish"
                            )
                        }
                    )?;
                }
                write!(f, ", scale {color}'s Auto Scaling group to 0")?;
                if let Some(from) = drain.and_then(|w| w.capped_from) {
                    write!(
                        f,
                        "; warning: the group stickiness {} is longer than the {} the scale-down waits for — clients pinned longer are sent to a scaled-down group",
                        d(&from),
                        d(&crate::CapacityPolicy::STICKINESS_CAP)
                    )?;
                }
                if let (Some(w), Some(watch)) = (drain, watch)
                    && w.after_switch > *watch
                {
                    write!(
                        f,
                        "; warning: the {} outlives the {} watch — {color} is kept until then",
                        w.cause,
                        d(watch)
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// What a plan would do from a split: the colors, and every change in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedChanges {
    /// The split it would start from.
    pub split: TrafficSplit,
    /// The color holding all traffic (rolled back to on failure).
    pub stable: Color,
    /// The color receiving the release.
    pub new: Color,
    /// The changes, in order.
    pub changes: Vec<PlannedChange>,
}

impl Plan {
    /// The changes this plan would make when started on `split`, refused as [`Executor::run`] would refuse
    /// it: a split not at rest (unless the plan continues from it, [`Plan::from_current`]: then give the
    /// schedule as it will run, [`Schedule::continuing_from`]), or a stable color other than the expected
    /// one.
    ///
    /// [`Schedule::continuing_from`]: crate::Schedule::continuing_from
    ///
    /// [`Executor::run`]: super::Executor::run
    pub fn changes(&self, split: TrafficSplit) -> Result<PlannedChanges, ExecError> {
        self.validate()
            .map_err(|e| ExecError::InvalidPlan(e.to_string()))?;
        let continued = self.from_current && split.sole_color() != self.expected_stable;
        let stable = match (self.schedule.is_shift() || continued, self.expected_stable) {
            (true, Some(stable)) => stable,
            (true, None) => {
                return Err(ExecError::InvalidPlan(
                    "a shift, or a rollout continued from the current split, needs the stable color"
                        .into(),
                ));
            }
            (false, expected) => {
                let stable = split.sole_color().ok_or(ExecError::NotAtRest { split })?;
                if let Some(expected) = expected
                    && expected != stable
                {
                    return Err(ExecError::UnexpectedStable { expected, split });
                }
                stable
            }
        };
        let new = stable.other();
        let mut changes = Vec::new();
        if let Some(c) = &self.capacity {
            if let Some(image) = &c.image {
                changes.push(PlannedChange::NewImage {
                    color: new,
                    image: image.clone(),
                });
            }
            if let Some((template, version)) = &c.launch_template {
                changes.push(PlannedChange::SetLaunchTemplate {
                    color: new,
                    template: template.clone(),
                    version: version.clone(),
                });
            }
            if c.scale_up {
                changes.push(PlannedChange::RaiseCapacity {
                    color: new,
                    like: stable,
                    ready_timeout: c.ready_timeout,
                });
            }
        }
        let mut current = split;
        for (index, step) in self.schedule.steps().iter().enumerate() {
            changes.push(match step {
                Step::SetWeight { percent } => {
                    let to = TrafficSplit::to_share(new, *percent);
                    let checked = if to.per_mille(new) >= current.per_mille(new) {
                        new
                    } else {
                        stable
                    };
                    current = to;
                    PlannedChange::SetWeights {
                        index,
                        split: to,
                        checked,
                    }
                }
                Step::Bake { duration } => PlannedChange::Bake {
                    index,
                    duration: *duration,
                    interval: self.gates.interval,
                },
                Step::Approval {
                    timeout,
                    on_timeout,
                } => PlannedChange::Approval {
                    index,
                    timeout: *timeout,
                    on_timeout: *on_timeout,
                },
                Step::Pause { duration } => PlannedChange::Pause {
                    index,
                    duration: *duration,
                },
                Step::Watch {
                    duration,
                    armed,
                    keep,
                    baseline,
                } => PlannedChange::Watch {
                    index,
                    duration: *duration,
                    armed: *armed,
                    kept: stable,
                    interval: self.gates.interval,
                    keep: *keep,
                    baseline: *baseline,
                    slow_start: self
                        .capacity
                        .as_ref()
                        .and_then(|c| c.drain)
                        .and_then(|d| d.old_group)
                        .and_then(|g| g.slow_start),
                },
            });
        }
        if let Some(c) = &self.capacity
            && c.scale_down
            && !self.schedule.is_shift()
        {
            let watch = self.schedule.steps().iter().find_map(|s| match s {
                Step::Watch { duration, .. } => Some(*duration),
                _ => None,
            });
            changes.push(PlannedChange::ScaleDown {
                color: stable,
                after: c.scale_down_delay,
                drain: c.drain_wait(),
                watch,
            });
        }
        Ok(PlannedChanges {
            split,
            stable,
            new,
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CapacityPolicy, Strategy};

    #[test]
    fn a_gradual_plan_lists_capacity_each_weight_and_bake_and_the_scale_down() {
        let mut plan = Plan::new("app", Strategy::gradual().compile().expect("valid"));
        plan.capacity = Some(CapacityPolicy {
            launch_template: Some(("lt-1".into(), "7".into())),
            ..CapacityPolicy::default()
        });
        let c = plan
            .changes(TrafficSplit::all_to(Color::Blue))
            .expect("at rest");
        assert_eq!((c.stable, c.new), (Color::Blue, Color::Green));
        let words: Vec<String> = c.changes.iter().map(ToString::to_string).collect();
        assert_eq!(words.len(), 1 + 1 + 10 + 1, "{words:#?}");
        assert_eq!(
            words[0],
            "point green's Auto Scaling group at launch template lt-1 version 7"
        );
        assert_eq!(
            words[2],
            "set the listener's weights to blue 90% / green 10% (after checking green's targets)"
        );
        assert_eq!(words[3], "bake 3m (gates every 10s)");
        assert!(
            words[12].ends_with("scale blue's Auto Scaling group to 0"),
            "{}",
            words[12]
        );
        assert!(
            !words.iter().any(|w| w.contains('{')),
            "no debug text: {words:#?}"
        );
    }

    /// Issue 24 item 4: the plan says when the old color goes, and warns of a stickiness past the cap or
    /// past the watch.
    #[test]
    fn the_scale_down_line_says_what_the_load_balancer_holds_and_warns() {
        let day = Duration::from_secs(24 * 3600);
        let line = |stickiness: Duration, delay: Duration, watch: Option<Duration>| {
            let mut steps = Strategy::immediate()
                .compile()
                .expect("valid")
                .steps()
                .to_vec();
            if let Some(duration) = watch {
                steps.push(Step::Watch {
                    duration,
                    armed: duration.min(Duration::from_secs(3600)),
                    keep: crate::WatchKeep::Full,
                    baseline: crate::WatchBaseline::Before,
                });
            }
            let mut plan = Plan::new("app", crate::Schedule::new(steps).expect("valid"));
            plan.capacity = Some(CapacityPolicy {
                drain: Some(crate::Drain {
                    stickiness: Some(stickiness),
                    old_group: Some(crate::GroupTimings {
                        deregistration_delay: delay,
                        slow_start: None,
                    }),
                }),
                ..CapacityPolicy::default()
            });
            let c = plan
                .changes(TrafficSplit::all_to(Color::Blue))
                .expect("at rest");
            c.changes.last().expect("a scale-down").to_string()
        };
        let five = Duration::from_secs(300);
        // AWS's default delay is no longer than the default scale_down_delay: nothing to add.
        assert_eq!(
            line(Duration::from_secs(60), five, None),
            "5m after promotion, scale blue's Auto Scaling group to 0"
        );
        assert_eq!(
            line(Duration::from_secs(60), 3 * five, None),
            "5m after promotion and no sooner than 15m after the switch (the deregistration delay of blue's \
             target group: requests still running there finish), scale blue's Auto Scaling group to 0"
        );
        let week = line(7 * day, five, Some(day));
        assert!(
            week.contains("no sooner than 1day after the switch (the listener's group stickiness")
                && week.contains("warning: the group stickiness 7days is longer than the 1day")
                && !week.contains("outlives"),
            "{week}"
        );
        let hours = line(
            Duration::from_secs(2 * 3600),
            five,
            Some(Duration::from_secs(3600)),
        );
        assert!(
            hours.contains(
                "warning: the group stickiness outlives the 1h watch — blue is kept until then"
            ),
            "{hours}"
        );
    }

    /// A watch that keeps the old color at its minimum says what a rollback costs: the slow start of the
    /// instances it launches then, when the old group has one.
    #[test]
    fn a_kept_at_minimum_watch_names_the_slow_start() {
        let mut steps = Strategy::immediate()
            .compile()
            .expect("valid")
            .steps()
            .to_vec();
        steps.push(Step::Watch {
            duration: Duration::from_secs(3600),
            armed: Duration::from_secs(3600),
            keep: crate::WatchKeep::Min,
            baseline: crate::WatchBaseline::Before,
        });
        let mut plan = Plan::new("app", crate::Schedule::new(steps).expect("valid"));
        plan.capacity = Some(CapacityPolicy {
            drain: Some(crate::Drain {
                stickiness: None,
                old_group: Some(crate::GroupTimings {
                    deregistration_delay: Duration::from_secs(300),
                    slow_start: Some(Duration::from_secs(90)),
                }),
            }),
            ..CapacityPolicy::default()
        });
        let c = plan
            .changes(TrafficSplit::all_to(Color::Blue))
            .expect("at rest");
        let watch = c
            .changes
            .iter()
            .find(|c| matches!(c, PlannedChange::Watch { .. }))
            .expect("a watch")
            .to_string();
        assert!(
            watch.contains("blue kept at its group's minimum")
                && watch.ends_with(
                    "(the instances it launches then ramp up over its target group's slow start, 1m 30s)"
                ),
            "{watch}"
        );
    }

    #[test]
    fn a_split_not_at_rest_is_refused_as_a_run_would_refuse_it() {
        let plan = Plan::new("app", Strategy::immediate().compile().expect("valid"));
        let split = TrafficSplit::new(50, 50).expect("valid");
        assert_eq!(plan.changes(split), Err(ExecError::NotAtRest { split }));
    }
}
