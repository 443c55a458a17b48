//! What every capability is built from: the manifest entry its grant is read from
//! ([`Declared`]), the error a bad grant refuses a version with ([`GrantError`]), a handle on
//! the one host service it adapts ([`Shared`]), and the view its WIT traits are implemented on
//! ([`View`], linked through [`HasView`]).
//!
//! This module imports no capability: each capability module imports it, and
//! `capabilities/mod.rs` composes them.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use wasmtime::component::{HasData, ResourceTable};

use crate::manifest::{ComponentDecl, Manifest};

/// One component's manifest entry, as its capabilities read it when a version is loaded.
#[derive(Clone, Copy)]
pub struct Declared<'a> {
    /// Component id.
    pub name: &'a str,
    /// Its `[component.<id>]` table.
    pub decl: &'a ComponentDecl,
    /// The whole manifest (application variables resolve templates in the entry).
    pub manifest: &'a Manifest,
    /// Where application variables without a default are read from (the process environment
    /// in the host).
    pub env: fn(&str) -> Option<String>,
}

/// A grant by name: what a component's manifest entry lists for one capability (store
/// labels, database names).
#[derive(Debug)]
pub struct Names {
    component: String,
    names: Vec<String>,
}

impl Names {
    /// `component`'s grant of `names`.
    pub fn new(component: &str, names: &[String]) -> Arc<Names> {
        Arc::new(Names {
            component: component.to_string(),
            names: names.to_vec(),
        })
    }

    /// Whether `name` is granted.
    pub fn allows(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// The component the grant is for.
    pub fn component(&self) -> &str {
        &self.component
    }
}

/// Why a component's manifest entry grants nothing usable: the version is refused at load.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// An `allowed_outbound_hosts` entry does not resolve to a valid destination.
    #[error("allowed_outbound_hosts: {0}")]
    Outbound(String),
}

/// A handle on one host service that lives inside a larger bundle (the runtime's platform
/// services): a capability holds the service it adapts and nothing else, and the bundle lives
/// as long as any handle on it does.
pub struct Shared<T: ?Sized + 'static> {
    field: Arc<dyn Field<T>>,
}

/// Reads one service out of the bundle that owns it.
trait Field<T: ?Sized>: Send + Sync {
    fn get(&self) -> &T;
}

struct Projection<O, T: ?Sized> {
    owner: Arc<O>,
    get: fn(&O) -> &T,
}

impl<O: Send + Sync, T: ?Sized> Field<T> for Projection<O, T> {
    fn get(&self) -> &T {
        (self.get)(&self.owner)
    }
}

impl<T: ?Sized + 'static> Shared<T> {
    /// The service `get` reads out of `owner`.
    pub fn project<O: Send + Sync + 'static>(owner: Arc<O>, get: fn(&O) -> &T) -> Shared<T> {
        Shared {
            field: Arc::new(Projection { owner, get }),
        }
    }
}

impl<T: Send + Sync + 'static> Shared<T> {
    /// A service owned by nothing else (tests, tools).
    pub fn new(service: T) -> Shared<T> {
        Shared::project(Arc::new(service), |s| s)
    }
}

impl<T: ?Sized> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            field: self.field.clone(),
        }
    }
}

impl<T: ?Sized> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.field.get()
    }
}

/// One capability's per-instance state and the instance's resource table, the pair its WIT
/// traits are implemented on (as `wasmtime_wasi::WasiCtxView` pairs the WASI context and the
/// table): resources of every capability live in the one table of the instance.
pub struct View<'a, S> {
    /// The capability's state.
    pub state: &'a mut S,
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
}

/// The [`HasData`] that links a capability's interfaces with [`View`]s over state `S`.
pub struct HasView<S>(PhantomData<S>);

impl<S: 'static> HasData for HasView<S> {
    type Data<'a> = View<'a, S>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_field_keeps_its_owner_alive() {
        struct Bundle {
            a: String,
            b: Vec<u32>,
        }
        let owner = Arc::new(Bundle {
            a: "kv".into(),
            b: vec![1, 2],
        });
        let a = Shared::project(owner.clone(), |o| &o.a);
        let b = Shared::project(owner.clone(), |o| &o.b);
        drop(owner);
        let a2 = a.clone();
        drop(a);
        assert_eq!(a2.as_str(), "kv");
        assert_eq!(*b, [1, 2]);
        assert_eq!(*Shared::new(7u8), 7);
    }

    #[test]
    fn names_grant_exactly_what_is_listed() {
        let grant = Names::new("c", &["default".into(), "cache".into()]);
        assert!(grant.allows("default") && grant.allows("cache"));
        assert!(!grant.allows("Default") && !grant.allows(""));
        assert_eq!(grant.component(), "c");
    }
}
