//! Typed configuration from the environment, validated once at start.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// A configuration value that is present but unusable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong and what is expected.
    pub problem: String,
}

/// Default resident-memory bound for simulation work, MB: two thirds of a 24 GiB box, leaving
/// the rest to the matching core, the stores' clients and the runs already going. Set
/// `BOURSE_MEMORY_LIMIT_MB` to fit a smaller machine.
pub const DEFAULT_MEMORY_LIMIT_MB: u64 = 16 * 1024;

/// The host's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the front server listens on (`HOST`, `PORT`).
    pub listen: SocketAddr,
    /// Postgres URL (`DATABASE_URL`); embedded SQLite when unset.
    pub database_url: Option<String>,
    /// Redis URL (`REDIS_URL`); in-process key-value when unset.
    pub redis_url: Option<String>,
    /// Where embedded state lives (`BOURSE_DATA_DIR`, default `.bourse`).
    pub data_dir: PathBuf,
    /// Wall-clock budget of one component call (`BOURSE_REQUEST_TIMEOUT_MS`, default 10 000).
    pub request_timeout_ms: u64,
    /// Linear-memory cap per instance (`BOURSE_INSTANCE_MEMORY_MB`, default 64).
    pub instance_memory_mb: u64,
    /// Bearer token with the ops role for `/admin` (`ADMIN_TOKEN`); at least 16 characters.
    pub admin_token: Option<String>,
    /// Versions of each component kept for rollback (`BOURSE_RETAIN_VERSIONS`, default 5).
    pub retain_versions: usize,
    /// Watch component files and hot-swap them when they change (`BOURSE_WATCH`, default on).
    pub watch: bool,
    /// Matching threads; symbols are spread over them (`BOURSE_MATCHING_SHARDS`, default 1).
    pub matching_shards: usize,
    /// Snapshot a matching shard after this many journaled commands, so restarts replay only
    /// the journal after it (`BOURSE_SNAPSHOT_EVERY`, default 100 000; 0 never snapshots).
    pub snapshot_every: u64,
    /// Orders one account may have resting on the books at once (`BOURSE_MAX_OPEN_ORDERS`,
    /// default 1 000; 0 is no limit). A limit order that could rest beyond it is refused with
    /// `too_many_open_orders`; market, IOC and FOK orders never rest and are not counted. In a
    /// cluster each replica counts the orders of the shards it runs.
    pub max_open_orders: u64,
    /// How long a client order id answers a repeat with its order, in seconds
    /// (`BOURSE_CLIENT_ORDER_ID_RETAIN_SECS`, default 600; at most a million ids per matching
    /// shard). After it, the id may be used again.
    pub client_order_id_retain_secs: u64,
    /// How long a verified credential is trusted without asking the auth component again
    /// (`BOURSE_AUTH_CACHE_MS`, default 5 000; 0 asks every time). Revoked API keys are
    /// dropped from the cache at once.
    pub auth_cache_ms: u64,
    /// Requests per second per authenticated principal, burst twice that
    /// (`BOURSE_RATE_LIMIT_PRINCIPAL`, default 200; 0 is no limit).
    pub rate_limit_principal: u64,
    /// Requests per second per client IP, burst twice that (`BOURSE_RATE_LIMIT_IP`, default
    /// 1 000; 0 is no limit).
    pub rate_limit_ip: u64,
    /// How many proxies in front of the host append to `X-Forwarded-For`; the client IP is
    /// the hop the outermost one wrote (`BOURSE_TRUSTED_PROXIES`, default 0: the TCP peer; 1
    /// behind Railway's edge). The older `BOURSE_TRUST_FORWARDED=on` means 1.
    pub trusted_proxies: usize,
    /// Simulation runs above this rate (orders/s; as-fast-as-possible counts as above) go to
    /// instances with the `simulation` role (`BOURSE_SIM_LOCAL_MAX_RATE`, default 10 000).
    pub sim_local_max_rate: u64,
    /// How long a big run waits for a simulation instance before running where it was
    /// received (`BOURSE_SIM_HANDOFF_MS`, default 3 000).
    pub sim_handoff_ms: u64,
    /// Redis stream of delegated runs (`BOURSE_SIM_QUEUE`, default `bourse:simulations`).
    pub sim_queue: String,
    /// Simulation runs one principal may have in progress at once on the instance that
    /// received them (`BOURSE_SIM_MAX_RUNS_PER_PRINCIPAL`, default 3). Ops and admin are held
    /// only by `sim_max_runs`.
    pub sim_max_runs_per_principal: u64,
    /// Simulation runs in progress at once on one instance, all principals together, and
    /// delegated runs a simulation instance takes (`BOURSE_SIM_MAX_RUNS`, default 16: an
    /// unpaced run keeps a core busy and holds an instance and a sandbox of up to a million
    /// orders).
    pub sim_max_runs: u64,
    /// Finished simulation runs kept for reading their results (`BOURSE_SIM_KEEP_RUNS`,
    /// default 100; each holds up to about a megabyte); the oldest is forgotten beyond it.
    pub sim_keep_runs: u64,
    /// JWT signing secret (`JWT_SECRET`), at least 32 bytes when set.
    pub jwt_secret: Option<String>,
    /// Browser origins allowed by CORS (`ALLOWED_ORIGINS`, comma-separated; none by default).
    pub allowed_origins: Vec<String>,
    /// `json` or `text` logs (`LOG_FORMAT`).
    pub log_format: LogFormat,
    /// What this instance runs (`BOURSE_ROLE`, default `all`).
    pub role: Role,
    /// How long shutdown waits for in-flight requests (`BOURSE_SHUTDOWN_TIMEOUT_MS`, 30 000).
    pub shutdown_timeout_ms: u64,
    /// Largest request body on application routes (`BOURSE_BODY_LIMIT_MB`, default 10).
    pub body_limit_mb: u64,
    /// Resident memory above which new simulation work is refused and running simulations
    /// stop (`BOURSE_MEMORY_LIMIT_MB`, default [`DEFAULT_MEMORY_LIMIT_MB`]; 0 means no bound).
    pub memory_limit_mb: u64,
    /// Run the manifest as Spin would (`BOURSE_SPIN_COMPAT`, or `--spin-compat`; default off):
    /// only Spin's platform interfaces, declared dependencies composed in, no auth layer.
    pub spin_compat: bool,
    /// Name shared by the replicas of one deployment (`BOURSE_CLUSTER`); by default derived
    /// from the database address, since replicas sharing a journal are one cluster.
    pub cluster: Option<String>,
    /// This replica's id (`BOURSE_REPLICA_ID`; default: host name, process id, random part).
    pub replica_id: Option<String>,
    /// Life of a shard lease without renewal (`BOURSE_LEASE_MS`, default 3 000): how long a
    /// dead owner's shards wait before another replica takes them.
    pub lease_ms: u64,
    /// Events each WebSocket room keeps for clients that reconnect (`BOURSE_EVENT_RETAIN`,
    /// default 1 000; 0 keeps none).
    pub event_retain: u64,
    /// How long each in-process WebSocket room keeps its events, seconds
    /// (`BOURSE_EVENT_RETAIN_SECS`, default 900; Redis keeps them as its own bounds say). A
    /// room nobody listens to is forgotten once its kept events are this old.
    pub event_retain_secs: u64,
    /// WebSocket connections one client IP may hold on this replica (`BOURSE_WS_MAX_PER_IP`,
    /// default 256; 0 is no limit). More are refused with 429.
    pub ws_max_per_ip: u64,
    /// WebSocket connections one principal may hold on this replica
    /// (`BOURSE_WS_MAX_PER_PRINCIPAL`, default 32; 0 is no limit). More are refused with 429.
    pub ws_max_per_principal: u64,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (Railway, log shippers).
    Json,
    /// Human-readable.
    Text,
}

