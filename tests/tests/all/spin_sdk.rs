//! Components written with spin-sdk 5.2 and nothing else (`tests/fixtures/spin-*`) run on
//! Bourse unchanged: HTTP, key-value, variables, SQLite and outbound HTTP on both store
//! backends, and Spin's Postgres and Redis interfaces against the real servers, each reachable
//! only through `allowed_outbound_hosts`.

use axum::Router;
use axum::routing::get;
use bourse_tests::{
    Backend, TestHost, clear_redis_keys, manifest_from, postgres_server, redis_url, unique,
};

/// A manifest as a Spin user would write it: no `tool.bourse` tables at all.
fn manifest(redis_grant: &str, pg_grant: &str) -> bourse::manifest::Manifest {
    manifest_from(&format!(
        r#"
spin_manifest_version = 2

[application]
name = "spin-sdk-apps"

[variables]
who = {{ default = "spin" }}
redis_address = {{ default = "{redis}" }}
pg_address = {{ default = "{pg}/test" }}

[[trigger.http]]
route = "/spin/..."
component = "spin-kv"

[component.spin-kv]
source = "target/wasm32-wasip2/release/spin_kv_fixture.wasm"
key_value_stores = ["default"]
sqlite_databases = ["default"]
allowed_outbound_hosts = ["http://127.0.0.1:*"]
[component.spin-kv.variables]
greeting = "hello from {{{{ who }}}}"

[[trigger.http]]
route = "/spin/redis"
component = "spin-pg-redis"

[[trigger.http]]
route = "/spin/pg"
component = "spin-pg-redis"

[[trigger.http]]
route = "/spin/pg4"
component = "spin-pg-redis"

[[trigger.http]]
route = "/spin/pg4-many"
component = "spin-pg-redis"

[[trigger.http]]
route = "/spin/pg4-addresses"
component = "spin-pg-redis"

[[trigger.http]]
route = "/spin/pg4-builder"
component = "spin-pg-redis"

[[trigger.http]]
route = "/spin/pg3"
component = "spin-pg-redis"

[[trigger.http]]
route = "/spin/pg2-unsigned"
component = "spin-pg-redis"

[component.spin-pg-redis]
source = "target/wasm32-wasip2/release/spin_pg_redis_fixture.wasm"
allowed_outbound_hosts = [{redis_grant}, {pg_grant}]
[component.spin-pg-redis.variables]
redis_address = "{{{{ redis_address }}}}"
pg_address = "{{{{ pg_address }}}}"
"#,
        redis = redis_url(),
        pg = postgres_server(),
    ))
}

fn grants() -> (String, String) {
    let host_of = |url: &str| {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        rest.split('/').next().unwrap_or_default().to_string()
    };
    (
        format!("\"redis://{}\"", host_of(&redis_url())),
        format!("\"postgres://{}\"", host_of(&postgres_server())),
    )
}

