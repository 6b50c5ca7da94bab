use crate::{Color, DeploymentId, ProviderError, Timestamp, TrafficSplit};
use async_trait::async_trait;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// Reads and writes the listener's weighted forward action (R1).
///
/// A router may drive several routes that move together (an HTTP and an HTTPS listener forwarding to the
/// same two target groups, see [`RouteSet`]): then [`read_routes`](Self::read_routes) says what each has,
/// and the executor verifies every one of them.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// The split as the load balancer has it now. A router of several routes returns it only when they all
    /// agree (else an [`ProviderError::Invalid`] naming each); the executor reads
    /// [`read_routes`](Self::read_routes).
    async fn read_split(&self) -> Result<TrafficSplit, ProviderError>;
    /// Sets the split on every route. A successful return does not promise that the next read sees it (reads
    /// may be stale); the executor reads back and verifies. A router of several routes may fail after
    /// writing some of them: the executor then rolls every route back.
    async fn write_split(&self, split: TrafficSplit) -> Result<(), ProviderError>;
    /// Every route's split, named. The default is one route, `listener`, read with
    /// [`read_split`](Self::read_split).
    async fn read_routes(&self) -> Result<Routing, ProviderError> {
        Ok(Routing::single("listener", self.read_split().await?))
    }
    /// How long the routes' group stickiness pins a client to the target group it was sent to (the
    /// longest, over the routes), or `None` when it is off: a weight change then reaches sticky clients
    /// only after that long, so the old color must keep serving them. The default is `None` (a router that
    /// cannot tell).
    async fn stickiness(&self) -> Result<Option<std::time::Duration>, ProviderError> {
        Ok(None)
    }
    /// The attributes of `color`'s target group that decide how long it keeps serving after its weight is 0
    /// ([`GroupTimings`]), or `None` from a router that cannot tell (the default).
    async fn group_timings(&self, color: Color) -> Result<Option<GroupTimings>, ProviderError> {
        let _ = color;
        Ok(None)
    }
    /// The mark a running deployment left on the routes ([`RouteMark`]), if any. The default is `None`: a
    /// router that cannot carry a mark (then only a shared state store shows a deployment to other
    /// machines).
    async fn read_mark(&self) -> Result<Option<RouteMark>, ProviderError> {
        Ok(None)
    }
    /// Marks every route as driven by `mark`'s deployment, replacing any mark. The default does nothing.
    async fn write_mark(&self, _mark: &RouteMark) -> Result<(), ProviderError> {
        Ok(())
    }
    /// Removes the mark from every route. The default does nothing.
    async fn clear_mark(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}

/// A target group's attributes that outlive a weight change (`DescribeTargetGroupAttributes`): how long a
/// deregistered target keeps its in-flight requests, and how long a target joining the group ramps up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct GroupTimings {
    /// `deregistration_delay.timeout_seconds` (AWS's default 300 s, 0–3,600 s).
    #[serde(with = "humantime_serde")]
    pub deregistration_delay: std::time::Duration,
    /// `slow_start.duration_seconds` when on (30–900 s): targets joining a group that already has a healthy
    /// target get a share that grows over it — the instances a kept-at-minimum color launches on a rollback.
    #[serde(with = "humantime_serde", default)]
    pub slow_start: Option<std::time::Duration>,
}

/// A running deployment's mark on the routes it drives: which deployment, from which host, and until when
/// its lease holds unless renewed. Written with a run's first change, renewed with its lease and removed at
/// its end, so that any machine and any directory can name the deployment driving a listener, even without
/// a shared state store; a deployment elsewhere refuses to start while the mark is live.
///
/// On a load balancer it is three tags ([`RouteMark::tags`]), readable in the console:
///
/// ```
/// use bluegreen_core::{DeploymentId, RouteMark, Timestamp};
/// let mark = RouteMark {
///     deployment: DeploymentId::new("poc-web-42").unwrap(),
///     host: "ci-7:4711".into(),
///     expires: Timestamp::from_millis(1_700_000_060_000),
/// };
/// let tags = mark.tags();
/// assert_eq!(tags[0], ("bluegreen:deployment", "poc-web-42".to_string()));
/// assert_eq!(tags[2].1, "2023-11-14T22:14:20.000Z");
/// assert_eq!(RouteMark::from_tags(tags.iter().map(|(k, v)| (*k, v.as_str()))), Some(mark));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteMark {
    /// The deployment driving the routes.
    pub deployment: DeploymentId,
    /// Where its run is (`host:pid`).
    pub host: String,
    /// When the mark lapses unless the run renews it (its lease's expiry).
    pub expires: Timestamp,
}

impl RouteMark {
    /// The tag keys of a mark: deployment, host, lease expiry.
    pub const TAG_KEYS: [&'static str; 3] = [
        "bluegreen:deployment",
        "bluegreen:host",
        "bluegreen:lease-until",
    ];

