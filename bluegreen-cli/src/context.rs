//! Global flags, the configuration file, and wiring providers for a command.

use crate::config::{self, SETTINGS_FILE, Settings};
use crate::{Failure, Output};
pub use bluegreen::ProviderKind;
use bluegreen::{Deployer, Store};
use bluegreen_aws::{AwsError, AwsSettings, Connection, Naming, TargetSpec};
use bluegreen_core::ProviderError;
use bluegreen_testkit::Scenario;
use clap::Args;
use std::path::{Path, PathBuf};

/// Flags every command takes. Each also comes from a `BLUEGREEN_*` variable.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Environment, `{environment}` in resource names.
    #[arg(short = 'e', long, global = true, env = "BLUEGREEN_ENVIRONMENT")]
    pub environment: Option<String>,
    /// Application, `{application}` in resource names.
    #[arg(short = 'a', long, global = true, env = "BLUEGREEN_APPLICATION")]
    pub application: Option<String>,
    /// Configuration file (default: the nearest bluegreen.toml in this directory or one above it).
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
    /// State directory: deployment records and locks (default: .bluegreen beside the configuration; without
    /// one, the nearest .bluegreen in this directory or one above it).
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
    /// `bluegreen.toml` (or its defaults when there is none) with the global flags applied over it: what
    /// the library's [`Deployer`] is built from.
    pub settings: Settings,
    /// One AWS connection per command: the providers and the shared state backend count their calls
    /// together.
    connection: tokio::sync::OnceCell<Connection>,
}

/// Providers, store and settings wired for one command: the library's front door, which an embedding
/// program uses too.
pub type Wired = Deployer;

