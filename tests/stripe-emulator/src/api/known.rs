//! The parameters each endpoint takes, as Stripe's API reference lists them (top-level
//! names; `metadata[...]` and other nested forms count by their first name). Stripe
//! refuses any other with 400 `parameter_unknown`, and so does the emulator, so a
//! misspelt field in a caller's form fails its tests instead of passing silently.

use axum::http::Method;

const LIST: &[&str] = &["ending_before", "expand", "limit", "starting_after"];

/// The names `method` on the route `path` (as routed, `{id}` included) takes, besides
/// `expand`; `None` for a route the table does not know.
fn table(method: &Method, path: &str) -> Option<&'static [&'static str]> {
    let get = *method == Method::GET;
    let post = *method == Method::POST;
    Some(match path {
        "/v1/customers" if post => &[
            "address",
            "balance",
            "cash_balance",
            "description",
            "email",
            "invoice_prefix",
            "invoice_settings",
            "metadata",
            "name",
            "next_invoice_sequence",
            "payment_method",
            "phone",
            "preferred_locales",
            "shipping",
            "source",
            "tax",
            "tax_exempt",
            "tax_id_data",
            "test_clock",
            "validate",
        ],
        "/v1/customers" if get => &["created", "email", "test_clock"],
        "/v1/customers/{id}" if post => &[
            "address",
            "balance",
            "cash_balance",
            "default_source",
            "description",
            "email",
            "invoice_prefix",
            "invoice_settings",
            "metadata",
            "name",
            "next_invoice_sequence",
            "phone",
            "preferred_locales",
            "shipping",
            "source",
            "tax",
            "tax_exempt",
            "validate",
        ],
        "/v1/products" if post => &[
            "active",
            "default_price_data",
            "description",
            "id",
            "images",
            "marketing_features",
            "metadata",
            "name",
            "package_dimensions",
            "shippable",
            "statement_descriptor",
            "tax_code",
            "unit_label",
            "url",
        ],
        "/v1/products" if get => &["active", "created", "ids", "shippable", "url"],
        "/v1/products/{id}" if post => &[
            "active",
            "default_price",
            "description",
            "images",
            "marketing_features",
            "metadata",
            "name",
            "package_dimensions",
            "shippable",
            "statement_descriptor",
            "tax_code",
            "unit_label",
            "url",
        ],
        "/v1/products/{id}/features" if post => &["entitlement_feature"],
        "/v1/prices" if post => &[
            "active",
            "billing_scheme",
            "currency",
            "currency_options",
            "custom_unit_amount",
            "lookup_key",
            "metadata",
            "nickname",
            "product",
            "product_data",
            "recurring",
            "tax_behavior",
            "tiers",
            "tiers_mode",
            "transfer_lookup_key",
            "transform_quantity",
            "unit_amount",
            "unit_amount_decimal",
        ],
        "/v1/prices" if get => {
            &["active", "created", "currency", "lookup_keys", "product", "recurring", "type"]
        }
        "/v1/prices/{id}" if post => &[
            "active",
            "currency_options",
            "lookup_key",
            "metadata",
            "nickname",
            "tax_behavior",
            "transfer_lookup_key",
        ],
        "/v1/entitlements/features" if post => &["lookup_key", "metadata", "name"],
        "/v1/entitlements/features" if get => &["archived", "lookup_key"],
        "/v1/entitlements/active_entitlements" if get => &["customer"],
        "/v1/checkout/sessions" if post => &[
            "adaptive_pricing",
            "after_expiration",
            "allow_promotion_codes",
            "automatic_tax",
            "billing_address_collection",
            "cancel_url",
            "client_reference_id",
            "consent_collection",
            "currency",
            "custom_fields",
            "custom_text",
            "customer",
            "customer_creation",
            "customer_email",
            "customer_update",
            "discounts",
            "expires_at",
            "invoice_creation",
            "line_items",
            "locale",
            "metadata",
            "mode",
            "optional_items",
            "payment_intent_data",
            "payment_method_collection",
            "payment_method_configuration",
            "payment_method_data",
            "payment_method_options",
            "payment_method_types",
            "phone_number_collection",
            "redirect_on_completion",
            "return_url",
            "saved_payment_method_options",
            "setup_intent_data",
            "shipping_address_collection",
            "shipping_options",
            "submit_type",
            "subscription_data",
            "success_url",
            "tax_id_collection",
            "ui_mode",
        ],
        "/v1/checkout/sessions" if get => &[
            "created",
            "customer",
            "customer_details",
            "payment_intent",
            "payment_link",
            "status",
            "subscription",
        ],
        "/v1/billing_portal/sessions" if post => {
            &["configuration", "customer", "flow_data", "locale", "on_behalf_of", "return_url"]
        }
        "/v1/subscriptions" if get => &[
            "automatic_tax",
            "collection_method",
            "created",
            "current_period_end",
            "current_period_start",
            "customer",
            "price",
            "status",
            "test_clock",
        ],
        "/v1/subscriptions/{id}" if post => &[
            "add_invoice_items",
            "application_fee_percent",
            "automatic_tax",
            "billing_cycle_anchor",
            "cancel_at",
            "cancel_at_period_end",
            "cancellation_details",
            "collection_method",
            "days_until_due",
            "default_payment_method",
            "default_source",
            "default_tax_rates",
            "description",
            "discounts",
            "invoice_settings",
            "items",
            "metadata",
            "off_session",
            "on_behalf_of",
            "pause_collection",
            "payment_behavior",
            "payment_settings",
            "pending_invoice_item_interval",
            "proration_behavior",
            "proration_date",
            "transfer_data",
            "trial_end",
            "trial_from_plan",
            "trial_settings",
        ],
        "/v1/subscriptions/{id}" if *method == Method::DELETE => {
            &["cancellation_details", "invoice_now", "prorate"]
        }
        "/v1/subscriptions/{id}/resume" => &["billing_cycle_anchor", "proration_behavior", "proration_date"],
        "/v1/webhook_endpoints" if post => {
            &["api_version", "connect", "description", "enabled_events", "metadata", "url"]
        }
        "/v1/webhook_endpoints/{id}" if post => {
            &["description", "disabled", "enabled_events", "metadata", "url"]
        }
        "/v1/events" if get => &["created", "delivery_success", "type", "types"],
        "/v1/coupons" if post => &[
            "amount_off",
            "applies_to",
            "currency",
            "currency_options",
            "duration",
            "duration_in_months",
            "id",
            "max_redemptions",
            "metadata",
            "name",
            "percent_off",
            "redeem_by",
        ],
        "/v1/promotion_codes" if post => &[
            "active",
            "code",
            "customer",
            "expires_at",
            "max_redemptions",
            "metadata",
            "promotion",
            "restrictions",
        ],
        "/v1/promotion_codes" if get => &["active", "code", "coupon", "created", "customer"],
        "/v1/checkout/sessions/{id}/expire"
        | "/v1/customers/{id}"
        | "/v1/products/{id}"
        | "/v1/prices/{id}"
        | "/v1/checkout/sessions/{id}"
        | "/v1/invoices/{id}"
        | "/v1/webhook_endpoints/{id}"
        | "/v1/events/{id}"
        | "/v1/subscriptions/{id}" => &[],
        "/v1/products/{id}/features" | "/v1/webhook_endpoints" => &[],
        _ => return None,
    })
}

/// The first parameter among `names` that `method` on `path` does not take.
pub fn unknown<'a>(
    method: &Method,
    path: &str,
    names: impl IntoIterator<Item = &'a String>,
) -> Option<&'a str> {
    let known = table(method, path)?;
    // Lists share their paging parameters; every endpoint takes `expand`.
    let list = *method == Method::GET && !path.ends_with("{id}");
    names
        .into_iter()
        .map(String::as_str)
        .find(|name| *name != "expand" && !known.contains(name) && !(list && LIST.contains(name)))
}
