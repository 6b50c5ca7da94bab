//! Releases from a release file (issue 25): one version through many targets in waves — the core's
//! [`bluegreen_core::release::Release`], each target a [`Deployer`] built from the release's base settings
//! with the target's own.
//!
//! ```toml
//! [release]
//! name = "web-1.4.2"              # every target's deployment id derives from it: web-1.4.2-w1-t1, ...
//! config = "bluegreen.toml"       # the base settings of every target (default: bluegreen.toml beside this file)
//! bake_between = "30m"            # after each wave but the last
//! on_failure = "halt"             # or "rollback-all"
//! per_region = 1                  # targets of one region at once (regions side by side)
//! alarms = ["fleet-5xx"]          # aggregate alarms (read where the first target is): ALARM halts
//! approve_between = true          # each later wave waits for `bluegreen release approve` after the bake
//!
//! [[wave]]
//! name = "one-box"
//! targets = [{ environment = "prod", application = "web", region = "us-east-1", deploy = { strategy = "canary", canary_percent = 1 } }]
//!
//! [[wave]]
//! name = "rest"
//! targets = [
//!   { environment = "prod", application = "web", region = "eu-west-1" },
//!   { environment = "prod", application = "web", region = "ap-northeast-1", profile = "tokyo" },
//! ]
//! ```
//!
//! A target's keys are settings keys merged over the base (`environment`, `application`, `deploy`, `gates`,
//! `aws`, `resources`, `hooks`, `state`, `sim`, ...), with `region`, `profile` and `role` as short forms of
//! `aws.region`, `aws.profile` and `aws.role_arn`, and `config` for a base file of its own.

use crate::settings::{STATE_DIR_NAME, Settings, SettingsError};
use crate::{Deployer, Error, ProviderKind, StateBackend};
use bluegreen_core::release::{OnFailure, Release, ReleaseTarget, Wave};
use bluegreen_core::{DeploymentId, StrategySettings};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The bake between waves unless the file says.
pub const DEFAULT_BAKE_BETWEEN: Duration = Duration::from_secs(30 * 60);

/// The largest release file read.
const MAX_RELEASE_BYTES: u64 = 1024 * 1024;

/// `[release]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSection {
    /// The release's name (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// The base settings file of every target, relative to the release file (default `bluegreen.toml`
    /// beside it, if there is one).
    pub config: Option<PathBuf>,
    /// The bake after each wave but the last, e.g. `1h` (default 30m).
    pub bake_between: Option<String>,
    /// What a failure does to the targets already done (default `halt`).
    pub on_failure: Option<OnFailure>,
    /// How many targets of one region a wave runs at once (default 1).
    pub per_region: Option<usize>,
    /// Aggregate alarms: any in `ALARM` halts the release.
    #[serde(default)]
    pub alarms: Vec<String>,
    /// Each wave after the first waits, after the bake, for `release approve` (or `release abort`).
    pub approve_between: Option<bool>,
}

/// `[[wave]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveSection {
    /// Its name.
    pub name: String,
    /// Its targets: settings tables merged over the base.
    pub targets: Vec<toml::Table>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    release: ReleaseSection,
    #[serde(default)]
    wave: Vec<WaveSection>,
}

/// One target as the file gives it: its name, region and settings.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// `{environment}/{application}@{region}`.
    pub name: String,
    /// Its region (`default` when the AWS chain decides).
    pub region: String,
    /// Its settings: the base with its own keys merged.
    pub settings: Settings,
}

/// A release file, read and checked: its section, and each wave's targets' settings.
#[derive(Debug, Clone)]
pub struct ReleaseFile {
    /// `[release]`.
    pub release: ReleaseSection,
    /// Each wave's name and targets.
    pub waves: Vec<(String, Vec<TargetSettings>)>,
    /// The bake between waves.
    pub bake_between: Duration,
}

impl ReleaseFile {
    /// Reads the release file at `path`; an error is one line naming the file (and the line, or the wave and
    /// target). Nothing is opened but files.
    pub fn load(path: &Path) -> Result<ReleaseFile, SettingsError> {
        let origin = path.display().to_string();
        let text = read(path, &origin)?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Self::parse(&text, &origin, &dir)
    }