    /// Whether the mark still holds at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires
    }

    /// The mark as tags (key, value). A host is kept to the characters a load balancer's tag value allows
    /// (others become `_`) and to 128 characters.
    pub fn tags(&self) -> [(&'static str, String); 3] {
        let host: String = self
            .host
            .chars()
            .take(128)
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-:/=+@ ".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        [
            (Self::TAG_KEYS[0], self.deployment.to_string()),
            (Self::TAG_KEYS[1], host),
            (Self::TAG_KEYS[2], self.expires.to_string()),
        ]
    }

    /// The mark in `tags`, if they hold one (all three keys, each readable); other tags are ignored. A mark
    /// that cannot be read is `None`: it can stop nothing, and the run that wrote it replaces it.
    pub fn from_tags<'t>(tags: impl IntoIterator<Item = (&'t str, &'t str)>) -> Option<RouteMark> {
        let mut values: [Option<&str>; 3] = [None; 3];
        for (k, v) in tags {
            if let Some(i) = Self::TAG_KEYS.iter().position(|key| *key == k) {
                values[i] = Some(v);
            }
        }
        let [Some(deployment), Some(host), Some(expires)] = values else {
            return None;
        };
        let expires = humantime::parse_rfc3339(expires).ok()?;
        let expires = expires.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(RouteMark {
            deployment: DeploymentId::new(deployment).ok()?,
            host: host.to_string(),
            expires: Timestamp::from_millis(u64::try_from(expires.as_millis()).ok()?),
        })
    }
}

impl fmt::Display for RouteMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "deployment {} (run on {}, lease until {})",
            self.deployment, self.host, self.expires
        )
    }
}

/// One route's split: a listener's default action or a rule, named for people (e.g. `HTTPS:443`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteSplit {
    /// The route's name.
    pub route: String,
    /// Its split now.
    pub split: TrafficSplit,
}

/// What every route that moves together has now. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Routing(Vec<RouteSplit>);

impl Routing {
    /// The routes read, or `None` for none.
    pub fn new(routes: Vec<RouteSplit>) -> Option<Routing> {
        (!routes.is_empty()).then_some(Routing(routes))
    }

    /// One route.
    pub fn single(route: impl Into<String>, split: TrafficSplit) -> Routing {
        Routing(vec![RouteSplit {
            route: route.into(),
            split,
        }])
    }

    /// Each route, in the router's order.
    pub fn routes(&self) -> &[RouteSplit] {
        &self.0
    }

    /// The split, when every route has the same one.
    pub fn uniform(&self) -> Option<TrafficSplit> {
        let first = self.0[0].split;
        self.0.iter().all(|r| r.split == first).then_some(first)
    }

    /// Whether every route has `split`.
    pub fn is(&self, split: TrafficSplit) -> bool {
        self.0.iter().all(|r| r.split == split)
    }

    /// The smallest weight `color` has on any route.
    pub fn least(&self, color: Color) -> u32 {
        self.0
            .iter()
            .map(|r| r.split.weight(color))
            .min()
            .unwrap_or(0)
    }

    /// The largest weight `color` has on any route: above 0 when any route sends it traffic.
    pub fn most(&self, color: Color) -> u32 {
        self.0
            .iter()
            .map(|r| r.split.weight(color))
            .max()
            .unwrap_or(0)
    }

    /// The first route's split that is not `target` (what a verification reports), or `target`.
    pub fn first_differing(&self, target: TrafficSplit) -> TrafficSplit {
        self.0
            .iter()
            .map(|r| r.split)
            .find(|s| *s != target)
            .unwrap_or(target)
    }

    /// One split standing for all routes: the uniform one, or else the mean of the routes' weights, rounded
    /// so that a color with traffic on any route keeps a weight above 0 (and one with none keeps 0).
    pub fn overall(&self) -> TrafficSplit {
        if let Some(s) = self.uniform() {
            return s;
        }
        let n = self.0.len() as u32;
        let sum: u32 = self.0.iter().map(|r| r.split.weight(Color::Blue)).sum();
        let mut blue = (sum + n / 2) / n;
        if self.most(Color::Blue) > 0 {
            blue = blue.max(1);
        }
        if self.most(Color::Green) > 0 {
            blue = blue.min(99);
        }
        TrafficSplit::new(blue, 100 - blue).expect("a weight between 0 and 100")
    }
}

impl fmt::Display for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.uniform() {
            return write!(f, "{s}");
        }
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {}", r.route, r.split)?;
        }
        Ok(())
    }
}

/// Several routes that move together (listeners or rules forwarding to the same two target groups), as one
/// router: a write goes to each in order and stops at the first that fails (the executor then rolls every
/// route back); a read reads each.
pub struct RouteSet {
    routes: Vec<(String, Arc<dyn TrafficRouter>)>,
}

