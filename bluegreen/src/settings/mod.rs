//! [`Settings`]: every setting of a deployment, as `bluegreen.toml` writes them (the same serde types: the
//! command reads its file with them, an embedding program may build them in code). Unknown keys are errors;
//! every value that does not parse is named with its key.

use bluegreen_aws::{ActionSpec, AwsSettings, ListenerSpec, Naming, TargetSpec};
use bluegreen_core::{
    CancelPolicy, CapacityPolicy, PerColor, Plan, StrategySettings, parse_duration,
};
#[cfg(feature = "sim")]
use bluegreen_testkit::Scenario;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A setting that is missing, malformed or out of range: one line naming the key (or flag) and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SettingsError {
    message: String,
}

impl SettingsError {
    /// An error with this message (it names the setting and the bad value).
    pub fn new(message: impl std::fmt::Display) -> Self {
        SettingsError {
            message: message.to_string(),
        }
    }
}

/// Which world a deployment acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// AWS (or an emulator at `--endpoint-url`).
    #[default]
    Aws,
    /// The simulated ALB, ASGs and traffic kept in the state directory.
    Sim,
}

/// What a deployment covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum DeployType {
    /// Bring the new color to capacity first, scale the old color down after.
    #[default]
    Full,
    /// Only move traffic.
    TrafficOnly,
}

/// Every setting of one application's deployments: `bluegreen.toml`, as written. Build one with
/// [`Settings::load`] (a file), [`Settings::from_toml`] (text) or in code (every field is public and optional;
/// `Settings::default()` is all defaults).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `{environment}` in resource names (e.g. `poc`).
    pub environment: Option<String>,
    /// `{application}` in resource names (e.g. `poc-web`).
    pub application: Option<String>,
    /// `aws` (default) or `sim`, the simulated world kept in the state directory.
    pub provider: Option<ProviderKind>,
    /// Where records, locks and control requests live (default `.bluegreen/` beside this file). A relative
    /// path is relative to the file ([`Settings::load`] resolves it).
    pub state_dir: Option<PathBuf>,
    /// `[aws]`: how to reach AWS.
    #[serde(default)]
    pub aws: AwsSection,
    /// `[resources]`: names that differ from the convention.
    #[serde(default)]
    pub resources: ResourcesSection,
    /// `[deploy]`: the strategy and what a deployment does around it.
    #[serde(default)]
    pub deploy: DeploySection,
    /// `[gates]`: what a bake judges and when it rolls back.
    #[serde(default)]
    pub gates: GatesSection,
    /// `[hooks]`: commands run at points of a deployment, and a webhook for its events.
    #[serde(default)]
    pub hooks: HooksSection,
    /// `[notify]`: Slack, Teams and webhook channels told of a deployment's transitions.
    #[serde(default)]
    pub notify: NotifySection,
    /// `[state]`: where records, locks and control requests live.
    #[serde(default)]
    pub state: StateSection,
    /// `[sim]`: the simulated world of `provider = "sim"`.
    #[serde(default)]
    pub sim: SimSection,
}

/// `[aws]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSection {
    /// The region (default: the AWS chain's).
    pub region: Option<String>,
    /// A named profile of the shared AWS configuration.
    pub profile: Option<String>,
    /// A role to assume (`sts:AssumeRole`) with the chain's (or the profile's) credentials: a deployment
    /// into another account.
    pub role_arn: Option<String>,
    /// One endpoint for every service (a local emulator).
    pub endpoint_url: Option<String>,
    /// Fetch p99 response times and judge the p99 latency gate (off: one series fewer per poll).
    pub p99: Option<bool>,
}

/// A name per color.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColorNames {
    /// The blue color's name or ARN.
    pub blue: String,
    /// The green color's name or ARN.
    pub green: String,
}

/// `[resources]`: names that differ from the `{env}-{app}-...` convention.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSection {
    /// The load balancer's name, if not `{env}-{app}-alb`.
    pub load_balancer: Option<String>,
    /// The listener's port (default: every listener whose action forwards to both target groups).
    pub listener_port: Option<u16>,
    /// Several listeners' ports, moved together (e.g. `[80, 443]`).
    pub listener_ports: Option<Vec<u16>>,
    /// The listener by ARN, instead of by port.
    pub listener_arn: Option<String>,
    /// Shift the forward action of the listener rule with this priority instead of the default action.
    pub rule_priority: Option<u32>,
    /// Shift the forward action of this rule instead of the default action.
    pub rule_arn: Option<String>,
    /// The target groups, if not `{env}-{app}-{color}-tg`.
    pub target_groups: Option<ColorNames>,
    /// The Auto Scaling groups, if not `{env}-{app}-{color}-asg`.
    pub auto_scaling_groups: Option<ColorNames>,
}

