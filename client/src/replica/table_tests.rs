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
fn users_are_found_and_newer_states_replace_older_ones() {
    // Arrange: users enough to grow the index several times.
    let users = 2 * 4_096 + 7;
    let table = Table::default();
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
    let read = table.read();
    for user in 0..users {
        let entry = read.get(&format!("user-{user}")).expect("held");
        let expected = if user % 3 == 0 { 1_000_000 + user as u64 } else { user as u64 + 1 };
        assert_eq!(
            (entry.user_id.as_str(), entry.revision.get()),
            (format!("user-{user}").as_str(), expected)
        );
        assert_eq!(entry.subscriptions()[0].id(), format!("sub_{user}"));
    }
    assert!(read.get("user-unknown").is_none());
}

#[test]
fn a_batch_finds_what_single_lookups_find_in_order() {
    // Arrange: users, asked for with unknown ones among them.
    let (table, users) = (Table::default(), 4_096 + 100);
    for user in 0..users {
        table.apply(&state(user, 1));
    }
    let name = |n: usize| if n % 7 == 3 { format!("nobody-{n}") } else { format!("user-{}", n * 61 % users) };
    let names: Vec<String> = (0..BATCH + 9).map(name).collect();
    let read = table.read();

    for ask in [&names[..BATCH], &names[BATCH..], &names[..0]] {
        // Act
        let ids: Vec<&str> = ask.iter().map(String::as_str).collect();
        let mut found = [None; BATCH];
        read.get_many(&ids, &mut found);

        // Assert
        for (name, entry) in ask.iter().zip(found) {
            let expected = read.get(name).map(|e| e.user_id.as_str());
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
    let [first, second] = twins(&both.hasher());
    let only_first = Table::with_hasher(both.hasher());
    both.apply(&named(&first, "sub_first", 1));
    both.apply(&named(&second, "sub_second", 1));
    only_first.apply(&named(&first, "sub_first", 1));

    // Act
    let (mut in_both, mut in_one) = ([None; BATCH], [None; BATCH]);
    let (both, only_first) = (both.read(), only_first.read());
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
fn a_check_keeps_its_generation_while_the_writer_grows_and_compacts_then_the_writer_frees_it() {
    // Arrange: 100 users, and a check under way holding the table as it is.
    let table = Table::default();
    let mut builder = Builder::new(table.hasher());
    let (mut spent, mut retired) = (Vec::new(), Retired::default());
    let mut place = |states: Vec<EntitlementState>, retired: &mut Retired| {
        let mut batch: Vec<_> = states.iter().map(|s| builder.prepare(s)).collect();
        table.place(&mut batch, &mut spent, retired);
    };
    place((0..100).map(|user| state(user, 1)).collect(), &mut retired);
    let under_way = table.read();

    // Act: room for 10,000 more, then newer states for every user until a compaction
    // leaves the entries they replaced behind.
    table.reserve(10_000, &mut retired);
    for round in 2..=(COMPACT_AFTER / 100 + 2) as u64 {
        place((0..100).map(|user| state(user, round)).collect(), &mut retired);
    }

    // Assert: the check still answers from its generation; the table from the newest.
    assert_eq!(under_way.get("user-7").map(|e| e.revision.get()), Some(1));
    let newest = (COMPACT_AFTER / 100 + 2) as u64;
    assert_eq!(table.read().get("user-7").map(|e| e.revision.get()), Some(newest));
    assert!(table.dead.load(Relaxed) < COMPACT_AFTER, "the replaced entries were compacted away");
    assert_eq!(table.read().entries.count(), 100, "only the newest entry of each user is kept");
    assert_eq!(retired.len(), 1, "the generation the check holds waits for it");
    drop(under_way);
    retired.sweep();
    assert_eq!(retired.len(), 0, "and is freed by the writer once the check lets go");
}

#[test]
fn checks_on_other_threads_never_miss_a_user_while_the_writer_replaces_grows_and_compacts() {
    // Arrange: 2,000 users; readers ask for each, and know the revision each has reached.
    let table = Table::default();
    let users = 2_000;
    for user in 0..users {
        table.apply(&state(user, 1));
    }
    let names: Vec<String> = (0..users).map(|user| format!("user-{user}")).collect();
    let reached = std::sync::atomic::AtomicU64::new(1);
    let done = std::sync::atomic::AtomicBool::new(false);

    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut checks = 0u64;
                    while !done.load(Relaxed) {
                        let floor = reached.load(std::sync::atomic::Ordering::Acquire);
                        let read = table.read();
                        for name in &names {
                            // Act (readers): every user is found, at least as new as the
                            // revision the writer had published before this look.
                            let entry = read.get(name).unwrap_or_else(|| panic!("{name} went missing"));
                            assert!(entry.revision.get() >= floor, "{name} went back in time");
                            checks += 1;
                        }
                    }
                    checks
                })
            })
            .collect();

        // Act (writer): rounds of newer states for every user, a thousand new users
        // each round, compactions along the way.
        for round in 2..=12u64 {
            for user in (0..users).chain(users * round as usize..users * round as usize + 1_000) {
                table.apply(&state(user, round));
            }
            reached.store(round, std::sync::atomic::Ordering::Release);
        }
        done.store(true, Relaxed);

        // Assert
        for reader in readers {
            assert!(reader.join().expect("a reader panicked") > 0);
        }
    });
    assert_eq!(table.len(), users + 11 * 1_000);
}
