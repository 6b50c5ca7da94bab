//! Global flags, the configuration file, and wiring providers for a command.

use crate::config::{self, FileConfig};
use crate::sim::{SimFile, SimFileCapacity, SimFileHealth, SimFileRouter};
use crate::state::{Backend, FileApproval, FileStore};
use crate::{Failure, Output};
use bluegreen_aws::{
    ActionSpec, AwsError, AwsSettings, CallCounter, Connection, ListenerSpec, Naming, TargetSpec,
};
use bluegreen_core::{PerColor, ProviderError, Providers};
use bluegreen_testkit::Scenario;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which world the commands act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProviderKind {
    /// AWS (or an emulator at `--endpoint-url`).
    Aws,
    /// The simulated ALB, ASGs and traffic kept in the state directory.
    Sim,
}

/// Flags every command takes. Each also comes from a `BLUEGREEN_*` variable.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Environment, `{environment}` in resource names.
    #[arg(short = 'e', long, global = true, env = "BLUEGREEN_ENVIRONMENT")]
    pub environment: Option<String>,
    /// Application, `{application}` in resource names.
    #[arg(short = 'a', long, global = true, env = "BLUEGREEN_APPLICATION")]
    pub application: Option<String>,
    /// Configuration file (default: ./bluegreen.toml when it exists).
    #[arg(long, global = true, env = "BLUEGREEN_CONFIG")]
    pub config: Option<PathBuf>,
    /// AWS region.
    #[arg(long, global = true, env = "BLUEGREEN_REGION")]
    pub region: Option<String>,
    /// AWS profile.
    #[arg(long, global = true, env = "BLUEGREEN_PROFILE")]
    pub profile: Option<String>,
    /// Endpoint URL for every AWS service (e.g. a local emulator).
    #[arg(long, global = true, env = "BLUEGREEN_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// aws or sim.
    #[arg(long, global = true, value_enum, env = "BLUEGREEN_PROVIDER")]
    pub provider: Option<ProviderKind>,
    /// State directory: deployment records and locks (default: .bluegreen beside the configuration).
    #[arg(long, global = true, env = "BLUEGREEN_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Where records, locks and control requests live: file (the state directory, one machine) or dynamodb
    /// (a table every machine shares).
    #[arg(long, global = true, value_enum, env = "BLUEGREEN_STATE_BACKEND")]
    pub state_backend: Option<crate::config::StateBackend>,
    /// The shared backend's DynamoDB table.
    #[arg(long, global = true, env = "BLUEGREEN_STATE_TABLE")]
    pub state_table: Option<String>,
    /// The shared backend's key prefix (several teams or environments in one table).
    #[arg(long, global = true, env = "BLUEGREEN_STATE_PREFIX")]
    pub state_prefix: Option<String>,
    /// Simulated provider: simulated seconds per real second, for a new world (default 60).
    #[arg(
        long,
        global = true,
        env = "BLUEGREEN_TIME_SCALE",
        allow_hyphen_values = true
    )]
    pub time_scale: Option<f64>,
    /// Output format: human (events and results on stdout; notes, spinner and errors on stderr) or json (JSON
    /// Lines on stdout).
    #[arg(long, global = true, value_enum, default_value_t = Output::Human, env = "BLUEGREEN_OUTPUT")]
    pub output: Output,
    /// More detail (retries, stale reads).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, env = "BLUEGREEN_VERBOSE")]
    pub verbose: u8,
    /// Only results and errors.
    #[arg(short, long, global = true, env = "BLUEGREEN_QUIET")]
    pub quiet: bool,
}

/// Flags, file and defaults, merged.
pub struct Context {
    /// The global flags (each also from its `BLUEGREEN_*` variable).
    pub global: Global,
    /// `bluegreen.toml`, or its defaults when there is none.
    pub file: FileConfig,
    base_dir: PathBuf,
    /// One AWS connection per command: the providers and the shared state backend count their calls
    /// together.
    connection: tokio::sync::OnceCell<Connection>,
}

