//! The emulator's state: every object as Stripe renders it, the event log, the test
//! clock and the switches that control simulation.

use std::{
    collections::HashMap,
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};

use crate::{
    delivery::{Chaos, Deliverer, Delivery},
    lifecycle::SubSim,
};

/// What happens to a subscription whose payment retries are exhausted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterRetries {
    Cancel,
    MarkUnpaid,
}

/// Simulation switches.
#[derive(Debug)]
pub struct Controls {
    /// The next N payments fail, whoever makes them.
    pub fail_next_payments: u32,
    /// Customers whose card always declines.
    pub declining_customers: std::collections::HashSet<String>,
    /// Days after a failed payment at which Stripe retries it.
    pub retry_days: Vec<i64>,
    /// What happens after the last retry fails.
    pub after_retries: AfterRetries,
    /// Answer the next N API requests with 429.
    pub rate_limit_next: u32,
    /// Stripe's rate limits per mode, for reads and writes (off unless set).
    pub rate_limits: crate::limits::RateLimits,
    /// How long each `/v1` request takes, as Stripe's API does from afar.
    pub latency: crate::limits::Latency,
    /// The connections `/v1` requests arrived on, by the caller's address and port.
    pub connections: std::collections::HashSet<std::net::SocketAddr>,
    /// `/v1` requests answered.
    pub requests: u64,
    /// Of them, refused for Stripe's rate limits.
    pub rate_limited: u64,
}

struct Stored {
    seq: u64,
    object: Value,
}

/// Everything the emulator knows.
pub struct World {
    pub public_url: String,
    clock_offset: i64,
    seq: u64,
    objects: HashMap<String, Stored>,
    /// Ids by object type, so listing one type never scans the others (an account of
    /// thousands of customers holds tens of thousands of objects).
    /// In order of creation (by `seq`), so a list walks newest first without sorting.
    by_type: HashMap<String, std::collections::BTreeMap<u64, String>>,
    /// Subscription ids by customer (a subscription's customer never changes), so a
    /// customer's subscriptions are found without scanning every subscription.
    subscriptions_by_customer: HashMap<String, Vec<String>>,
    events: Vec<Value>,
    secrets: HashMap<String, String>,
    pub sims: HashMap<String, SubSim>,
    /// What a checkout session will create on completion (price, trial, metadata).
    pub checkout_extras: HashMap<String, Value>,
    /// (product id, product_feature id) pairs.
    pub product_features: Vec<(String, String)>,
    /// Feature lookup keys each customer was last told it has.
    pub entitled: HashMap<String, Vec<String>>,
    pub controls: Controls,
    pub chaos: Chaos,
    pub idempotency: HashMap<(bool, String), (String, u16, Value)>,
    /// The API request being handled (its id and idempotency key), named by the events
    /// it causes.
    pub request: Option<(String, Option<String>)>,
    deliverer: Deliverer,
}

impl World {
    pub fn new(public_url: String, deliverer: Deliverer) -> Self {
        Self {
            public_url,
            clock_offset: 0,
            seq: 0,
            objects: HashMap::new(),
            by_type: HashMap::new(),
            subscriptions_by_customer: HashMap::new(),
            events: Vec::new(),
            secrets: HashMap::new(),
            sims: HashMap::new(),
            checkout_extras: HashMap::new(),
            product_features: Vec::new(),
            entitled: HashMap::new(),
            controls: Controls {
                fail_next_payments: 0,
                declining_customers: Default::default(),
                retry_days: vec![3, 5, 7],
                after_retries: AfterRetries::Cancel,
                rate_limit_next: 0,
                rate_limits: Default::default(),
                latency: Default::default(),
                connections: Default::default(),
                requests: 0,
                rate_limited: 0,
            },
            chaos: Chaos::default(),
            idempotency: HashMap::new(),
            request: None,
            deliverer,
        }
    }

    /// Forgets everything but the public URL.
    pub fn reset(&mut self) {
        *self = Self::new(self.public_url.clone(), self.deliverer.clone());
    }

    /// The test clock: real time plus every advance so far.
    pub fn now(&self) -> i64 {
        let real = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        i64::try_from(real).unwrap_or(i64::MAX) + self.clock_offset
    }

    /// Moves the clock to `to` (never backwards).
    pub fn set_now(&mut self, to: i64) {
        let now = self.now();
        if to > now {
            self.clock_offset += to - now;
        }
    }

    /// A fresh id like Stripe's (`cus_…`, `cs_test_…`).
    pub fn new_id(&self, prefix: &str) -> String {
        let random = uuid::Uuid::new_v4().simple().to_string();
        format!("{prefix}_{}", &random[..24])
    }

    /// Stores a new object.
    pub fn insert(&mut self, object: Value) -> Value {
        self.seq += 1;
        let id = object["id"].as_str().unwrap_or_default().to_owned();
        let kind = object["object"].as_str().unwrap_or_default().to_owned();
        let ids = self.by_type.entry(kind).or_default();
        // An id stored again replaces the object, so it is listed once, as the newest.
        if let Some(earlier) = self.objects.get(&id) {
            ids.remove(&earlier.seq);
        }
        ids.insert(self.seq, id.clone());
        if object["object"] == "subscription"
            && let Some(customer) = object["customer"].as_str()
        {
            let subs = self.subscriptions_by_customer.entry(customer.to_owned()).or_default();
            if !subs.contains(&id) {
                subs.push(id.clone());
            }
        }
        self.objects.insert(id, Stored { seq: self.seq, object: object.clone() });
        object
    }

