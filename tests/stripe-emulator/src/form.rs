//! Stripe's form encoding: `a[b][c]=v`, `list[0][x]=v`, `expand[]=v`, decoded into JSON
//! (every leaf a string, as Stripe receives it).

use serde_json::{Map, Value};

/// Decodes a form body or query string.
pub fn decode(raw: &[u8]) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in url::form_urlencoded::parse(raw) {
        let mut path = Vec::new();
        let (head, mut rest) = match key.find('[') {
            Some(i) => (&key[..i], &key[i..]),
            None => (&key[..], ""),
        };
        path.push(head.to_owned());
        while let Some(end) = rest.find(']') {
            path.push(rest[1..end].to_owned());
            rest = &rest[end + 1..];
        }
        insert(&mut root, &path, Value::String(value.into_owned()));
    }
    normalise_arrays(&mut root);
    root
}

fn insert(node: &mut Value, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else { return };
    let Value::Object(map) = node else { return };
    if rest.is_empty() {
        map.insert(first.clone(), value);
        return;
    }
    if rest[0].is_empty() {
        // `name[]=v` appends.
        let entry = map.entry(first.clone()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = entry {
            items.push(value);
        }
        return;
    }
    let child = map.entry(first.clone()).or_insert_with(|| Value::Object(Map::new()));
    insert(child, rest, value);
}

/// `{ "0": .., "1": .. }` becomes `[.., ..]`, in index order.
fn normalise_arrays(node: &mut Value) {
    match node {
        Value::Object(map) => {
            for child in map.values_mut() {
                normalise_arrays(child);
            }
            if !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok()) {
                let mut items: Vec<(usize, Value)> =
                    map.iter().map(|(k, v)| (k.parse().unwrap_or(0), v.clone())).collect();
                items.sort_by_key(|(i, _)| *i);
                *node = Value::Array(items.into_iter().map(|(_, v)| v).collect());
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise_arrays),
        _ => {}
    }
}

/// Typed access to decoded parameters, with Stripe's errors for bad values.
pub struct Params(pub Value);

impl Params {
    /// A string parameter at a top-level or bracketed path like `recurring.interval`.
    pub fn str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// A raw value at a dotted path.
    pub fn get(&self, path: &str) -> Option<&Value> {
        path.split('.').try_fold(&self.0, |node, key| match node {
            Value::Object(map) => map.get(key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
    }

    /// A required string.
    pub fn required(&self, path: &str) -> crate::error::ApiResult<&str> {
        self.str(path).ok_or_else(|| crate::error::StripeError::missing(&bracketed(path)))
    }

    /// An integer parameter.
    pub fn int(&self, path: &str) -> crate::error::ApiResult<Option<i64>> {
        self.str(path)
            .map(|raw| {
                raw.parse().map_err(|_| {
                    crate::error::StripeError::invalid(&bracketed(path), format!("Invalid integer: {raw}"))
                })
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`).
    pub fn bool(&self, path: &str) -> crate::error::ApiResult<Option<bool>> {
        match self.str(path) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => {
                Err(crate::error::StripeError::invalid(&bracketed(path), format!("Invalid boolean: {other}")))
            }
        }
    }

    /// The `metadata` hash, as Stripe stores it (string values).
    pub fn metadata(&self) -> Option<Value> {
        self.get("metadata").filter(|m| m.is_object()).cloned()
    }

    /// The `expand[]` list.
    pub fn expand(&self) -> Vec<String> {
        match self.get("expand") {
            Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    }
}

/// `a.b.0` → `a[b][0]`, the way Stripe names a parameter in errors.
pub fn bracketed(path: &str) -> String {
    let mut parts = path.split('.');
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        out.push('[');
        out.push_str(part);
        out.push(']');
    }
    out
}
