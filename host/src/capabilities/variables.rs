//! `fermyon:spin/variables`: the component's variables as resolved from the manifest and the
//! environment at load.
//!
//! Grant: the component's `[component.<id>.variables]`, resolved against the application's
//! variables once per version (a variable that cannot be resolved reads as an error at call
//! time, as in Spin). State: the resolved variables, shared with `wasi:config/store`.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use super::base::Declared;
use crate::bindings::fermyon::spin::variables::{self, Error, Host};
use crate::manifest::{VariableError, Variables};

/// The variables capability of one instance (Spin's interface and `wasi:config`).
#[derive(Clone)]
pub struct VariablesState {
    pub(crate) variables: Arc<Variables>,
}

impl VariablesState {
    /// The variables of `declared`, resolved.
    pub fn new(declared: &Declared<'_>) -> VariablesState {
        VariablesState {
            variables: Arc::new(Variables::resolve(
                &declared.decl.variables,
                &declared.manifest.variables,
                declared.env,
            )),
        }
    }
}

/// Links `fermyon:spin/variables@2.0.0`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut VariablesState,
) -> wasmtime::Result<()> {
    variables::add_to_linker::<T, HasSelf<VariablesState>>(linker, get)
}

impl Host for VariablesState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(self.variables.get(&name).map_err(|e| match e {
            VariableError::InvalidName(n) => Error::InvalidName(n),
            VariableError::Undefined(n) => Error::Undefined(n),
            missing @ VariableError::Missing(..) => Error::Provider(missing.to_string()),
        }))
    }
}
