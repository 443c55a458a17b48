//! `fermyon:spin/variables`: the component's variables as resolved from the manifest and the
//! environment at load.

use crate::bindings::fermyon::spin::variables::{Error, Host};
use crate::manifest::VariableError;
use crate::runtime::HostState;

impl Host for HostState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(self.component.variables.get(&name).map_err(|e| match e {
            VariableError::InvalidName(n) => Error::InvalidName(n),
            VariableError::Undefined(n) => Error::Undefined(n),
            missing @ VariableError::Missing(..) => Error::Provider(missing.to_string()),
        }))
    }
}