async fn text(host: &TestHost, method: reqwest::Method, path: &str, body: &str) -> (u16, String) {
    let response = host
        .client
        .request(method, format!("{}{path}", host.url))
        .body(body.to_string())
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_variables_sqlite_and_outbound_http_work_on_both_backends() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = listener.local_addr().expect("address");
    let app = Router::new().route("/hello", get(|| async { "hi from upstream" }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (redis_grant, pg_grant) = grants();
    for backend in Backend::ALL {
        if backend == Backend::Services {
            clear_redis_keys("bourse:kv:spin-kv:default:*").await;
        }
        let host = TestHost::start(manifest(&redis_grant, &pg_grant), backend, 10_000).await;
        let put = reqwest::Method::PUT;
        let get = reqwest::Method::GET;
        assert_eq!(
            text(&host, put.clone(), "/spin/kv/colour", "teal").await,
            (201, "stored".into()),
            "{backend:?}"
        );
        text(&host, put, "/spin/kv/shape", "round").await;
        assert_eq!(
            text(&host, get.clone(), "/spin/kv/colour", "").await,
            (200, "teal".into())
        );
        assert_eq!(
            text(&host, get.clone(), "/spin/keys/", "").await,
            (200, "colour,shape".into())
        );
        assert_eq!(
            text(&host, reqwest::Method::DELETE, "/spin/kv/colour", "")
                .await
                .0,
            200
        );
        assert_eq!(text(&host, get.clone(), "/spin/kv/colour", "").await.0, 404);

        assert_eq!(
            text(&host, get.clone(), "/spin/var/greeting", "").await,
            (200, "hello from spin".into())
        );
        let (status, body) = text(&host, get.clone(), "/spin/var/undeclared", "").await;
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("undeclared"), "{body}");

        // wasi:keyvalue and wasi:config over the same store and variables.
        let put = reqwest::Method::PUT;
        let post = reqwest::Method::POST;
        assert_eq!(text(&host, put, "/spin/wkv/shape", "square").await.0, 201);
        assert_eq!(
            text(&host, get.clone(), "/spin/kv/shape", "").await,
            (200, "square".into()),
            "fermyon and wasi key-value share the store"
        );
        assert_eq!(
            text(&host, post.clone(), "/spin/wkv-incr/hits", "").await,
            (200, "5".into())
        );
        assert_eq!(
            text(&host, post.clone(), "/spin/wkv-incr/hits", "").await,
            (200, "10".into())
        );
        assert_eq!(
            text(&host, post.clone(), "/spin/wkv-cas/shape", "circle").await,
            (200, "swapped Some(\"square\")".into())
        );
        assert_eq!(
            text(&host, get.clone(), "/spin/wkv/shape", "").await,
            (200, "circle".into())
        );
        assert_eq!(
            text(&host, get.clone(), "/spin/wkv-keys", "").await,
            (200, "hits,shape 2".into())
        );
        assert_eq!(
            text(&host, get.clone(), "/spin/config/greeting", "").await,
            (200, "hello from spin".into())
        );
        assert_eq!(
            text(&host, get.clone(), "/spin/config/nothing", "").await.0,
            404
        );

        assert_eq!(
            text(&host, post.clone(), "/spin/sql", "alpha").await,
            (200, "1 alpha".into())
        );
        assert_eq!(
            text(&host, post.clone(), "/spin/sql", "beta").await,
            (200, "2 beta".into())
        );

        // spin:sqlite@3: changes and the row id (Postgres has no row ids: 0 there).
        let rowid = if backend == Backend::Embedded { 2 } else { 0 };
        text(&host, post.clone(), "/spin/sql3", "one").await;
        assert_eq!(
            text(&host, post.clone(), "/spin/sql3", "two").await,
            (200, format!("2 1 {rowid}")),
            "{backend:?}"
        );

        let (status, body) = text(
            &host,
            get.clone(),
            &format!("/spin/outbound?url=http://{upstream}/hello"),
            "",
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (200, "200 hi from upstream"),
            "{backend:?}"
        );
        // `localhost` is not `127.0.0.1`: outside the grant, refused before connecting.
        let (status, body) = text(
            &host,
            get,
            &format!(
                "/spin/outbound?url=http://localhost:{}/hello",
                upstream.port()
            ),
            "",
        )
        .await;
        assert_eq!(status, 502, "{body}");
        assert!(body.to_lowercase().contains("denied"), "{body}");
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_postgres_and_redis_reach_the_real_servers_through_the_grant() {
    let (redis_grant, pg_grant) = grants();
    let host = TestHost::start(manifest(&redis_grant, &pg_grant), Backend::Embedded, 10_000).await;
    let post = reqwest::Method::POST;
    let tag = unique("t");
    let (status, body) = text(&host, post.clone(), "/spin/redis", &tag).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "hello 1 a,b echoed 3"),
        "set/get, incr, sadd/smembers, execute ECHO, del"
    );
    let (status, body) = text(&host, post.clone(), "/spin/pg", &tag).await;
    assert_eq!(
        (status, body),
        (
            200,
            format!(
                "1 1 name,weight,big,ok Some({tag:?}) Some(1.5) Some({}) Some(true)",
                1i64 << 40
            )
        )
    );
    host.stop().await;

    // The same component without the grants: both opens are refused.
    let host = TestHost::start(
        manifest("\"redis://10.255.255.1\"", "\"postgres://10.255.255.1\""),
        Backend::Embedded,
        10_000,
    )
    .await;
    let (status, body) = text(&host, post.clone(), "/spin/redis", &tag).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.starts_with("redis open"), "{body}");
    let (status, body) = text(&host, post, "/spin/pg", &tag).await;
    assert_eq!(status, 502, "{body}");
    let server = postgres_server();
    let authority = server.split_once("://").map_or(server.as_str(), |(_, r)| r);
    let destination = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    assert!(
        body.contains(&format!(
            "address postgres://{destination} is not permitted"
        )),
        "Spin's words, without the credentials: {body}"
    );
    host.stop().await;
}

