//! The local snapshot file: read back exactly as written, and refused, naming why, when
//! it is not whole, not ours, or for the other mode.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{path::Path, sync::Arc};

use caixa_entities::state::{SubscriptionState, UserState};
use caixa_types::Revision;
use entitlement_service::{
    domain::entry::{Entry, Plans},
    store::local::{self, FORMAT, LocalError},
};

fn entries(plans: &Plans, users: usize) -> Vec<Arc<Entry>> {
    (0..users)
        .map(|n| {
            let state = UserState {
                subscriptions: vec![SubscriptionState {
                    id: format!("sub_1MowQVLkdIwHu7ixeRlq{n:04}"),
                    customer_id: format!("cus_{n}"),
                    status: caixa_proto::billing::v1::SubscriptionStatus::Active,
                    price_id: Some("price_1".to_owned()),
                    current_period_end: Some(1_900_000_000 + n as i64),
                    features: vec!["app".to_owned(), format!("tier-{}", n % 3)],
                    ..Default::default()
                }],
            };
            Arc::new(Entry::new(&format!("user-{n}"), Revision::new(n as u64 + 1), &state, plans))
        })
        .collect()
}

/// Every user as the API renders them, sorted by id.
fn rendered(mut entries: Vec<Arc<Entry>>) -> Vec<caixa_proto::billing::v1::EntitlementState> {
    entries.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    entries.iter().map(|e| e.to_proto(None)).collect()
}

fn written(dir: &Path, users: usize) -> (std::path::PathBuf, Vec<Arc<Entry>>) {
    let plans = Plans::default();
    let entries = entries(&plans, users);
    let path = dir.join("entitlements.snapshot");
    local::write(&path, &entries, Revision::new(users as u64), false, 1_800_000_000).expect("written");
    (path, entries)
}

#[test]
fn a_snapshot_reads_back_every_user_its_revision_and_when_it_was_written() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let (path, entries) = written(dir.path(), 1_000);

    // Act
    let loaded = local::read(&path, false, &Plans::default()).expect("whole");

    // Assert
    assert_eq!((loaded.revision, loaded.written_at), (Revision::new(1_000), 1_800_000_000));
    let back: Vec<Arc<Entry>> = loaded.users.iter().cloned().collect();
    assert_eq!(rendered(back), rendered(entries));
    assert!(!dir.path().join("entitlements.snapshot.partial").exists(), "renamed into place");
}

#[test]
fn damage_anywhere_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written(dir.path(), 100);
    let whole = std::fs::read(&path).unwrap();
    let damaged = |bytes: Vec<u8>| {
        std::fs::write(&path, bytes).unwrap();
        local::read(&path, false, &Plans::default())
    };
    let mut flipped = whole.clone();
    flipped[whole.len() / 2] ^= 0x20;
    let mut trailing = whole.clone();
    trailing.push(0);
    let mut not_ours = whole.clone();
    not_ours[..8].copy_from_slice(b"SQLite f");

    for (case, bytes) in [
        ("a flipped bit", flipped),
        ("cut short, as a crash mid-write of a copy would leave it", whole[..whole.len() * 2 / 3].to_vec()),
        ("cut inside the header", whole[..10].to_vec()),
        ("bytes after the checksum", trailing),
        ("another file", not_ours),
    ] {
        // Act
        let refused = damaged(bytes).err();

        // Assert
        assert!(matches!(refused, Some(LocalError::Corrupt { .. })), "{case}: {refused:?}");
        assert_eq!(refused.map(|e| e.label()), Some("corrupt"), "{case}");
    }
}

#[test]
fn another_format_the_other_mode_and_no_file_are_each_named() {
    // Arrange: a snapshot whose header says the next format.
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written(dir.path(), 10);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&(FORMAT + 1).to_le_bytes());
    let newer = dir.path().join("newer.snapshot");
    std::fs::write(&newer, bytes).unwrap();

    // Act
    let format = local::read(&newer, false, &Plans::default()).err();
    let mode = local::read(&path, true, &Plans::default()).err();
    let missing = local::read(&dir.path().join("none"), false, &Plans::default()).err();

    // Assert
    let message = format.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(matches!(format, Some(LocalError::Format { found, .. }) if found == FORMAT + 1), "{message}");
    assert!(message.contains(&format!("format {}", FORMAT + 1)), "{message}");
    assert!(matches!(mode, Some(LocalError::Mode(_))), "{mode:?}");
    assert!(matches!(missing, Some(LocalError::Missing(_))), "{missing:?}");
}

#[test]
fn a_write_that_dies_before_its_rename_leaves_the_previous_snapshot_whole() {
    // Arrange: a whole snapshot, and the partial file of a later write that died.
    let dir = tempfile::tempdir().unwrap();
    let (path, entries) = written(dir.path(), 50);
    std::fs::write(dir.path().join("entitlements.snapshot.partial"), b"CAIXAENT\x01\x00").unwrap();

    // Act
    let loaded = local::read(&path, false, &Plans::default()).expect("the previous snapshot");
    let rewritten = local::write(&path, &entries[..10], Revision::new(60), false, 1_800_000_100);

    // Assert: the previous one reads whole; the next write replaces the partial file.
    assert_eq!(loaded.users.len(), 50);
    rewritten.expect("a later write succeeds over the partial file");
    assert_eq!(local::read(&path, false, &Plans::default()).unwrap().revision, Revision::new(60));
}