/// `[deploy]`: the strategy's keys, which are the core's ([`StrategySettings::SETTINGS`]: `strategy`, `steps`,
/// `bake`, `canary_percent`, `linear_step`, `approval_timeout`, `on_timeout`), and what a deployment does around
/// the strategy. An unknown key is an error naming its line.
#[derive(Debug, Default, Clone)]
pub struct DeploySection {
    /// The strategy keys, read by the core ([`StrategySettings::set_value`]).
    pub strategy: StrategySettings,
    /// What a cancellation (Ctrl-C, SIGTERM, `abort`) does: `rollback` or `leave` the split.
    pub on_cancel: Option<CancelPolicy>,
    /// `full` (capacity up first, old color down after) or `traffic-only`; the key is `type`.
    pub kind: Option<DeployType>,
    /// How long the new color may take to have healthy targets at capacity.
    pub ready_timeout: Option<String>,
    /// How long after promotion the old color keeps running (and after a rollback, the new one).
    pub scale_down_delay: Option<String>,
    /// A new golden image (AMI id) for the new color: a new launch template version is made with it.
    pub ami: Option<String>,
    /// Keep the new color at capacity after a rollback, to debug it.
    pub keep_failed: Option<bool>,
}

/// `[deploy]`'s own keys, beside the strategy's.
const DEPLOY_KEYS: &[&str] = &[
    "on_cancel",
    "type",
    "ready_timeout",
    "scale_down_delay",
    "ami",
    "keep_failed",
];

/// A key of a table whose keys are known (`[deploy]`, `[gates]`), refused as it is read so that the error
/// names the key's line, with the keys there are.
#[derive(Clone)]
pub(crate) struct KnownKey {
    /// The table, for the error (`[deploy]`).
    pub table: &'static str,
    /// Its keys.
    pub keys: Vec<&'static str>,
}

impl<'de> serde::de::DeserializeSeed<'de> for KnownKey {
    type Value = String;
    fn deserialize<K: serde::Deserializer<'de>>(self, k: K) -> Result<String, K::Error> {
        k.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KnownKey {
    type Value = String;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a key of {}", self.table)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        if self.keys.contains(&v) {
            return Ok(v.to_string());
        }
        let expected: Vec<String> = self.keys.iter().map(|k| format!("`{k}`")).collect();
        Err(E::custom(format!(
            "unknown field `{v}`, expected one of {}",
            expected.join(", ")
        )))
    }
}

impl<'de> Deserialize<'de> for DeploySection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{DeserializeSeed, MapAccess, Visitor};
        use std::fmt;

        struct Section;
        impl<'de> Visitor<'de> for Section {
            type Value = DeploySection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the [deploy] table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<DeploySection, A::Error> {
                let mut out = DeploySection::default();
                let strategy = StrategySettings::SETTINGS.iter().map(|s| s.key);
                let keys = KnownKey {
                    table: "[deploy]",
                    keys: strategy.chain(DEPLOY_KEYS.iter().copied()).collect(),
                };
                while let Some(key) = m.next_key_seed(keys.clone())? {
                    match key.as_str() {
                        "on_cancel" => out.on_cancel = Some(m.next_value()?),
                        "type" => out.kind = Some(m.next_value()?),
                        "ready_timeout" => out.ready_timeout = Some(m.next_value()?),
                        "scale_down_delay" => out.scale_down_delay = Some(m.next_value()?),
                        "ami" => out.ami = Some(m.next_value()?),
                        "keep_failed" => out.keep_failed = Some(m.next_value()?),
                        strategy => m.next_value_seed(StrategyValue {
                            settings: &mut out.strategy,
                            key: strategy,
                        })?,
                    }
                }
                Ok(out)
            }
        }

        /// A strategy key's value, read by the core.
        struct StrategyValue<'a> {
            settings: &'a mut StrategySettings,
            key: &'a str,
        }
        impl<'de> DeserializeSeed<'de> for StrategyValue<'_> {
            type Value = ();
            fn deserialize<V: serde::Deserializer<'de>>(self, v: V) -> Result<(), V::Error> {
                let named = format!("deploy.{}", self.key);
                self.settings.set_value(self.key, v, &named)
            }
        }

        d.deserialize_map(Section)
    }
}

/// `[hooks]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksSection {
    /// Commands run before any traffic moves (smoke tests); a failure rolls back.
    pub pre_traffic: Option<Vec<String>>,
    /// Commands run after each weight change.
    pub after_step: Option<Vec<String>>,
    /// Commands run after the last step, before promotion.
    pub after_switch: Option<Vec<String>>,
    /// How long one hook may run.
    pub timeout: Option<String>,
    /// An http(s) URL that receives every event as JSON.
    pub webhook: Option<String>,
}