/// The certificate Debian's PostgreSQL serves TLS with.
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// The test server's URL with `localhost` for its host (the name its certificate carries).
fn localhost_address() -> String {
    let server = postgres_server();
    let (scheme, rest) = server.split_once("://").unwrap_or(("postgres", &server));
    let (user, hostport) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
    let port = hostport.rsplit_once(':').map_or("5432", |(_, p)| p);
    format!("{scheme}://{user}@localhost:{port}/test")
}

/// The key/value form of the test server's address (`host=… port=… user=…`), without a
/// database: Spin's driver then opens the database named as the user.
fn key_value_address() -> (String, String) {
    let server = postgres_server();
    let rest = server.split_once("://").map_or(server.as_str(), |(_, r)| r);
    let (user, hostport) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
    let user = user.split(':').next().unwrap_or("postgres").to_string();
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    (format!("host={host} port={port} user='{user}'"), user)
}

/// Every value `pg4` carries, as Spin's mapping reads it back (`factor-outbound-pg`'s
/// `convert_entry`), and the errors a statement ends in; the same component under `bourse up`
/// and `--spin-compat`, over a URL and a key/value address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_3_and_4_carry_every_value_as_spin_maps_it() {
    let (redis_grant, pg_grant) = grants();
    let (kv_address, user) = key_value_address();
    let url_address = format!("{}/test", postgres_server());
    let pg_grants = format!("{pg_grant}, \"postgres://localhost:5432\"");
    for spin_compat in [false, true] {
        let host =
            TestHost::start_custom(manifest(&redis_grant, &pg_grants), Backend::Embedded, |c| {
                c.spin_compat = spin_compat
            })
            .await;
        let post = reqwest::Method::POST;
        for (address, database) in [(&url_address, "test"), (&kv_address, user.as_str())] {
            let (status, body) = text(&host, post.clone(), "/spin/pg4", address).await;
            assert_eq!(status, 200, "{body}");
            let lines: Vec<&str> = body.lines().collect();
            let expected = pg4_expected(database, &user);
            assert_eq!(
                lines, expected,
                "spin_compat {spin_compat}, {address}: line by line"
            );
        }
        let (status, body) = text(&host, post.clone(), "/spin/pg3", &url_address).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body.lines().collect::<Vec<_>>(),
            PG3_EXPECTED,
            "spin_compat {spin_compat}"
        );
        let (status, body) = text(&host, post.clone(), "/spin/pg2-unsigned", &url_address).await;
        assert_eq!(
            (status, body.as_str()),
            (
                200,
                "Err(Error::ValueConversionFailed(\"Postgres does not support unsigned integers\"))"
            )
        );
        // An instance holds at most 16 connections; dropping them gives the room back.
        let (status, body) = text(&host, post.clone(), "/spin/pg4-many", &url_address).await;
        assert_eq!(
            (status, body.as_str()),
            (
                200,
                "opened 16, then Error::ConnectionFailed(\"too many connections\"); after \
                 dropping them, Ok(\"[[DbValue::Int32(1)]]\")"
            )
        );
        // `@4.1`'s connection builder: a root certificate to trust. The test server is
        // Debian's, whose TLS certificate is the self-signed snakeoil one.
        let snakeoil = std::fs::read_to_string(SNAKEOIL).unwrap_or_else(|e| {
            panic!("{SNAKEOIL}: {e} (the test Postgres must serve TLS with Debian's certificate)")
        });
        // Verified by name (the certificate names `localhost`, which the grant must allow).
        let verify = format!("{}?sslmode=verify-full", localhost_address());
        let builder = |body: String| {
            let host = &host;
            async move { text(host, reqwest::Method::POST, "/spin/pg4-builder", &body).await }
        };
        assert_eq!(
            builder(format!("{verify}\n{snakeoil}")).await,
            (200, "ssl true".to_string()),
            "verified against the root the component gave"
        );
        let (_, body) = builder(verify.clone()).await;
        assert!(
            body.starts_with("build: Error::ConnectionFailed("),
            "no root given, nothing to verify the server against: {body}"
        );
        assert_eq!(
            builder(format!("{url_address}?sslmode=disable")).await,
            (200, "ssl false".to_string())
        );
        assert_eq!(
            builder(format!("{verify}\nnot a certificate")).await,
            (
                200,
                "set-ca-root: Error::Other(\"invalid root certificate: no PEM certificate found\")"
                    .to_string()
            )
        );
        // Outside the grant, in either form: refused in Spin's words, naming no credentials.
        for (address, destination) in [
            (
                "postgres://u:secret@10.255.255.1:5432/db",
                "10.255.255.1:5432",
            ),
            ("host=10.255.255.1 user=u password=secret", "10.255.255.1"),
        ] {
            let (status, body) = text(&host, post.clone(), "/spin/pg4", address).await;
            assert_eq!(
                (status, body.as_str()),
                (
                    200,
                    format!(
                        "error Error::ConnectionFailed(\"address postgres://{destination} is not permitted\")"
                    )
                    .as_str()
                )
            );
        }
        host.stop().await;
    }
}

