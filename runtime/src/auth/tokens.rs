//! Bearer tokens. The file holds one caller per line, `<caller> <sha256 of the token, hex>`,
//! so a leaked file does not leak a usable token. A presented token is hashed and
//! compared with every entry in constant time: how long a check takes says nothing about
//! how close a guess was.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a tokens file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// A line is not `<caller> <64 hex digits>`.
    #[error("line {line}: expected `<caller> <sha256 of the token in hex>`")]
    BadLine {
        /// One-based line number.
        line: usize,
    },
    /// The file lists no caller.
    #[error("lists no caller")]
    Empty,
}

/// Known callers and the hashes of their tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    entries: Vec<(String, [u8; 32])>,
}

impl Tokens {
    /// Parses a tokens file; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Self, TokensError> {
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let bad = TokensError::BadLine { line: index + 1 };
            let mut fields = line.split_whitespace();
            let (Some(caller), Some(digest), None) = (fields.next(), fields.next(), fields.next()) else {
                return Err(bad);
            };
            let mut hash = [0u8; 32];
            hex::decode_to_slice(digest, &mut hash).map_err(|_| bad)?;
            entries.push((caller.to_owned(), hash));
        }
        if entries.is_empty() {
            return Err(TokensError::Empty);
        }
        Ok(Self { entries })
    }

    /// The caller whose token this is.
    pub fn caller(&self, token: &str) -> Option<&str> {
        let presented = hash(token);
        let mut found = None;
        // Every entry is compared, found or not, so timing does not depend on where (or
        // whether) the token is listed.
        for (caller, expected) in &self.entries {
            if bool::from(presented.ct_eq(expected)) {
                found = Some(caller.as_str());
            }
        }
        found
    }
}

/// The hex SHA-256 of a token, as a tokens file lists it.
pub fn hash_hex(token: &str) -> String {
    hex::encode(hash(token))
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_token_names_its_caller_and_others_none() {
        let text =
            format!("# callers\nweb {}\n\ninternal {}  # reports\n", hash_hex("t-web"), hash_hex("t-int"));
        let tokens = Tokens::parse(&text).unwrap();
        assert_eq!(tokens.caller("t-web"), Some("web"));
        assert_eq!(tokens.caller("t-int"), Some("internal"));
        assert_eq!(tokens.caller("t-web "), None);
        assert_eq!(tokens.caller(""), None);
    }

    #[test]
    fn bad_files_name_the_line() {
        assert!(matches!(Tokens::parse("web abc"), Err(TokensError::BadLine { line: 1 })));
        assert!(matches!(Tokens::parse("\nweb"), Err(TokensError::BadLine { line: 2 })));
        let extra = format!("web {} more", hash_hex("x"));
        assert!(matches!(Tokens::parse(&extra), Err(TokensError::BadLine { line: 1 })));
        assert!(matches!(Tokens::parse("# nobody\n"), Err(TokensError::Empty)));
    }
}