/// `[notify]`: each channel's URL is a secret reference (`env:NAME` or `file:PATH`, never the URL itself);
/// `events` are the classes every channel gets unless its own `{channel}_events` says otherwise.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// A Slack incoming webhook.
    pub slack: Option<String>,
    /// A Microsoft Teams workflow webhook.
    pub teams: Option<String>,
    /// Any URL that takes each event as JSON.
    pub webhook: Option<String>,
    /// An SNS topic's ARN (not a secret; the role needs `sns:Publish` on it, which `iam-policy` prints).
    pub sns: Option<String>,
    /// The classes every channel gets (default: started, waiting-for-approval, rolled-back, promoted,
    /// stopped, breach).
    pub events: Option<Vec<String>>,
    /// Slack's own classes.
    pub slack_events: Option<Vec<String>>,
    /// Teams' own classes.
    pub teams_events: Option<Vec<String>>,
    /// The webhook's own classes.
    pub webhook_events: Option<Vec<String>>,
    /// The SNS topic's own classes.
    pub sns_events: Option<Vec<String>>,
    /// A link to the deployment's report in messages; `{id}` is replaced by the deployment's id.
    pub report_url: Option<String>,
}

impl NotifySection {
    /// The channels configured, their secrets read through `env` (and from files), checked: an unknown
    /// class, a missing variable, a file others can read or a URL that is not http(s) is an error naming
    /// the key, before anything runs. The URL never appears in an error.
    pub fn channels(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<crate::notify::Channel>, SettingsError> {
        use crate::notify::{Channel, ChannelKind, EventClass, Secret};
        let classes = |key: &str,
                       list: &Option<Vec<String>>|
         -> Result<Option<Vec<EventClass>>, SettingsError> {
            list.as_ref()
                .map(|l| {
                    l.iter()
                        .map(|c| c.parse::<EventClass>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| SettingsError::new(format!("notify.{key}: {e}")))
                })
                .transpose()
        };
        let default =
            classes("events", &self.events)?.unwrap_or_else(|| EventClass::DEFAULT.to_vec());
        let mut out = Vec::new();
        for kind in ChannelKind::all() {
            let (url, own) = match kind {
                ChannelKind::Slack => (&self.slack, &self.slack_events),
                ChannelKind::Teams => (&self.teams, &self.teams_events),
                ChannelKind::Webhook => (&self.webhook, &self.webhook_events),
                ChannelKind::Sns => (&self.sns, &self.sns_events),
            };
            let events_key = format!("{}_events", kind.name());
            let own = classes(&events_key, own)?;
            let Some(reference) = url else {
                if own.is_some() {
                    return Err(SettingsError::new(format!(
                        "notify.{events_key} is set but notify.{} is not",
                        kind.name()
                    )));
                }
                continue;
            };
            let what = format!("notify.{}", kind.name());
            let url = if *kind == ChannelKind::Sns {
                // A topic's ARN is a name, not a secret.
                crate::notify::check_topic(&what, reference)
                    .map_err(|e| SettingsError::new(e.to_string()))?;
                Secret::plain(reference.clone())
            } else {
                let url = Secret::resolve(&what, reference, &env)
                    .map_err(|e| SettingsError::new(e.to_string()))?;
                crate::notify::check_url(&what, &url)
                    .map_err(|e| SettingsError::new(e.to_string()))?;
                url
            };
            out.push(Channel {
                kind: *kind,
                url,
                events: Some(own.unwrap_or_else(|| default.clone())),
            });
        }
        Ok(out)
    }
}

/// Where records, locks and control requests live.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum StateBackend {
    /// The state directory: one machine.
    #[default]
    File,
    /// A DynamoDB table shared by every machine that deploys the application.
    Dynamodb,
}

/// `[state]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSection {
    /// `file` (default) or `dynamodb`.
    pub backend: Option<StateBackend>,
    /// The DynamoDB table of the shared backend.
    pub table: Option<String>,
    /// A prefix of every key in that table (several teams or environments in one table).
    pub prefix: Option<String>,
    /// How long a deployment's lock holds without renewal (default 1m): how soon after its process dies
    /// another machine may take it over. Renewed every third of it.
    pub lease: Option<String>,
}

impl StateSection {
    /// The lease of the deployment lock, 3 s to 1 h.
    pub fn lease(&self) -> Result<Duration, SettingsError> {
        let Some(text) = &self.lease else {
            return Ok(bluegreen_core::DEFAULT_LEASE_TTL);
        };
        let d = duration("state.lease", text)?;
        if !(Duration::from_secs(3)..=Duration::from_secs(3600)).contains(&d) {
            return Err(SettingsError::new(format!(
                "state.lease {text:?}: must be between 3s and 1h"
            )));
        }
        Ok(d)
    }
}

