//! A plain Spin application (`tests/fixtures/spin-app.toml`: no `[application.tool.bourse]`
//! table) answers on Bourse as Spin's HTTP trigger answers it, under `bourse up` and under
//! `--spin-compat`: the request headers a component gets (the client's, then Spin's `spin-*`
//! headers with Spin's values), the component's answer as written (the server adds only
//! `date` and the framing), Spin's empty 404 and 500, and `/.well-known/spin/health`. Requests
//! go over a raw TCP connection, so the test sees every byte of the answer. Core modules (a
//! wasip1 build of the same spin-sdk source, and a wit-bindgen module with no WASI imports)
//! are made into components at load, as Spin makes them. Bourse's own application keeps its
//! headers, and its components get Spin's headers with none a client forged.

use std::net::SocketAddr;

use bourse::manifest::Manifest;
use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest_with, workspace};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP/1.1 answer, as read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    /// In the order sent, names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    /// The header names, sorted, with `date`'s value checked and left out of the comparison.
    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }
}

/// Sends `head` (request line and headers, without the blank line) on a new connection and
/// reads the whole answer (the request asks the server to close).
async fn raw(url: &str, head: &str) -> Raw {
    raw_with_body(url, head, b"").await
}

/// As [`raw`], with `body` after the head.
async fn raw_with_body(url: &str, head: &str, body: &[u8]) -> Raw {
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .expect("host address");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("{head}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write body");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("read");
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an answer with a head");
    let head = String::from_utf8_lossy(&bytes[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header line");
            (k.to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked");
    if chunked {
        body = dechunk(&body);
    }
    if let Some((_, date)) = headers.iter().find(|(k, _)| k == "date") {
        assert!(date.ends_with(" GMT"), "date: {date}");
    }
    Raw {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(&String::from_utf8_lossy(&body[..line_end]), 16)
            .expect("hex chunk size");
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

fn spin_app() -> Manifest {
    Manifest::load(&workspace().join("tests/fixtures/spin-app.toml")).expect("spin-app.toml")
}

/// The `[name, value]` pairs the echo component saw, in order.
fn headers_seen(echo: &Value) -> Vec<(String, String)> {
    echo["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|p| {
            (
                p[0].as_str().expect("name").to_string(),
                p[1].as_str().expect("value").to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// The header names of the echo's answer: its own two, `date` and the framing
/// (`connection: close` answers the client's).
const ECHO_HEADERS: [&str; 5] = [
    "connection",
    "content-type",
    "date",
    "transfer-encoding",
    "x-echo",
];

/// Every conformance case against one running host of the Spin application.
async fn answers_as_spin(host: &TestHost) {
    // What the component is handed: the client's headers (less those WASI forbids: host,
    // connection), then Spin's, appended after a forged one as Spin appends them.
    let r = raw(
        &host.url,
        "GET /hello/mars/and/beyond/?x=1 HTTP/1.1\r\nhost: example.test:8080\r\nx-custom: a\r\nspin-path-info: forged",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.names(),
        ECHO_HEADERS,
        "the component's headers, date and the framing (`connection: close` answers the \
         client's): nothing else"
    );
    let echo = r.json();
    assert_eq!(echo["method"], "Method::Get");
    assert_eq!(echo["scheme"], "Scheme::Http");
    assert_eq!(echo["authority"], "example.test:8080");
    assert_eq!(echo["path_with_query"], "/hello/mars/and/beyond/?x=1");
    // The manifest's `environment`, and nothing of the host's.
    let mut env: Vec<(String, String)> =
        serde_json::from_value(echo["env"].clone()).expect("env pairs");
    env.sort();
    assert_eq!(env, pairs(&[("EMPTY", ""), ("GREETING", "hello")]));
    let seen = headers_seen(&echo);
    let client_addr = seen
        .iter()
        .find(|(k, _)| k == "spin-client-addr")
        .map(|(_, v)| v.clone())
        .expect("spin-client-addr");
    assert!(
        client_addr.starts_with("127.0.0.1:"),
        "spin-client-addr {client_addr}"
    );
    // The order among names is the header map's (WASI's removal of `host` and `connection`
    // moves entries, as it does under Spin); a repeated name keeps the client's value first.
    let mut sorted = seen.clone();
    sorted.sort();
    let mut expected = pairs(&[
        ("x-custom", "a"),
        ("spin-path-info", "forged"),
        ("spin-path-info", "/and/beyond/"),
        (
            "spin-full-url",
            "http://example.test:8080/hello/mars/and/beyond/?x=1",
        ),
        ("spin-matched-route", "/hello/:planet_name/..."),
        ("spin-base-path", "/"),
        ("spin-raw-component-route", "/hello/:planet_name/..."),
        ("spin-component-route", "/hello/:planet_name"),
        ("spin-client-addr", &client_addr),
        ("spin-path-match-planet-name", "mars"),
    ]);
    expected.sort();
    assert_eq!(sorted, expected);
    let infos: Vec<&str> = seen
        .iter()
        .filter(|(k, _)| k == "spin-path-info")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(infos, ["forged", "/and/beyond/"]);

    // The root route, and an exact route with a trailing slash (which Spin's router accepts).
    let root = raw(&host.url, "GET / HTTP/1.1\r\nhost: h").await.json();
    let root = headers_seen(&root);
    for (name, value) in [
        ("spin-path-info", ""),
        ("spin-full-url", "http://h/"),
        ("spin-matched-route", ""),
        ("spin-raw-component-route", "/"),
        ("spin-component-route", "/"),
    ] {
        assert!(
            root.contains(&(name.to_string(), value.to_string())),
            "{name}: {value:?} in {root:?}"
        );
    }
    let exact = raw_with_body(
        &host.url,
        "POST /exact/ HTTP/1.1\r\nhost: h\r\ncontent-length: 5",
        b"hello",
    )
    .await;
    let exact_echo = exact.json();
    assert_eq!(exact_echo["body"], "hello");
    assert!(headers_seen(&exact_echo).contains(&("spin-path-info".into(), String::new())));

    // No route: Spin's empty 404.
    let r = raw(&host.url, "GET /nowhere HTTP/1.1\r\nhost: h").await;
    assert_eq!((r.status, r.body.len()), (404, 0));
    assert_eq!(r.names(), ["connection", "content-length", "date"]);
    assert_eq!(r.header("content-length"), Some("0"));

    // A component that traps before answering: Spin's empty 500.
    let r = raw(&host.url, "GET /hello/x/trap HTTP/1.1\r\nhost: h").await;
    assert_eq!((r.status, r.body.len()), (500, 0));
    assert_eq!(r.names(), ["connection", "content-length", "date"]);

    // The component's own status, repeated headers and length pass as written.
    let r = raw(&host.url, "GET /hello/x/teapot HTTP/1.1\r\nhost: h").await;
    assert_eq!(r.status, 418);
    assert_eq!(r.body, b"teapot");
    assert_eq!(
        r.headers
            .iter()
            .filter(|(k, _)| k != "date" && k != "connection")
            .cloned()
            .collect::<Vec<_>>(),
        pairs(&[
            ("content-type", "text/plain"),
            ("x-repeated", "one"),
            ("x-repeated", "two"),
            ("content-length", "6"),
        ])
    );

    // A streamed body without a length goes out chunked, as written.
    let r = raw(&host.url, "GET /hello/x/stream HTTP/1.1\r\nhost: h").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"first,second"[..]));
    assert_eq!(
        r.names(),
        ["connection", "content-type", "date", "transfer-encoding"]
    );

    // Spin's own health endpoint; the host's stay reachable under its reserved prefix.
    let r = raw(
        &host.url,
        "GET /.well-known/spin/health HTTP/1.1\r\nhost: h",
    )
    .await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"OK"[..]));
    assert_eq!(r.names(), ["connection", "content-length", "date"]);
    let r = raw(&host.url, "GET /.well-known/spin/other HTTP/1.1\r\nhost: h").await;
    assert_eq!((r.status, r.body.len()), (404, 0));
    let r = raw(
        &host.url,
        "GET /.well-known/bourse/ready HTTP/1.1\r\nhost: h",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "ok");

    // The same spin-sdk source built for wasip1 (a core module) answers as its component does.
    let r = raw(&host.url, "GET /wasip1/a/b HTTP/1.1\r\nhost: h").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.names(), ECHO_HEADERS);
    let wasip1 = headers_seen(&r.json());
    assert!(wasip1.contains(&("spin-path-info".into(), "/a/b".into())));
    assert!(wasip1.contains(&("spin-component-route".into(), "/wasip1".into())));

    // A wit-bindgen core module with no WASI imports.
    let r = raw(&host.url, "GET /core/x?y HTTP/1.1\r\nhost: h").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, b"core module: http://h/core/x?y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_spin_app_answers_as_spin_does_under_bourse_up() {
    let host = TestHost::start(spin_app(), Backend::Embedded, 10_000).await;
    answers_as_spin(&host).await;
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_spin_app_answers_as_spin_does_under_spin_compat() {
    let host =
        TestHost::start_custom(spin_app(), Backend::Embedded, |c| c.spin_compat = true).await;
    answers_as_spin(&host).await;
    host.stop().await;
}

/// Bourse's own application keeps its platform headers; its components get Spin's headers
/// with none of the client's (a forged `spin-*` header never reaches them), or, as the
/// shipped `spin.toml` says (`spin_headers = false`), no `spin-*` header at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bourse_own_app_keeps_its_headers_and_replaces_forged_spin_headers() {
    let echo = r#"
[[trigger.http]]
route = "/echo/:name/..."
component = "echo"

[component.echo]
source = "target/wasm32-wasip2/release/spin_echo_fixture.wasm"
"#;
    let shipped = app_manifest_with(echo);
    assert!(!shipped.application.tool.bourse().spin_headers);
    let mut with_headers = app_manifest_with(echo);
    if let Some(tool) = with_headers.application.tool.bourse.as_mut() {
        tool.spin_headers = true;
    }
    for (manifest, spin_headers) in [(shipped, false), (with_headers, true)] {
        let host = TestHost::start(manifest, Backend::Embedded, 10_000).await;
        let head = format!(
            "GET /echo/bob/x HTTP/1.1\r\nhost: h\r\nauthorization: Bearer {ADMIN_TOKEN}\r\nspin-path-info: forged\r\nspin-path-match-name: mallory"
        );
        let r = raw(&host.url, &head).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        for platform in [
            "x-request-id",
            "strict-transport-security",
            "x-content-type-options",
            "x-frame-options",
            "referrer-policy",
            "content-security-policy",
        ] {
            assert!(
                r.header(platform).is_some(),
                "{platform} on {:?}",
                r.headers
            );
        }
        let seen = headers_seen(&r.json());
        let spin: Vec<_> = seen
            .iter()
            .filter(|(k, _)| k.starts_with("spin-"))
            .collect();
        assert!(
            spin.iter().all(|(_, v)| v != "forged" && v != "mallory"),
            "{spin:?}"
        );
        assert!(seen.iter().any(|(k, _)| k == "x-request-id"));
        if spin_headers {
            assert!(seen.contains(&("spin-path-info".into(), "/x".into())));
            assert!(seen.contains(&("spin-path-match-name".into(), "bob".into())));
        } else {
            assert!(spin.is_empty(), "{spin:?}");
        }
        host.stop().await;
    }
}

/// A Spin application of two echo components: `/granted/...` with `granted` as its
/// `allowed_outbound_hosts`, `/none/...` with `other`.
fn granted_and_not(granted: &[&str], other: &[&str]) -> Manifest {
    let list = |entries: &[&str]| {
        entries
            .iter()
            .map(|e| format!("{e:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    bourse_tests::manifest_from(&format!(
        r#"
spin_manifest_version = 2

[application]
name = "grants"

[[trigger.http]]
route = "/granted/..."
component = "granted"

[[trigger.http]]
route = "/none/..."
component = "none"

[component.granted]
source = "target/wasm32-wasip2/release/spin_echo_fixture.wasm"
allowed_outbound_hosts = [{granted}]

[component.none]
source = "target/wasm32-wasip2/release/spin_echo_fixture.wasm"
allowed_outbound_hosts = [{other}]
"#,
        granted = list(granted),
        other = list(other),
    ))
}

/// A TCP server answering `pong` to whatever it reads, once per connection.
async fn pong_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = stream.read_to_end(&mut buf).await;
                let _ = stream.write_all(b"pong").await;
            });
        }
    });
    addr
}

