//! WIT contract checks: does a built component honour the world it claims?
//!
//! The component's own world is decoded from its binary and compared with the world in
//! `wit/`: every export of the world must be present with the same function types, the
//! component may export nothing else, and everything it imports must be in the world (or be
//! part of the WASI baseline that Rust's standard library imports). Types are compared by
//! structure, so a record renamed in one place but not the other still fails.
//!
//! Invariant: a component that names a world is checked or refused. A WIT directory that
//! does not exist is an error naming it (at load, upload, file-watch swap and `bourse check`
//! alike), never a silent skip.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use wit_parser::decoding::{DecodedWasm, decode};
use wit_parser::{
    Function, Handle, Resolve, Type, TypeDefKind, TypeId, WorldId, WorldItem, WorldKey,
};

/// WASI packages a component may import through its language's standard library (Rust's;
/// CPython's, built by componentize-py, adds `wasi:sockets`). The host gives them no ambient
/// authority: no preopened directories, no environment, and a socket reaches only what the
/// manifest's `allowed_outbound_hosts` grants.
const WASI_BASELINE: [&str; 6] = [
    "wasi:cli",
    "wasi:io",
    "wasi:clocks",
    "wasi:random",
    "wasi:filesystem",
    "wasi:sockets",
];

/// An export a toolchain adds beyond the world, which the host never calls: componentize-py
/// leaves the `init` of its build-time pre-initialisation exported as `exports`.
const TOOLCHAIN_EXPORTS: [(&str, &str); 1] = [("exports", "init")];

/// Whether `name`, exporting `functions`, is one of [`TOOLCHAIN_EXPORTS`] and nothing more.
fn toolchain_export(name: &str, functions: &BTreeMap<String, String>) -> bool {
    TOOLCHAIN_EXPORTS.iter().any(|(export, function)| {
        name == *export && functions.len() == 1 && functions.contains_key(*function)
    })
}

/// Why a contract check could not pass.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The WIT directory the world should be read from does not exist: the component cannot
    /// be checked, so it is refused rather than loaded unchecked.
    #[error(
        "contract {world}: WIT directory {dir} does not exist (set [application.tool.bourse] wit to the directory holding the world)"
    )]
    MissingWit { dir: String, world: String },
    /// The WIT directory does not parse or lacks the world.
    #[error("contract {world} in {dir}: {message}")]
    Wit {
        dir: String,
        world: String,
        message: String,
    },
    /// The file is not a WebAssembly component.
    #[error("not a WebAssembly component: {0}")]
    Decode(String),
    /// The component does not match its world.
    #[error("{0}")]
    Mismatch(Mismatch),
}

/// The differences between a component and its world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The world checked against.
    pub world: String,
    /// One line per difference.
    pub problems: Vec<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "component does not honour world {}:", self.world)?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// One interface or function of a world: its functions' rendered signatures.
type Surface = BTreeMap<String, BTreeMap<String, String>>;

/// Checks the component in `wasm` against `world` (e.g. `bourse:platform/auth`) in `wit_dir`.
pub fn check(wasm: &[u8], wit_dir: &Path, world: &str) -> Result<(), ContractError> {
    let (expected, expected_world) = load_world(wit_dir, world, world)?;
    let (actual, actual_world) = decode_component(wasm)?;
    let want_imports = surface(&expected, expected_world, true);
    let want_exports = surface(&expected, expected_world, false);
    let have_imports = surface(&actual, actual_world, true);
    let have_exports = surface(&actual, actual_world, false);

    let mut problems = Vec::new();
    for (name, want) in &want_exports {
        match find(&have_exports, name) {
            None => problems.push(format!("missing export `{name}`")),
            Some((have_name, have)) => {
                compare(&mut problems, "export", have_name, want, have, true)
            }
        }
    }
    for (name, functions) in &have_exports {
        if find(&want_exports, name).is_none() && !toolchain_export(name, functions) {
            problems.push(format!(
                "unexpected export `{name}`: world {world} does not export it"
            ));
        }
    }
    for (name, have) in &have_imports {
        match find(&want_imports, name) {
            Some((_, want)) => compare(&mut problems, "import", name, want, have, false),
            None if WASI_BASELINE
                .iter()
                .any(|p| name.starts_with(&format!("{p}/"))) => {}
            None => problems.push(format!(
                "imports `{name}`, which world {world} does not grant"
            )),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ContractError::Mismatch(Mismatch {
            world: world.to_string(),
            problems,
        }))
    }
}

/// The world of Spin's own WIT that lists what a Spin host provides to a guest.
pub const SPIN_PLATFORM_WORLD: &str = "spin:up/platform";