/// `[sim]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSection {
    /// How green behaves: `healthy`, `green-5xx`, `green-slow`, `green-unhealthy`, `green-slower`, `no-traffic`.
    pub scenario: Option<String>,
    /// Simulated seconds per real second, for a new world.
    pub time_scale: Option<f64>,
    /// The seed of the simulated traffic.
    pub seed: Option<u64>,
    /// Real time every simulated AWS call takes (a slow AWS), e.g. `"300ms"`; default none, at most 10 s.
    pub latency: Option<String>,
}

/// The largest settings file read: a `bluegreen.toml` is a few kilobytes; `/dev/zero` must not be read forever.
pub const MAX_SETTINGS_BYTES: u64 = 1024 * 1024;

/// The name of the settings file [`Settings::discover`] looks for.
pub const SETTINGS_FILE: &str = "bluegreen.toml";

/// The state directory's name when none is set: beside the settings file, or where a command runs.
pub const STATE_DIR_NAME: &str = ".bluegreen";

/// Where [`Settings::discover`] found the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Discovered {
    /// The nearest `bluegreen.toml`, in the directory or one above it.
    File(PathBuf),
    /// No settings file, but a state directory (`.bluegreen`) in the directory or one above it.
    StateDir(PathBuf),
    /// Neither: the defaults, with the state directory in the directory itself.
    Nothing,
}

