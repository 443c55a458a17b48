//! `GET /api/openapi.json`: the OpenAPI 3.1 description of everything this host serves.
//!
//! The host's own routes are registered through utoipa-axum's router (`routes!`), which takes
//! each route's path and method from its handler's `#[utoipa::path]`: a host route cannot be
//! served undescribed, nor described at a path it is not served at. Each component describes
//! its own routes in an `openapi.json` kept beside its code and compiled into its `.wasm` as
//! the custom section `bourse:openapi` (see [`crate::runtime::description`]); the host reads it from the live
//! version, so a hot swap changes the description with the code. Trigger routes whose
//! component publishes no description (a plain Spin app's) are still listed, from the
//! manifest, so the description covers every route the host would serve.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::AppState;
use crate::manifest::Manifest;

/// The methods a route whose component publishes no description is listed under: a trigger
/// route takes every method, and these are the ones OpenAPI can name that such a component
/// plausibly serves.
const ANY_METHOD: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The host's part of the description; the operations come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bourse",
        description = "The REST API of a Bourse host: its own routes (health, metrics, \
            components, simulations, indicators, WebSocket tickets, hot swap) and the routes \
            of the application's components, each described by the component itself."
    ),
    modifiers(&Bearer),
    components(schemas(ErrorBody)),
    tags(
        (name = "platform", description = "Health, readiness, metrics and the host's own figures"),
        (name = "admin", description = "Hot swap and rollback of components (ADMIN_TOKEN, or the ops or admin role)"),
        (name = "simulations", description = "Simulation runs: start, watch, stop, read"),
        (name = "indicators", description = "Custom signals computed by a component's indicator export"),
        (name = "events", description = "The WebSocket hub")
    )
)]
pub struct HostApi;

/// The bearer credential every authenticated route takes (a session token from the auth
/// component, an API key, or `ADMIN_TOKEN` on `/admin`).
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every error answer of the host: `{"error": {"code", "message", "request_id"}}`.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, in a machine-readable code and a sentence.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable (`invalid_body`, `unknown_simulation`, ...).
    pub code: String,
    /// What was wrong, naming the field or value.
    pub message: String,
    /// The request's id, as in the `x-request-id` header and the host log.
    pub request_id: String,
}

/// The host's description and the last merge with the live components' descriptions.
pub struct Description {
    host: Value,
    /// The live versions' digests the cached merge was made from, and the merge.
    merged: Mutex<Option<(Vec<String>, bytes::Bytes)>>,
}

impl Description {
    pub fn new(host: utoipa::openapi::OpenApi) -> Description {
        Description {
            host: serde_json::to_value(host).unwrap_or_else(|_| json!({})),
            merged: Mutex::new(None),
        }
    }
}

