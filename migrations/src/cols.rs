//! Column shapes used across migrations, so every table spells time and flags alike.

use sea_orm_migration::{prelude::*, schema::*};

/// `created_at` and `updated_at`, set by the database on insert.
pub fn with_timestamps(mut table: TableCreateStatement) -> TableCreateStatement {
    table
        .col(timestamp_with_time_zone("created_at").default(Expr::current_timestamp()))
        .col(timestamp_with_time_zone("updated_at").default(Expr::current_timestamp()))
        .take()
}

/// Stripe's `livemode` flag, carried by every Stripe-derived row.
pub fn livemode() -> ColumnDef {
    boolean("livemode")
}

/// The Stripe time of the data a row reflects (event `created`, or when it was fetched);
/// an older payload never overwrites a row with a newer `as_of`.
pub fn as_of() -> ColumnDef {
    timestamp_with_time_zone("as_of")
}

/// A Stripe id used as the primary key (`cus_...`, `sub_...`).
pub fn stripe_id_pk() -> ColumnDef {
    string_len("id", 255).primary_key().take()
}

/// A unique index named after its table and columns.
pub fn unique_index(table: &str, cols: &[&str]) -> IndexCreateStatement {
    index(table, cols).unique().take()
}

/// A plain index named after its table and columns.
pub fn index(table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("idx_{table}_{}", cols.join("_"))).table(Alias::new(table));
    for col in cols {
        idx.col(Alias::new(*col));
    }
    idx
}

/// Drops tables in the order given (dependants first).
pub async fn drop_tables(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    for table in tables {
        manager.drop_table(Table::drop().table(Alias::new(*table)).to_owned()).await?;
    }
    Ok(())
}
