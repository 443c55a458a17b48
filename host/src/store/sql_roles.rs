//! Postgres roles for component databases: each component database is a schema owned by a
//! login role of its own, and the component's pool connects as that role.
//!
//! Invariants:
//! - A component role owns its schema and everything in it, and has no other rights: none on
//!   `public` (where the host's journal lives) nor on other components' schemas, no
//!   CREATEDB/CREATEROLE, and it is a member of no role, so `SET ROLE` and `RESET ROLE` lead
//!   nowhere. `search_path` is only a convenience, never the boundary.
//! - Role names are cluster-wide, so a name is derived from the database, the component and
//!   its database name (hashed, so several Bourse databases on one cluster never collide),
//!   within Postgres's 63-byte identifiers, and starts with [`ROLE_PREFIX`].
//! - The password is derived from the host's `DATABASE_URL` and the role name: every replica
//!   given the same URL computes the same one, and a replica that (re)sets it does not lock
//!   the others out. It never appears in a log or a statement's text (it is bound as a
//!   parameter and applied inside a `DO` block).
//! - Provisioning is idempotent and serialized by an advisory lock: any replica may run it at
//!   any time. It also hands a schema created by an older host (owned by the host's role) and
//!   every object in it to the component's role.
//! - The host's role must be a superuser or have CREATEROLE; [`check_host_role`] refuses to
//!   start otherwise, naming the role and what it lacks. There is no fallback to a shared role.

use std::str::FromStr;

use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};

use super::StoreError;

/// First characters of every component role's name.
pub const ROLE_PREFIX: &str = "bourse_c_";

/// Longest Postgres identifier, in bytes (NAMEDATALEN - 1).
const MAX_IDENTIFIER: usize = 63;

/// Transaction-local setting that carries the password into the `DO` block that applies it.
const PASSWORD_SETTING: &str = "bourse.component_role_password";

/// A component database's role: its name and password.
pub struct ComponentRole {
    pub name: String,
    pub password: String,
}

impl ComponentRole {
    /// The role of `component`'s database `db` (both already valid identifiers) in
    /// `database`, for a host connecting with `database_url`.
    pub fn derive(database_url: &str, database: &str, component: &str, db: &str) -> Self {
        let id = Sha256::digest(format!("{database}\0{component}\0{db}"));
        // The hash comes first so that truncation never makes two names equal.
        let mut name = format!("{ROLE_PREFIX}{}_{component}__{db}", hex::encode(&id[..8]));
        name.truncate(MAX_IDENTIFIER);
        let password = hex::encode(Sha256::digest(format!(
            "bourse component role password\0{database_url}\0{name}"
        )));
        ComponentRole { name, password }
    }
}