/// What Spin's mapping gives back for the row `pg4_values` writes, then for a row of
/// `db-null`s (an untyped NULL binds to a column of any type), checked by hand against
/// `factor-outbound-pg`'s `convert_entry`: INT4RANGE `[1,10]` comes back as Postgres
/// normalises it, `[1,11)`; JSONB as Postgres orders its keys; NUMERIC keeps its scale;
/// `timestamp(1_700_000_000)` is 2023-11-14 22:13:20 UTC; an INET is `unsupported`, carrying its
/// binary encoding (family 2, 32 bits, not CIDR, 4 bytes, 10.0.0.1).
/// A component names as many addresses as it likes, but keeps pools for at most 8 of them, so
/// it cannot take the host's room (32) or another component's pooled connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_keeps_pools_for_at_most_8_postgres_addresses() {
    let (redis_grant, pg_grant) = grants();
    let host = TestHost::start(manifest(&redis_grant, &pg_grant), Backend::Embedded, 10_000).await;
    let base = format!("{}/test", postgres_server());
    let (status, body) = text(&host, reqwest::Method::POST, "/spin/pg4-addresses", &base).await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            "opened 8 addresses, then Error::ConnectionFailed(\"Postgres: this component already \
             uses 8 addresses, the most one component may\")"
        )
    );
    // An address it already has still opens.
    let (status, body) = text(
        &host,
        reqwest::Method::POST,
        "/spin/pg3",
        &format!("{base}?application_name=bourse-1"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body.lines().collect::<Vec<_>>(), PG3_EXPECTED);
    host.stop().await;
}