/// A `[component.X.dependencies]` entry: its key (`"ns:pkg"`, `"ns:pkg/iface"`, optionally
/// `@version`) and, for a local `path`, the component's bytes.
#[derive(Debug, Clone)]
pub struct SpinDependency {
    pub key: String,
    pub wasm: Option<Vec<u8>>,
}

/// What a Spin host provides: the imports of the platform world of Spin's WIT, read once
/// and used for every component checked.
pub struct SpinPlatform {
    hosted: Surface,
}

impl SpinPlatform {
    /// Reads Spin's platform world from `spin_dir` (the repository keeps it in
    /// `wit/spin-platform`).
    pub fn load(spin_dir: &Path) -> Result<SpinPlatform, ContractError> {
        let (spin, platform) = load_world(spin_dir, "platform", SPIN_PLATFORM_WORLD)?;
        Ok(SpinPlatform {
            hosted: surface(&spin, platform, true),
        })
    }

    /// Would Spin load the component in `wasm`? Every import must be hosted by Spin (a
    /// semver-compatible version of the interface, with the same function signatures), or
    /// be satisfied by one of `dependencies`. A dependency given as a local component must
    /// export what it stands in for, with the same signatures, and its own imports must be
    /// hosted by Spin (Spin composes one level); one from a registry or URL is taken at its
    /// word.
    pub fn check(&self, wasm: &[u8], dependencies: &[SpinDependency]) -> Result<(), ContractError> {
        let mut problems = Vec::new();
        let mut provided: Vec<(&str, Option<Surface>)> = Vec::new();
        for dep in dependencies {
            let Some(bytes) = &dep.wasm else {
                provided.push((&dep.key, None));
                continue;
            };
            let (resolve, world) = decode_component(bytes)?;
            let prefix = format!("dependency `{}`: ", dep.key);
            self.unhosted(&resolve, world, &[], &mut problems, &prefix);
            provided.push((&dep.key, Some(surface(&resolve, world, false))));
        }
        let (actual, actual_world) = decode_component(wasm)?;
        self.unhosted(&actual, actual_world, &provided, &mut problems, "");
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ContractError::Mismatch(Mismatch {
                world: SPIN_PLATFORM_WORLD.to_string(),
                problems,
            }))
        }
    }

    /// Adds to `problems` each import of `world` that neither Spin nor a dependency in
    /// `provided` (its key and, when known, its exports) supplies.
    fn unhosted(
        &self,
        resolve: &Resolve,
        world: WorldId,
        provided: &[(&str, Option<Surface>)],
        problems: &mut Vec<String>,
        prefix: &str,
    ) {
        let types_only = types_only_imports(resolve, world);
        for (name, have) in &surface(resolve, world, true) {
            // Wasmtime-based runtimes, Spin among them, need no definition for an imported
            // interface that only names value types.
            if types_only.contains(name) {
                continue;
            }
            let (offered, by) = match provided.iter().find(|(key, _)| satisfies(key, name)) {
                Some((_, None)) => continue,
                Some((key, Some(exports))) => match find(exports, name) {
                    Some((_, offered)) => (offered, format!("as dependency `{key}` exports it")),
                    None => {
                        problems.push(format!(
                            "{prefix}imports `{name}`, which dependency `{key}` does not export"
                        ));
                        continue;
                    }
                },
                None => match find(&self.hosted, name) {
                    Some((spin_name, want)) => (want, format!("Spin hosts `{spin_name}`")),
                    None => {
                        problems.push(format!(
                            "{prefix}imports `{name}`, which Spin does not host and no [component.X.dependencies] entry satisfies"
                        ));
                        continue;
                    }
                },
            };
            let mut found = Vec::new();
            compare(&mut found, "import", name, offered, have, false);
            problems.extend(found.into_iter().map(|p| format!("{prefix}{p} ({by})")));
        }
    }
}

/// The world `select` of the WIT package in `dir`; errors name it as `label`.
fn load_world(dir: &Path, select: &str, label: &str) -> Result<(Resolve, WorldId), ContractError> {
    let wit_error = |message: String| ContractError::Wit {
        dir: dir.display().to_string(),
        world: label.to_string(),
        message,
    };
    if !dir.is_dir() {
        return Err(ContractError::MissingWit {
            dir: dir.display().to_string(),
            world: label.to_string(),
        });
    }
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(dir)
        .map_err(|e| wit_error(format!("{e:#}")))?;
    let world = resolve
        .select_world(&[package], Some(select))
        .map_err(|e| wit_error(format!("{e:#}")))?;
    Ok((resolve, world))
}

