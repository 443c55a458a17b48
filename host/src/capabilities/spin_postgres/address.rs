//! The address a component opens: a URL (`postgres://user:pw@host:5432/db?sslmode=require`)
//! or libpq's key/value form (`host=db user=app password='a b' dbname=orders`), both of which
//! Spin takes. Hand-written because sqlx reads only the URL form; the key/value grammar is
//! libpq's (whitespace-separated `key = value`, a value optionally single-quoted with `\'`
//! and `\\` escapes), and the keys are those sqlx has a setting for.
//!
//! What the address leaves out is settled as Spin's driver settles it — port 5432, the
//! database named as the user, `sslmode=prefer`, no password — and never from the host's own
//! `PG*` environment or password file, which sqlx would otherwise consult: a component's
//! connection carries only the credentials it names.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// A parsed address: how to connect, and the `host[:port]` the grant is checked against.
pub(super) struct Target {
    pub options: PgConnectOptions,
    pub destination: String,
}

/// Which settings the address gave.
#[derive(Default)]
struct Given {
    host: bool,
    port: bool,
    user: bool,
    password: bool,
    database: bool,
    ssl_mode: bool,
}

/// Parses `address`, or says what is wrong with it.
pub(super) fn parse(address: &str) -> Result<Target, String> {
    let (options, given, destination) = if address.contains("://") {
        url_form(address)?
    } else {
        key_value(address)?
    };
    if !given.host {
        return Err("no host given".into());
    }
    if !given.user {
        return Err("no user given".into());
    }
    let options = if given.port {
        options
    } else {
        options.port(5432)
    };
    let options = if given.password {
        options
    } else {
        options.password("")
    };
    let options = if given.database {
        options
    } else {
        let user = options.get_username().to_string();
        options.database(&user)
    };
    let options = if given.ssl_mode {
        options
    } else {
        options.ssl_mode(PgSslMode::Prefer)
    };
    Ok(Target {
        options,
        destination,
    })
}

fn url_form(address: &str) -> Result<(PgConnectOptions, Given, String), String> {
    let url = url::Url::parse(address).map_err(|e| e.to_string())?;
    let mut given = Given {
        host: url.host_str().is_some_and(|h| !h.is_empty()),
        port: url.port().is_some(),
        user: !url.username().is_empty(),
        password: url.password().is_some(),
        database: !url.path().trim_start_matches('/').is_empty(),
        ssl_mode: false,
    };
    for (key, _) in url.query_pairs() {
        match key.as_ref() {
            "host" | "hostaddr" => given.host = true,
            "port" => given.port = true,
            "user" => given.user = true,
            "password" => given.password = true,
            "dbname" => given.database = true,
            "sslmode" | "ssl-mode" => given.ssl_mode = true,
            _ => {}
        }
    }
    let options = PgConnectOptions::from_str(address).map_err(|e| e.to_string())?;
    if options.get_socket().is_some() {
        return Err("Unix sockets are not supported on WebAssembly".into());
    }
    let destination = crate::manifest::destination(address)
        .map_or(String::new(), |(_, authority)| authority.to_string());
    Ok((options, given, destination))
}

fn key_value(address: &str) -> Result<(PgConnectOptions, Given, String), String> {
    let mut options = PgConnectOptions::new_without_pgpass();
    let mut given = Given::default();
    let (mut host, mut port) = (String::new(), None::<u16>);
    for (key, value) in pairs(address)? {
        options = match key.as_str() {
            "host" | "hostaddr" => {
                if value.contains(',') {
                    return Err("more than one host is not supported".into());
                }
                if value.starts_with('/') {
                    return Err("Unix sockets are not supported on WebAssembly".into());
                }
                given.host = true;
                host = value.clone();
                options.host(&value)
            }
            "port" => {
                let p = value
                    .parse()
                    .map_err(|_| format!("invalid port `{value}`"))?;
                given.port = true;
                port = Some(p);
                options.port(p)
            }
            "user" => {
                given.user = true;
                options.username(&value)
            }
            "password" => {
                given.password = true;
                options.password(&value)
            }
            "dbname" => {
                given.database = true;
                options.database(&value)
            }
            "application_name" => options.application_name(&value),
            "options" => options.options(settings(&value)?),
            "sslmode" => {
                given.ssl_mode = true;
                options.ssl_mode(
                    PgSslMode::from_str(&value)
                        .map_err(|_| format!("invalid sslmode `{value}`"))?,
                )
            }
            "connect_timeout" => options,
            other => return Err(format!("unknown option `{other}`")),
        };
    }
    let destination = match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    Ok((options, given, destination))
}