    /// The customer's subscriptions in the caller's mode, newest first.
    pub fn subscriptions_of(&self, customer: &str, livemode: bool) -> Vec<Value> {
        let ids = self.subscriptions_by_customer.get(customer).map(Vec::as_slice).unwrap_or_default();
        let mut subs: Vec<&Stored> = ids.iter().filter_map(|id| self.objects.get(id)).collect();
        subs.sort_by_key(|s| std::cmp::Reverse(s.seq));
        subs.into_iter().map(|s| &s.object).filter(|o| o["livemode"] == livemode).cloned().collect()
    }

    /// An object by id, in the caller's mode.
    pub fn get(&self, id: &str, livemode: bool) -> Option<&Value> {
        self.objects.get(id).map(|s| &s.object).filter(|o| o["livemode"] == livemode)
    }

    /// An object by id, whatever its mode (for the simulation, which spans both).
    pub fn get_any(&self, id: &str) -> Option<&Value> {
        self.objects.get(id).map(|s| &s.object)
    }

    /// A mutable object by id, in the caller's mode.
    pub fn get_mut(&mut self, id: &str, livemode: bool) -> Option<&mut Value> {
        self.objects.get_mut(id).map(|s| &mut s.object).filter(|o| o["livemode"] == livemode)
    }

    /// Removes an object.
    pub fn remove(&mut self, id: &str) -> Option<Value> {
        let stored = self.objects.remove(id)?;
        for ids in self.by_type.values_mut() {
            ids.remove(&stored.seq);
        }
        Some(stored.object)
    }

    /// Objects of one type in the caller's mode, newest first, borrowed: a list endpoint
    /// clones only the page it answers with.
    pub fn list_refs(&self, object_type: &str, livemode: bool, keep: impl Fn(&Value) -> bool) -> Vec<&Value> {
        self.of_type(object_type, u64::MAX).filter(|o| o["livemode"] == livemode && keep(o)).collect()
    }

    /// Up to `take` objects of one type in the caller's mode that `keep` accepts, newest
    /// first, from the one created before `cursor`; `None` when `cursor` is no object of
    /// that type.
    pub fn list_after(
        &self,
        object_type: &str,
        livemode: bool,
        keep: &impl Fn(&Value) -> bool,
        cursor: &str,
        take: usize,
    ) -> Option<Vec<&Value>> {
        let seq = self.objects.get(cursor).filter(|s| s.object["object"] == object_type)?.seq;
        Some(
            self.of_type(object_type, seq)
                .filter(|o| o["livemode"] == livemode && keep(o))
                .take(take)
                .collect(),
        )
    }

    /// Objects of one type created before `before` (a `seq`), newest first.
    fn of_type(&self, object_type: &str, before: u64) -> impl Iterator<Item = &Value> {
        let ids = self.by_type.get(object_type).into_iter().flat_map(move |ids| ids.range(..before).rev());
        ids.filter_map(|(_, id)| self.objects.get(id)).map(|s| &s.object)
    }

    /// Objects of one type in the caller's mode, newest first.
    pub fn list(&self, object_type: &str, livemode: bool, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.list_refs(object_type, livemode, keep).into_iter().cloned().collect()
    }

    /// Events in the caller's mode, newest first.
    pub fn events(&self, livemode: bool) -> Vec<&Value> {
        self.events.iter().rev().filter(|e| e["livemode"] == livemode).collect()
    }

    /// Remembers a webhook endpoint's signing secret.
    pub fn set_secret(&mut self, endpoint: &str, secret: String) {
        self.secrets.insert(endpoint.to_owned(), secret);
    }

    /// Records an event and queues its delivery to every endpoint that wants it.
    pub fn emit(&mut self, event_type: &str, object: &Value, previous: Option<Value>) -> Value {
        let livemode = object["livemode"].as_bool().unwrap_or(false);
        let endpoints: Vec<Value> = self.list("webhook_endpoint", livemode, |e| {
            e["status"] == "enabled"
                && e["enabled_events"]
                    .as_array()
                    .is_some_and(|list| list.iter().any(|t| t == "*" || t == event_type))
        });
        let mut data = json!({ "object": object });
        if let Some(previous) = previous.filter(|p| p.as_object().is_some_and(|m| !m.is_empty())) {
            data["previous_attributes"] = previous;
        }
        let id = self.new_id("evt");
        let request = self.request.as_ref();
        let event =
            crate::render::event(id, (event_type, self.now(), livemode), data, endpoints.len(), request);
        self.events.push(event.clone());
        for endpoint in endpoints {
            let id = endpoint["id"].as_str().unwrap_or_default();
            let Some(secret) = self.secrets.get(id) else { continue };
            let mut body = event.clone();
            if let Some(version) = endpoint["api_version"].as_str() {
                body["api_version"] = json!(version);
            }
            self.deliverer.enqueue(
                Delivery {
                    endpoint_id: id.to_owned(),
                    url: endpoint["url"].as_str().unwrap_or_default().to_owned(),
                    secret: secret.clone(),
                    event_id: event["id"].as_str().unwrap_or_default().to_owned(),
                    body: body.to_string(),
                },
                &mut self.chaos,
            );
        }
        event
    }

    /// The top-level fields of `new` that differ from `old`, with their old values:
    /// Stripe's `previous_attributes`.
    pub fn diff(old: &Value, new: &Value) -> Value {
        let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else { return json!({}) };
        let changed: serde_json::Map<String, Value> = old
            .iter()
            .filter(|(k, v)| new.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Value::Object(changed)
    }
}
