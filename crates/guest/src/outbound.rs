//! Outgoing HTTP GET through spin-sdk (`wasi:http/outgoing-handler` underneath): the
//! component's only way out, and only to the destinations its manifest's
//! `allowed_outbound_hosts` grants.

/// An answer: its status and whole body.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub body: Vec<u8>,
}

/// GETs `url` with `headers`; a body over `max_bytes` is an error.
pub fn get(url: &str, headers: &[(String, String)], max_bytes: usize) -> Result<Fetched, String> {
    let mut request = spin_sdk::http::Request::get(url);
    for (name, value) in headers {
        request.header(name.as_str(), value.as_str());
    }
    let response: spin_sdk::http::Response =
        spin_executor::run(spin_sdk::http::send(request.build())).map_err(|e| describe(&e))?;
    let status = *response.status();
    let body = response.into_body();
    if body.len() > max_bytes {
        return Err(format!("the answer is over {max_bytes} bytes"));
    }
    Ok(Fetched { status, body })
}

fn describe(e: &spin_sdk::http::SendError) -> String {
    let text = e.to_string();
    if text.contains("HttpRequestDenied") || text.contains("denied") {
        "the destination is not in the component's allowed_outbound_hosts".into()
    } else {
        text
    }
}