/// Fails unless the role `database_url` connects as may create roles.
pub async fn check_host_role(main: &sqlx::AnyPool) -> Result<(), StoreError> {
    let (user, can): (String, bool) = sqlx::query_as(
        "SELECT rolname::text, rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(main)
    .await?;
    if can {
        Ok(())
    } else {
        Err(StoreError::Privilege(format!(
            "the Postgres role {user} (DATABASE_URL) cannot create roles: Bourse connects each \
             component database as a role of its own. Grant it CREATEROLE \
             (`ALTER ROLE {user} CREATEROLE`, as a superuser) or connect as a role that has it"
        )))
    }
}

/// Creates (or updates) `role`, gives it `schema` and everything in it, and checks it has no
/// way to create objects in `public`. Runs as the host's role on a connection of its own,
/// with statement logging off.
pub async fn provision(
    database_url: &str,
    schema: &str,
    role: &ComponentRole,
) -> Result<(), StoreError> {
    let mut conn: PgConnection = PgConnectOptions::from_str(database_url)?
        .disable_statement_logging()
        .connect()
        .await?;
    let mut tx = conn.begin().await?;
    let name = role.name.as_str();
    // Replicas starting together would race on CREATE ROLE / CREATE SCHEMA.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
    if !exists {
        tx.execute(
            format!(
                "CREATE ROLE {name} NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT \
                 NOREPLICATION NOBYPASSRLS"
            )
            .as_str(),
        )
        .await?;
    }
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(PASSWORD_SETTING)
        .bind(&role.password)
        .execute(&mut *tx)
        .await?;
    for statement in [
        format!(
            "DO $$ BEGIN EXECUTE format('ALTER ROLE {name} LOGIN PASSWORD %L', \
             current_setting('{PASSWORD_SETTING}')); END $$"
        ),
        // Handing objects to a role takes membership in it (not the other way round).
        format!("GRANT {name} TO CURRENT_USER"),
        format!("CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {name}"),
        format!("ALTER SCHEMA {schema} OWNER TO {name}"),
        hand_over(schema, name),
        // Before Postgres 15 everyone may create objects in `public`; a component must not
        // plant tables or functions the host would then use.
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_string(),
        format!("REVOKE ALL ON SCHEMA public FROM {name}"),
    ] {
        tx.execute(statement.as_str()).await?;
    }
    let creates_in_public: bool =
        sqlx::query_scalar("SELECT has_schema_privilege($1, 'public', 'CREATE')")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
    if creates_in_public {
        return Err(StoreError::Privilege(format!(
            "component role {name} could create objects in schema public: the host's role must \
             own schema public, or run `REVOKE CREATE ON SCHEMA public FROM PUBLIC` as its owner"
        )));
    }
    tx.commit().await?;
    Ok(())
}

/// A `DO` block giving `role` every table, view, sequence, function and type in `schema`
/// that another role (the host's, before component roles existed) owns. Sequences owned by
/// a column follow their table.
fn hand_over(schema: &str, role: &str) -> String {
    format!(
        "DO $$ DECLARE r record; BEGIN
           FOR r IN SELECT c.relname AS name, c.relkind AS kind FROM pg_class c
                    WHERE c.relnamespace = '{schema}'::regnamespace
                      AND c.relowner <> '{role}'::regrole
                      AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
                      AND NOT (c.relkind = 'S' AND EXISTS (
                          SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                             AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
           LOOP
             EXECUTE format('ALTER %s %I.%I OWNER TO %I',
               CASE r.kind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                 WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                 ELSE 'TABLE' END,
               '{schema}', r.name, '{role}');
           END LOOP;
           FOR r IN SELECT p.oid::regprocedure AS signature, p.prokind AS kind FROM pg_proc p
                    WHERE p.pronamespace = '{schema}'::regnamespace
                      AND p.proowner <> '{role}'::regrole
           LOOP
             EXECUTE format('ALTER %s %s OWNER TO %I',
               CASE r.kind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'
                 ELSE 'FUNCTION' END,
               r.signature, '{role}');
           END LOOP;
           FOR r IN SELECT t.typname AS name, t.typtype AS kind FROM pg_type t
                    WHERE t.typnamespace = '{schema}'::regnamespace
                      AND t.typowner <> '{role}'::regrole
                      AND t.typtype IN ('e', 'd', 'r')
           LOOP
             EXECUTE format('ALTER %s %I.%I OWNER TO %I',
               CASE r.kind WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
               '{schema}', r.name, '{role}');
           END LOOP;
         END $$"
    )
}

#[cfg(test)]
mod tests {
    use super::{ComponentRole, MAX_IDENTIFIER, ROLE_PREFIX};

    #[test]
    fn role_names_fit_and_differ_per_database() {
        let long = "x".repeat(60);
        let a = ComponentRole::derive("postgres://h/a", "a", &long, "default");
        let b = ComponentRole::derive("postgres://h/b", "b", &long, "default");
        assert!(a.name.len() <= MAX_IDENTIFIER && a.name.starts_with(ROLE_PREFIX));
        assert_ne!(a.name, b.name);
        let again = ComponentRole::derive("postgres://h/a", "a", &long, "default");
        assert_eq!((a.name, a.password), (again.name, again.password));
    }
}
