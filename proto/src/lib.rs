//! gRPC contracts shared by the billing and entitlement services.
#![allow(missing_docs)] // generated code; the .proto files carry the documentation

/// `caixa.billing.v1`: checkout, portal, status, config and the revision log.
pub mod billing {
    /// Version 1 of the billing contracts.
    pub mod v1 {
        tonic::include_proto!("caixa.billing.v1");
    }
}

/// `caixa.entitlement.v1`: access checks answered from memory.
pub mod entitlement {
    /// Version 1 of the entitlement contracts.
    pub mod v1 {
        tonic::include_proto!("caixa.entitlement.v1");

        /// Response metadata of `WatchEntitlements`: how many changes the backlog before
        /// the first heartbeat holds (with `after_revision` 0, every user), so that a
        /// follower can make room for them before they arrive.
        pub const BACKLOG_METADATA: &str = "caixa-backlog-changes";
    }
}

/// Encoded `FileDescriptorSet` of every contract (imports included), for server
/// reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/caixa_descriptor.bin"));

/// A time the contracts carry, from Unix seconds (every time caixa keeps is whole
/// seconds, as Stripe's are).
pub fn timestamp(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

/// Now, as the contracts carry it.
pub fn now() -> prost_types::Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    timestamp(seconds)
}