fn pg4_expected(database: &str, user: &str) -> Vec<String> {
    let jsonb = br#"{"a":"x","b":[1,2]}"#.to_vec();
    let mut lines = vec![
        format!("connected [DbValue::Str({database:?}), DbValue::Str({user:?})]"),
        "written 2".to_string(),
        "after rollback DbValue::Int64(2)".to_string(),
        "missing table ERROR 42P01 relation \"no_such_table\" does not exist None routine,file,line"
            .to_string(),
        "huge result: the result is larger than 64 MiB: select fewer rows or columns".to_string(),
        "bad uuid in a query: bad-parameter invalid UUID not-a-uuid: invalid character: found `n` at 0"
            .to_string(),
        "bad decimal in an execute: value-conversion-failed invalid decimal 1.2.3: Invalid decimal: two decimal points"
            .to_string(),
    ];
    let columns: [(&str, &str, String); 25] = [
        ("b", "Boolean", "Boolean(true)".into()),
        ("i2", "Int16", "Int16(-2)".into()),
        ("i4", "Int32", "Int32(40000)".into()),
        ("i8", "Int64", format!("Int64({})", 1i64 << 40)),
        ("f4", "Floating32", "Floating32(1.5)".into()),
        ("f8", "Floating64", "Floating64(-2.25)".into()),
        ("s", "Str", "Str(\"text\")".into()),
        ("v", "Str", "Str(\"varchar\")".into()),
        ("bin", "Binary", "Binary([0, 1, 255])".into()),
        ("d", "Date", "Date((2024, 2, 29))".into()),
        ("t", "Time", "Time((13, 14, 15, 123456000))".into()),
        ("dt", "Datetime", "Datetime((2024, 2, 29, 13, 14, 15, 500000000))".into()),
        ("ts", "Datetime", "Datetime((2023, 11, 14, 22, 13, 20, 0))".into()),
        ("u", "Uuid", "Uuid(\"67e55044-10b1-426f-9247-bb680e5fe0c8\")".into()),
        ("j", "Jsonb", format!("Jsonb({jsonb:?})")),
        ("n", "Decimal", "Decimal(\"12.340\")".into()),
        (
            "r4",
            "RangeInt32",
            "RangeInt32((Some((1, RangeBoundKind::Inclusive)), Some((11, RangeBoundKind::Exclusive))))"
                .into(),
        ),
        (
            "r8",
            "RangeInt64",
            format!("RangeInt64((None, Some(({}, RangeBoundKind::Exclusive))))", 1i64 << 40),
        ),
        (
            "rn",
            "RangeDecimal",
            "RangeDecimal((Some((\"1.5\", RangeBoundKind::Exclusive)), None))".into(),
        ),
        ("a4", "ArrayInt32", "ArrayInt32([Some(1), None, Some(3)])".into()),
        ("a8", "ArrayInt64", format!("ArrayInt64([Some({})])", 1i64 << 40)),
        ("an", "ArrayDecimal", "ArrayDecimal([Some(\"0.10\"), None])".into()),
        ("at", "ArrayStr", "ArrayStr([Some(\"a\"), None])".into()),
        (
            "iv",
            "Interval",
            "Interval(Interval { micros: 1500000, days: 2, months: 3 })".into(),
        ),
        ("ip", "Other(\"inet\")", "Unsupported([2, 32, 0, 4, 10, 0, 0, 1])".into()),
    ];
    for (name, data_type, value) in columns {
        // The second row's INET is a literal in the statement; every other value is NULL.
        let second = if name == "ip" {
            format!("DbValue::{value}")
        } else {
            "DbValue::DbNull".to_string()
        };
        lines.push(format!(
            "{name} DbDataType::{data_type} DbValue::{value} {second}"
        ));
    }
    lines.push("empty 0 columns".to_string());
    lines
}

/// `pg3`: the values it has, a UUID column it has not (`other`, `unsupported`, as Spin's
/// conversion from `@4` gives), and a failed statement as its text.
const PG3_EXPECTED: &[&str] = &[
    "i2 DbDataType::Int16 DbValue::Int16(7)",
    "s DbDataType::Str DbValue::Str(\"three\")",
    "d DbDataType::Date DbValue::Date((1999, 12, 31))",
    "t DbDataType::Time DbValue::Time((23, 59, 59, 0))",
    "dt DbDataType::Datetime DbValue::Datetime((1999, 12, 31, 23, 59, 59, 0))",
    "ts DbDataType::Datetime DbValue::Datetime((1970, 1, 1, 0, 0, 0, 0))",
    "u DbDataType::Other DbValue::Unsupported",
    "missing table db error: ERROR: relation \"no_such_table\" does not exist",
];