/// The `-c name=value` settings of libpq's `options`.
fn settings(value: &str) -> Result<Vec<(String, String)>, String> {
    let unsupported = || format!("unsupported options `{value}` (only -c name=value)");
    let mut out = Vec::new();
    let mut words = value.split_whitespace();
    while let Some(word) = words.next() {
        let setting = match word.strip_prefix("-c") {
            Some("") => words.next().ok_or_else(unsupported)?,
            Some(rest) => rest,
            None => return Err(unsupported()),
        };
        let (name, v) = setting.split_once('=').ok_or_else(unsupported)?;
        out.push((name.to_string(), v.to_string()));
    }
    Ok(out)
}

/// The `key = value` pairs of libpq's key/value form.
fn pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("`{key}` has no `=`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(format!("the value of `{key}` has no closing quote")),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("the value of `{key}` ends in `\\`")),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_pairs_take_quotes_and_escapes() {
        assert_eq!(
            pairs("host=db  user = app password='a \\'b\\' c' dbname=x\\ y").expect("pairs"),
            vec![
                ("host".into(), "db".into()),
                ("user".into(), "app".into()),
                ("password".into(), "a 'b' c".into()),
                ("dbname".into(), "x y".into()),
            ]
        );
        assert!(pairs("host").unwrap_err().contains("no `=`"));
        assert!(
            pairs("password='open")
                .unwrap_err()
                .contains("closing quote")
        );
    }

    #[test]
    fn the_destination_is_host_and_port_without_credentials() {
        let t = parse("host=127.0.0.1 port=5433 user=u password=p dbname=test").expect("parse");
        assert_eq!(t.destination, "127.0.0.1:5433");
        assert_eq!(t.options.get_host(), "127.0.0.1");
        assert_eq!(t.options.get_port(), 5433);
        assert_eq!(t.options.get_database(), Some("test"));
        assert_eq!(parse("host=db user=u").expect("parse").destination, "db");
        let t = parse("postgres://u:p@db.internal:5433/test?sslmode=disable").expect("parse");
        assert_eq!(t.destination, "db.internal:5433");
    }

    #[test]
    fn what_the_address_leaves_out_is_settled_as_spin_does_not_from_the_environment() {
        for address in ["host=db user=app", "postgres://app@db"] {
            let t = parse(address).expect("parse");
            assert_eq!(t.options.get_port(), 5432, "{address}");
            assert_eq!(t.options.get_username(), "app", "{address}");
            assert_eq!(t.options.get_database(), Some("app"), "{address}");
            assert!(
                matches!(t.options.get_ssl_mode(), PgSslMode::Prefer),
                "{address}"
            );
        }
        let t = parse("postgres://db/orders?user=app&sslmode=require").expect("parse");
        assert_eq!(t.options.get_database(), Some("orders"));
        assert!(matches!(t.options.get_ssl_mode(), PgSslMode::Require));
        assert_eq!(
            parse("host=db options='-c search_path=x -cstatement_timeout=5'")
                .err()
                .as_deref(),
            Some("no user given")
        );
        assert_eq!(
            settings("-c search_path=x -cstatement_timeout=5").expect("settings"),
            vec![
                ("search_path".into(), "x".into()),
                ("statement_timeout".into(), "5".into())
            ]
        );
    }

    #[test]
    fn what_cannot_be_served_is_named() {
        assert_eq!(parse("user=u").err().as_deref(), Some("no host given"));
        assert_eq!(
            parse("postgres:///db").err().as_deref(),
            Some("no host given")
        );
        assert_eq!(
            parse("host=a,b").err().as_deref(),
            Some("more than one host is not supported")
        );
        assert_eq!(
            parse("host=/var/run/postgresql").err().as_deref(),
            Some("Unix sockets are not supported on WebAssembly")
        );
        assert_eq!(
            parse("host=db user=u colour=blue").err().as_deref(),
            Some("unknown option `colour`")
        );
        assert_eq!(
            parse("host=db user=u port=x").err().as_deref(),
            Some("invalid port `x`")
        );
    }
}