/// Providers wired for one command.
pub struct Wired {
    /// The providers the executor runs against.
    pub providers: Providers,
    /// Where records, locks and control requests live, with what the core's `StateStore` does not say
    /// (control requests, the lock as written).
    pub store: Backend,
    /// `{environment}/{application}`: the key of records and locks.
    pub application: String,
    /// The AWS calls made, for the summary; `None` on the simulated provider (its world counts them).
    pub counter: Option<CallCounter>,
    /// The simulated world, on the simulated provider.
    pub sim: Option<Arc<SimFile>>,
    /// The alarms `[gates] alarms` names, shown by `status`.
    pub alarms: Vec<String>,
    /// Set when the AWS resources came from the cache of resolved names (read-only verbs): a read that
    /// finds them gone or changed invalidates it and asks again.
    pub cached: Option<ResolvedCache>,
}

/// The resolved ARNs of an application, kept in the state directory so that read-only verbs skip discovery
/// (four to five calls). Keyed by everything that names the resources; checked by the first read itself (the
/// listener's forward action must still go to the cached target groups), and refreshed by every change.
#[derive(Debug, Clone)]
pub struct ResolvedCache {
    path: PathBuf,
    key: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedResolved {
    key: String,
    resolved: bluegreen_aws::Resolved,
}

impl ResolvedCache {
    fn new(state_dir: &Path, naming: &bluegreen_aws::Naming, spec: &TargetSpec) -> Self {
        ResolvedCache {
            path: state_dir
                .join("resolved")
                .join(format!("{}.json", naming.load_balancer())),
            key: format!("{spec:?}"),
        }
    }

    fn load(&self) -> Option<bluegreen_aws::Resolved> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let c: CachedResolved = serde_json::from_str(&text).ok()?;
        (c.key == self.key).then_some(c.resolved)
    }

    /// Best effort: a cache that cannot be written only costs the next read-only verb its discovery.
    fn store(&self, resolved: &bluegreen_aws::Resolved) {
        let c = CachedResolved {
            key: self.key.clone(),
            resolved: resolved.clone(),
        };
        if let (Some(dir), Ok(text)) = (self.path.parent(), serde_json::to_string(&c)) {
            let _ = std::fs::create_dir_all(dir);
            let _ = crate::state::atomic_write(&self.path, text.as_bytes());
        }
    }

