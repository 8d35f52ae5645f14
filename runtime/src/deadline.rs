//! The caller's deadline, from the `grpc-timeout` header by the gRPC spec's grammar
//! (tonic keeps its parser to itself): one to eight digits and a unit among
//! `H M S m u n`. Anything else is no deadline, never some other one.

use std::time::Duration;

use tonic::metadata::MetadataMap;

/// The deadline a call's metadata carries, if it carries a valid one.
pub fn from_metadata(metadata: &MetadataMap) -> Option<Duration> {
    parse(metadata.get("grpc-timeout")?.to_str().ok()?)
}

/// `raw` read as a `grpc-timeout` value.
pub fn parse(raw: &str) -> Option<Duration> {
    // A header value that reached here as text may still hold non-ASCII: splitting at a
    // byte inside a character would panic.
    if !raw.is_ascii() {
        return None;
    }
    let (digits, unit) = raw.split_at(raw.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value.checked_mul(3600)?),
        "M" => Duration::from_secs(value.checked_mul(60)?),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_follows_the_spec_and_refuses_the_rest() {
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("99999999H"), Some(Duration::from_secs(99_999_999 * 3600)));
        assert_eq!(parse("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "m", "5", "5x", "-5m", "+5m", "123456789m", "5 m", "5mm", "5é", "é"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
