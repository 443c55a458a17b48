//! The application manifest: Spin's `spin.toml` (manifest version 2), read the way Spin
//! reads it — unknown fields are errors except inside `tool` tables, where Bourse keeps its
//! own settings (`[application.tool.bourse]`, `[component.X.tool.bourse]`).

mod allowed_hosts;
mod routes;
mod variables;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use allowed_hosts::{AllowedHosts, destination};
pub use routes::{Route, RouteTable};
pub use variables::{VariableError, Variables, resolve_template};

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The TOML is malformed or a field is unknown or of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The document parses but does not make sense.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A parsed and checked manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it came from.
    pub path: PathBuf,
    /// Directory that relative paths are resolved against.
    pub root: PathBuf,
    /// `[application]`.
    pub application: Application,
    /// `[variables]`: application variables and their defaults.
    pub variables: BTreeMap<String, VariableDecl>,
    /// HTTP triggers in manifest order.
    pub routes: RouteTable,
    /// Routes callable without credentials (`public_routes`); `None` when the manifest does
    /// not say, and then no route needs credentials.
    pub public: Option<RouteTable>,
    /// `[component.X]` by id.
    pub components: BTreeMap<String, ComponentDecl>,
    /// Components with a `{ private = true }` route (Spin's service chaining), which no
    /// request reaches here.
    pub private_routes: Vec<String>,
    /// Components whose trigger names an executor other than Spin's default (`wagi`), with
    /// its name: Bourse serves every component through `wasi:http`.
    pub other_executors: Vec<(String, String)>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    spin_manifest_version: u32,
    application: Application,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: Triggers,
    #[serde(default)]
    component: BTreeMap<String, ComponentDecl>,
}

/// `[application]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// Application name.
    pub name: String,
    /// Application version.
    #[serde(default)]
    pub version: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Authors.
    #[serde(default)]
    pub authors: Vec<String>,
    /// Spin environments the application must be compatible with (`targets`); accepted,
    /// not used.
    #[serde(default)]
    pub targets: Vec<toml::Value>,
    /// Per-trigger application settings (Spin's `[application.trigger.http]`); accepted,
    /// not used.
    #[serde(default)]
    pub trigger: Option<toml::Table>,
    /// Tool tables; `tool.bourse` is ours.
    #[serde(default)]
    pub tool: ApplicationTools,
}

/// `[application.tool]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApplicationTools {
    /// `[application.tool.bourse]`; absent in a plain Spin application, which is then served
    /// as Spin serves it (see [`Manifest::is_spin_app`]).
    #[serde(default)]
    pub bourse: Option<BourseApplication>,
    /// Other tools' tables are theirs.
    #[serde(flatten)]
    pub other: toml::Table,
}

impl ApplicationTools {
    /// `[application.tool.bourse]`, or its defaults when the manifest has none.
    pub fn bourse(&self) -> &BourseApplication {
        static NONE: BourseApplication = BourseApplication {
            auth_component: None,
            symbols: Vec::new(),
            wit: None,
            public_routes: None,
            spin_headers: true,
        };
        self.bourse.as_ref().unwrap_or(&NONE)
    }
}

/// `[application.tool.bourse]`: platform settings Spin does not know about.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BourseApplication {
    /// The component whose `authenticate` export the host calls for requests with
    /// credentials.
    #[serde(default)]
    pub auth_component: Option<String>,
    /// Tradable symbols; `AAPL`, `MSFT`, `SPY` (tick 0.01, lot 1) when empty.
    #[serde(default)]
    pub symbols: Vec<SymbolDecl>,
    /// Directory of the WIT contracts components are checked against (default `wit`).
    #[serde(default)]
    pub wit: Option<PathBuf>,
    /// Routes (Spin syntax) anyone may call; when set, every other application route needs
    /// credentials and answers 401 without them.
    #[serde(default)]
    pub public_routes: Option<Vec<String>>,
    /// Whether components get Spin's `spin-*` request headers (default: yes, as under Spin).
    /// Off for an application none of whose components reads them: each is work on every
    /// component request. A client's `spin-*` headers are removed either way.
    #[serde(default = "yes")]
    pub spin_headers: bool,
}

