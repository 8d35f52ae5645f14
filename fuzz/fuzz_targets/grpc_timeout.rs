//! The `grpc-timeout` parser against the spec's grammar: any text is a deadline exactly
//! when it is one to eight digits and a unit among `H M S m u n`, and then it is the
//! value times the unit, computed here independently in nanoseconds.
#![no_main]

use caixa_runtime::deadline::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = parse(text);
    let expected = (|| {
        let (digits, unit) = text.split_at(text.len().checked_sub(1).filter(|_| text.is_ascii())?);
        if !(1..=8).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let per_unit: u128 = match unit {
            "H" => 3_600_000_000_000,
            "M" => 60_000_000_000,
            "S" => 1_000_000_000,
            "m" => 1_000_000,
            "u" => 1_000,
            "n" => 1,
            _ => return None,
        };
        Some(digits.parse::<u128>().ok()? * per_unit)
    })();
    assert_eq!(parsed.map(|d| d.as_nanos()), expected, "{text:?}");
});
