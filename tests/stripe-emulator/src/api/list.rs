//! Pagination as Stripe does it: `limit`, `starting_after`, `ending_before`.

use serde_json::{Value, json};

use crate::{
    error::{ApiResult, StripeError},
    form::Params,
    world::World,
};

/// A list endpoint's answer: the objects of one type in the caller's mode that `keep`
/// accepts, newest first, one page of them. A walk with `starting_after` reads only the
/// objects past its cursor, so paging through an account of many thousands costs each
/// page its own size, not the account's.
pub fn list_page(
    world: &World,
    object_type: &str,
    livemode: bool,
    keep: impl Fn(&Value) -> bool,
    params: &Params,
    url: &str,
) -> ApiResult<Value> {
    let limit = limit(params)?;
    match (params.str("starting_after"), params.str("ending_before")) {
        (Some(cursor), None) => {
            let items = world
                .list_after(object_type, livemode, &keep, cursor, limit + 1)
                .ok_or_else(|| StripeError::no_such("object", cursor, "starting_after"))?;
            let has_more = items.len() > limit;
            let data: Vec<Value> = items.into_iter().take(limit).cloned().collect();
            Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": url }))
        }
        _ => page(world.list_refs(object_type, livemode, keep), params, url),
    }
}

fn limit(params: &Params) -> ApiResult<usize> {
    let limit = params.int("limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(StripeError::invalid("limit", "This value must be between 1 and 100."));
    }
    Ok(usize::try_from(limit).unwrap_or(10))
}

/// One page of `items` (newest first), cut by `limit`, `starting_after` and
/// `ending_before` exactly as Stripe does.
pub fn page<V: std::borrow::Borrow<Value>>(items: Vec<V>, params: &Params, url: &str) -> ApiResult<Value> {
    let limit = limit(params)?;
    let position = |cursor: &str, param: &str| {
        items
            .iter()
            .position(|item| item.borrow()["id"] == cursor)
            .ok_or_else(|| StripeError::no_such("object", cursor, param))
    };
    let owned = |slice: &[V]| slice.iter().map(|v| v.borrow().clone()).collect::<Vec<Value>>();
    let (data, has_more) = if let Some(cursor) = params.str("starting_after") {
        let rest = &items[position(cursor, "starting_after")? + 1..];
        (owned(&rest[..rest.len().min(limit)]), rest.len() > limit)
    } else if let Some(cursor) = params.str("ending_before") {
        let before = &items[..position(cursor, "ending_before")?];
        let start = before.len().saturating_sub(limit);
        (owned(&before[start..]), start > 0)
    } else {
        (owned(&items[..items.len().min(limit)]), items.len() > limit)
    };
    Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": url }))
}
