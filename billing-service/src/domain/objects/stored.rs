//! How Stripe's objects compare with what billing stores. The rows a set of objects
//! would replace are read with one query per table, so classifying a page of a sync or a
//! sweep costs four queries rather than one or two per object.

use std::collections::HashMap;

use caixa_entities::{customers, prices, products, subscriptions};
use sea_orm::ConnectionTrait;

use crate::domain::objects::lifecycle;
use crate::{
    store::{self, StoreError, catalogue},
    stripe::objects::StripeObject,
};

/// How a stored row compares with Stripe's object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// No row yet.
    Missing,
    /// The row says the same about access.
    Same,
    /// The row says something else.
    Different,
}

/// The stored rows of some Stripe objects (and of their subscriptions' customers).
#[derive(Debug, Default)]
pub struct StoredRows {
    customers: HashMap<String, customers::Model>,
    subscriptions: HashMap<String, subscriptions::Model>,
    products: HashMap<String, products::Model>,
    prices: HashMap<String, prices::Model>,
}

impl StoredRows {
    /// Reads the rows `objects` would replace, and the customers their subscriptions
    /// belong to.
    pub async fn load(db: &impl ConnectionTrait, objects: &[StripeObject]) -> Result<Self, StoreError> {
        let (mut customer_ids, mut sub_ids, mut product_ids, mut price_ids) = Default::default();
        for object in objects {
            let (ids, id): (&mut Vec<String>, &str) = match object {
                StripeObject::Customer(c) => (&mut customer_ids, &c.id),
                StripeObject::Subscription(s) => {
                    customer_ids.push(s.customer_id.clone());
                    (&mut sub_ids, &s.id)
                }
                StripeObject::Product(p) => (&mut product_ids, &p.id),
                StripeObject::Price(p) => (&mut price_ids, &p.id),
                StripeObject::CheckoutSession(_) | StripeObject::Subscribers(_) => continue,
            };
            ids.push(id.to_owned());
        }
        Ok(Self {
            customers: by_id(store::customers::find_many(db, customer_ids).await?, |r| &r.id),
            subscriptions: by_id(store::subscriptions::find_many(db, sub_ids).await?, |r| &r.id),
            products: by_id(catalogue::products(db, product_ids).await?, |r| &r.id),
            prices: by_id(catalogue::prices(db, price_ids).await?, |r| &r.id),
        })
    }

    /// How `object`'s stored row compares with it (`object` must be among those loaded).
    pub fn compare(&self, object: &StripeObject) -> Stored {
        let verdict = |drifted: Option<bool>| match drifted {
            None => Stored::Missing,
            Some(false) => Stored::Same,
            Some(true) => Stored::Different,
        };
        match object {
            StripeObject::Product(product) => {
                verdict(self.products.get(&product.id).map(|row| lifecycle::product_drifted(row, product)))
            }
            StripeObject::Price(price) => {
                verdict(self.prices.get(&price.id).map(|row| lifecycle::price_drifted(row, price)))
            }
            StripeObject::Customer(customer) => verdict(
                self.customers.get(&customer.id).map(|row| lifecycle::customer_drifted(row, customer)),
            ),
            StripeObject::Subscription(sub) => {
                let owner =
                    lifecycle::subscription_owner(self.linked_user(&sub.customer_id), sub.user_id.clone());
                verdict(
                    self.subscriptions
                        .get(&sub.id)
                        .map(|row| lifecycle::subscription_drifted(row, sub, owner.as_deref())),
                )
            }
            StripeObject::CheckoutSession(_) | StripeObject::Subscribers(_) => Stored::Different,
        }
    }

    /// Whether a customer or subscription belongs to no user, neither by its metadata
    /// nor by a stored link.
    pub fn unlinked(&self, object: &StripeObject) -> bool {
        match object {
            StripeObject::Customer(customer) => {
                !customer.deleted
                    && lifecycle::customer_owner(customer.user_id.clone(), self.linked_user(&customer.id))
                        .is_none()
            }
            StripeObject::Subscription(sub) => {
                lifecycle::subscription_owner(self.linked_user(&sub.customer_id), sub.user_id.clone())
                    .is_none()
            }
            _ => false,
        }
    }

    fn linked_user(&self, customer: &str) -> Option<String> {
        self.customers.get(customer).and_then(|c| c.user_id.clone())
    }
}

fn by_id<T>(rows: Vec<T>, id: fn(&T) -> &String) -> HashMap<String, T> {
    rows.into_iter().map(|row| (id(&row).clone(), row)).collect()
}

/// How `object`'s stored row compares with it.
pub async fn compare(db: &impl ConnectionTrait, object: &StripeObject) -> Result<Stored, StoreError> {
    Ok(StoredRows::load(db, std::slice::from_ref(object)).await?.compare(object))
}
