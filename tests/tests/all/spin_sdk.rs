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