/// The interfaces (`ns:pkg/name@version`) and top-level items component `wasm` imports that
/// a host must link: those naming only value types are left out.
pub fn linked_imports(wasm: &[u8]) -> Result<Vec<String>, ContractError> {
    let (resolve, world) = decode_component(wasm)?;
    let types_only = types_only_imports(&resolve, world);
    Ok(resolve.worlds[world]
        .imports
        .iter()
        .filter(|(_, item)| !matches!(item, WorldItem::Type { .. }))
        .map(|(key, _)| match key {
            WorldKey::Interface(i) => resolve
                .id_of(*i)
                .unwrap_or_else(|| resolve.name_world_key(key)),
            WorldKey::Name(n) => n.clone(),
        })
        .filter(|name| !types_only.contains(name))
        .collect())
}

/// Imported interfaces with no functions and no resources: nothing to link.
fn types_only_imports(resolve: &Resolve, world: WorldId) -> Vec<String> {
    resolve.worlds[world]
        .imports
        .iter()
        .filter_map(|(key, item)| {
            let WorldItem::Interface { id, .. } = item else {
                return None;
            };
            let iface = &resolve.interfaces[*id];
            let has_resource = iface
                .types
                .values()
                .any(|t| matches!(resolve.types[*t].kind, TypeDefKind::Resource));
            (iface.functions.is_empty() && !has_resource).then(|| match key {
                WorldKey::Interface(i) => resolve
                    .id_of(*i)
                    .unwrap_or_else(|| resolve.name_world_key(key)),
                WorldKey::Name(n) => n.clone(),
            })
        })
        .collect()
}

/// Whether the dependency key `dependency` (Spin's syntax) covers the import `import`.
fn satisfies(dependency: &str, import: &str) -> bool {
    let (dep_base, dep_version) = match dependency.split_once('@') {
        Some((b, v)) => (b, Some(v)),
        None => (dependency, None),
    };
    let import_base = import.split_once('@').map_or(import, |(b, _)| b);
    let covers = dep_base == import_base
        || (!dep_base.contains('/') && import_base.starts_with(&format!("{dep_base}/")));
    covers
        && dep_version.is_none_or(|v| {
            compatible_name(&format!("x@{v}"))
                == compatible_name(&format!(
                    "x@{}",
                    import.split_once('@').map_or("", |(_, v)| v)
                ))
        })
}

fn decode_component(wasm: &[u8]) -> Result<(Resolve, WorldId), ContractError> {
    match decode(wasm) {
        Ok(DecodedWasm::Component(resolve, world)) => Ok((resolve, world)),
        Ok(DecodedWasm::WitPackage(..)) => Err(ContractError::Decode(
            "it is a WIT package, not a component".into(),
        )),
        Err(e) => Err(ContractError::Decode(format!("{e:#}"))),
    }
}

/// `wasi:io/streams@0.2.4` and `@0.2.12` are the same contract (semver-compatible 0.x minor).
/// `name` (`ns:pkg/iface@version`) with its version cut to what semver-compatible versions
/// share (`@0.2` for `0.2.x`, `@2` for `2.x`).
pub fn compatible_name(name: &str) -> String {
    match name.rsplit_once('@') {
        Some((base, version)) => {
            let mut parts = version.split('.');
            let major = parts.next().unwrap_or("");
            let minor = parts.next().unwrap_or("");
            if major == "0" {
                format!("{base}@0.{minor}")
            } else {
                format!("{base}@{major}")
            }
        }
        None => name.to_string(),
    }
}

fn find<'a>(
    surface: &'a Surface,
    name: &str,
) -> Option<(&'a String, &'a BTreeMap<String, String>)> {
    let key = compatible_name(name);
    surface.iter().find(|(n, _)| compatible_name(n) == key)
}

fn compare(
    problems: &mut Vec<String>,
    direction: &str,
    name: &str,
    want: &BTreeMap<String, String>,
    have: &BTreeMap<String, String>,
    all_required: bool,
) {
    for (func, want_sig) in want {
        match have.get(func) {
            Some(have_sig) if have_sig == want_sig => {}
            Some(have_sig) => problems.push(format!(
                "{direction} `{name}`: `{func}` is `{have_sig}`, the world says `{want_sig}`"
            )),
            None if all_required => {
                problems.push(format!("{direction} `{name}`: missing function `{func}`"))
            }
            None => {}
        }
    }
    for (func, have_sig) in have {
        if !want.contains_key(func) {
            problems.push(format!(
                "{direction} `{name}`: function `{func}: {have_sig}` is not in the world"
            ));
        }
    }
}