/// The OpenAPI 3.1 description of this host: its own routes and its components'.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "platform",
    summary = "This description",
    description = "The host's routes, described from their handlers, merged with each live \
        component's own description (carried in its .wasm, so a hot swap updates it); trigger \
        routes of components that publish none are listed with every method.",
    responses((status = 200, description = "An OpenAPI 3.1 document", body = Object))
)]
pub(super) async fn serve(State(app): State<Arc<AppState>>) -> Response {
    let live = app.runtime.live_descriptions();
    let key: Vec<String> = live.iter().map(|(_, digest, _)| digest.clone()).collect();
    let cached = app.openapi.merged.lock().ok().and_then(|m| {
        m.as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, b)| b.clone())
    });
    let body = match cached {
        Some(body) => body,
        None => {
            let components: Vec<(&str, Option<&Value>)> = live
                .iter()
                .map(|(name, _, doc)| (name.as_str(), doc.as_deref()))
                .collect();
            let doc = merge(&app.openapi.host, app.runtime.manifest(), &components);
            let body = bytes::Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
            if let Ok(mut m) = app.openapi.merged.lock() {
                *m = Some((key, body.clone()));
            }
            body
        }
    };
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The host's description with each component's merged in. A component's operation is kept
/// only where the manifest routes its path to that component and the host does not serve the
/// same method and path itself; its schemas are renamed `<component>.<Name>` so two
/// components' `Error` do not collide. Every trigger route left without an operation gets one
/// per method in [`ANY_METHOD`].
pub fn merge(host: &Value, manifest: &Manifest, components: &[(&str, Option<&Value>)]) -> Value {
    let mut doc = host.clone();
    let mut paths = take_object(&mut doc, "/paths");
    let mut schemas = take_object(&mut doc, "/components/schemas");
    let mut tags = match doc.get_mut("tags").map(Value::take) {
        Some(Value::Array(tags)) => tags,
        _ => Vec::new(),
    };
    let mut covered: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (name, description) in components {
        let Some(description) = description else {
            continue;
        };
        let prefix = format!("#/components/schemas/{name}.");
        let mut added = false;
        let Some(their_paths) = description.get("paths").and_then(Value::as_object) else {
            continue;
        };
        for (path, item) in their_paths {
            let Some(route) = manifest.routes.find(&concrete(path)) else {
                continue;
            };
            if route.component != *name {
                continue;
            }
            let Some(item) = item.as_object() else {
                continue;
            };
            let mut item = Value::Object(item.clone());
            rename_refs(&mut item, &prefix);
            let target = paths
                .entry(path.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let (Value::Object(target), Value::Object(item)) = (target, item) else {
                continue;
            };
            for (key, value) in item {
                if target.contains_key(&key) {
                    continue;
                }
                target.insert(key, value);
                added = true;
            }
            covered.insert(route.pattern.clone());
        }
        if let Some(theirs) = description
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (schema, value) in theirs {
                let mut value = value.clone();
                rename_refs(&mut value, &prefix);
                schemas.insert(format!("{name}.{schema}"), value);
            }
        }
        if added {
            tags.push(json!({"name": name, "description": format!("Served by the component {name}, as it describes itself")}));
        }
    }
    for route in manifest.routes.iter() {
        if covered.contains(&route.pattern) {
            continue;
        }
        let (path, parameters) = openapi_path(&route.pattern);
        let item = paths
            .entry(path)
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(item) = item else {
            continue;
        };
        for method in ANY_METHOD {
            item.entry(method).or_insert_with(|| {
                json!({
                    "tags": [route.component],
                    "summary": format!("Served by the component {}", route.component),
                    "description": format!(
                        "The trigger route {} of the manifest; the component {} publishes no description of it.",
                        route.pattern, route.component
                    ),
                    "parameters": parameters,
                    "responses": {"default": {"description": "What the component answers"}},
                })
            });
        }
    }
    doc["paths"] = Value::Object(paths);
    doc["components"]["schemas"] = Value::Object(schemas);
    doc["tags"] = Value::Array(tags);
    doc
}

/// The object at `pointer`, taken out of `doc` (empty where there is none).
fn take_object(doc: &mut Value, pointer: &str) -> Map<String, Value> {
    match doc.pointer_mut(pointer).map(Value::take) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// A path template with each `{parameter}` filled, to ask the manifest which route serves it.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "p"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A trigger route (`/api/x/:id/...`) as an OpenAPI path (`/api/x/{id}/{path}`) with its
/// parameters: OpenAPI has no wildcard, so the tail is one parameter standing for the rest of
/// the path.
fn openapi_path(pattern: &str) -> (String, Vec<Value>) {
    let mut parameters = Vec::new();
    let mut segments = Vec::new();
    for segment in pattern.split('/') {
        if let Some(name) = segment.strip_prefix(':') {
            segments.push(format!("{{{name}}}"));
            parameters.push(
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}),
            );
        } else if segment == "..." {
            segments.push("{path}".to_string());
            parameters.push(json!({
                "name": "path", "in": "path", "required": true, "schema": {"type": "string"},
                "description": "The rest of the path (the route takes any path below it)",
            }));
        } else {
            segments.push(segment.to_string());
        }
    }
    let path = segments.join("/");
    (
        if path.is_empty() {
            "/".to_string()
        } else {
            path
        },
        parameters,
    )
}

/// Points every local schema reference at the schema's merged name.
fn rename_refs(value: &mut Value, prefix: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref"
                    && let Value::String(r) = v
                    && let Some(name) = r.strip_prefix("#/components/schemas/")
                {
                    *r = format!("{prefix}{name}");
                } else {
                    rename_refs(v, prefix);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, prefix)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_routes_become_openapi_paths() {
        assert_eq!(openapi_path("/...").0, "/{path}");
        assert_eq!(openapi_path("/api/symbols").0, "/api/symbols");
        let (path, params) = openapi_path("/api/x/:id/...");
        assert_eq!(path, "/api/x/{id}/{path}");
        assert_eq!(params.len(), 2);
        assert_eq!(concrete("/api/orders/{id}"), "/api/orders/p");
    }

    #[test]
    fn references_follow_the_renamed_schemas() {
        let mut v = json!({"a": {"$ref": "#/components/schemas/Order"}, "b": [{"$ref": "#/components/schemas/Error"}]});
        rename_refs(&mut v, "#/components/schemas/x.");
        assert_eq!(v["a"]["$ref"], "#/components/schemas/x.Order");
        assert_eq!(v["b"][0]["$ref"], "#/components/schemas/x.Error");
    }
}