fn read_bounded(path: &Path) -> Result<String, SettingsError> {
    use std::io::Read;
    let cannot = |e: &dyn std::fmt::Display| {
        SettingsError::new(format!("cannot read {}: {e}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
    let meta = file.metadata().map_err(|e| cannot(&e))?;
    if !meta.is_file() {
        return Err(cannot(&"not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_SETTINGS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| cannot(&e))?;
    if text.len() as u64 > MAX_SETTINGS_BYTES {
        return Err(cannot(&format_args!(
            "larger than {} KiB: not a settings file",
            MAX_SETTINGS_BYTES / 1024
        )));
    }
    Ok(text)
}

impl Settings {
    /// The settings for a command run in `dir`, found the way git and cargo find theirs: the nearest
    /// `bluegreen.toml` in `dir` or a directory above it, loaded with [`Settings::load`]; without one, the
    /// nearest `.bluegreen` state directory above (so `status` from a subdirectory sees the deployment a
    /// parent directory runs); without either, the defaults (state in `dir/.bluegreen`). Says which it took.
    ///
    /// ```
    /// use bluegreen::settings::{Discovered, Settings};
    /// let root = std::env::temp_dir().join(format!("bluegreen-doc-discover-{}", std::process::id()));
    /// std::fs::create_dir_all(root.join("a/b")).unwrap();
    /// std::fs::write(root.join("bluegreen.toml"), "environment = \"poc\"\n").unwrap();
    /// let (settings, found) = Settings::discover(&root.join("a/b")).unwrap();
    /// assert_eq!(found, Discovered::File(root.join("bluegreen.toml")));
    /// assert_eq!(settings.state_dir(), root.join(".bluegreen"));
    /// # std::fs::remove_dir_all(&root).unwrap();
    /// ```
    pub fn discover(dir: &Path) -> Result<(Self, Discovered), SettingsError> {
        for d in dir.ancestors() {
            let file = d.join(SETTINGS_FILE);
            if file.is_file() {
                return Ok((Self::load(&file)?, Discovered::File(file)));
            }
            let state = d.join(STATE_DIR_NAME);
            if state.is_dir() {
                let settings = Settings {
                    state_dir: Some(state.clone()),
                    ..Settings::default()
                };
                return Ok((settings, Discovered::StateDir(state)));
            }
        }
        let settings = Settings {
            state_dir: Some(dir.join(STATE_DIR_NAME)),
            ..Settings::default()
        };
        Ok((settings, Discovered::Nothing))
    }

    /// Settings from TOML text (relative paths stay relative to the working directory).
    pub fn from_toml(text: &str) -> Result<Self, SettingsError> {
        parse(text, "settings")
    }

    /// Reads the file at `path`; an error is one line naming the file and the line. A relative `state_dir`
    /// becomes relative to the file's directory, and without one the state directory is `.bluegreen/`
    /// beside the file.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = read_bounded(path)?;
        let mut settings = parse(&text, &path.display().to_string())?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        settings.state_dir = Some(
            base.join(
                settings
                    .state_dir
                    .take()
                    .unwrap_or_else(|| PathBuf::from(STATE_DIR_NAME)),
            ),
        );
        Ok(settings)
    }

    /// The naming convention; `environment` and `application` are required.
    pub fn naming(&self) -> Result<Naming, SettingsError> {
        match (&self.environment, &self.application) {
            (Some(e), Some(a)) => Naming::new(e, a).map_err(SettingsError::new),
            (None, _) => Err(SettingsError::new(
                "no environment: pass --environment, set BLUEGREEN_ENVIRONMENT, or set `environment` in bluegreen.toml",
            )),
            (_, None) => Err(SettingsError::new(
                "no application: pass --application, set BLUEGREEN_APPLICATION, or set `application` in bluegreen.toml",
            )),
        }
    }

    /// `aws` (the default) or `sim`.
    pub fn provider(&self) -> ProviderKind {
        self.provider.unwrap_or_default()
    }

    /// The state directory: `state_dir`, else `./.bluegreen`.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| Path::new(".").join(STATE_DIR_NAME))
    }

    /// The shared backend's table and prefix, when `[state] backend = "dynamodb"`.
    pub fn shared_state(&self) -> Result<Option<(String, String)>, SettingsError> {
        let st = &self.state;
        match st.backend.unwrap_or_default() {
            StateBackend::File => Ok(None),
            StateBackend::Dynamodb => {
                let table = st.table.clone().ok_or_else(|| {
                    SettingsError::new(
                        "the dynamodb state backend needs a table: --state-table, BLUEGREEN_STATE_TABLE or [state] table",
                    )
                })?;
                Ok(Some((table, st.prefix.clone().unwrap_or_default())))
            }
        }
    }

    /// Whether the health source fetches the p99 statistic: only on AWS, and only with `[aws] p99 = true`
    /// (the simulated CloudWatch, like AWS, has no p99 unless asked).
    pub fn fetches_p99(&self) -> bool {
        self.provider() == ProviderKind::Aws && self.aws.p99.unwrap_or(false)
    }

    /// How to reach AWS (`[aws]`).
    pub fn aws_settings(&self) -> AwsSettings {
        let a = &self.aws;
        AwsSettings {
            region: a.region.clone(),
            profile: a.profile.clone(),
            role_arn: a.role_arn.clone(),
            endpoint_url: a.endpoint_url.clone(),
            max_attempts: None,
            p99: a.p99.unwrap_or(false),
        }
    }

    /// What to manage: the naming convention with `[resources]` overrides, checked.
    pub fn target_spec(&self) -> Result<TargetSpec, SettingsError> {
        let r = &self.resources;
        let mut spec = TargetSpec::by_convention(self.naming()?);
        spec.load_balancer = r.load_balancer.clone();
        spec.target_groups = r.target_groups.as_ref().map(|t| PerColor {
            blue: t.blue.clone(),
            green: t.green.clone(),
        });
        spec.auto_scaling_groups = r.auto_scaling_groups.as_ref().map(|t| PerColor {
            blue: t.blue.clone(),
            green: t.green.clone(),
        });
        spec.listener = match (&r.listener_arn, r.listener_port, &r.listener_ports) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(SettingsError::new(
                    "[resources] listener_ports: give it alone, not with listener_port or listener_arn",
                ));
            }
            (_, _, Some(ports)) if ports.is_empty() => {
                return Err(SettingsError::new(
                    "[resources] listener_ports = []: name at least one port",
                ));
            }
            (Some(arn), _, _) => ListenerSpec::Arn(arn.clone()),
            (None, Some(port), None) => ListenerSpec::Port(port),
            (None, None, Some(ports)) => ListenerSpec::Ports(ports.clone()),
            (None, None, None) => ListenerSpec::Forwarding,
        };
        spec.action = match (&r.rule_arn, r.rule_priority) {
            (Some(arn), _) => ActionSpec::RuleArn(arn.clone()),
            (None, Some(p)) => ActionSpec::RulePriority(p),
            (None, None) => ActionSpec::Default,
        };
        Ok(spec)
    }

    /// The simulated world's scenario: `[sim] scenario`, else `healthy`.
    #[cfg(feature = "sim")]
    pub fn scenario(&self) -> Result<Scenario, SettingsError> {
        self.sim
            .scenario
            .as_deref()
            .unwrap_or("healthy")
            .parse()
            .map_err(SettingsError::new)
    }

    /// The real time every simulated AWS call takes (`[sim] latency`, default none), at most 10 s.
    pub fn sim_latency(&self) -> Result<Duration, SettingsError> {
        let Some(text) = &self.sim.latency else {
            return Ok(Duration::ZERO);
        };
        let d = if text.trim() == "0" {
            Duration::ZERO
        } else {
            duration("sim.latency", text)?
        };
        if d > Duration::from_secs(10) {
            return Err(SettingsError::new(format!(
                "sim.latency {text:?}: at most 10s"
            )));
        }
        Ok(d)
    }

    /// The simulated world's time scale for a new world (`[sim] time_scale`, default 60), 0.01 to 100000:
    /// outside that range the simulated clock either stands still (a deployment would take years) or
    /// overflows within a run.
    pub fn time_scale(&self) -> Result<f64, SettingsError> {
        let scale = self.sim.time_scale.unwrap_or(60.0);
        if scale.is_finite() && (0.01..=100_000.0).contains(&scale) {
            return Ok(scale);
        }
        let shown = if scale != 0.0 && !(1e-3..1e6).contains(&scale.abs()) {
            format!("{scale:e}")
        } else {
            format!("{scale}")
        };
        Err(SettingsError::new(format!(
            "time scale {shown}: must be between 0.01 and 100000 simulated seconds per second"
        )))
    }

    /// The plan of a deployment: `[deploy]`'s strategy overlaid by `overlay` (e.g. a command's flags; the
    /// core applies the defaults), `[gates]`, the cancel policy, and for a `full` deployment (the default;
    /// `kind` overrides `[deploy] type`) the capacity policy with `[deploy] ami`. Validated: nothing has been
    /// called.
    pub fn plan(
        &self,
        overlay: StrategySettings,
        kind: Option<DeployType>,
    ) -> Result<Plan, SettingsError> {
        let f = &self.deploy;
        let schedule = f
            .strategy_settings()?
            .overlaid(overlay)
            .schedule()
            .map_err(SettingsError::new)?;
        let mut plan = Plan::new(self.naming()?.application_key(), schedule);
        plan.gates = self.gates.policy(self.fetches_p99())?;
        if !self.gates.judges(&plan.schedule) {
            plan.gates.sequential = None;
        }
        plan.on_cancel = f.on_cancel.unwrap_or_default();
        if kind.or(f.kind).unwrap_or_default() == DeployType::Full {
            let mut c = CapacityPolicy::default();
            if let Some(t) = &f.ready_timeout {
                c.ready_timeout = duration("deploy.ready_timeout", t)?;
            }
            if let Some(t) = &f.scale_down_delay {
                c.scale_down_delay = duration("deploy.scale_down_delay", t)?;
            }
            c.keep_failed = f.keep_failed.unwrap_or(false);
            c.image = f.ami.clone();
            plan.capacity = Some(c);
        } else if let Some(image) = &f.ami {
            return Err(SettingsError::new(format!(
                "deploy.ami {image:?} needs a full deployment (the new color is brought up from the image), not traffic-only"
            )));
        }
        plan.validate().map_err(SettingsError::new)?;
        Ok(plan)
    }

    /// The shell hooks of `[hooks]`, or `None` when there are none.
    pub fn hooks(&self) -> Result<Option<crate::ShellHooks>, SettingsError> {
        let h = &self.hooks;
        let none = |v: &Option<Vec<String>>| v.as_ref().is_none_or(Vec::is_empty);
        if none(&h.pre_traffic) && none(&h.after_step) && none(&h.after_switch) {
            return Ok(None);
        }
        let naming = self.naming()?;
        let timeout = match &h.timeout {
            Some(t) => duration("hooks.timeout", t)?,
            None => Duration::from_secs(300),
        };
        let (environment, application) = naming
            .application_key()
            .split_once('/')
            .map(|(e, a)| (e.to_string(), a.to_string()))
            .unwrap_or_default();
        Ok(Some(crate::ShellHooks {
            pre_traffic: h.pre_traffic.clone().unwrap_or_default(),
            after_step: h.after_step.clone().unwrap_or_default(),
            after_switch: h.after_switch.clone().unwrap_or_default(),
            timeout,
            environment,
            application,
        }))
    }
}

/// `text` (TOML) as settings; an error is one line naming `origin` (a file name) and the line.
fn parse(text: &str, origin: &str) -> Result<Settings, SettingsError> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        SettingsError::new(match line {
            Some(l) => format!("{origin}:{l}: {}", e.message().trim()),
            None => format!("{origin}: {}", e.message().trim()),
        })
    })
}

