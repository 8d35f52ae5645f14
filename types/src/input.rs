//! The one validation of caller-supplied identifiers, shared by billing and the
//! entitlement service so that an id one accepts the other accepts too, and means the same.

/// A value a caller sent that cannot be used; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidInput {
    /// The request field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidInput {
    InvalidInput { field, reason: reason.into() }
}

/// Longest user id, in characters (the database column's length).
pub const MAX_USER_ID_CHARS: usize = 255;
/// Longest feature key, in bytes (feature keys are ASCII).
pub const MAX_FEATURE_BYTES: usize = 128;

/// A user id: surrounding whitespace is not part of it; what remains is non-empty, at most
/// [`MAX_USER_ID_CHARS`] characters and free of control characters. Returns the id as
/// it is stored and looked up.
pub fn user_id(raw: &str) -> Result<&str, InvalidInput> {
    // Ids are mostly printable ASCII without spaces: one pass over the bytes settles every
    // rule (nothing to trim, one character a byte, no control characters).
    if raw.len() <= MAX_USER_ID_CHARS && !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(raw);
    }
    let id = raw.trim();
    if id.is_empty() {
        return Err(invalid("user_id", "is required"));
    }
    if id.chars().count() > MAX_USER_ID_CHARS {
        return Err(invalid("user_id", format!("must be at most {MAX_USER_ID_CHARS} characters")));
    }
    if id.chars().any(char::is_control) {
        return Err(invalid("user_id", "must not contain control characters"));
    }
    Ok(id)
}

/// Longest part of a caller's value that an error message repeats, in characters.
pub const SHOWN_CHARS: usize = 40;

/// `raw` as an error message may repeat it: quoted and escaped, and cut to
/// [`SHOWN_CHARS`] characters with its full length said, so a huge or hostile value never
/// comes back whole.
pub fn shown(raw: &str) -> String {
    match raw.char_indices().nth(SHOWN_CHARS) {
        None => format!("{raw:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &raw[..cut], raw.len()),
    }
}

/// A feature key as checks name it: empty (the paid app itself) or lowercase letters,
/// digits and `_ - . :`, at most [`MAX_FEATURE_BYTES`].
pub fn feature(raw: &str) -> Result<&str, InvalidInput> {
    let ok = raw.len() <= MAX_FEATURE_BYTES
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.:".contains(&b));
    if ok {
        Ok(raw)
    } else {
        Err(invalid(
            "feature",
            format!(
                "{} must be lowercase letters, digits, _ - . : (at most {MAX_FEATURE_BYTES})",
                shown(raw)
            ),
        ))
    }
}

#[cfg(test)]
mod shown_tests {
    use super::*;

    #[test]
    fn a_value_is_repeated_quoted_and_cut() {
        assert_eq!(shown("ana@example.com"), "\"ana@example.com\"");
        let long = "x".repeat(65_536);
        let message = shown(&long);
        assert!(message.len() < 80 && message.ends_with("(65536 bytes)"), "{message}");
        assert_eq!(shown("<script>\n"), "\"<script>\\n\"");
        assert_eq!(shown(&"é".repeat(50)), format!("{:?}… (100 bytes)", "é".repeat(40)), "cut on characters");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_trimmed_and_counted_in_characters() {
        assert_eq!(user_id("  u_1 \n"), Ok("u_1"));
        let wide = "é".repeat(MAX_USER_ID_CHARS);
        assert_eq!(user_id(&wide), Ok(wide.as_str()), "255 two-byte characters fit");
        let long = "a".repeat(MAX_USER_ID_CHARS + 1);
        assert_eq!(user_id(&long).map_err(|e| e.field), Err("user_id"));
    }

    #[test]
    fn printable_ascii_ids_take_the_short_way_to_the_same_rules() {
        let full = "a".repeat(MAX_USER_ID_CHARS);
        assert_eq!(user_id(&full), Ok(full.as_str()), "255 one-byte characters fit");
        assert_eq!(user_id("user-7919"), Ok("user-7919"));
        assert_eq!(user_id("a b"), Ok("a b"), "an inner space is kept");
        assert_eq!(user_id(" a"), Ok("a"), "outer spaces are not part of it");
        assert_eq!(user_id("").unwrap_err().reason, "is required");
        assert!(user_id("a\u{7f}b").unwrap_err().reason.contains("control"), "DEL is a control character");
    }

    #[test]
    fn bad_user_ids_name_the_field_and_the_fault() {
        let empty = user_id("   ").unwrap_err();
        assert_eq!((empty.field, empty.reason.as_str()), ("user_id", "is required"));
        let control = user_id("a\u{7}b").unwrap_err();
        assert!(control.reason.contains("control"), "{control}");
    }

    #[test]
    fn features_are_lowercase_keys_or_empty() {
        assert_eq!(feature(""), Ok(""));
        assert_eq!(feature("reports.export:v2"), Ok("reports.export:v2"));
        assert!(feature("Reports").is_err());
        assert!(feature("a b").is_err());
        assert!(feature(&"a".repeat(MAX_FEATURE_BYTES + 1)).is_err());
        assert!(feature(&"a".repeat(MAX_FEATURE_BYTES)).is_ok());
    }
}
