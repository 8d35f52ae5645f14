//! The callers' tokens file: any text parses or is refused with a line number, never a
//! panic; a file written the documented way names its caller for its token, and only
//! for it.
#![no_main]

use caixa_runtime::auth::{Tokens, TokensError, hash_hex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Tokens::parse(text) {
        Ok(tokens) => {
            let _ = tokens.caller(text);
        }
        Err(TokensError::BadLine { line }) => assert!(line >= 1 && line <= text.lines().count()),
        Err(_) => {}
    }
    // The first word is a caller, the rest its token.
    let (caller, token) = text.split_once(' ').unwrap_or((text, ""));
    if caller.is_empty() || caller.contains(|c: char| c.is_whitespace() || c == '#') {
        return;
    }
    let file = format!("# callers\n{caller} {}\n", hash_hex(token));
    let tokens = Tokens::parse(&file).expect("a file written as documented");
    assert_eq!(tokens.caller(token), Some(caller));
    assert_eq!(tokens.caller(&format!("{token}x")), None);
});