fn yes() -> bool {
    true
}

/// One tradable symbol.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolDecl {
    /// Symbol, e.g. `AAPL`.
    pub symbol: String,
    /// Price increment as a decimal string, e.g. `"0.01"`.
    pub tick_size: String,
    /// Quantity increment as a decimal string, e.g. `"1"`.
    pub lot_size: String,
}

/// A `[variables]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    /// Value when no provider sets one.
    #[serde(default)]
    pub default: Option<String>,
    /// A value that must come from the environment.
    #[serde(default)]
    pub required: bool,
    /// Never logged or shown.
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Triggers {
    #[serde(default)]
    http: Vec<HttpTrigger>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpTrigger {
    route: RouteDecl,
    component: String,
    #[serde(default)]
    executor: Option<toml::Table>,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "Spin's trigger id, accepted; Bourse names triggers by route"
    )]
    id: Option<String>,
}

/// A trigger's `route`: a pattern, or `{ private = true }` for a component reachable only by
/// other components (Spin's service chaining), which no HTTP request reaches.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RouteDecl {
    Pattern(String),
    Private(PrivateRoute),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateRoute {
    private: bool,
}

/// `[component.X]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDecl {
    /// Path of the `.wasm`, relative to the manifest.
    pub source: PathBuf,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Key-value store labels the component may open.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// SQL database names the component may open.
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    /// Outbound HTTP destinations (`https://api.example.com`, Spin's syntax; `{{ variable }}`
    /// templates allowed).
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variables: literal values or `{{ app_variable }}` templates.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Environment variables for the guest, as Spin sets them.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Files to mount (Spin feature; Bourse mounts none).
    #[serde(default)]
    pub files: Vec<toml::Value>,
    /// Files never mounted (Spin feature; Bourse mounts none).
    #[serde(default)]
    pub exclude_files: Vec<String>,
    /// AI models (Spin feature; Bourse hosts no LLM interface).
    #[serde(default)]
    pub ai_models: Vec<String>,
    /// Components that satisfy some of this component's imports (Spin's
    /// `[component.X.dependencies]`, keyed by import: `"bourse:platform/market" = { path = … }`).
    /// Spin composes them in; Bourse, in its normal mode, hosts those imports natively and
    /// reads this table only to check Spin compatibility.
    #[serde(default)]
    pub dependencies: BTreeMap<String, toml::Value>,
    /// Whether dependencies get this component's grants (Spin feature).
    #[serde(default)]
    pub dependencies_inherit_configuration: bool,
    /// Per-profile sources (Spin feature; Bourse uses `source`).
    #[serde(default)]
    pub profile: toml::Table,
    /// How to build it.
    #[serde(default)]
    pub build: Option<BuildDecl>,
    /// Tool tables; `tool.bourse` is ours.
    #[serde(default)]
    pub tool: ComponentTools,
}

/// `[component.X.build]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildDecl {
    /// Shell command that builds the component.
    pub command: String,
    /// Directory to run it in, relative to the manifest.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    /// Files whose change makes the component stale (globs, relative to the manifest).
    #[serde(default)]
    pub watch: Vec<String>,
}

/// `[component.X.tool]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ComponentTools {
    /// `[component.X.tool.bourse]`.
    #[serde(default)]
    pub bourse: BourseComponent,
    /// Other tools' tables.
    #[serde(flatten)]
    pub other: toml::Table,
}