/// Which part of the platform an instance runs; one image, several Railway services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything (the default, and what a single instance runs).
    All,
    /// The trading API: order handling and signals components.
    Api,
    /// The matching core behind the market API (order handling).
    Matching,
    /// Simulation components.
    Simulation,
    /// The auth component's routes.
    Auth,
}

impl Role {
    /// The name used in `BOURSE_ROLE` and in `[component.X.tool.bourse] roles`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Api => "api",
            Role::Matching => "matching",
            Role::Simulation => "simulation",
            Role::Auth => "auth",
        }
    }

    /// Whether this role may run matching shards (in a cluster, the others forward to them).
    pub fn matches_orders(self) -> bool {
        matches!(self, Role::All | Role::Matching)
    }

    fn parse(text: &str) -> Option<Role> {
        [
            Role::All,
            Role::Api,
            Role::Matching,
            Role::Simulation,
            Role::Auth,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

/// Most proxies `BOURSE_TRUSTED_PROXIES` may name: more is a misconfiguration, not a network.
const MAX_TRUSTED_PROXIES: u64 = 16;

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_number(
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError {
                variable: name,
                problem: format!(
                    "{text:?} is not a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            }),
        },
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:****@host/db`.
fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme + 3 => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:****{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Config {
    /// The effective settings as `(VARIABLE, value)`, secrets masked, for `bourse config check`.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HOST", self.listen.ip().to_string()),
            ("PORT", self.listen.port().to_string()),
            (
                "DATABASE_URL",
                self.database_url
                    .as_deref()
                    .map_or("(unset: embedded SQLite)".into(), mask_url),
            ),
            (
                "REDIS_URL",
                self.redis_url
                    .as_deref()
                    .map_or("(unset: in-process key-value)".into(), mask_url),
            ),
            (
                "ADMIN_TOKEN",
                self.admin_token.as_ref().map_or("(unset)".into(), |t| {
                    format!("**** ({} characters)", t.len())
                }),
            ),
            ("BOURSE_DATA_DIR", self.data_dir.display().to_string()),
            (
                "BOURSE_REQUEST_TIMEOUT_MS",
                self.request_timeout_ms.to_string(),
            ),
            (
                "BOURSE_INSTANCE_MEMORY_MB",
                self.instance_memory_mb.to_string(),
            ),
            ("BOURSE_RETAIN_VERSIONS", self.retain_versions.to_string()),
            (
                "BOURSE_WATCH",
                if self.watch { "on" } else { "off" }.to_string(),
            ),
            ("BOURSE_MATCHING_SHARDS", self.matching_shards.to_string()),
            ("BOURSE_SNAPSHOT_EVERY", self.snapshot_every.to_string()),
            ("BOURSE_MAX_OPEN_ORDERS", self.max_open_orders.to_string()),
            (
                "BOURSE_CLIENT_ORDER_ID_RETAIN_SECS",
                self.client_order_id_retain_secs.to_string(),
            ),
            ("BOURSE_AUTH_CACHE_MS", self.auth_cache_ms.to_string()),
            (
                "BOURSE_SIM_LOCAL_MAX_RATE",
                self.sim_local_max_rate.to_string(),
            ),
            ("BOURSE_SIM_HANDOFF_MS", self.sim_handoff_ms.to_string()),
            ("BOURSE_SIM_QUEUE", self.sim_queue.clone()),
            (
                "BOURSE_SIM_MAX_RUNS_PER_PRINCIPAL",
                self.sim_max_runs_per_principal.to_string(),
            ),
            ("BOURSE_SIM_MAX_RUNS", self.sim_max_runs.to_string()),
            ("BOURSE_SIM_KEEP_RUNS", self.sim_keep_runs.to_string()),
            (
                "BOURSE_RATE_LIMIT_PRINCIPAL",
                self.rate_limit_principal.to_string(),
            ),
            ("BOURSE_RATE_LIMIT_IP", self.rate_limit_ip.to_string()),
            ("BOURSE_TRUSTED_PROXIES", self.trusted_proxies.to_string()),
            (
                "JWT_SECRET",
                self.jwt_secret
                    .as_ref()
                    .map_or("(unset)".into(), |t| format!("**** ({} bytes)", t.len())),
            ),
            (
                "ALLOWED_ORIGINS",
                if self.allowed_origins.is_empty() {
                    "(none)".into()
                } else {
                    self.allowed_origins.join(",")
                },
            ),
            (
                "LOG_FORMAT",
                match self.log_format {
                    LogFormat::Json => "json",
                    LogFormat::Text => "text",
                }
                .to_string(),
            ),
            ("BOURSE_ROLE", self.role.as_str().to_string()),
            (
                "BOURSE_SHUTDOWN_TIMEOUT_MS",
                self.shutdown_timeout_ms.to_string(),
            ),
            ("BOURSE_BODY_LIMIT_MB", self.body_limit_mb.to_string()),
            (
                "BOURSE_SPIN_COMPAT",
                if self.spin_compat { "on" } else { "off" }.into(),
            ),
            (
                "BOURSE_CLUSTER",
                self.cluster
                    .clone()
                    .unwrap_or_else(|| "(from the database address)".into()),
            ),
            (
                "BOURSE_REPLICA_ID",
                self.replica_id
                    .clone()
                    .unwrap_or_else(|| "(generated)".into()),
            ),
            ("BOURSE_LEASE_MS", self.lease_ms.to_string()),
            ("BOURSE_EVENT_RETAIN", self.event_retain.to_string()),
            (
                "BOURSE_EVENT_RETAIN_SECS",
                self.event_retain_secs.to_string(),
            ),
            ("BOURSE_WS_MAX_PER_IP", self.ws_max_per_ip.to_string()),
            (
                "BOURSE_WS_MAX_PER_PRINCIPAL",
                self.ws_max_per_principal.to_string(),
            ),
            (
                "BOURSE_MEMORY_LIMIT_MB",
                if self.memory_limit_mb == 0 {
                    "0 (no bound)".into()
                } else {
                    self.memory_limit_mb.to_string()
                },
            ),
        ]
    }

    /// Reads and validates the environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let port = parse_number("PORT", 3000, 1..=65535)?;
        let host: IpAddr = match var("HOST") {
            None => IpAddr::from([0, 0, 0, 0]),
            Some(text) => text.trim().parse().map_err(|_| ConfigError {
                variable: "HOST",
                problem: format!("{text:?} is not an IP address (e.g. 0.0.0.0 or 127.0.0.1)"),
            })?,
        };
        let database_url = var("DATABASE_URL");
        if let Some(url) = &database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                variable: "DATABASE_URL",
                problem: "expected a postgres:// or postgresql:// URL".into(),
            });
        }
        let admin_token = var("ADMIN_TOKEN");
        if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError {
                variable: "ADMIN_TOKEN",
                problem: "must be at least 16 characters".into(),
            });
        }
        let jwt_secret = var("JWT_SECRET");
        if jwt_secret.as_ref().is_some_and(|t| t.len() < 32) {
            return Err(ConfigError {
                variable: "JWT_SECRET",
                problem: "must be at least 32 bytes".into(),
            });
        }
        let allowed_origins: Vec<String> = var("ALLOWED_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(bad) = allowed_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.contains(' '))
        {
            return Err(ConfigError {
                variable: "ALLOWED_ORIGINS",
                problem: format!("{bad:?} is not an origin like https://app.example.com"),
            });
        }
        let log_format = match var("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    variable: "LOG_FORMAT",
                    problem: format!("{other:?} is not json or text"),
                });
            }
        };
        let role = match var("BOURSE_ROLE") {
            None => Role::All,
            Some(text) => Role::parse(text.trim()).ok_or_else(|| ConfigError {
                variable: "BOURSE_ROLE",
                problem: format!("{text:?} is not one of all, api, matching, simulation, auth"),
            })?,
        };
        let redis_url = var("REDIS_URL");
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(ConfigError {
                variable: "REDIS_URL",
                problem: "expected a redis:// or rediss:// URL".into(),
            });
        }
        Ok(Config {
            listen: SocketAddr::new(host, port as u16),
            database_url,
            redis_url,
            data_dir: var("BOURSE_DATA_DIR")
                .map_or_else(|| PathBuf::from(".bourse"), PathBuf::from),
            request_timeout_ms: parse_number("BOURSE_REQUEST_TIMEOUT_MS", 10_000, 10..=600_000)?,
            instance_memory_mb: parse_number("BOURSE_INSTANCE_MEMORY_MB", 64, 1..=4096)?,
            admin_token,
            retain_versions: parse_number("BOURSE_RETAIN_VERSIONS", 5, 1..=100)? as usize,
            matching_shards: parse_number("BOURSE_MATCHING_SHARDS", 1, 1..=64)? as usize,
            snapshot_every: parse_number("BOURSE_SNAPSHOT_EVERY", 100_000, 0..=u64::MAX)?,
            max_open_orders: parse_number("BOURSE_MAX_OPEN_ORDERS", 1_000, 0..=100_000_000)?,
            client_order_id_retain_secs: parse_number(
                "BOURSE_CLIENT_ORDER_ID_RETAIN_SECS",
                600,
                1..=7 * 24 * 3600,
            )?,
            auth_cache_ms: parse_number("BOURSE_AUTH_CACHE_MS", 5_000, 0..=3_600_000)?,
            sim_local_max_rate: parse_number("BOURSE_SIM_LOCAL_MAX_RATE", 10_000, 0..=u64::MAX)?,
            sim_handoff_ms: parse_number("BOURSE_SIM_HANDOFF_MS", 3_000, 0..=600_000)?,
            sim_queue: var("BOURSE_SIM_QUEUE").unwrap_or_else(|| "bourse:simulations".into()),
            sim_max_runs_per_principal: parse_number(
                "BOURSE_SIM_MAX_RUNS_PER_PRINCIPAL",
                3,
                1..=1_000,
            )?,
            sim_max_runs: parse_number("BOURSE_SIM_MAX_RUNS", 16, 1..=10_000)?,
            sim_keep_runs: parse_number("BOURSE_SIM_KEEP_RUNS", 100, 1..=10_000)?,
            rate_limit_principal: parse_number("BOURSE_RATE_LIMIT_PRINCIPAL", 200, 0..=1_000_000)?,
            rate_limit_ip: parse_number("BOURSE_RATE_LIMIT_IP", 1_000, 0..=1_000_000)?,
            trusted_proxies: match var("BOURSE_TRUSTED_PROXIES") {
                Some(_) => parse_number("BOURSE_TRUSTED_PROXIES", 0, 0..=MAX_TRUSTED_PROXIES)?,
                None => u64::from(parse_switch("BOURSE_TRUST_FORWARDED", false)?),
            } as usize,
            jwt_secret,
            allowed_origins,
            log_format,
            role,
            shutdown_timeout_ms: parse_number("BOURSE_SHUTDOWN_TIMEOUT_MS", 30_000, 0..=600_000)?,
            body_limit_mb: parse_number("BOURSE_BODY_LIMIT_MB", 10, 1..=1024)?,
            memory_limit_mb: parse_number(
                "BOURSE_MEMORY_LIMIT_MB",
                DEFAULT_MEMORY_LIMIT_MB,
                0..=1_048_576,
            )?,
            spin_compat: parse_switch("BOURSE_SPIN_COMPAT", false)?,
            cluster: match var("BOURSE_CLUSTER") {
                Some(name) if !valid_name(&name) => {
                    return Err(ConfigError {
                        variable: "BOURSE_CLUSTER",
                        problem: format!("{name:?} must be 1-64 characters of [a-zA-Z0-9_.-]"),
                    });
                }
                other => other,
            },
            replica_id: match var("BOURSE_REPLICA_ID") {
                Some(id) if !valid_name(&id) => {
                    return Err(ConfigError {
                        variable: "BOURSE_REPLICA_ID",
                        problem: format!("{id:?} must be 1-64 characters of [a-zA-Z0-9_.-]"),
                    });
                }
                other => other,
            },
            lease_ms: parse_number("BOURSE_LEASE_MS", 3_000, 300..=600_000)?,
            event_retain: parse_number("BOURSE_EVENT_RETAIN", 1_000, 0..=1_000_000)?,
            event_retain_secs: parse_number("BOURSE_EVENT_RETAIN_SECS", 900, 1..=86_400)?,
            ws_max_per_ip: parse_number("BOURSE_WS_MAX_PER_IP", 256, 0..=1_000_000)?,
            ws_max_per_principal: parse_number("BOURSE_WS_MAX_PER_PRINCIPAL", 32, 0..=1_000_000)?,
            watch: parse_switch("BOURSE_WATCH", true)?,
        })
    }
}

/// A cluster or replica name: it becomes part of Redis keys.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// An on/off variable (`1`/`0`, `true`/`false`, `on`/`off`).
fn parse_switch(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name).as_deref().map(str::trim) {
        None => Ok(default),
        Some("1" | "true" | "on") => Ok(true),
        Some("0" | "false" | "off") => Ok(false),
        Some(other) => Err(ConfigError {
            variable: name,
            problem: format!("{other:?} is not on/off (1/0, true/false)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::mask_url;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_url("postgres://u:secret@h:5432/db"),
            "postgres://u:****@h:5432/db"
        );
        assert_eq!(mask_url("redis://:pw@h:6379"), "redis://:****@h:6379");
        assert_eq!(mask_url("redis://h:6379"), "redis://h:6379");
    }
}