    /// A release file's text; `dir` is where its relative paths start.
    pub fn parse(text: &str, origin: &str, dir: &Path) -> Result<ReleaseFile, SettingsError> {
        let shape: FileShape = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            SettingsError::new(match line {
                Some(l) => format!("{origin}:{l}: {}", e.message().trim()),
                None => format!("{origin}: {}", e.message().trim()),
            })
        })?;
        if shape.wave.is_empty() {
            return Err(SettingsError::new(format!(
                "{origin}: no [[wave]]: a release has at least one wave of targets"
            )));
        }
        let base_path = match &shape.release.config {
            Some(c) => Some(dir.join(c)),
            None => Some(dir.join("bluegreen.toml")).filter(|p| p.is_file()),
        };
        let base: toml::Table = match &base_path {
            Some(p) => toml::from_str(&read(p, &p.display().to_string())?).map_err(|e| {
                SettingsError::new(format!("{}: {}", p.display(), e.message().trim()))
            })?,
            None => toml::Table::new(),
        };
        let base_dir = base_path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| dir.to_path_buf());
        let mut waves = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (w, wave) in shape.wave.iter().enumerate() {
            if wave.targets.is_empty() {
                return Err(SettingsError::new(format!(
                    "{origin}: wave {} ({:?}) has no targets",
                    w + 1,
                    wave.name
                )));
            }
            let mut targets = Vec::new();
            for (i, own) in wave.targets.iter().enumerate() {
                let at = format!(
                    "{origin}: wave {} ({:?}) target {}",
                    w + 1,
                    wave.name,
                    i + 1
                );
                let t = target(&base, &base_dir, dir, own, &at)?;
                if names.contains(&t.name) {
                    return Err(SettingsError::new(format!(
                        "{at}: {} appears twice: a release deploys each target once",
                        t.name
                    )));
                }
                names.push(t.name.clone());
                targets.push(t);
            }
            waves.push((wave.name.clone(), targets));
        }
        let bake_between = match &shape.release.bake_between {
            Some(t) => crate::settings::duration("release.bake_between", t)
                .map_err(|e| SettingsError::new(format!("{origin}: {e}")))?,
            None => DEFAULT_BAKE_BETWEEN,
        };
        if shape.release.per_region == Some(0) {
            return Err(SettingsError::new(format!(
                "{origin}: release.per_region 0: at least one target of a region runs at a time"
            )));
        }
        let file = ReleaseFile {
            release: shape.release,
            waves,
            bake_between,
        };
        file.check_state(origin)?;
        Ok(file)
    }

    /// Two targets of one application key that would share one state directory would refuse each other
    /// (one lock per application and state): each needs its own state (a `state_dir`, or a DynamoDB table
    /// in its own region).
    fn check_state(&self, origin: &str) -> Result<(), SettingsError> {
        let all: Vec<&TargetSettings> = self.waves.iter().flat_map(|(_, t)| t).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                let key =
                    |t: &TargetSettings| t.settings.naming().map(|n| n.application_key()).ok();
                let file = |t: &TargetSettings| {
                    t.settings.state.backend.unwrap_or_default() == StateBackend::File
                };
                if key(a) == key(b)
                    && file(a)
                    && file(b)
                    && a.settings.state_dir() == b.settings.state_dir()
                {
                    return Err(SettingsError::new(format!(
                        "{origin}: {} and {} deploy {} from one state directory ({}): each would hold the other's lock; give each a state_dir, or a DynamoDB table in its own region",
                        a.name,
                        b.name,
                        key(a).unwrap_or_default(),
                        a.settings.state_dir().display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Builds every target's deployer and plan (settings to providers: names resolved, the simulated
    /// worlds opened) and checks each as `deploy` would before its start (`Deployer::preflight`): a release
    /// that cannot start every target changes nothing. `observer` is given each deployer.
    pub async fn build(
        &self,
        observer: Option<std::sync::Arc<dyn bluegreen_core::Observer>>,
    ) -> Result<BuiltRelease, Error> {
        self.wire(observer, true).await
    }

    /// Builds every target's deployer and plan without the pre-flight reads: for reading a release's
    /// state or sending it a request (`release status`, `approve`, `abort`, `rollback`), which must work
    /// whatever state the targets are in.
    pub async fn open(&self) -> Result<BuiltRelease, Error> {
        self.wire(None, false).await
    }

    async fn wire(
        &self,
        observer: Option<std::sync::Arc<dyn bluegreen_core::Observer>>,
        check: bool,
    ) -> Result<BuiltRelease, Error> {
        let mut waves = Vec::new();
        let mut deployers = Vec::new();
        for (name, targets) in &self.waves {
            let mut built = Vec::new();
            for t in targets {
                let mut builder = Deployer::builder(t.settings.clone());
                if let Some(o) = &observer {
                    builder = builder.observer(o.clone());
                }
                let deployer = builder.build().await.map_err(|e| named(&t.name, e))?;
                let mut plan = deployer
                    .plan(StrategySettings::default(), None)
                    .map_err(|e| named(&t.name, e.into()))?;
                if check {
                    deployer
                        .preflight(&mut plan)
                        .await
                        .map_err(|e| named(&t.name, e))?;
                }
                built.push(ReleaseTarget {
                    name: t.name.clone(),
                    region: t.region.clone(),
                    executor: deployer.executor(),
                    plan,
                });
                deployers.push(deployer);
            }
            waves.push(Wave {
                name: name.clone(),
                targets: built,
            });
        }
        let first = deployers.first().expect("a release has a target");
        let release = Release {
            name: self.release.name.clone(),
            waves,
            bake_between: self.bake_between,
            on_failure: self.release.on_failure.unwrap_or_default(),
            per_region: self.release.per_region.unwrap_or(1),
            alarms: self.release.alarms.clone(),
            alarm_source: Some(first.providers().health.clone()),
            alarm_poll: Duration::from_secs(60),
            approval: self.release.approve_between.unwrap_or(false).then(|| {
                std::sync::Arc::new(crate::StoreApproval::new(
                    first.store().clone(),
                    first.providers().clock.clone(),
                )) as std::sync::Arc<dyn bluegreen_core::Approval>
            }),
        };
        release
            .validate()
            .map_err(|e| Error::Settings(SettingsError::new(e)))?;
        Ok(BuiltRelease { release, deployers })
    }

    /// Each target's deployment id, wave by wave.
    pub fn deployment_ids(&self) -> Vec<Vec<(String, DeploymentId)>> {
        self.waves
            .iter()
            .enumerate()
            .map(|(w, (_, targets))| {
                targets
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        (
                            t.name.clone(),
                            Release::deployment_id_of(&self.release.name, w, i),
                        )
                    })
                    .collect()
            })
            .collect()
    }
}

/// A release ready to run: the core's release and each target's deployer (for status and control).
pub struct BuiltRelease {
    /// The release.
    pub release: Release,
    /// Each target's deployer, in the release's order (wave by wave).
    pub deployers: Vec<Deployer>,
}

impl BuiltRelease {
    /// The deployment id of the `i`-th target, counting across waves.
    fn target_id(&self, mut i: usize) -> DeploymentId {
        for (w, wave) in self.release.waves.iter().enumerate() {
            if i < wave.targets.len() {
                return self.release.deployment_id(w, i);
            }
            i -= wave.targets.len();
        }
        unreachable!("a target of the release")
    }

    /// The id its own control requests (`release abort`, `release approve`) are queued under, in the first
    /// target's state.
    pub fn control_id(&self) -> DeploymentId {
        self.release.control_id()
    }

    /// Runs the release (see [`Release::run`]) on the first target's clock, with `release abort` — an abort
    /// request queued under [`control_id`](Self::control_id) in the first target's state, from any machine
    /// sharing it — wired to `cancel`. A request it acted on is cleared at the end.
    pub async fn run(
        &self,
        cancel: bluegreen_core::CancelToken,
        observer: &(dyn Fn(&bluegreen_core::release::ReleaseEvent) + Send + Sync),
    ) -> bluegreen_core::release::ReleaseOutcome {
        let first = self.deployers.first().expect("a release has a target");
        let clock = first.providers().clock.clone();
        let id = self.control_id();
        let abort = tokio::spawn(bluegreen_store::watch_abort(
            first.store().clone(),
            id.clone(),
            cancel.clone(),
            clock.clone(),
            first.store().control_poll(),
        ));
        // `bluegreen abort` of one target, as for any deployment: each running target's own queue is
        // watched while it runs (not every target's all the time).
        let targets: Vec<(String, &Deployer, bluegreen_core::CancelToken)> = self
            .release
            .waves
            .iter()
            .flat_map(|w| w.targets.iter())
            .zip(&self.deployers)
            .map(|(t, d)| (t.name.clone(), d, t.executor.cancel_token()))
            .collect();
        let watchers = std::sync::Mutex::new(Vec::<(String, tokio::task::JoinHandle<()>)>::new());
        let supervised = |e: &bluegreen_core::release::ReleaseEvent| {
            use bluegreen_core::release::ReleaseEvent as E;
            let mut w = watchers.lock().unwrap_or_else(|e| e.into_inner());
            match e {
                E::TargetStarted {
                    target, deployment, ..
                } => {
                    if let Some((_, d, token)) = targets.iter().find(|(n, _, _)| n == target) {
                        w.push((
                            target.clone(),
                            tokio::spawn(bluegreen_store::watch_abort(
                                d.store().clone(),
                                deployment.clone(),
                                token.clone(),
                                d.providers().clock.clone(),
                                d.store().control_poll(),
                            )),
                        ));
                    }
                }
                E::TargetEnded { target, result } => {
                    for (_, h) in w.iter().filter(|(n, _)| n == target) {
                        h.abort();
                    }
                    w.retain(|(n, _)| n != target);
                    // A request left for a deployment that ended is acted on or moot (a watching one's is
                    // kept for the run that carries its watch on).
                    let ended = matches!(
                        result,
                        bluegreen_core::release::TargetResult::Deployed { outcome }
                            if !matches!(outcome, bluegreen_core::Outcome::Watching { .. })
                    );
                    if ended
                        && let Some(((_, d, _), i)) =
                            targets.iter().zip(0..).find(|((n, _, _), _)| n == target)
                    {
                        let store = d.store().clone();
                        let id = self.target_id(i);
                        tokio::spawn(async move { store.clear_control(&id).await });
                    }
                }
                _ => {}
            }
            drop(w);
            observer(e);
        };
        let outcome = self.release.run(clock, cancel, &supervised).await;
        abort.abort();
        for (_, h) in watchers.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            h.abort();
        }
        first.store().clear_control(&id).await;
        outcome
    }
}

fn named(target: &str, e: Error) -> Error {
    match e {
        Error::Settings(s) => Error::Settings(SettingsError::new(format!("{target}: {s}"))),
        Error::Refused(s) => Error::Refused(format!("{target}: {s}")),
        other => other,
    }
}

fn read(path: &Path, origin: &str) -> Result<String, SettingsError> {
    use std::io::Read;
    let cannot =
        |e: &dyn std::fmt::Display| SettingsError::new(format!("cannot read {origin}: {e}"));
    let file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
    let mut text = String::new();
    file.take(MAX_RELEASE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| cannot(&e))?;
    if text.len() as u64 > MAX_RELEASE_BYTES {
        return Err(cannot(&"larger than 1 MiB"));
    }
    Ok(text)
}

/// One target's settings: the base (or its own `config`), its keys merged over it.
fn target(
    base: &toml::Table,
    base_dir: &Path,
    dir: &Path,
    own: &toml::Table,
    at: &str,
) -> Result<TargetSettings, SettingsError> {
    let bad = |m: String| SettingsError::new(format!("{at}: {m}"));
    let mut own = own.clone();
    let (mut table, table_dir) = match own.remove("config") {
        Some(toml::Value::String(c)) => {
            let p = dir.join(c);
            let text = read(&p, &p.display().to_string())?;
            let t: toml::Table = toml::from_str(&text)
                .map_err(|e| bad(format!("{}: {}", p.display(), e.message().trim())))?;
            (
                t,
                p.parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| dir.to_path_buf()),
            )
        }
        Some(other) => return Err(bad(format!("config {other}: expected a file name"))),
        None => (base.clone(), base_dir.to_path_buf()),
    };
    for (short, key) in [
        ("region", "region"),
        ("profile", "profile"),
        ("role", "role_arn"),
    ] {
        if let Some(v) = own.remove(short) {
            let aws = table
                .entry("aws")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match aws {
                toml::Value::Table(t) => {
                    t.insert(key.into(), v);
                }
                _ => return Err(bad("aws is not a table".into())),
            }
        }
    }
    merge(&mut table, own);
    let text = toml::to_string(&table).map_err(|e| bad(e.to_string()))?;
    let mut settings = Settings::from_toml(&text).map_err(|e| bad(e.to_string()))?;
    let naming = settings.naming().map_err(|e| bad(e.to_string()))?;
    // Its plan (strategy, gates, watch) is checked now, naming the target, not when its wave comes.
    settings
        .plan(bluegreen_core::StrategySettings::default(), None)
        .map_err(|e| bad(e.to_string()))?;
    let region = settings
        .aws
        .region
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = format!("{}@{region}", naming.application_key());
    // A relative state directory is the base file's; a simulated target's world is its own.
    let state = settings
        .state_dir
        .take()
        .unwrap_or_else(|| PathBuf::from(STATE_DIR_NAME));
    let mut state = table_dir.join(state);
    if settings.provider == Some(ProviderKind::Sim) && !table.contains_key("state_dir") {
        state = state.join("release-targets").join(
            name.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>(),
        );
    }
    settings.state_dir = Some(state);
    Ok(TargetSettings {
        name,
        region,
        settings,
    })
}

/// `over`'s keys into `into`, tables merged key by key.
fn merge(into: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}