/// `[component.X.tool.bourse]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BourseComponent {
    /// The WIT world the component implements, e.g. `bourse:platform/auth`.
    #[serde(default)]
    pub world: Option<String>,
    /// The WIT directory holding `world`, relative to the manifest (default: the
    /// application's `wit`). A component made by `bourse new` in another language keeps its
    /// own copy of the worlds it was made for, which its toolchain reads too.
    #[serde(default)]
    pub wit: Option<PathBuf>,
    /// Linear-memory cap per instance in MiB (default: `BOURSE_INSTANCE_MEMORY_MB`).
    #[serde(default)]
    pub memory_mb: Option<u64>,
    /// Deadline of one call in milliseconds (default: `BOURSE_REQUEST_TIMEOUT_MS`).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Most instances running at once; further requests wait briefly, then get 503.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Most of its HTTP requests running at once (default: no bound besides
    /// `max_concurrency`), for components whose routes are expensive (sign-in hashes
    /// passwords): the rest queue up to the call deadline, and typed calls such as
    /// `authenticate` are not held back by it.
    #[serde(default)]
    pub http_concurrency: Option<u32>,
    /// Most HTTP requests one instance serves before it is dropped (default 1: a fresh
    /// instance per request). Above 1 the component keeps its globals between requests; see
    /// docs/components.md for what that allows. The same meaning as `wasmtime serve
    /// --max-instance-reuse-count` and Spin's flag of that name.
    #[serde(default)]
    pub instance_reuse: Option<u32>,
    /// Most requests one instance serves at once (default 1). Only a WASIp3 component can
    /// take more than one; a WASIp2 one is called one request at a time whatever this says.
    #[serde(default)]
    pub instance_reuse_concurrency: Option<u32>,
    /// How long an idle reused instance is kept for the next request, in milliseconds
    /// (default 1000).
    #[serde(default)]
    pub idle_instance_timeout_ms: Option<u64>,
    /// Instance roles (`BOURSE_ROLE`) that run this component besides `all`; `["api"]` when
    /// absent. One of `api`, `matching`, `simulation`, `auth`.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

/// Roles a component may name.
pub const COMPONENT_ROLES: [&str; 4] = ["api", "matching", "simulation", "auth"];

impl BourseComponent {
    /// The roles that run this component (besides `all`).
    pub fn roles(&self) -> Vec<String> {
        self.roles
            .clone()
            .unwrap_or_else(|| vec!["api".to_string()])
    }
}

/// Longest `idle_instance_timeout_ms` accepted: an idle instance holds a pool slot and its
/// memory, so it is not kept for long.
pub const MAX_IDLE_INSTANCE_TIMEOUT_MS: u64 = 600_000;