/// `text` as a duration (`90s`, `3m`, `1h30m`), or bad input naming `what`.
pub fn duration(what: &str, text: &str) -> Result<Duration, SettingsError> {
    parse_duration(what, text).map_err(SettingsError::new)
}

impl DeploySection {
    /// The strategy keys of `[deploy]` as settings (checked when the file was read).
    pub fn strategy_settings(&self) -> Result<StrategySettings, SettingsError> {
        Ok(self.strategy.clone())
    }
}

/// A commented starting point, written by `bluegreen init`.
pub const TEMPLATE: &str = include_str!("template.toml");

mod gates;
pub use gates::GatesSection;

#[cfg(test)]
mod tests {
    use super::*;
    use bluegreen_core::gate::{Check, ElbErrorRate, NoDataPolicy};
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn the_simulated_latency_is_bounded_and_named_when_bad() {
        let with = |v: &str| Settings::from_toml(&format!("[sim]\nlatency = {v:?}\n")).unwrap();
        assert_eq!(Settings::default().sim_latency().unwrap(), Duration::ZERO);
        assert_eq!(
            with("300ms").sim_latency().unwrap(),
            Duration::from_millis(300)
        );
        assert_eq!(with("0").sim_latency().unwrap(), Duration::ZERO);
        let too_long = with("20s").sim_latency().unwrap_err().to_string();
        assert!(
            too_long.contains("sim.latency \"20s\": at most 10s"),
            "{too_long}"
        );
        let bad = with("soon").sim_latency().unwrap_err().to_string();
        assert!(bad.contains("sim.latency"), "{bad}");
    }

