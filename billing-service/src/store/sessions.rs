//! The Checkout Sessions billing opened (`checkout_sessions`), kept current by what
//! Stripe says of them, so that a returning user's checkout knows which older sessions to
//! close without asking Stripe first.

use caixa_entities::checkout_sessions::{self, Column, Entity as Sessions, SessionState};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, OnConflict},
};

use super::StoreError;

/// A session just opened.
pub struct Opened<'a> {
    /// `cs_...`.
    pub id: &'a str,
    /// Its mode.
    pub livemode: bool,
    /// The user it was opened for.
    pub user: &'a str,
    /// The customer it bills.
    pub customer: &'a str,
    /// When Stripe expires it.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Records a session billing opened.
pub async fn record(db: &impl ConnectionTrait, opened: &Opened<'_>) -> Result<(), StoreError> {
    let now = Utc::now();
    let row = checkout_sessions::ActiveModel {
        id: Set(opened.id.to_owned()),
        livemode: Set(opened.livemode),
        user_id: Set(opened.user.to_owned()),
        customer_id: Set(opened.customer.to_owned()),
        status: Set(SessionState::Open),
        expires_at: Set(opened.expires_at),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Sessions::insert(row)
        .on_conflict(OnConflict::column(Column::Id).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Records what Stripe says session `id` became (nothing when billing did not open it).
pub async fn set_status(db: &impl ConnectionTrait, id: &str, status: SessionState) -> Result<(), StoreError> {
    Sessions::update_many()
        .col_expr(Column::Status, Expr::value(status))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The sessions billing opened for `customer` that are open as far as it knows, or
/// `None` when it has opened none for it: sessions may then exist that billing never
/// saw (made before it took the account over), and Stripe must be asked.
pub async fn open_of(
    db: &impl ConnectionTrait,
    customer: &str,
) -> Result<Option<Vec<checkout_sessions::Model>>, StoreError> {
    let of_customer = || Sessions::find().filter(Column::CustomerId.eq(customer));
    let open = of_customer().filter(Column::Status.eq(SessionState::Open)).all(db).await?;
    if !open.is_empty() {
        return Ok(Some(open));
    }
    let any = of_customer().select_only().column(Column::Id).limit(1).into_tuple::<String>().one(db).await?;
    Ok(any.map(|_| open))
}
