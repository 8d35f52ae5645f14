//! Every billing request decoder, and the validation each handler runs before touching
//! the database or Stripe: the first byte picks the RPC.
#![no_main]

use billing_service::domain::accounts::validate;
use caixa_proto::billing::v1::{
    CreateCheckoutSessionRequest, CreatePortalSessionRequest, GetSubscriptionStatusRequest,
    SyncCheckoutSessionRequest, WatchRequest,
};
use caixa_types::{PriceId, Revision, SessionId};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else { return };
    let default = url::Url::parse("https://app.example.com/").expect("url");
    match which % 5 {
        0 => {
            if let Ok(r) = CreateCheckoutSessionRequest::decode(body) {
                let _ = validate::user_id(&r.user_id);
                let _ = validate::email(&r.email);
                let _ = r.price_id.as_deref().map(PriceId::parse);
                let _ = validate::url("success_url", r.success_url.as_deref(), default.clone());
                let _ = validate::url("cancel_url", r.cancel_url.as_deref(), default);
            }
        }
        1 => {
            if let Ok(r) = SyncCheckoutSessionRequest::decode(body) {
                let _ = SessionId::parse(&r.session_id);
            }
        }
        2 => {
            if let Ok(r) = CreatePortalSessionRequest::decode(body) {
                let _ = validate::user_id(&r.user_id);
                let _ = validate::url("return_url", r.return_url.as_deref(), default);
            }
        }
        3 => {
            if let Ok(r) = GetSubscriptionStatusRequest::decode(body) {
                let _ = validate::user_id(&r.user_id);
            }
        }
        _ => {
            let _ = WatchRequest::decode(body).map(|r| Revision::new(r.after_revision).to_db());
        }
    }
});
