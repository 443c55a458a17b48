//! `spin:postgres/postgres@4` (spin-sdk's `pg4`), hosted at 4.1.0: its values are
//! [`super::values`]'s, and its connection builder opens a connection that trusts a given root
//! certificate (the address's `sslmode` says whether TLS is required).

use wasmtime::component::{Linker, Resource};

use super::{MAX_OPEN, PgConnection, PgConnectionBuilder, PostgresState, PostgresView, values};
use crate::capabilities::base::HasView;
use crate::wasi_bindings::spin::postgres4_1_0::postgres::{
    self, Error, Host, HostConnection, HostConnectionBuilder, ParameterValue, RowSet,
};

pub(super) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> PostgresView<'_>,
) -> wasmtime::Result<()> {
    postgres::add_to_linker::<T, HasView<PostgresState>>(linker, get)
}

impl Host for PostgresView<'_> {}

impl HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        Ok(self.connect(&address, None).await)
    }

    async fn query(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        Ok(values::query(self.connection(&conn)?, &statement, params).await)
    }

    async fn execute(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        Ok(values::execute(self.connection(&conn)?, &statement, params).await)
    }

    async fn drop(&mut self, conn: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.close(conn)
    }
}

impl HostConnectionBuilder for PostgresView<'_> {
    async fn new(&mut self, address: String) -> wasmtime::Result<Resource<PgConnectionBuilder>> {
        if self.state.builders >= MAX_OPEN {
            // A constructor cannot return an error: Spin traps here too.
            wasmtime::bail!("out of builder table space");
        }
        let builder = self.table.push(PgConnectionBuilder {
            address,
            root_ca: None,
        })?;
        self.state.builders += 1;
        Ok(builder)
    }

    async fn set_ca_root(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
        certificate: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        if !certificate.contains("-----BEGIN CERTIFICATE-----") {
            return Ok(Err(Error::Other(
                "invalid root certificate: no PEM certificate found".into(),
            )));
        }
        self.table.get_mut(&builder)?.root_ca = Some(certificate);
        Ok(Ok(()))
    }

    async fn build(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        let b = self.table.get(&builder)?;
        let (address, root_ca) = (b.address.clone(), b.root_ca.clone());
        Ok(self.connect(&address, root_ca.as_deref()).await)
    }

    async fn drop(&mut self, builder: Resource<PgConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        self.state.builders = self.state.builders.saturating_sub(1);
        Ok(())
    }
}