    /// Forgets the cached names (they no longer match the world).
    pub fn invalidate(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn aws_failure(e: AwsError) -> Failure {
    match e {
        AwsError::NotOwned { .. } => Failure::refused(e.to_string()),
        AwsError::Naming(_) | AwsError::UnexpectedAction { .. } => Failure::bad_input(e),
        AwsError::Provider(p) => provider_failure(p),
        other => Failure::provider(other.to_string()),
    }
}

/// A provider error as a command failure: a missing resource is bad input, the rest a provider error.
pub fn provider_failure(e: ProviderError) -> Failure {
    match e {
        ProviderError::NotFound { .. } | ProviderError::Invalid { .. } => Failure::bad_input(e),
        ProviderError::Conflict { .. } => Failure::refused(e.to_string()),
        other => Failure::provider(other.to_string()),
    }
}

impl Context {
    /// Reads the configuration file named by `--config`, or `./bluegreen.toml` if it exists.
    pub fn load(global: Global) -> Result<Self, Failure> {
        let (file, base_dir) = match &global.config {
            Some(path) => (
                config::load(path).map_err(Failure::bad_input)?,
                parent(path),
            ),
            None if Path::new("bluegreen.toml").exists() => (
                config::load(Path::new("bluegreen.toml")).map_err(Failure::bad_input)?,
                PathBuf::from("."),
            ),
            None => (FileConfig::default(), PathBuf::from(".")),
        };
        Ok(Context {
            global,
            file,
            base_dir,
            connection: tokio::sync::OnceCell::new(),
        })
    }

    /// The output format.
    pub fn output(&self) -> Output {
        self.global.output
    }

    /// The naming convention; environment and application are required.
    pub fn naming(&self) -> Result<Naming, Failure> {
        let env = self
            .global
            .environment
            .clone()
            .or(self.file.environment.clone());
        let app = self
            .global
            .application
            .clone()
            .or(self.file.application.clone());
        match (env, app) {
            (Some(e), Some(a)) => Naming::new(&e, &a).map_err(Failure::bad_input),
            (None, _) => Err(Failure::bad_input(
                "no environment: pass --environment, set BLUEGREEN_ENVIRONMENT, or set `environment` in bluegreen.toml",
            )),
            (_, None) => Err(Failure::bad_input(
                "no application: pass --application, set BLUEGREEN_APPLICATION, or set `application` in bluegreen.toml",
            )),
        }
    }

    /// `aws` or `sim`: the flag, else the file, else `aws`.
    pub fn provider(&self) -> Result<ProviderKind, Failure> {
        if let Some(p) = self.global.provider {
            return Ok(p);
        }
        match self.file.provider.as_deref() {
            None | Some("aws") => Ok(ProviderKind::Aws),
            Some("sim") => Ok(ProviderKind::Sim),
            Some(other) => Err(Failure::bad_input(format!(
                "provider {other:?}: expected aws or sim"
            ))),
        }
    }

    /// The state directory: the flag, else the file's `state_dir`, else `.bluegreen/` beside the file.
    pub fn state_dir(&self) -> PathBuf {
        self.global
            .state_dir
            .clone()
            .or_else(|| self.file.state_dir.as_ref().map(|d| self.base_dir.join(d)))
            .unwrap_or_else(|| self.base_dir.join(".bluegreen"))
    }

    /// Where records, locks and control requests live: the shared DynamoDB table when `[state] backend`
    /// (or `--state-backend`) says `dynamodb`, else the state directory.
    pub async fn store(&self) -> Result<Backend, Failure> {
        match self.shared_state()? {
            None => self.file_store().map(Backend::File),
            Some((table, prefix)) => Ok(Backend::Shared(
                self.connection().await.store(&table, &prefix),
            )),
        }
    }

    /// The shared backend's table and prefix, when the state lives in DynamoDB.
    pub fn shared_state(&self) -> Result<Option<(String, String)>, Failure> {
        let st = &self.file.state;
        match self.global.state_backend.or(st.backend).unwrap_or_default() {
            crate::config::StateBackend::File => Ok(None),
            crate::config::StateBackend::Dynamodb => {
                let table = self
                    .global
                    .state_table
                    .clone()
                    .or(st.table.clone())
                    .ok_or_else(|| {
                        Failure::bad_input(
                            "the dynamodb state backend needs a table: --state-table, BLUEGREEN_STATE_TABLE or [state] table",
                        )
                    })?;
                let prefix = self
                    .global
                    .state_prefix
                    .clone()
                    .or(st.prefix.clone())
                    .unwrap_or_default();
                Ok(Some((table, prefix)))
            }
        }
    }

    /// The state directory's store, created owner-only if missing; a path that cannot be one is bad input.
    /// (The simulated world lives there whichever backend holds the records.)
    pub fn file_store(&self) -> Result<FileStore, Failure> {
        let dir = self.state_dir();
        // A path that is not a directory, or one this user cannot use, is a wrong setting (bad input),
        // not a provider failure.
        if dir.exists() && !dir.is_dir() {
            return Err(Failure::bad_input(format!(
                "state directory {}: exists and is not a directory (--state-dir, BLUEGREEN_STATE_DIR or state_dir)",
                dir.display()
            )));
        }
        FileStore::open(&dir).map_err(|e| {
            let message = format!("state directory {}: {e}", dir.display());
            match e.kind() {
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::NotADirectory => {
                    Failure::bad_input(message)
                }
                _ => Failure::local_io(message),
            }
        })
    }

    /// Whether the health source fetches the p99 statistic: only the AWS provider, and only with
    /// `[aws] p99 = true` (the simulated CloudWatch, like AWS, has no p99 unless asked).
    pub fn fetches_p99(&self) -> bool {
        matches!(self.provider(), Ok(ProviderKind::Aws)) && self.file.aws.p99.unwrap_or(false)
    }

    /// How to reach AWS: the flags over `[aws]`.
    pub fn aws_settings(&self) -> AwsSettings {
        let a = &self.file.aws;
        AwsSettings {
            region: self.global.region.clone().or(a.region.clone()),
            profile: self.global.profile.clone().or(a.profile.clone()),
            endpoint_url: self.global.endpoint_url.clone().or(a.endpoint_url.clone()),
            max_attempts: None,
            p99: a.p99.unwrap_or(false),
        }
    }

    /// What to manage: the naming convention with `[resources]` overrides, checked.
    pub fn target_spec(&self) -> Result<TargetSpec, Failure> {
        let r = &self.file.resources;
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
                return Err(Failure::BadInput(
                    "[resources] listener_ports: give it alone, not with listener_port or listener_arn"
                        .into(),
                ));
            }
            (_, _, Some(ports)) if ports.is_empty() => {
                return Err(Failure::BadInput(
                    "[resources] listener_ports = []: name at least one port".into(),
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

    /// The simulated scenario: the flag, else `[sim] scenario`, else `healthy`.
    pub fn scenario(&self, flag: Option<&str>) -> Result<Scenario, Failure> {
        flag.or(self.file.sim.scenario.as_deref())
            .unwrap_or("healthy")
            .parse()
            .map_err(Failure::bad_input)
    }

    /// The webhook URL (`BLUEGREEN_WEBHOOK` or `[hooks] webhook`), checked.
    pub fn webhook(&self) -> Result<Option<hyper::Uri>, Failure> {
        let url = std::env::var("BLUEGREEN_WEBHOOK")
            .ok()
            .or(self.file.hooks.webhook.clone());
        url.map(|u| crate::webhook::parse(&u)).transpose()
    }

    /// The command's AWS connection, made on first use (no call is made by connecting).
    pub async fn connection(&self) -> Connection {
        self.connection
            .get_or_init(|| async {
                let settings = self.aws_settings();
                Connection::connect(&settings).await
            })
            .await
            .clone()
    }

    /// Wires the providers. `mutating` commands need the listener or rule to be owned by the application.
    pub async fn wire(&self, mutating: bool, scenario: Option<&str>) -> Result<Wired, Failure> {
        let naming = self.naming()?;
        // The state directory holds the simulated world and the resolved names whichever backend holds
        // the records.
        self.file_store()?;
        let store = self.store().await?;
        let approval = Arc::new(FileApproval::new(store.clone()));
        let alarms = self.file.gates.alarms.clone().unwrap_or_default();
        match self.provider()? {
            ProviderKind::Aws => {
                let spec = self.target_spec()?;
                let conn = self.connection().await;
                let cache = ResolvedCache::new(&self.state_dir(), &naming, &spec);
                let (p, cached) = if mutating {
                    // A change always resolves afresh and checks ownership; it refreshes the cache.
                    let p = conn.providers(&spec).await.map_err(aws_failure)?;
                    cache.store(&p.resolved);
                    (p, None)
                } else {
                    match cache.load() {
                        Some(resolved) => (conn.providers_for(Arc::new(resolved)), Some(cache)),
                        None => {
                            let resolved = conn.resolve(&spec).await.map_err(aws_failure)?;
                            cache.store(&resolved);
                            (conn.providers_for(Arc::new(resolved)), None)
                        }
                    }
                };
                Ok(Wired {
                    providers: p.into_providers(Arc::new(store.clone()), approval),
                    store,
                    application: naming.application_key(),
                    counter: Some(conn.counter().clone()),
                    sim: None,
                    alarms,
                    cached,
                })
            }
            ProviderKind::Sim => {
                let s = &self.file.sim;
                let scale = self.global.time_scale.or(s.time_scale).unwrap_or(60.0);
                // Outside this range the simulated clock either stands still (a deployment would take
                // years) or overflows within a run.
                if !(scale.is_finite() && (0.01..=100_000.0).contains(&scale)) {
                    let shown = if scale != 0.0 && !(1e-3..1e6).contains(&scale.abs()) {
                        format!("{scale:e}")
                    } else {
                        format!("{scale}")
                    };
                    return Err(Failure::bad_input(format!(
                        "time scale {shown}: must be between 0.01 and 100000 simulated seconds per second"
                    )));
                }
                let scenario_kind = self.scenario(scenario)?;
                let sim =
                    SimFile::open(&self.state_dir(), scenario_kind, s.seed.unwrap_or(1), scale)
                        .map_err(crate::context::provider_failure)?;
                if scenario.is_some() {
                    sim.set_scenario(scenario_kind)
                        .map_err(crate::context::provider_failure)?;
                }
                Ok(Wired {
                    providers: Providers {
                        router: Arc::new(SimFileRouter(sim.clone())),
                        health: Arc::new(SimFileHealth(sim.clone())),
                        capacity: Some(Arc::new(SimFileCapacity(sim.clone()))),
                        clock: Arc::new(sim.clock()),
                        approval,
                        store: Arc::new(store.clone()),
                        hooks: None,
                    },
                    store,
                    application: naming.application_key(),
                    counter: None,
                    sim: Some(sim),
                    alarms,
                    cached: None,
                })
            }
        }
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