fn check_reuse(tool: &BourseComponent) -> Result<(), String> {
    if tool.instance_reuse == Some(0) {
        return Err("instance_reuse must be at least 1 (1 is a fresh instance per request)".into());
    }
    if tool.instance_reuse_concurrency == Some(0) {
        return Err("instance_reuse_concurrency must be at least 1".into());
    }
    match tool.idle_instance_timeout_ms {
        Some(0) => Err("idle_instance_timeout_ms must be at least 1".into()),
        Some(ms) if ms > MAX_IDLE_INSTANCE_TIMEOUT_MS => Err(format!(
            "idle_instance_timeout_ms is {ms}; the most is {MAX_IDLE_INSTANCE_TIMEOUT_MS} (10 minutes)"
        )),
        _ => Ok(()),
    }
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(path, &text)
    }

    /// Parses manifest `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let doc: Document = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| line_column(text, span.start));
            ManifestError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let invalid = |message: String| ManifestError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if doc.spin_manifest_version != 2 {
            return Err(invalid(format!(
                "spin_manifest_version is {}, but only version 2 is supported",
                doc.spin_manifest_version
            )));
        }
        for name in doc.variables.keys() {
            variables::check_name(name).map_err(|e| invalid(format!("[variables]: {e}")))?;
        }
        for (id, component) in &doc.component {
            if !valid_component_id(id) {
                return Err(invalid(format!(
                    "component id {id:?} must be lower-case letters, digits and '-', starting with a letter"
                )));
            }
            if let Some(bad) = component
                .tool
                .bourse
                .roles
                .iter()
                .flatten()
                .find(|r| !COMPONENT_ROLES.contains(&r.as_str()))
            {
                return Err(invalid(format!(
                    "[component.{id}.tool.bourse] roles: {bad:?} is not one of api, matching, simulation, auth"
                )));
            }
            check_reuse(&component.tool.bourse)
                .map_err(|e| invalid(format!("[component.{id}.tool.bourse] {e}")))?;
            for entry in &component.allowed_outbound_hosts {
                let at =
                    |e: String| invalid(format!("[component.{id}] allowed_outbound_hosts {e}"));
                if entry.contains("{{") {
                    variables::check_template(entry, &doc.variables)
                        .map_err(|e| at(format!("{entry:?}: {e}")))?;
                } else {
                    AllowedHosts::parse(std::slice::from_ref(entry)).map_err(at)?;
                }
            }
            for (name, value) in &component.variables {
                variables::check_name(name)
                    .map_err(|e| invalid(format!("[component.{id}.variables]: {e}")))?;
                variables::check_template(value, &doc.variables)
                    .map_err(|e| invalid(format!("[component.{id}.variables] {name}: {e}")))?;
            }
        }
        let mut routes = Vec::new();
        let mut private_routes = Vec::new();
        let mut other_executors = Vec::new();
        for trigger in &doc.trigger.http {
            if let Some(kind) = trigger
                .executor
                .as_ref()
                .and_then(|e| e.get("type"))
                .and_then(toml::Value::as_str)
                .filter(|k| *k != "spin" && *k != "http")
            {
                other_executors.push((trigger.component.clone(), kind.to_string()));
            }
            if !doc.component.contains_key(&trigger.component) {
                return Err(invalid(format!(
                    "[[trigger.http]] route {:?} names component {:?}, which has no [component.{}] table",
                    trigger.route, trigger.component, trigger.component
                )));
            }
            let pattern = match &trigger.route {
                RouteDecl::Pattern(pattern) => pattern,
                RouteDecl::Private(PrivateRoute { private: true }) => {
                    private_routes.push(trigger.component.clone());
                    continue;
                }
                RouteDecl::Private(PrivateRoute { private: false }) => {
                    return Err(invalid(format!(
                        "[[trigger.http]] of component {:?}: route must be a string pattern or '{{ private = true }}'",
                        trigger.component
                    )));
                }
            };
            if pattern == "/.well-known/spin" || pattern.starts_with("/.well-known/spin/") {
                return Err(invalid(format!(
                    "[[trigger.http]] route {pattern:?}: /.well-known/spin/... is reserved for the host"
                )));
            }
            let route = Route::parse(pattern, &trigger.component)
                .map_err(|e| invalid(format!("[[trigger.http]] route {pattern:?}: {e}")))?;
            routes.push(route);
        }
        if let Some(auth) = &doc.application.tool.bourse().auth_component
            && !doc.component.contains_key(auth)
        {
            return Err(invalid(format!(
                "[application.tool.bourse] auth_component {auth:?} is not a component of this manifest"
            )));
        }
        let public = match &doc.application.tool.bourse().public_routes {
            None => None,
            Some(list) => Some(RouteTable::new(
                list.iter()
                    .map(|r| {
                        Route::parse(r, "").map_err(|e| {
                            invalid(format!(
                                "[application.tool.bourse] public_routes {r:?}: {e}"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            )),
        };
        let root = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Manifest {
            path: path.to_path_buf(),
            root,
            application: doc.application,
            variables: doc.variables,
            routes: RouteTable::new(routes),
            public,
            components: doc.component,
            private_routes,
            other_executors,
        })
    }

    /// Whether this is a plain Spin application (no `[application.tool.bourse]` table): it is
    /// served as Spin serves it — the component's answer as written, with no platform headers,
    /// and Spin's answers where no component answers.
    pub fn is_spin_app(&self) -> bool {
        self.application.tool.bourse.is_none()
    }

    /// A path from the manifest, resolved against its directory.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        self.root.join(relative)
    }

    /// The WIT directory component `decl` is checked against: its own, else the
    /// application's.
    pub fn wit_dir_of(&self, decl: &ComponentDecl) -> PathBuf {
        match &decl.tool.bourse.wit {
            Some(dir) => self.resolve(dir),
            None => self.wit_dir(),
        }
    }

    /// The application's WIT directory (default `wit`).
    pub fn wit_dir(&self) -> PathBuf {
        self.resolve(
            self.application
                .tool
                .bourse()
                .wit
                .as_deref()
                .unwrap_or(Path::new("wit")),
        )
    }
}

fn valid_component_id(id: &str) -> bool {
    id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2

[application]
name = "demo"

[variables]
token = { default = "x" }

[[trigger.http]]
route = "/api/hello/..."
component = "hello"

[component.hello]
source = "hello.wasm"
[component.hello.variables]
token = "{{ token }}"
[component.hello.tool.bourse]
world = "bourse:platform/auth"
"#;

    #[test]
    fn parses_a_spin_manifest() {
        let m = Manifest::parse(Path::new("spin.toml"), GOOD).expect("valid manifest");
        assert_eq!(m.application.name, "demo");
        assert_eq!(m.components["hello"].source, PathBuf::from("hello.wasm"));
        assert_eq!(
            m.components["hello"].tool.bourse.world.as_deref(),
            Some("bourse:platform/auth")
        );
    }

    #[test]
    fn instance_reuse_settings_are_read_and_bounded() {
        let with = |settings: &str| {
            Manifest::parse(
                Path::new("spin.toml"),
                &GOOD.replace(
                    "world = \"bourse:platform/auth\"",
                    &format!("world = \"bourse:platform/auth\"\n{settings}"),
                ),
            )
        };
        let m = with(
            "instance_reuse = 500\ninstance_reuse_concurrency = 4\nidle_instance_timeout_ms = 2000",
        )
        .expect("valid reuse settings");
        let tool = &m.components["hello"].tool.bourse;
        assert_eq!(
            (
                tool.instance_reuse,
                tool.instance_reuse_concurrency,
                tool.idle_instance_timeout_ms
            ),
            (Some(500), Some(4), Some(2000))
        );
        for (settings, want) in [
            ("instance_reuse = 0", "instance_reuse must be at least 1"),
            (
                "instance_reuse_concurrency = 0",
                "instance_reuse_concurrency must be at least 1",
            ),
            (
                "idle_instance_timeout_ms = 0",
                "idle_instance_timeout_ms must be at least 1",
            ),
            ("idle_instance_timeout_ms = 600001", "the most is 600000"),
            ("instance_reuse = -1", "invalid value"),
        ] {
            let text = with(settings).expect_err(settings).to_string();
            assert!(text.contains(want), "{settings}: {text}");
        }
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let bad = GOOD.replace(
            "source = \"hello.wasm\"",
            "source = \"hello.wasm\"\nsauce = 1",
        );
        let err = Manifest::parse(Path::new("app/spin.toml"), &bad).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("app/spin.toml:16:1:"), "{text}");
        assert!(text.contains("unknown field `sauce`"), "{text}");
    }

    #[test]
    fn route_to_missing_component_is_named() {
        let bad = GOOD.replace("component = \"hello\"", "component = \"nope\"");
        let err = Manifest::parse(Path::new("spin.toml"), &bad).unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
    }

    #[test]
    fn template_must_name_a_declared_variable() {
        let bad = GOOD.replace("{{ token }}", "{{ missing }}");
        let err = Manifest::parse(Path::new("spin.toml"), &bad).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn unknown_fields_in_tool_tables_of_other_tools_are_allowed() {
        let ok = GOOD.replace(
            "[component.hello.tool.bourse]",
            "[component.hello.tool.other]\nanything = 1\n[component.hello.tool.bourse]",
        );
        Manifest::parse(Path::new("spin.toml"), &ok).expect("other tools' tables are theirs");
    }
}