fn aws_failure(e: AwsError) -> Failure {
    match e {
        AwsError::NotOwned { .. } => Failure::refused(e.to_string()),
        AwsError::Naming(_)
        | AwsError::UnexpectedAction { .. }
        | AwsError::Profile { .. }
        | AwsError::Endpoint { .. }
        | AwsError::RoleArn { .. } => Failure::bad_input(e),
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

impl From<bluegreen::Error> for Failure {
    fn from(e: bluegreen::Error) -> Self {
        match e {
            bluegreen::Error::Settings(e) => Failure::bad_input(e),
            bluegreen::Error::Aws(e) => aws_failure(e),
            bluegreen::Error::Provider(e) => provider_failure(e),
            bluegreen::Error::StateDir { path, source } => {
                let message = format!("state directory {}: {source}", path.display());
                // A directory this user cannot use is a wrong setting (bad input), not a local failure.
                match source.kind() {
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::NotADirectory => {
                        Failure::bad_input(message)
                    }
                    _ => Failure::local_io(message),
                }
            }
            bluegreen::Error::Exec(e) => Failure::from_exec(&e),
            bluegreen::Error::Refused(message) => Failure::refused(message),
            other => Failure::provider(other.to_string()),
        }
    }
}

impl Context {
    /// Reads the configuration file named by `--config`, or the nearest `bluegreen.toml` upward (else the nearest
    /// `.bluegreen` state directory upward: `Settings::discover`), and applies the
    /// global flags over it.
    pub fn load(global: Global) -> Result<Self, Failure> {
        let mut settings = match &global.config {
            Some(path) => config::load(path)?,
            // Here: named as the person sees it (`bluegreen.toml:4: ...`); above: by its whole path.
            None if Path::new(SETTINGS_FILE).is_file() => config::load(Path::new(SETTINGS_FILE))?,
            None => {
                let here = std::env::current_dir().map_err(|e| {
                    Failure::local_io(format!("the current directory cannot be read: {e}"))
                })?;
                Settings::discover(&here).map_err(Failure::bad_input)?.0
            }
        };
        let g = &global;
        let over = |flag: &Option<String>, file: &mut Option<String>| {
            if flag.is_some() {
                file.clone_from(flag);
            }
        };
        over(&g.environment, &mut settings.environment);
        over(&g.application, &mut settings.application);
        over(&g.region, &mut settings.aws.region);
        over(&g.profile, &mut settings.aws.profile);
        over(&g.endpoint_url, &mut settings.aws.endpoint_url);
        over(&g.state_table, &mut settings.state.table);
        over(&g.state_prefix, &mut settings.state.prefix);
        if g.provider.is_some() {
            settings.provider = g.provider;
        }
        if g.state_dir.is_some() {
            settings.state_dir.clone_from(&g.state_dir);
        }
        if g.state_backend.is_some() {
            settings.state.backend = g.state_backend;
        }
        if g.time_scale.is_some() {
            settings.sim.time_scale = g.time_scale;
        }
        Ok(Context {
            global,
            settings,
            connection: tokio::sync::OnceCell::new(),
        })
    }

    /// The output format.
    pub fn output(&self) -> Output {
        self.global.output
    }

    /// The naming convention; environment and application are required.
    pub fn naming(&self) -> Result<Naming, Failure> {
        self.settings.naming().map_err(Failure::bad_input)
    }

    /// `aws` or `sim`: the flag, else the file, else `aws`.
    pub fn provider(&self) -> ProviderKind {
        self.settings.provider()
    }

    /// The state directory: the flag, else the file's `state_dir`, else `.bluegreen/` beside the file.
    pub fn state_dir(&self) -> PathBuf {
        self.settings.state_dir()
    }

    /// Where records, locks and control requests live: the shared DynamoDB table when `[state] backend`
    /// (or `--state-backend`) says `dynamodb`, else the state directory (the library's `Store::open`).
    pub async fn store(&self) -> Result<Store, Failure> {
        let connection = match self.shared_state()? {
            Some(_) => Some(self.connection().await?),
            None => None,
        };
        Ok(Store::open(&self.settings, connection.as_ref())?)
    }

    /// The shared backend's table and prefix, when the state lives in DynamoDB.
    pub fn shared_state(&self) -> Result<Option<(String, String)>, Failure> {
        self.settings.shared_state().map_err(Failure::bad_input)
    }

    /// How to reach AWS: the flags over `[aws]`.
    pub fn aws_settings(&self) -> AwsSettings {
        self.settings.aws_settings()
    }

    /// What to manage: the naming convention with `[resources]` overrides, checked.
    pub fn target_spec(&self) -> Result<TargetSpec, Failure> {
        self.settings.target_spec().map_err(Failure::bad_input)
    }

    /// The command's AWS connection, made on first use (no call is made by connecting). A named profile
    /// that does not exist is bad input, found before anything is called.
    pub async fn connection(&self) -> Result<Connection, Failure> {
        let settings = self.aws_settings();
        settings.check().await.map_err(aws_failure)?;
        Ok(self
            .connection
            .get_or_init(|| async { Connection::connect(&settings).await })
            .await
            .clone())
    }

    /// Wires the providers through the library's [`Deployer`]. `mutating` commands need the listener or rule
    /// to be owned by the application; the others may use the cache of resolved names. `scenario` (the
    /// simulated provider's `--scenario`) changes the world's behavior from now on.
    pub async fn wire(&self, mutating: bool, scenario: Option<&str>) -> Result<Wired, Failure> {
        self.wire_with(mutating, scenario, true).await
    }

    /// [`Context::wire`], without `[hooks]` when `hooks` is false (`--skip-tests`).
    pub async fn wire_with(
        &self,
        mutating: bool,
        scenario: Option<&str>,
        hooks: bool,
    ) -> Result<Wired, Failure> {
        let mut builder = Deployer::builder(self.settings.clone());
        if !mutating {
            builder = builder.read_only();
        }
        if let Some(s) = scenario {
            // `--scenario`: green behaves so from now on (`[sim] scenario` only shapes a new world).
            builder = builder.scenario(s.parse::<Scenario>().map_err(Failure::bad_input)?);
        }
        if !hooks || !mutating {
            builder = builder.without_hooks();
        }
        if self.provider() == ProviderKind::Aws || self.shared_state()?.is_some() {
            builder = builder.connection(self.connection().await?);
        }
        Ok(builder.build().await?)
    }
}