    /// Keys per section (`top` for keys before any section) in `init`'s template, commented or not.
    fn template_keys() -> BTreeMap<String, BTreeSet<String>> {
        let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut section = "top".to_string();
        for line in TEMPLATE.lines() {
            let line = line.trim_start_matches('#').trim();
            if let Some(rest) = line.strip_prefix('[') {
                section = format!("[{}]", rest.split(']').next().unwrap_or_default());
                continue;
            }
            let Some((key, _)) = line.split_once(" = ") else {
                continue;
            };
            if key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                keys.entry(section.clone()).or_default().insert(key.into());
            }
        }
        keys
    }

    /// Keys per section in docs/cli.md's configuration table.
    fn documented_keys() -> BTreeMap<String, BTreeSet<String>> {
        let doc = include_str!("../../../docs/cli.md");
        let mut keys = BTreeMap::new();
        for row in doc
            .lines()
            .filter(|l| l.starts_with("| `[") || l.starts_with("| top |"))
        {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let section = cells[1].trim_matches('`').to_string();
            let set: BTreeSet<String> = cells[2]
                .split('`')
                .skip(1)
                .step_by(2)
                .filter_map(|k| {
                    let k = k.split([' ', '=']).next().unwrap_or_default();
                    let is_key = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                        && !matches!(k, "aws" | "sim");
                    is_key.then(|| k.to_string())
                })
                .collect();
            keys.insert(section, set);
        }
        keys
    }

    /// Issue 22: `[gates]` accepts exactly the template's keys — the policy's and each check's own (declared
    /// by the check in the core) — so a new check's key cannot be missed by `init` or docs/cli.md.
    #[test]
    fn every_gate_key_is_in_the_template() {
        let accepted: BTreeSet<String> = GatesSection::keys().map(String::from).collect();
        assert_eq!(Some(&accepted), template_keys().get("[gates]"));
    }

    #[test]
    fn the_template_and_the_docs_list_the_same_keys() {
        assert_eq!(template_keys(), documented_keys());
    }

    #[test]
    fn every_key_of_the_template_is_accepted() {
        // Uncomment every key (one of each alternative) and parse: unknown keys are errors.
        let text: String = TEMPLATE
            .lines()
            .map(|l| {
                let t = l.trim_start_matches("# ");
                if t.split_once(" = ").is_some()
                    && !t.starts_with("listener_arn")
                    && !t.starts_with("rule_arn")
                {
                    t.to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let file = Settings::from_toml(&text).expect("every key parses");
        file.gates
            .policy(true)
            .expect("the template's gates are valid");
    }

    /// Issue 22: `max_elb_5xx_rate` turns on the `elb-5xx-rate` gate after `5xx-rate`, with `min_errors`;
    /// without it the gates are the defaults; a rate outside 0–1 is refused naming the key.
    #[test]
    fn the_load_balancer_gate_is_on_only_when_asked_for() {
        let names = |g: &GatesSection| -> Vec<String> {
            g.policy(false)
                .unwrap()
                .bake
                .into_iter()
                .map(|g| g.name)
                .collect()
        };
        assert!(!names(&GatesSection::default()).contains(&"elb-5xx-rate".to_string()));
        let gates = |text: &str| {
            Settings::from_toml(&format!("[gates]\n{text}"))
                .unwrap()
                .gates
        };
        let on = gates("max_elb_5xx_rate = 0.02\nmin_errors = 3\n");
        assert_eq!(names(&on)[..2], ["5xx-rate", "elb-5xx-rate"]);
        let gate = on.policy(false).unwrap().bake.remove(1);
        assert_eq!(
            gate.check,
            Check::ElbErrorRate(ElbErrorRate {
                max: 0.02,
                min_errors: 3
            })
        );
        let bad = gates("max_elb_5xx_rate = 1.5\n");
        assert_eq!(
            bad.policy(false).unwrap_err().to_string(),
            "gates.max_elb_5xx_rate 1.5: a rate is between 0.0 and 1.0"
        );
    }

    /// Issue 23: the sequential judge is on by default where traffic is split (gradual, canary, linear),
    /// off for immediate; `sequential = false` turns it off (and refuses its keys beside it), `true` on;
    /// its keys out of range are refused naming the key.
    #[test]
    fn the_sequential_judge_is_the_default_where_traffic_is_split() {
        use bluegreen_core::gate::JudgeMode;
        let settings = |text: &str| Settings::from_toml(text).unwrap();
        let judged = |text: &str, strategy: &str| {
            settings(&format!(
                "environment = \"poc\"\napplication = \"web\"\n[deploy]\nstrategy = \"{strategy}\"\n[gates]\n{text}"
            ))
            .plan(StrategySettings::default(), None)
            .unwrap()
            .gates
            .sequential
        };
        for strategy in ["gradual", "canary", "linear"] {
            assert_eq!(
                judged("", strategy),
                Some(bluegreen_core::gate::SequentialPolicy::default()),
                "{strategy}"
            );
            assert_eq!(judged("sequential = false\n", strategy), None, "{strategy}");
        }
        assert_eq!(judged("", "immediate"), None);
        assert!(judged("sequential = true\n", "immediate").is_some());
        let gates = |text: &str| settings(&format!("[gates]\n{text}")).gates;
        let on = gates(
            "allowed_increase = 0.5\nalpha = 0.05\njudge_mode = \"pause\"\nallowed_latency_increase = 0.3\nlatency_critical = true\npass_score = 90\nmarginal_score = 60\npause_timeout = \"20m\"\n",
        )
        .policy(false)
        .unwrap()
        .sequential
        .unwrap();
        assert_eq!((on.allowed_increase, on.alpha), (0.5, 0.05));
        assert_eq!(on.mode, JudgeMode::Pause);
        let latency = on.latency.unwrap();
        assert_eq!((latency.allowed_increase, latency.critical), (0.3, true));
        assert_eq!((on.pass_score, on.marginal_score), (90.0, 60.0));
        assert_eq!(on.pause_timeout, std::time::Duration::from_secs(1200));
        let off = gates("compare_latency = false\n").policy(false).unwrap();
        assert_eq!(off.sequential.unwrap().latency, None);
        // Observing the gates observes the judge, unless its mode is set.
        let observed = |text: &str| gates(text).policy(false).unwrap().sequential.unwrap().mode;
        assert_eq!(observed("mode = \"observe\"\n"), JudgeMode::Observe);
        assert_eq!(
            observed("mode = \"observe\"\njudge_mode = \"pause\"\n"),
            JudgeMode::Pause
        );
        for (text, error) in [
            (
                "sequential = false\nalpha = 0.05\n",
                "gates.alpha sets the sequential judge, which gates.sequential = false turns off",
            ),
            (
                "alpha = 0.9\n",
                "gates.alpha 0.9: a probability above 0 and at most 0.5 (0.01: 1 %)",
            ),
            (
                "compare_latency = false\nlatency_critical = true\n",
                "gates.latency_critical sets the judge's latency comparison, which gates.compare_latency = false turns off",
            ),
            (
                "pass_score = 120\n",
                "gates.pass_score 120: a score from 0 to 100",
            ),
            (
                "pass_score = 40\n",
                "gates.marginal_score 50: above gates.pass_score 40 (marginal is the band below the pass score)",
            ),
            (
                "allowed_latency_increase = -1\n",
                "gates.allowed_latency_increase -1: a fraction of 0 or more (0.2: up to 1.2 × stable)",
            ),
        ] {
            assert_eq!(
                gates(text).policy(false).unwrap_err().to_string(),
                error,
                "{text}"
            );
        }
        assert!(
            Settings::from_toml("[gates]\njudge_mode = \"sometimes\"\n").is_err(),
            "a bad mode is refused when the file is read"
        );
    }

    /// Issue 22: every strategy setting of the core is a key of `[deploy]` in the template `init` writes.
    #[test]
    fn every_strategy_setting_is_a_key_of_the_template() {
        for s in StrategySettings::SETTINGS {
            assert!(
                TEMPLATE.lines().any(|l| l
                    .trim_start_matches("# ")
                    .starts_with(&format!("{} = ", s.key))),
                "template: {}",
                s.key
            );
        }
    }

    #[test]
    fn the_gates_follow_the_p99_setting() {
        let names = |p99| -> Vec<String> {
            GatesSection::default()
                .policy(p99)
                .unwrap()
                .bake
                .into_iter()
                .map(|g| g.name)
                .collect()
        };
        assert!(names(true).contains(&"latency-p99".to_string()));
        assert!(!names(false).contains(&"latency-p99".to_string()));
        // `no_data` then applies to gates that can have data: the init file's "inconclusive" no longer
        // makes every poll inconclusive when p99 is not fetched.
        let section = GatesSection {
            no_data: Some(NoDataPolicy::Inconclusive),
            ..GatesSection::default()
        };
        let policy = section.policy(false).unwrap();
        assert!(policy.bake.iter().all(|g| g.name != "latency-p99"));
    }
}
