//! The provider adapters against response bodies in each provider's wire format
//! (`tests/fixtures/providers`, see its README for where they come from).

use bourse_signals::providers::{Provider, ProviderError, Query};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/providers/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn query(symbol: &str) -> Query<'_> {
    Query {
        symbol,
        from: None,
        to: None,
    }
}

#[test]
fn tiingo_reads_adjusted_closes_oldest_first() {
    let rows = Provider::Tiingo
        .parse(200, &fixture("tiingo_spy.json"), &query("SPY"))
        .expect("parses");
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0], ("2024-01-02".to_string(), 463.6121874731));
    assert_eq!(rows[4], ("2024-01-08".to_string(), 465.5248713296));
}

#[test]
fn tiingo_not_found_is_a_refusal_in_its_own_words() {
    let err = Provider::Tiingo
        .parse(404, &fixture("tiingo_not_found.json"), &query("NOPE"))
        .expect_err("refused");
    assert_eq!(
        err,
        ProviderError::Refused {
            provider: "tiingo",
            message: "HTTP 404: Error: Ticker 'NOPE' not found".into()
        }
    );
}

#[test]
fn alpha_vantage_sorts_newest_first_series_and_applies_the_range() {
    let q = Query {
        symbol: "SPY",
        from: Some("2024-01-03"),
        to: Some("2024-01-05"),
    };
    let rows = Provider::AlphaVantage
        .parse(200, &fixture("alphavantage_spy.json"), &q)
        .expect("parses");
    assert_eq!(
        rows,
        vec![
            ("2024-01-03".to_string(), 468.79),
            ("2024-01-04".to_string(), 467.28),
            ("2024-01-05".to_string(), 467.92),
        ]
    );
}

#[test]
fn alpha_vantage_limits_and_errors_come_with_status_200_and_are_refusals() {
    for name in ["alphavantage_limit.json", "alphavantage_bad_symbol.json"] {
        let err = Provider::AlphaVantage
            .parse(200, &fixture(name), &query("SPY"))
            .expect_err(name);
        let ProviderError::Refused { provider, message } = err else {
            panic!("{name}: {err:?}");
        };
        assert_eq!(provider, "alphavantage");
        assert!(
            message.contains("rate limit") || message.contains("Invalid API call"),
            "{message}"
        );
    }
}

#[test]
fn fred_skips_days_without_an_observation() {
    let rows = Provider::Fred
        .parse(200, &fixture("fred_vixcls.json"), &query("VIX"))
        .expect("parses");
    let dates: Vec<&str> = rows.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(rows.len(), 9);
    assert!(!dates.contains(&"2023-12-25") && !dates.contains(&"2024-01-01"));
    assert_eq!(rows[0], ("2023-12-22".to_string(), 13.03));
    assert_eq!(rows[8], ("2024-01-05".to_string(), 13.35));
}

#[test]
fn fred_bad_key_is_a_refusal() {
    let err = Provider::Fred
        .parse(400, &fixture("fred_bad_key.json"), &query("VIX"))
        .expect_err("refused");
    assert!(
        err.to_string().contains("api_key is not registered"),
        "{err}"
    );
}

#[test]
fn a_body_of_the_wrong_shape_is_reported_not_guessed_at() {
    // Each provider's adapter given another provider's body.
    let cases = [
        (Provider::Tiingo, "alphavantage_spy.json"),
        (Provider::AlphaVantage, "tiingo_spy.json"),
        (Provider::Fred, "tiingo_spy.json"),
    ];
    for (provider, name) in cases {
        let err = provider
            .parse(200, &fixture(name), &query("SPY"))
            .expect_err(name);
        assert!(
            matches!(err, ProviderError::Malformed { .. }),
            "{provider:?} on {name}: {err:?}"
        );
    }
    let err = Provider::Tiingo
        .parse(200, b"<html>busy</html>", &query("SPY"))
        .expect_err("html");
    assert!(err.to_string().contains("not JSON"), "{err}");
}

#[test]
fn requests_carry_the_range_and_keep_keys_out_of_tiingo_urls() {
    let q = Query {
        symbol: "SPY",
        from: Some("2005-01-03"),
        to: Some("2024-12-31"),
    };
    let t = Provider::Tiingo
        .request("https://api.tiingo.com/", &q, "k&y")
        .expect("request");
    assert_eq!(
        t.url,
        "https://api.tiingo.com/tiingo/daily/spy/prices?startDate=2005-01-03&endDate=2024-12-31"
    );
    assert_eq!(
        t.headers,
        vec![("authorization".to_string(), "Token k&y".to_string())]
    );
    let a = Provider::AlphaVantage
        .request("https://www.alphavantage.co", &q, "k&y")
        .expect("request");
    assert_eq!(
        a.url,
        "https://www.alphavantage.co/query?function=TIME_SERIES_DAILY&symbol=SPY&outputsize=full&apikey=k%26y"
    );
    let f = Provider::Fred
        .request(
            "https://api.stlouisfed.org",
            &Query { symbol: "VIX", ..q },
            "abc",
        )
        .expect("request");
    assert_eq!(
        f.url,
        "https://api.stlouisfed.org/fred/series/observations?series_id=VIXCLS&api_key=abc&file_type=json&observation_start=2005-01-03&observation_end=2024-12-31"
    );
    assert!(matches!(
        Provider::Fred.request("https://api.stlouisfed.org", &q, "abc"),
        Err(ProviderError::Unsupported { .. })
    ));
    assert!(Provider::Fred.serves("VIX") && !Provider::Fred.serves("SPY"));
    assert!(Provider::Tiingo.serves("SPY") && !Provider::Tiingo.serves("VIX"));
}
