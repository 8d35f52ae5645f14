//! Every user's entry, keyed by the user id the entry itself holds: the table stores one
//! pointer per user rather than a second copy of each key.

use std::{hash::BuildHasher, sync::Arc};

use caixa_types::{prefetch, same};
use hashbrown::{DefaultHashBuilder, HashTable};

use super::entry::Entry;

/// Users a batch looks up together.
const GROUP: usize = 64;

/// The users table.
#[derive(Default)]
pub struct Users {
    table: HashTable<Arc<Entry>>,
    hasher: DefaultHashBuilder,
}

impl Users {
    /// An empty table with room for `capacity` users.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { table: HashTable::with_capacity(capacity), hasher: DefaultHashBuilder::default() }
    }

    /// The entry of `user_id`.
    pub fn get(&self, user_id: &str) -> Option<&Arc<Entry>> {
        self.table.find(self.hasher.hash_one(user_id), |e| same(&e.user_id, user_id))
    }

    /// The entries of `users`, in order, their cache misses overlapped: for a group of
    /// users at a time, every lookup stops at the first slot under its user's tag and
    /// asks for that entry without reading it; only then are the keys compared, by which
    /// time the entries are on their way or here. A slot that holds another user (its
    /// tag is 7 bits) sends that user to a full lookup.
    pub fn get_many<'a>(&'a self, users: &[&str]) -> Vec<Option<&'a Entry>> {
        let mut found = Vec::with_capacity(users.len());
        for group in users.chunks(GROUP) {
            let mut first = [None; GROUP];
            for (first, user) in first.iter_mut().zip(group) {
                *first = self.table.find(self.hasher.hash_one(user), |entry| {
                    prefetch(&**entry);
                    prefetch(&entry.user_id);
                    true
                });
            }
            found.extend(group.iter().zip(first).map(|(user, first)| match first {
                Some(entry) if same(&entry.user_id, user) => Some(&**entry),
                Some(_) => self.get(user).map(|e| &**e),
                None => None,
            }));
        }
        found
    }

    /// Inserts or replaces the entry of its user when it is newer than the one held.
    /// Returns whether it was stored.
    pub fn upsert(&mut self, entry: Arc<Entry>) -> bool {
        let hash = self.hasher.hash_one(entry.user_id.as_str());
        let hasher = &self.hasher;
        match self.table.entry(hash, |e| e.user_id == entry.user_id, |e| hasher.hash_one(e.user_id.as_str()))
        {
            hashbrown::hash_table::Entry::Occupied(mut held) => {
                if held.get().revision >= entry.revision {
                    return false;
                }
                *held.get_mut() = entry;
            }
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(entry);
            }
        }
        true
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Every entry, in no order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.table.iter()
    }
}
