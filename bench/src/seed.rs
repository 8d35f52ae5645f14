//! Seeds users straight into the entitlements table, in large multi-row inserts.

use caixa_entities::state::{SubscriptionState, UserState};
use caixa_test_support::database::TestDatabase;
use sea_orm::{ConnectionTrait, Statement, Value};

/// Rows per INSERT (6 parameters each, well under PostgreSQL's 65,535).
const CHUNK: usize = 5000;

/// An active subscription granting `app` (and `reports` to every third user), stored
/// exactly as billing stores a state.
fn state(i: usize) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    let features = if i.is_multiple_of(3) { vec!["app", "reports"] } else { vec!["app"] };
    let state = UserState {
        subscriptions: vec![SubscriptionState {
            // Stripe's id lengths: 28 characters for a subscription, 18 for a customer.
            id: format!("sub_1Q{i:0>22}"),
            customer_id: format!("cus_R{i:0>13}"),
            status: caixa_proto::billing::v1::SubscriptionStatus::Active,
            price_id: Some("price_1QmonthlyPlan0000000000".to_owned()),
            product_id: Some("prod_RmonthlyPlan0".to_owned()),
            current_period_start: Some(now - 86_400),
            current_period_end: Some(now + 86_400 * 25),
            features: features.into_iter().map(str::to_owned).collect(),
            ..Default::default()
        }],
    };
    serde_json::to_value(state).unwrap_or_default()
}

/// Inserts `count` users with revisions 1..=count and moves the counter to match.
pub async fn users(db: &TestDatabase, count: usize) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let head =
        "INSERT INTO entitlements (user_id, livemode, revision, state, created_at, updated_at) VALUES ";
    insert(db, head, 0..count, |i| {
        Ok(vec![
            format!("user-{i}").into(),
            false.into(),
            i64::try_from(i + 1)?.into(),
            state(i).into(),
            now.into(),
            now.into(),
        ])
    })
    .await
}

/// Commits a change for each user of `range` (new users or existing ones) to the
/// revision log, the first at revision `first`, and moves the counter to the last: what
/// billing's followers stream next.
pub async fn changes(db: &TestDatabase, range: std::ops::Range<usize>, first: u64) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let head = "INSERT INTO entitlement_changes (revision, user_id, livemode, state, committed_at) VALUES ";
    let start = range.start;
    let last = first + range.len() as u64 - 1;
    insert_up_to(db, head, range, last, |i| {
        Ok(vec![
            i64::try_from(first + (i - start) as u64)?.into(),
            format!("user-{i}").into(),
            false.into(),
            state(i).into(),
            now.into(),
        ])
    })
    .await
}

/// Inserts a row for each of `range` in multi-row statements, then sets the revision
/// counter to the range's end.
async fn insert(
    db: &TestDatabase,
    head: &str,
    range: std::ops::Range<usize>,
    row: impl Fn(usize) -> anyhow::Result<Vec<Value>>,
) -> anyhow::Result<()> {
    let counter = range.end as u64;
    insert_up_to(db, head, range, counter, row).await
}

/// [`insert`], setting the counter to `counter`.
async fn insert_up_to(
    db: &TestDatabase,
    head: &str,
    range: std::ops::Range<usize>,
    counter: u64,
    row: impl Fn(usize) -> anyhow::Result<Vec<Value>>,
) -> anyhow::Result<()> {
    let conn = db.connect().await;
    let end_of_all = range.end;
    for start in range.clone().step_by(CHUNK) {
        let end = (start + CHUNK).min(end_of_all);
        let mut sql = String::from(head);
        let mut values: Vec<Value> = Vec::new();
        for i in start..end {
            let row = row(i)?;
            let first = values.len();
            let marks: Vec<String> = (1..=row.len()).map(|n| format!("${}", first + n)).collect();
            sql.push_str(&format!("{}({})", if i > start { "," } else { "" }, marks.join(", ")));
            values.extend(row);
        }
        conn.execute_raw(Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, values)).await?;
    }
    conn.execute_raw(Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "UPDATE revision_counter SET value = $1 WHERE id = 1",
        [i64::try_from(counter)?.into()],
    ))
    .await?;
    Ok(())
}

/// What the users table and the revision log take in PostgreSQL, with their indexes and
/// TOAST: `(table, bytes, rows)` for each.
pub async fn sizes(db: &TestDatabase) -> anyhow::Result<Vec<(&'static str, i64, i64)>> {
    let conn = db.connect().await;
    let mut sizes = Vec::new();
    for table in ["entitlements", "entitlement_changes"] {
        let sql = format!(
            "SELECT pg_total_relation_size('{table}')::bigint, (SELECT count(*) FROM {table})::bigint"
        );
        let row = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no size for {table}"))?;
        sizes.push((table, row.try_get_by_index::<i64>(0)?, row.try_get_by_index::<i64>(1)?));
    }
    Ok(sizes)
}

/// The revision log's head.
pub async fn head(db: &TestDatabase) -> anyhow::Result<u64> {
    let conn = db.connect().await;
    let sql = "SELECT value FROM revision_counter WHERE id = 1";
    let row = conn
        .query_one_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no revision counter"))?;
    Ok(u64::try_from(row.try_get_by_index::<i64>(0)?)?)
}

/// Records in the users table what [`changes`] committed for the first `count` seeded
/// users from revision `first` (their states unchanged, their revisions moved), as
/// billing writes both in one transaction.
pub async fn moved(db: &TestDatabase, count: usize, first: u64) -> anyhow::Result<()> {
    let conn = db.connect().await;
    // A seeded user-i is at revision i + 1; its change at first + i.
    let sql = "UPDATE entitlements SET revision = revision + $1 WHERE revision <= $2";
    let offset = i64::try_from(first)? - 1;
    conn.execute_raw(Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        sql,
        [offset.into(), i64::try_from(count)?.into()],
    ))
    .await?;
    Ok(())
}