impl RouteSet {
    /// The routes, named, in the order they are written. `None` for none.
    pub fn new(routes: Vec<(String, Arc<dyn TrafficRouter>)>) -> Option<RouteSet> {
        (!routes.is_empty()).then_some(RouteSet { routes })
    }

    /// The routes' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.routes.iter().map(|(n, _)| n.as_str()).collect()
    }
}

#[async_trait]
impl TrafficRouter for RouteSet {
    async fn read_split(&self) -> Result<TrafficSplit, ProviderError> {
        let routing = self.read_routes().await?;
        routing.uniform().ok_or_else(|| ProviderError::Invalid {
            message: format!("the routes disagree: {routing}"),
        })
    }

    async fn write_split(&self, split: TrafficSplit) -> Result<(), ProviderError> {
        for (_, router) in &self.routes {
            router.write_split(split).await?;
        }
        Ok(())
    }

    /// The longest stickiness of any route.
    async fn stickiness(&self) -> Result<Option<std::time::Duration>, ProviderError> {
        let mut longest = None;
        for (_, router) in &self.routes {
            longest = longest.max(router.stickiness().await?);
        }
        Ok(longest)
    }

    /// The longest of each attribute over the routes (they forward to the same two groups).
    async fn group_timings(&self, color: Color) -> Result<Option<GroupTimings>, ProviderError> {
        let mut out: Option<GroupTimings> = None;
        for (_, router) in &self.routes {
            if let Some(t) = router.group_timings(color).await? {
                let o = out.get_or_insert(t);
                o.deregistration_delay = o.deregistration_delay.max(t.deregistration_delay);
                o.slow_start = o.slow_start.max(t.slow_start);
            }
        }
        Ok(out)
    }

    /// The first route's mark that is found (every route carries the same one).
    async fn read_mark(&self) -> Result<Option<RouteMark>, ProviderError> {
        for (_, router) in &self.routes {
            if let Some(mark) = router.read_mark().await? {
                return Ok(Some(mark));
            }
        }
        Ok(None)
    }

    async fn write_mark(&self, mark: &RouteMark) -> Result<(), ProviderError> {
        for (_, router) in &self.routes {
            router.write_mark(mark).await?;
        }
        Ok(())
    }

    async fn clear_mark(&self) -> Result<(), ProviderError> {
        for (_, router) in &self.routes {
            router.clear_mark().await?;
        }
        Ok(())
    }

    async fn read_routes(&self) -> Result<Routing, ProviderError> {
        let mut all = Vec::with_capacity(self.routes.len());
        for (name, router) in &self.routes {
            let read = router.read_routes().await?;
            if read.0.len() == 1 {
                all.push(RouteSplit {
                    route: name.clone(),
                    split: read.0[0].split,
                });
            } else {
                all.extend(read.0);
            }
        }
        Ok(Routing(all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(blue: u32) -> TrafficSplit {
        TrafficSplit::new(blue, 100 - blue).unwrap()
    }

    fn routing(blues: &[u32]) -> Routing {
        Routing::new(
            blues
                .iter()
                .enumerate()
                .map(|(i, b)| RouteSplit {
                    route: format!("r{i}"),
                    split: split(*b),
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn a_routing_is_one_split_only_when_every_route_agrees() {
        assert_eq!(routing(&[90, 90]).uniform(), Some(split(90)));
        assert!(routing(&[90, 90]).is(split(90)));
        let diverged = routing(&[100, 90]);
        assert_eq!(diverged.uniform(), None);
        assert!(!diverged.is(split(100)) && !diverged.is(split(90)));
        assert_eq!(diverged.first_differing(split(100)), split(90));
        assert_eq!(diverged.first_differing(split(90)), split(100));
        assert_eq!(diverged.least(Color::Green), 0);
        assert_eq!(diverged.most(Color::Green), 10);
        assert_eq!(
            diverged.to_string(),
            "r0 blue 100% / green 0%, r1 blue 90% / green 10%"
        );
        assert!(Routing::new(vec![]).is_none());
    }

    #[test]
    fn the_overall_split_keeps_every_color_that_has_traffic_anywhere() {
        assert_eq!(routing(&[100, 100, 99]).overall(), split(99));
        assert_eq!(routing(&[0, 0, 1]).overall(), split(1));
        assert_eq!(routing(&[100, 0]).overall(), split(50));
        assert_eq!(routing(&[75, 75]).overall(), split(75));
        for blues in [[100, 0, 37], [3, 0, 0], [100, 100, 97]] {
            let r = routing(&blues);
            for c in Color::ALL {
                assert_eq!(r.overall().weight(c) > 0, r.most(c) > 0, "{r}");
            }
        }
    }
}
