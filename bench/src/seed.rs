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
    let conn = db.connect().await;
    let now = chrono::Utc::now();
    for start in (0..count).step_by(CHUNK) {
        let end = (start + CHUNK).min(count);
        let mut sql = String::from(
            "INSERT INTO entitlements (user_id, livemode, revision, state, created_at, updated_at) VALUES ",
        );
        let mut values: Vec<Value> = Vec::with_capacity((end - start) * 6);
        for (n, i) in (start..end).enumerate() {
            let p = n * 6;
            sql.push_str(&format!(
                "{}(${}, ${}, ${}, ${}, ${}, ${})",
                if n > 0 { "," } else { "" },
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6
            ));
            values.extend([
                format!("user-{i}").into(),
                false.into(),
                i64::try_from(i + 1)?.into(),
                state(i).into(),
                now.into(),
                now.into(),
            ]);
        }
        conn.execute_raw(Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, values)).await?;
    }
    conn.execute_raw(Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "UPDATE revision_counter SET value = $1 WHERE id = 1",
        [i64::try_from(count)?.into()],
    ))
    .await?;
    Ok(())
}
