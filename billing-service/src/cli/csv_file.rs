//! The operator's CSV files, read whole before anything changes: a file with a missing
//! column, a line that is not UTF-8, a short line or an empty value is refused with its
//! line number, so an import is all or nothing.

use std::path::Path;

use super::CommandError;

/// One data line: its line number in the file (the header is line 1) and its values in
/// the order of the columns asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Line number, for messages.
    pub line: u64,
    /// Values, trimmed, in the order asked for.
    pub values: Vec<String>,
}

/// Reads `path` (given as `flag`), whose header must name every one of `columns` (in any
/// order; other columns are ignored). Values of `optional` columns may be empty.
pub fn read(flag: &str, path: &Path, columns: &[&str], optional: &[&str]) -> Result<Vec<Row>, CommandError> {
    let bad = |what: String| CommandError::Usage(format!("{flag} {}: {what}", path.display()));
    let bytes = std::fs::read(path).map_err(|err| bad(err.to_string()))?;
    // The csv crate does not count the blank lines it skips: lines are counted here.
    let line_at = |pos: Option<&csv::Position>| {
        let mut end = pos.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX)).min(bytes.len());
        // A record's position is where the reader began, before the blank lines it skipped.
        while bytes.get(end).is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            end += 1;
        }
        1 + bytes[..end].iter().filter(|b| **b == b'\n').count() as u64
    };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes.as_slice());
    let header = reader.headers().map_err(|err| bad(describe(&err, &line_at)))?.clone();
    let mut at = Vec::with_capacity(columns.len());
    for column in columns {
        match header.iter().position(|name| name.eq_ignore_ascii_case(column)) {
            Some(index) => at.push(index),
            None => {
                return Err(bad(format!(
                    "line 1: the header has no column {column:?} (expected {})",
                    columns.join(",")
                )));
            }
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| bad(describe(&err, &line_at)))?;
        let line = line_at(record.position());
        if record.iter().all(str::is_empty) {
            continue;
        }
        let mut values = Vec::with_capacity(columns.len());
        for (column, index) in columns.iter().zip(&at) {
            let value = record.get(*index).unwrap_or_default();
            if value.is_empty() && !optional.contains(column) {
                return Err(bad(format!("line {line}: {column} is empty")));
            }
            values.push(value.to_owned());
        }
        rows.push(Row { line, values });
    }
    Ok(rows)
}

/// The csv crate's error, with the line it happened on.
fn describe(err: &csv::Error, line_at: &dyn Fn(Option<&csv::Position>) -> u64) -> String {
    match err.kind() {
        csv::ErrorKind::Utf8 { pos, .. } => format!("line {}: not UTF-8 text", line_at(pos.as_ref())),
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
            format!("line {}: {len} values where the header has {expected_len}", line_at(pos.as_ref()))
        }
        _ => err.to_string(),
    }
}

/// Refuses the file at `path` when a value of column `index` is not a user id by the rules
/// every service shares.
pub fn check_users(flag: &str, path: &Path, rows: &[Row], index: usize) -> Result<(), CommandError> {
    for row in rows {
        if let Err(err) = caixa_types::input::user_id(&row.values[index]) {
            return Err(CommandError::Usage(format!("{flag} {}: line {}: {err}", path.display(), row.line)));
        }
    }
    Ok(())
}

/// Refuses the file at `path` when a value of column `index` (a `what`: "user",
/// "customer") appears on two lines, naming both.
pub fn refuse_duplicates(
    flag: &str,
    path: &Path,
    rows: &[Row],
    index: usize,
    what: &str,
) -> Result<(), CommandError> {
    let mut seen = std::collections::HashMap::new();
    for row in rows {
        let value = &row.values[index];
        if let Some(first) = seen.insert(value.as_str(), row.line) {
            return Err(CommandError::Usage(format!(
                "{flag} {}: line {}: {what} {value} is listed again (first on line {first})",
                path.display(),
                row.line
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        file
    }

    fn message(result: Result<Vec<Row>, CommandError>) -> String {
        match result {
            Err(CommandError::Usage(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn columns_are_found_by_name_and_lines_numbered() {
        let f = file(b"email,user_id,used_at\na@x.com, u1 ,2024-01-01\n\nb@x.com,u2,\n");
        let rows = read("--csv", f.path(), &["user_id", "email", "used_at"], &["used_at"]).unwrap();
        assert_eq!(
            rows[0],
            Row { line: 2, values: vec!["u1".into(), "a@x.com".into(), "2024-01-01".into()] }
        );
        assert_eq!(rows[1], Row { line: 4, values: vec!["u2".into(), "b@x.com".into(), String::new()] });
        assert!(refuse_duplicates("--csv", f.path(), &rows, 0, "user").is_ok());
    }

    #[test]
    fn bad_files_are_refused_naming_the_line() {
        let cases: [(&[u8], &str); 4] = [
            (b"user_id,used_at\nu1,2024-01-01\n", "no column \"email\""),
            (b"user_id,email\nu1,a@x.com\nu2,\xff\xfe@x.com\n", "line 3: not UTF-8"),
            (b"user_id,email\nu1,a@x.com\nu2\n", "line 3: 1 values"),
            (b"user_id,email\n,a@x.com\n", "line 2: user_id is empty"),
        ];
        for (bytes, expected) in cases {
            let f = file(bytes);
            let err = message(read("--csv", f.path(), &["user_id", "email"], &[]));
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
        let f = file(b"user_id,email\nu1,a@x.com\nu1,b@x.com\n");
        let rows = read("--csv", f.path(), &["user_id", "email"], &[]).unwrap();
        let err = message(refuse_duplicates("--csv", f.path(), &rows, 0, "user").map(|()| Vec::new()));
        assert!(err.ends_with("line 3: user u1 is listed again (first on line 2)"), "{err}");
    }
}
