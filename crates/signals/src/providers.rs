//! Market-data providers behind one interface: each builds the request for a ticker's daily
//! closes and parses the provider's answer into `(YYYY-MM-DD, close)` rows. No I/O here: the
//! `signals` component sends the request through its outbound HTTP grant, so the same code is
//! tested natively against response bodies kept as fixtures.
//!
//! | provider | endpoint | close used | tickers |
//! | --- | --- | --- | --- |
//! | Tiingo | `/tiingo/daily/{ticker}/prices` | `adjClose` (dividends and splits) | stocks, ETFs |
//! | Alpha Vantage | `/query?function=TIME_SERIES_DAILY` | `5. adjusted close` if present, else `4. close` | stocks, ETFs |
//! | FRED | `/fred/series/observations` | `value` (`.` = no observation, skipped) | VIX as `VIXCLS` |

use serde_json::Value;

/// Why a provider's answer gave no bars.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused: bad key, rate limit, unknown ticker. Its own words.
    #[error("{provider} refused: {message}")]
    Refused {
        provider: &'static str,
        message: String,
    },
    /// The answer is not in the shape this adapter reads.
    #[error("{provider} answered in an unexpected shape: {message}")]
    Malformed {
        provider: &'static str,
        message: String,
    },
    /// This provider has no data for the ticker.
    #[error("{provider} does not serve {symbol}")]
    Unsupported {
        provider: &'static str,
        symbol: String,
    },
}

/// A supported provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Tiingo,
    AlphaVantage,
    Fred,
}

/// An HTTP GET to send: the URL and the headers (keys go in a header where the provider
/// allows it, so they stay out of URLs that get logged).
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// What to fetch: a ticker and an optional inclusive date range (`YYYY-MM-DD`).
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    pub symbol: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
}

impl Provider {
    /// Every provider, in the order one is picked when the caller names none.
    pub const ALL: [Provider; 3] = [Provider::Tiingo, Provider::AlphaVantage, Provider::Fred];

    /// Its name in the API: `tiingo`, `alphavantage`, `fred`.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Tiingo => "tiingo",
            Provider::AlphaVantage => "alphavantage",
            Provider::Fred => "fred",
        }
    }

    /// The provider called `name`.
    pub fn from_name(name: &str) -> Option<Provider> {
        Provider::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The manifest variable holding its key (`TIINGO_API_KEY` in the environment).
    pub fn key_variable(self) -> &'static str {
        match self {
            Provider::Tiingo => "tiingo_api_key",
            Provider::AlphaVantage => "alphavantage_api_key",
            Provider::Fred => "fred_api_key",
        }
    }

    /// Its public endpoint.
    pub fn default_base(self) -> &'static str {
        match self {
            Provider::Tiingo => "https://api.tiingo.com",
            Provider::AlphaVantage => "https://www.alphavantage.co",
            Provider::Fred => "https://api.stlouisfed.org",
        }
    }

    /// The manifest variable holding its base URL.
    pub fn url_variable(self) -> &'static str {
        match self {
            Provider::Tiingo => "tiingo_url",
            Provider::AlphaVantage => "alphavantage_url",
            Provider::Fred => "fred_url",
        }
    }

    /// Whether it has daily closes for `symbol`: FRED has the VIX (`VIXCLS`) among these
    /// tickers; Tiingo and Alpha Vantage have the ETFs but not the index.
    pub fn serves(self, symbol: &str) -> bool {
        match self {
            Provider::Fred => fred_series(symbol).is_some(),
            Provider::Tiingo | Provider::AlphaVantage => !symbol.eq_ignore_ascii_case("VIX"),
        }
    }

    /// The request for `query`'s daily closes against `base` (e.g. `https://api.tiingo.com`).
    pub fn request(
        self,
        base: &str,
        query: &Query<'_>,
        key: &str,
    ) -> Result<FetchRequest, ProviderError> {
        let base = base.trim_end_matches('/');
        let symbol = query.symbol;
        let mut params: Vec<(&str, String)> = Vec::new();
        let (url, headers) = match self {
            Provider::Tiingo => {
                if let Some(from) = query.from {
                    params.push(("startDate", from.to_string()));
                }
                if let Some(to) = query.to {
                    params.push(("endDate", to.to_string()));
                }
                (
                    format!(
                        "{base}/tiingo/daily/{}/prices",
                        encode(&symbol.to_ascii_lowercase())
                    ),
                    vec![("authorization".to_string(), format!("Token {key}"))],
                )
            }
            Provider::AlphaVantage => {
                // The range is applied after parsing: the endpoint returns the whole history.
                params.push(("function", "TIME_SERIES_DAILY".into()));
                params.push(("symbol", symbol.to_string()));
                params.push(("outputsize", "full".into()));
                params.push(("apikey", key.to_string()));
                (format!("{base}/query"), Vec::new())
            }
            Provider::Fred => {
                let series = fred_series(symbol).ok_or_else(|| ProviderError::Unsupported {
                    provider: self.name(),
                    symbol: symbol.to_string(),
                })?;
                params.push(("series_id", series.to_string()));
                params.push(("api_key", key.to_string()));
                params.push(("file_type", "json".into()));
                if let Some(from) = query.from {
                    params.push(("observation_start", from.to_string()));
                }
                if let Some(to) = query.to {
                    params.push(("observation_end", to.to_string()));
                }
                (format!("{base}/fred/series/observations"), Vec::new())
            }
        };
        let query_string: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let url = if query_string.is_empty() {
            url
        } else {
            format!("{url}?{}", query_string.join("&"))
        };
        Ok(FetchRequest { url, headers })
    }

    /// The rows of an answer with HTTP `status` and `body`, oldest first, limited to the
    /// query's range.
    pub fn parse(
        self,
        status: u16,
        body: &[u8],
        query: &Query<'_>,
    ) -> Result<Vec<(String, f64)>, ProviderError> {
        let provider = self.name();
        let malformed = |message: String| ProviderError::Malformed { provider, message };
        let refused = |message: String| ProviderError::Refused { provider, message };
        let json: Result<Value, _> = serde_json::from_slice(body);
        if !(200..300).contains(&status) {
            let said = json.ok().and_then(|v| provider_message(&v));
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(refused(format!("HTTP {status}: {}", said.unwrap_or(text))));
        }
        let json = json.map_err(|e| malformed(format!("not JSON: {e}")))?;
        let mut rows = match self {
            Provider::Tiingo => parse_tiingo(&json).map_err(malformed)?,
            Provider::AlphaVantage => {
                if let Some(message) = provider_message(&json) {
                    return Err(refused(message));
                }
                parse_alpha_vantage(&json).map_err(malformed)?
            }
            Provider::Fred => {
                if let Some(message) = provider_message(&json) {
                    return Err(refused(message));
                }
                parse_fred(&json).map_err(malformed)?
            }
        };
        rows.retain(|(date, _)| {
            query.from.is_none_or(|f| date.as_str() >= f)
                && query.to.is_none_or(|t| date.as_str() <= t)
        });
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(rows)
    }
}

