//! The replica table's lookups, single and batched.

use super::*;

fn state(user: usize, revision: u64) -> EntitlementState {
    named(&format!("user-{user}"), &format!("sub_{user}"), revision)
}

fn named(user_id: &str, subscription_id: &str, revision: u64) -> EntitlementState {
    let subscription = SubscriptionSnapshot {
        subscription_id: subscription_id.to_owned(),
        features: vec!["app".to_owned()],
        ..SubscriptionSnapshot::default()
    };
    EntitlementState {
        user_id: user_id.to_owned(),
        revision,
        subscriptions: vec![subscription],
        ..EntitlementState::default()
    }
}

/// Two ids whose hashes under `hasher` share the tag (high 32 bits) and the home slot of
/// the smallest index (64 slots): a lookup of either meets the other's slot first.
fn twins(hasher: &DefaultHashBuilder) -> [String; 2] {
    let mut seen = HashMap::new();
    (0u32..)
        .find_map(|n| {
            let hash = hasher.hash_one(format!("u{n}").as_str());
            let twin = seen.insert((hash >> 32, hash & 63), n)?;
            Some([format!("u{twin}"), format!("u{n}")])
        })
        .unwrap_or_default()
}

#[test]
fn users_across_several_segments_are_found_and_replaced_in_place() {
    // Arrange: more users than two segments hold.
    let users = 2 * SEGMENT + 7;
    let mut table = Table::default();
    for user in 0..users {
        table.apply(&state(user, user as u64 + 1));
    }

    // Act: a newer state for every third user, an older one for every fifth.
    for user in (0..users).step_by(3) {
        table.apply(&state(user, 1_000_000 + user as u64));
    }
    for user in (0..users).step_by(5) {
        table.apply(&state(user, 0));
    }

    // Assert
    assert_eq!(table.len(), users);
    for user in 0..users {
        let entry = table.get(&format!("user-{user}")).expect("held");
        let expected = if user % 3 == 0 { 1_000_000 + user as u64 } else { user as u64 + 1 };
        assert_eq!(
            (entry.user_id.as_str(), entry.revision.get()),
            (format!("user-{user}").as_str(), expected)
        );
        assert_eq!(entry.subscriptions()[0].id(), format!("sub_{user}"));
    }
    assert!(table.get("user-unknown").is_none());
}

#[test]
fn a_batch_finds_what_single_lookups_find_in_order() {
    // Arrange: users across segments, asked for with unknown ones among them.
    let (mut table, users) = (Table::default(), SEGMENT + 100);
    for user in 0..users {
        table.apply(&state(user, 1));
    }
    let name = |n: usize| if n % 7 == 3 { format!("nobody-{n}") } else { format!("user-{}", n * 61 % users) };
    let names: Vec<String> = (0..BATCH + 9).map(name).collect();

    for ask in [&names[..BATCH], &names[BATCH..], &names[..0]] {
        // Act
        let ids: Vec<&str> = ask.iter().map(String::as_str).collect();
        let mut found = [None; BATCH];
        table.get_many(&ids, &mut found);

        // Assert
        for (name, entry) in ask.iter().zip(found) {
            let expected = table.get(name).map(|e| e.user_id.as_str());
            assert_eq!(entry.map(|e| e.user_id.as_str()), expected, "{name}");
            assert_eq!(expected.is_some(), name.starts_with("user-"), "{name}");
        }
    }
}

#[test]
fn a_batch_tells_apart_users_whose_slots_look_alike() {
    // Arrange: twins, both held in one table (the first placed first, so that it lies
    // in the second's way), only the first in another.
    let both = Table::default();
    let [first, second] = twins(&both.hasher);
    let mut only_first = Table { hasher: both.hasher.clone(), ..Table::default() };
    let mut both = both;
    both.apply(&named(&first, "sub_first", 1));
    both.apply(&named(&second, "sub_second", 1));
    only_first.apply(&named(&first, "sub_first", 1));

    // Act
    let (mut in_both, mut in_one) = ([None; BATCH], [None; BATCH]);
    both.get_many(&[second.as_str(), first.as_str()], &mut in_both);
    only_first.get_many(&[second.as_str(), first.as_str()], &mut in_one);

    // Assert: each finds its own entry, never its twin's.
    let ids = |found: &[Option<&Entry>]| -> Vec<Option<String>> {
        found[..2].iter().map(|e| e.map(|e| e.subscriptions()[0].id().to_owned())).collect()
    };
    assert_eq!(ids(&in_both), [Some("sub_second".to_owned()), Some("sub_first".to_owned())]);
    assert_eq!(ids(&in_one), [None, Some("sub_first".to_owned())]);
}

#[test]
fn an_index_grown_beside_readers_is_installed_only_if_nothing_was_placed_meanwhile() {
    // Arrange: a table, and a bigger index for it built under a shared borrow (as under
    // the read lock, with readers looking up meanwhile).
    let mut table = Table::default();
    let mut builder = Builder::new(table.hasher());
    let mut batch: Vec<_> = (0..100).map(|user| builder.prepare(&state(user, 1))).collect();
    table.place(&mut batch, &mut Vec::new());
    let grown = table.grown_index(10_000).expect("64 slots are too few for 10,100 users");
    let stale = table.grown_index(10_000).expect("still too few");
    assert!(table.get("user-7").is_some(), "readers still find users in the old index");

    // Act: install the first; place a user; offer the second, now missing that user.
    drop(table.install(grown));
    let mut batch = vec![builder.prepare(&state(100, 1)), builder.prepare(&state(7, 0))];
    let mut spent = Vec::new();
    table.place(&mut batch, &mut spent);
    let refused = table.install(stale);

    // Assert: every user found, the older state for user-7 spent, the stale index refused.
    assert_eq!(table.len(), 101);
    assert_eq!(refused.len(), 100, "the index that lacks user-100 is handed back");
    assert!(table.grown_index(9_000).is_none(), "room for 10,100 was made");
    assert!((0..=100).all(|user| table.get(&format!("user-{user}")).is_some()));
    assert_eq!(spent.len(), 1, "an older state is refused and spent");
    assert_eq!(table.get("user-7").map(|e| e.revision.get()), Some(1));
}
