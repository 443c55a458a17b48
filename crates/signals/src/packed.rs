//! Compact binary forms for the `signals` component's key-value copies on the hot read paths:
//! a ticker's closes and a signal's daily decisions. Decoding them is a copy, where JSON of
//! the same 5 000 points costs milliseconds inside the component. Each starts with a tag byte, so a value written in
//! another encoding (or by an older version) reads as absent and the caller falls back to SQL
//! or recomputation.

use crate::backtest::Decision;

const CLOSES: u8 = b'C';
const DECISIONS: u8 = b'D';

/// `(date, close)` points: tag, then 12 bytes each (i32 day, f64 close; little-endian).
pub fn encode_closes(points: impl Iterator<Item = (i32, f64)>) -> Vec<u8> {
    let mut out = vec![CLOSES];
    for (d, c) in points {
        out.extend_from_slice(&d.to_le_bytes());
        out.extend_from_slice(&c.to_le_bytes());
    }
    out
}

pub fn decode_closes(bytes: &[u8]) -> Option<Vec<(i32, f64)>> {
    let body = bytes.strip_prefix(&[CLOSES])?;
    if body.len() % 12 != 0 {
        return None;
    }
    body.chunks_exact(12)
        .map(|c| {
            let d = i32::from_le_bytes(c[..4].try_into().ok()?);
            let v = f64::from_le_bytes(c[4..].try_into().ok()?);
            Some((d, v))
        })
        .collect()
}

/// `(date, decision)` days: tag, then 5 bytes each (i32 day, 0 keep / 1 risk-on / 2 risk-off).
pub fn encode_decisions(days: impl Iterator<Item = (i32, Decision)>) -> Vec<u8> {
    let mut out = vec![DECISIONS];
    for (d, decision) in days {
        out.extend_from_slice(&d.to_le_bytes());
        out.push(match decision {
            Decision::Keep => 0,
            Decision::RiskOn => 1,
            Decision::RiskOff => 2,
        });
    }
    out
}

pub fn decode_decisions(bytes: &[u8]) -> Option<Vec<(i32, Decision)>> {
    let body = bytes.strip_prefix(&[DECISIONS])?;
    if body.len() % 5 != 0 {
        return None;
    }
    body.chunks_exact(5)
        .map(|c| {
            let d = i32::from_le_bytes(c[..4].try_into().ok()?);
            let decision = match c[4] {
                0 => Decision::Keep,
                1 => Decision::RiskOn,
                2 => Decision::RiskOff,
                _ => return None,
            };
            Some((d, decision))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_encodings() {
        let points = vec![(19_000, 101.25), (19_001, 99.5)];
        let bytes = encode_closes(points.iter().copied());
        assert_eq!(decode_closes(&bytes), Some(points));
        assert_eq!(decode_closes(b"[[19000,101.25]]"), None);
        assert_eq!(decode_closes(&bytes[..bytes.len() - 1]), None);
        let days = vec![
            (1, Decision::Keep),
            (2, Decision::RiskOn),
            (3, Decision::RiskOff),
        ];
        let bytes = encode_decisions(days.iter().copied());
        assert_eq!(decode_decisions(&bytes), Some(days));
        assert_eq!(decode_decisions(&encode_closes(std::iter::empty())), None);
    }
}