fn surface(resolve: &Resolve, world: WorldId, imports: bool) -> Surface {
    let w = &resolve.worlds[world];
    let items = if imports { &w.imports } else { &w.exports };
    let mut out = Surface::new();
    for (key, item) in items {
        let name = match key {
            WorldKey::Interface(id) => resolve
                .id_of(*id)
                .unwrap_or_else(|| resolve.name_world_key(key)),
            WorldKey::Name(n) => n.clone(),
        };
        match item {
            WorldItem::Interface { id, .. } => {
                let functions = resolve.interfaces[*id]
                    .functions
                    .iter()
                    .map(|(n, f)| (n.clone(), render_function(resolve, f)))
                    .collect();
                out.insert(name, functions);
            }
            WorldItem::Function(f) => {
                out.insert(
                    name,
                    BTreeMap::from([(f.name.clone(), render_function(resolve, f))]),
                );
            }
            WorldItem::Type { .. } => {}
        }
    }
    out
}

fn render_function(resolve: &Resolve, f: &Function) -> String {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, render(resolve, &p.ty)))
        .collect();
    match &f.result {
        Some(ty) => format!("func({}) -> {}", params.join(", "), render(resolve, ty)),
        None => format!("func({})", params.join(", ")),
    }
}

fn render(resolve: &Resolve, ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
        Type::Id(id) => render_def(resolve, *id),
    }
}

fn render_opt(resolve: &Resolve, ty: Option<&Type>) -> String {
    ty.map_or_else(|| "_".to_string(), |t| render(resolve, t))
}

fn render_def(resolve: &Resolve, id: TypeId) -> String {
    let def = &resolve.types[id];
    match &def.kind {
        TypeDefKind::Record(r) => format!(
            "record {{ {} }}",
            r.fields
                .iter()
                .map(|f| format!("{}: {}", f.name, render(resolve, &f.ty)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Resource => format!("resource {}", def.name.as_deref().unwrap_or("?")),
        TypeDefKind::Handle(Handle::Own(r)) => format!("own<{}>", render_def(resolve, *r)),
        TypeDefKind::Handle(Handle::Borrow(r)) => format!("borrow<{}>", render_def(resolve, *r)),
        TypeDefKind::Flags(f) => format!(
            "flags {{ {} }}",
            f.flags
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            t.types
                .iter()
                .map(|t| render(resolve, t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Variant(v) => format!(
            "variant {{ {} }}",
            v.cases
                .iter()
                .map(|c| match &c.ty {
                    Some(t) => format!("{}({})", c.name, render(resolve, t)),
                    None => c.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Enum(e) => format!(
            "enum {{ {} }}",
            e.cases
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Option(t) => format!("option<{}>", render(resolve, t)),
        TypeDefKind::Result(r) => format!(
            "result<{}, {}>",
            render_opt(resolve, r.ok.as_ref()),
            render_opt(resolve, r.err.as_ref())
        ),
        TypeDefKind::List(t) => format!("list<{}>", render(resolve, t)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", render(resolve, k), render(resolve, v)),
        TypeDefKind::FixedLengthList(t, n) => format!("list<{}, {n}>", render(resolve, t)),
        TypeDefKind::Future(t) => format!("future<{}>", render_opt(resolve, t.as_ref())),
        TypeDefKind::Stream(t) => format!("stream<{}>", render_opt(resolve, t.as_ref())),
        TypeDefKind::Type(t) => render(resolve, t),
        TypeDefKind::Unknown => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::{compatible_name, satisfies};

    #[test]
    fn dependency_keys_cover_packages_interfaces_and_compatible_versions() {
        let import = "bourse:platform/market@0.1.0";
        assert!(satisfies("bourse:platform", import));
        assert!(satisfies("bourse:platform/market", import));
        assert!(satisfies("bourse:platform/market@0.1.3", import));
        assert!(!satisfies("bourse:platform/market@0.2.0", import));
        assert!(!satisfies("bourse:platform/events", import));
        assert!(!satisfies("bourse:plat", import));
    }

    #[test]
    fn patch_versions_of_0x_packages_are_compatible() {
        assert_eq!(
            compatible_name("wasi:io/streams@0.2.4"),
            compatible_name("wasi:io/streams@0.2.12")
        );
        assert_ne!(
            compatible_name("wasi:io/streams@0.2.4"),
            compatible_name("wasi:io/streams@0.3.0")
        );
        assert_eq!(compatible_name("a:b/c@1.2.0"), "a:b/c@1");
    }
}
