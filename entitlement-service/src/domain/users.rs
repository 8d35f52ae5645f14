//! Every user's entry, keyed by the user id the entry itself holds: the table stores one
//! pointer per user rather than a second copy of each key.

use std::{hash::BuildHasher, sync::Arc};

use hashbrown::{DefaultHashBuilder, HashTable};

use super::entry::Entry;

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
        self.table.find(self.hasher.hash_one(user_id), |e| caixa_policy::same(&e.user_id, user_id))
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
