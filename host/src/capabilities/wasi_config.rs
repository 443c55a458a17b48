//! `wasi:config/store@0.2.0-draft-2024-09-27`: the component's variables, as Spin maps them.
//! A name the component has no variable for reads as absent.

use crate::manifest::VariableError;
use crate::runtime::HostState;
use crate::wasi_bindings::wasi::config::store::{Error, Host};

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, Error>> {
        Ok(match self.component.variables.get(&key) {
            Ok(value) => Ok(Some(value)),
            Err(VariableError::Undefined(_) | VariableError::InvalidName(_)) => Ok(None),
            Err(e) => Err(Error::Upstream(e.to_string())),
        })
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, Error>> {
        Ok(self
            .component
            .variables
            .all()
            .map_err(|e| Error::Upstream(e.to_string())))
    }
}