/// The FRED series of a ticker.
pub fn fred_series(symbol: &str) -> Option<&'static str> {
    symbol
        .trim_start_matches('^')
        .eq_ignore_ascii_case("VIX")
        .then_some("VIXCLS")
}

/// The error text a provider puts in a JSON body: Tiingo's `detail`, Alpha Vantage's
/// `Error Message` / `Note` / `Information`, FRED's `error_message`.
fn provider_message(json: &Value) -> Option<String> {
    [
        "detail",
        "Error Message",
        "Note",
        "Information",
        "error_message",
    ]
    .iter()
    .find_map(|k| json.get(*k).and_then(Value::as_str).map(str::to_string))
}

/// A date field: `2024-01-02` or `2024-01-02T00:00:00.000Z` → `2024-01-02`.
fn day(text: &str) -> Option<String> {
    let d = text.get(..10)?;
    crate::dates::parse(d).map(|_| d.to_string())
}

/// A price that may be a JSON number or a decimal string.
fn price(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_tiingo(json: &Value) -> Result<Vec<(String, f64)>, String> {
    let items = json
        .as_array()
        .ok_or("expected a JSON array of daily prices")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let date = item
                .get("date")
                .and_then(Value::as_str)
                .and_then(day)
                .ok_or(format!("[{i}]: no valid date"))?;
            let close = item
                .get("adjClose")
                .or_else(|| item.get("close"))
                .and_then(price)
                .ok_or(format!("[{i}] {date}: no adjClose or close"))?;
            Ok((date, close))
        })
        .collect()
}

fn parse_alpha_vantage(json: &Value) -> Result<Vec<(String, f64)>, String> {
    let series = json
        .get("Time Series (Daily)")
        .and_then(Value::as_object)
        .ok_or("no \"Time Series (Daily)\" object")?;
    series
        .iter()
        .map(|(date, fields)| {
            let day = day(date).ok_or(format!("{date:?} is not a date"))?;
            let close = fields
                .get("5. adjusted close")
                .or_else(|| fields.get("4. close"))
                .and_then(price)
                .ok_or(format!("{date}: no \"4. close\""))?;
            Ok((day, close))
        })
        .collect()
}

fn parse_fred(json: &Value) -> Result<Vec<(String, f64)>, String> {
    let observations = json
        .get("observations")
        .and_then(Value::as_array)
        .ok_or("no \"observations\" array")?;
    let mut rows = Vec::with_capacity(observations.len());
    for (i, o) in observations.iter().enumerate() {
        let date = o
            .get("date")
            .and_then(Value::as_str)
            .and_then(day)
            .ok_or(format!("observations[{i}]: no valid date"))?;
        let value = o
            .get("value")
            .and_then(Value::as_str)
            .ok_or(format!("observations[{i}] {date}: no value"))?;
        // FRED marks a day without an observation (a market holiday) with ".".
        if value.trim() == "." {
            continue;
        }
        let close = value
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("observations[{i}] {date}: value {value:?} is not a number"))?;
        rows.push((date, close));
    }
    Ok(rows)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
