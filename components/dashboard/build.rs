//! Compiles the front end's build output (`dashboard/dist`) into the component: a static table
//! of every file with its URL path, content type, bytes and ETag, written to `OUT_DIR`. The UI
//! is then part of the component's digest, so hot swap, rollback and the audit trail cover it.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Hex digits of the SHA-256 kept in an ETag: 64 bits tell versions of one file apart.
const ETAG_HEX: usize = 16;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest_dir.join("../../dashboard/dist");
    // A directory is scanned whole by cargo: a rebuilt front end (new hashed names) reruns this.
    println!("cargo::rerun-if-changed={}", dist.display());
    if !dist.join("index.html").is_file() {
        println!(
            "cargo::error=dashboard/dist is missing: run scripts/build-dashboard.sh (bourse build runs it)"
        );
        return;
    }
    let dist = dist.canonicalize().expect("dashboard/dist resolves");
    let mut files = Vec::new();
    collect(&dist, &mut files);
    files.sort();

    let mut table = String::from("static ASSETS: &[Asset] = &[\n");
    for file in &files {
        println!("cargo::rerun-if-changed={}", file.display());
        let relative = file.strip_prefix(&dist).expect("under dist");
        let url: String = relative
            .components()
            .map(|c| format!("/{}", c.as_os_str().to_str().expect("UTF-8 file name")))
            .collect();
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let digest = hex::encode(Sha256::digest(&bytes));
        let etag = format!("\"{}\"", &digest[..ETAG_HEX]);
        let absolute = file.to_str().expect("UTF-8 path");
        // `{:?}` writes each string as a Rust literal, escapes included.
        table.push_str(&format!(
            "    Asset {{ path: {url:?}, content_type: {:?}, body: include_bytes!({absolute:?}), etag: {etag:?} }},\n",
            content_type(file)
        ));
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("assets.rs");
    std::fs::write(&out, table).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

/// Every file under `dir`, dot files left out (editor and OS litter, never part of a build).
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
        {
            continue;
        }
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// The content type browsers need for what a Vite build writes (scripts must be served as
/// JavaScript for `<script type="module">` to run at all).
fn content_type(path: &Path) -> &'static str {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}
