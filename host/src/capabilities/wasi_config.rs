//! `wasi:config/store@0.2.0-draft-2024-09-27`: the component's variables, as Spin maps them.
//! A name the component has no variable for reads as absent. Its state is the variables
//! capability's ([`VariablesState`]).

use wasmtime::component::{HasSelf, Linker};

use super::variables::VariablesState;
use crate::manifest::VariableError;
use crate::wasi_bindings::wasi::config::store::{self, Error, Host};

/// Links `wasi:config/store` over the variables capability's state.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut VariablesState,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasSelf<VariablesState>>(linker, get)
}

impl Host for VariablesState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, Error>> {
        Ok(match self.variables.get(&key) {
            Ok(value) => Ok(Some(value)),
            Err(VariableError::Undefined(_) | VariableError::InvalidName(_)) => Ok(None),
            Err(e) => Err(Error::Upstream(e.to_string())),
        })
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, Error>> {
        Ok(self
            .variables
            .all()
            .map_err(|e| Error::Upstream(e.to_string())))
    }
}