/// `wasi:sockets` TCP connections go where `allowed_outbound_hosts` lets them (an address,
/// a range, `tcp://` or `*://`), and nowhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_reach_only_what_allowed_outbound_hosts_grants() {
    let open = pong_server().await;
    let closed = pong_server().await;
    let manifest = granted_and_not(
        &[
            &format!("tcp://127.0.0.0/8:{}", open.port()),
            "https://example.com",
        ],
        &["http://127.0.0.1:*"],
    );
    let host = TestHost::start(manifest, Backend::Embedded, 10_000).await;
    let ask =
        |route: &str, addr: SocketAddr| format!("GET /{route}/tcp?addr={addr} HTTP/1.1\r\nhost: h");
    let r = raw(&host.url, &ask("granted", open)).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"pong"[..]));
    // Another port, and a grant with no socket entry (http:// does not open raw TCP).
    for (route, addr) in [("granted", closed), ("none", open)] {
        let r = raw(&host.url, &ask(route, addr)).await;
        assert_eq!(
            r.status,
            502,
            "{route} → {addr}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(
            String::from_utf8_lossy(&r.body).contains("PermissionDenied"),
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    host.stop().await;
}

/// `bourse check --spin`'s report: what a component needs that Bourse does not host, named
/// before a start rather than found at one.
#[test]
fn check_spin_names_what_bourse_does_not_host() {
    use bourse::capabilities::Set;
    use bourse::runtime::unhosted::unhosted;
    let report = |manifest: &Manifest, name: &str, set: Set| {
        let decl = &manifest.components[name];
        let wasm = std::fs::read(manifest.resolve(&decl.source)).expect("built component");
        unhosted(manifest, name, decl, &wasm, set)
    };
    let app = spin_app();
    // The core module and the wasip1 build need nothing Bourse lacks, once adapted.
    for name in ["echo-core", "echo-wasip1"] {
        assert_eq!(
            report(&app, name, Set::Bourse),
            Vec::<String>::new(),
            "{name}"
        );
    }
    assert_eq!(
        report(&app, "echo", Set::Bourse),
        [
            "[[trigger.http]] route { private = true }: Bourse has no service chaining, so nothing reaches echo by it"
        ]
    );
    let manifest = bourse_tests::manifest_from(
        r#"
spin_manifest_version = 2

[application]
name = "unhosted"

[[trigger.http]]
route = "/cgi/..."
component = "orders"
executor = { type = "wagi" }

[component.orders]
source = "target/wasm32-wasip2/release/order_handler.wasm"
allowed_outbound_hosts = ["http://self", "https://api.example.com"]
files = ["static/**"]
ai_models = ["llama2-chat"]
"#,
    );
    let spin = report(&manifest, "orders", Set::Spin);
    for expected in [
        "imports bourse:platform/market@0.1.0, which Bourse does not host",
        "allowed_outbound_hosts \"http://self\": requests to the application itself are not routed by Bourse",
        "[component.orders] files: no files are mounted",
        "[component.orders] ai_models: no LLM interface is hosted",
        "[[trigger.http]] executor \"wagi\": Bourse serves every component through wasi:http",
    ] {
        assert!(
            spin.iter().any(|l| l == expected),
            "{expected:?} in {spin:#?}"
        );
    }
    // Natively, Bourse hosts the market: only the fields and grants remain.
    let native = report(&manifest, "orders", Set::Bourse);
    assert!(
        native.iter().all(|l| !l.starts_with("imports")),
        "{native:#?}"
    );
    assert_eq!(native.len(), spin.len() - 1, "{native:#?}");
}

/// Spin's MQTT interface publishes through a real broker (Mosquitto), read back by
/// Mosquitto's own subscriber; an address outside the grant, and a broker that is not there,
/// come back to the component as Spin's errors, which it answers with (502 here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_publishes_reach_a_real_broker_through_the_grant() {
    let broker = bourse_tests::mqtt_broker();
    let manifest = |compat: bool| {
        let granted = [
            format!("mqtt://{broker}"),
            "mqtt://127.0.0.1:1..1024".to_string(),
        ];
        let m = granted_and_not(&[&granted[0], &granted[1]], &[&format!("redis://{broker}")]);
        (m, compat)
    };
    for (manifest, compat) in [manifest(false), manifest(true)] {
        let host =
            TestHost::start_custom(manifest, Backend::Embedded, |c| c.spin_compat = compat).await;
        let topic = bourse_tests::unique("bourse/test/");
        let (host_name, port) = broker.rsplit_once(':').expect("host:port");
        let mut subscriber = tokio::process::Command::new("mosquitto_sub")
            .args([
                "-h", host_name, "-p", port, "-t", &topic, "-C", "1", "-W", "20",
            ])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto_sub (Debian's mosquitto-clients)");
        // The subscription takes a moment: publish until the subscriber has its message.
        let mut received = None;
        for qos in [1, 2, 0, 1, 1, 1, 1, 1] {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let r = raw(
                &host.url,
                &format!(
                    "GET /granted/mqtt?broker={broker}&topic={topic}&qos={qos} HTTP/1.1\r\nhost: h"
                ),
            )
            .await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            assert_eq!(r.body, b"published");
            if let Ok(Some(status)) = subscriber.try_wait() {
                assert!(status.success(), "mosquitto_sub: {status}");
                let mut out = String::new();
                if let Some(mut stdout) = subscriber.stdout.take() {
                    stdout
                        .read_to_string(&mut out)
                        .await
                        .expect("subscriber output");
                }
                received = Some(out);
                break;
            }
        }
        let received = match received {
            Some(r) => r,
            None => {
                let output = subscriber.wait_with_output().await.expect("subscriber");
                String::from_utf8_lossy(&output.stdout).into_owned()
            }
        };
        assert_eq!(received.trim(), "hello from spin", "compat {compat}");
        // Outside the grant: Spin's connection-failed, with Spin's words.
        let r = raw(
            &host.url,
            &format!("GET /none/mqtt?broker={broker}&topic={topic} HTTP/1.1\r\nhost: h"),
        )
        .await;
        assert_eq!(r.status, 502);
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            format!(
                "Error::ConnectionFailed(\"address mqtt://{broker}?client_id=spin-echo is not permitted\")"
            )
        );
        // Granted, but no broker listens there.
        let r = raw(
            &host.url,
            &format!("GET /granted/mqtt?broker=127.0.0.1:9&topic={topic} HTTP/1.1\r\nhost: h"),
        )
        .await;
        assert_eq!(r.status, 502, "{}", String::from_utf8_lossy(&r.body));
        assert!(
            String::from_utf8_lossy(&r.body).starts_with("Error::ConnectionFailed("),
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        host.stop().await;
    }
}
