//! The Stripe calls billing makes, each returning the typed object it asked for.

use stripe_client_core::StripeRequest;

use super::{
    StripeApi, StripeCallError,
    objects::{CheckoutSession, Customer, Price, Product, Subscription, entitlement_features},
};

type Result<T> = std::result::Result<T, StripeCallError>;

/// Form fields of a POST.
pub type Form = Vec<(String, String)>;

impl StripeApi {
    /// `GET /customers/{id}`.
    pub async fn customer(&self, id: &str) -> Result<Customer> {
        Ok(Customer::from_json(&self.get(&format!("/customers/{id}")).await?, self.user_keys()))
    }

    /// `GET /subscriptions/{id}`.
    pub async fn subscription(&self, id: &str) -> Result<Subscription> {
        Ok(Subscription::from_json(&self.get(&format!("/subscriptions/{id}")).await?))
    }

    /// `GET /checkout/sessions/{id}`, its subscription expanded.
    pub async fn checkout_session(&self, id: &str) -> Result<CheckoutSession> {
        let path = format!("/checkout/sessions/{id}?expand[]=subscription");
        Ok(CheckoutSession::from_json(&self.get(&path).await?))
    }

    /// The customer's open Checkout Sessions (`GET /checkout/sessions?customer=&status=open`).
    pub async fn open_checkout_sessions(&self, customer: &str) -> Result<Vec<CheckoutSession>> {
        let list = self.get(&format!("/checkout/sessions?customer={customer}&status=open&limit=100")).await?;
        Ok(list["data"]
            .as_array()
            .map(|items| items.iter().map(CheckoutSession::from_json).collect())
            .unwrap_or_default())
    }

    /// `POST /checkout/sessions/{id}/expire`: the session can no longer be completed.
    pub async fn expire_checkout_session(&self, id: &str) -> Result<CheckoutSession> {
        let request = stripe_checkout::checkout_session::ExpireCheckoutSession::new(id);
        Ok(CheckoutSession::from_json(
            &self.send_request(request.build(), &format!("caixa-expire-{id}")).await?,
        ))
    }

    /// `GET /products/{id}`, with the lookup keys of its Stripe Entitlements features.
    /// When the features cannot be listed, the product keeps its metadata features.
    pub async fn product(&self, id: &str) -> Result<Product> {
        let product = Product::from_json(&self.get(&format!("/products/{id}")).await?);
        match self.get(&format!("/products/{id}/features?limit=100")).await {
            Ok(list) => Ok(product.with_features(entitlement_features(&list))),
            Err(err) => {
                tracing::warn!(product = id, error = %err, "cannot list product features");
                Ok(product)
            }
        }
    }

    /// `GET /prices/{id}`.
    pub async fn price(&self, id: &str) -> Result<Price> {
        Ok(Price::from_json(&self.get(&format!("/prices/{id}")).await?))
    }

    /// `POST /customers`: `user`'s customer, their id under `metadata.user_id`.
    pub async fn create_customer(
        &self,
        (user, email): (&str, &str),
        idempotency_key: &str,
    ) -> Result<Customer> {
        let metadata = std::collections::HashMap::from([("user_id".to_owned(), user.to_owned())]);
        let request = stripe_core::customer::CreateCustomer::new().email(email).metadata(metadata);
        let customer = Customer::from_json(
            &self.send_request(request.build(), idempotency_key).await?,
            self.user_keys(),
        );
        if customer.id.is_empty() {
            return Err(StripeCallError::Unreachable("Stripe returned a customer without id".to_owned()));
        }
        Ok(customer)
    }

    /// Links a customer to `user` at Stripe (`metadata.user_id`); returns the customer.
    pub async fn set_customer_user(&self, id: &str, user: &str) -> Result<Customer> {
        let form = vec![("metadata[user_id]".to_owned(), user.to_owned())];
        let key = format!("caixa-link-{id}-{user}");
        Ok(Customer::from_json(&self.post(&format!("/customers/{id}"), &form, &key).await?, self.user_keys()))
    }

    /// The users named by the `client_reference_id` of the customer's completed
    /// Checkout Sessions (most recent 100).
    pub async fn checkout_users(&self, customer: &str) -> Result<Vec<String>> {
        let list =
            self.get(&format!("/checkout/sessions?customer={customer}&status=complete&limit=100")).await?;
        let mut users: Vec<String> = list["data"]
            .as_array()
            .map(|items| {
                items.iter().filter_map(|s| s["client_reference_id"].as_str().map(str::to_owned)).collect()
            })
            .unwrap_or_default();
        users.sort();
        users.dedup();
        Ok(users)
    }

    /// `POST /checkout/sessions`, from async-stripe's typed request.
    pub async fn create_checkout_session(
        &self,
        request: &stripe_checkout::checkout_session::CreateCheckoutSession,
        idempotency_key: &str,
    ) -> Result<CheckoutSession> {
        Ok(CheckoutSession::from_json(&self.send_request(request.build(), idempotency_key).await?))
    }

    /// `POST /webhook_endpoints`; returns the endpoint with its signing secret.
    pub async fn create_webhook_endpoint(
        &self,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<WebhookEndpoint> {
        let endpoint = self.post("/webhook_endpoints", form, idempotency_key).await?;
        let text = |field: &str| endpoint[field].as_str().map(str::to_owned);
        Ok(WebhookEndpoint {
            secret: text("secret").ok_or_else(|| {
                StripeCallError::Unreachable("Stripe returned no webhook secret".to_owned())
            })?,
            id: text("id"),
            api_version: text("api_version"),
        })
    }

    /// `POST /billing_portal/sessions`; returns the portal's URL.
    pub async fn create_portal_session(
        &self,
        customer: &str,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String> {
        let request = stripe_billing::billing_portal_session::CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url);
        let session = self.send_request(request.build(), idempotency_key).await?;
        Ok(session["url"].as_str().unwrap_or_default().to_owned())
    }
}

/// A webhook endpoint Stripe just created.
pub struct WebhookEndpoint {
    /// `we_...`.
    pub id: Option<String>,
    /// The API version its events are rendered in.
    pub api_version: Option<String>,
    /// Its signing secret (`whsec_...`), shown by Stripe only at creation.
    pub secret: String,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}
