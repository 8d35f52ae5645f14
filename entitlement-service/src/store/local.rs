//! The local snapshot: every user's entry and the revision they are at, in one file
//! beside the service, so that a restart reads the file and the log's last few minutes
//! instead of every user's row.
//!
//! Layout: a header (`CAIXAENT`, the format version, the mode, the revision, when it was
//! written, how many users), then each user's `EntitlementState` (protobuf) behind its
//! length (u32, little-endian), then a CRC-32 of everything before it. The file is
//! written beside its final name and renamed over it once synced, so a crash while
//! writing leaves the previous snapshot whole.

use std::{
    fs::File,
    io::{BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use caixa_proto::billing::v1::EntitlementState;
use caixa_types::Revision;
use prost::Message;

use crate::domain::{
    entry::{Entry, Plans},
    users::Users,
};

/// The layout this service writes and reads. Format 2 holds each subscription's seats
/// and limits: a format 1 file, which has none, is refused (the start reads PostgreSQL)
/// rather than read as users with no seats.
pub const FORMAT: u32 = 2;
const MAGIC: &[u8; 8] = b"CAIXAENT";
const HEADER: usize = 8 + 4 + 1 + 8 + 8 + 8;
/// No user's state comes near this; a larger length is damage.
const MAX_RECORD: usize = 1 << 20;

/// Why a local snapshot cannot be used. Each is a reason to load from the database.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No file yet (a first start, or a new volume).
    #[error("no snapshot at {0}")]
    Missing(PathBuf),
    /// The file could not be read or written.
    #[error("snapshot file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not whole: a bad header, a record cut short or its checksum wrong.
    #[error("snapshot file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Written by a service with another layout.
    #[error("snapshot file {path} has format {found}; this service reads format {FORMAT}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The format it says.
        found: u32,
    },
    /// Written for the other mode (test or live).
    #[error("snapshot file {0} holds the other mode's users (test against live)")]
    Mode(PathBuf),
    /// Older than the log keeps: the changes since it are gone.
    #[error("snapshot at revision {revision} is older than the log, pruned through {pruned}")]
    TooOld {
        /// The snapshot's revision.
        revision: Revision,
        /// Through which revision the log was pruned.
        pruned: Revision,
    },
}

impl LocalError {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Missing(_) => "missing",
            Self::Io { .. } => "io",
            Self::Corrupt { .. } => "corrupt",
            Self::Format { .. } => "format",
            Self::Mode(_) => "mode",
            Self::TooOld { .. } => "too_old",
        }
    }
}

/// A snapshot read back from its file.
pub struct Loaded {
    /// Every user's entry.
    pub users: Users,
    /// The revision every change up to which the entries hold.
    pub revision: Revision,
    /// When it was written (Unix seconds): the entries are current as of then.
    pub written_at: i64,
}

/// Writes `entries` (every user's, each at least as new as `revision`) to `path`.
/// Blocking: run it off the async workers.
pub fn write(
    path: &Path,
    entries: &[Arc<Entry>],
    revision: Revision,
    livemode: bool,
    written_at: i64,
) -> Result<(), LocalError> {
    let io = |source| LocalError::Io { path: path.to_owned(), source };
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = File::create(&partial).map_err(io)?;
    let mut out = Checked { inner: BufWriter::with_capacity(1 << 20, file), crc: crc32fast::Hasher::new() };
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT.to_le_bytes());
    header.push(u8::from(livemode));
    header.extend_from_slice(&revision.get().to_le_bytes());
    header.extend_from_slice(&written_at.to_le_bytes());
    header.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    out.write_all(&header).map_err(io)?;
    let mut record = Vec::with_capacity(512);
    for entry in entries {
        record.clear();
        let state = entry.to_proto(None);
        record.extend_from_slice(&(state.encoded_len() as u32).to_le_bytes());
        state.encode(&mut record).map_err(|e| io(std::io::Error::other(e)))?;
        out.write_all(&record).map_err(io)?;
    }
    let crc = out.crc.clone().finalize();
    out.inner.write_all(&crc.to_le_bytes()).map_err(io)?;
    let file = out.inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&partial, path).map_err(io)?;
    // The rename itself must survive a power loss.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// Reads the snapshot at `path`, checking its layout, mode and checksum; nothing it
/// holds is used unless all of it is whole.
pub fn read(path: &Path, livemode: bool, plans: &Plans) -> Result<Loaded, LocalError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LocalError::Missing(path.to_owned()));
        }
        Err(source) => return Err(LocalError::Io { path: path.to_owned(), source }),
    };
    let corrupt = |reason: String| LocalError::Corrupt { path: path.to_owned(), reason };
    let mut input = Checked { inner: BufReader::with_capacity(1 << 20, file), crc: crc32fast::Hasher::new() };
    let mut header = [0u8; HEADER];
    input.read_exact(&mut header).map_err(|e| corrupt(format!("header: {e}")))?;
    if &header[..8] != MAGIC {
        return Err(corrupt("not a caixa entitlement snapshot".to_owned()));
    }
    let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or_default());
    let format = u32::from_le_bytes(header[8..12].try_into().unwrap_or_default());
    if format != FORMAT {
        return Err(LocalError::Format { path: path.to_owned(), found: format });
    }
    if header[12] != u8::from(livemode) {
        return Err(LocalError::Mode(path.to_owned()));
    }
    let (revision, written_at, count) = (Revision::new(word(13)), word(21) as i64, word(29));
    let mut users = Users::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 30));
    // Two cores at once: one thread reads, checks and builds entries while this one
    // places them in the table, whose inserts miss cache.
    let (built, placed) = std::sync::mpsc::sync_channel::<Vec<Arc<Entry>>>(8);
    std::thread::scope(|scope| {
        let reading = scope.spawn(move || records(input, count, plans, &built, corrupt));
        for chunk in placed {
            for entry in chunk {
                users.upsert(entry);
            }
        }
        reading.join().unwrap_or_else(|_| Err(corrupt("the reading thread panicked".to_owned())))
    })?;
    Ok(Loaded { users, revision, written_at })
}

/// Entries built as they are read, handed on `built` in chunks; then the checksum and
/// the end of the file are checked.
fn records(
    mut input: Checked<BufReader<File>>,
    count: u64,
    plans: &Plans,
    built: &std::sync::mpsc::SyncSender<Vec<Arc<Entry>>>,
    corrupt: impl Fn(String) -> LocalError,
) -> Result<(), LocalError> {
    const CHUNK: usize = 4_096;
    let mut record = Vec::with_capacity(512);
    let mut chunk = Vec::with_capacity(CHUNK);
    for at in 0..count {
        let mut length = [0u8; 4];
        input.read_exact(&mut length).map_err(|e| corrupt(format!("user {at} of {count}: {e}")))?;
        let length = u32::from_le_bytes(length) as usize;
        if length > MAX_RECORD {
            return Err(corrupt(format!("user {at} of {count} claims {length} bytes")));
        }
        record.resize(length, 0);
        input.read_exact(&mut record).map_err(|e| corrupt(format!("user {at} of {count}: {e}")))?;
        let state = EntitlementState::decode(record.as_slice())
            .map_err(|e| corrupt(format!("user {at} of {count}: {e}")))?;
        chunk.push(Arc::new(Entry::from_proto(&state, plans)));
        if chunk.len() == CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            built.send(full).map_err(|_| corrupt("the table stopped taking entries".to_owned()))?;
        }
    }
    built.send(chunk).map_err(|_| corrupt("the table stopped taking entries".to_owned()))?;
    let expected = input.crc.clone().finalize();
    let mut stored = [0u8; 4];
    input.inner.read_exact(&mut stored).map_err(|e| corrupt(format!("checksum: {e}")))?;
    if u32::from_le_bytes(stored) != expected {
        return Err(corrupt("checksum does not match".to_owned()));
    }
    if input.inner.read(&mut [0u8; 1]).map_err(|e| corrupt(e.to_string()))? != 0 {
        return Err(corrupt("bytes after the checksum".to_owned()));
    }
    Ok(())
}

/// A reader or writer that checksums what passes through it.
struct Checked<T> {
    inner: T,
    crc: crc32fast::Hasher,
}

impl<W: Write> Checked<W> {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc.update(bytes);
        self.inner.write_all(bytes)
    }
}

impl<R: Read> Checked<R> {
    fn read_exact(&mut self, bytes: &mut [u8]) -> std::io::Result<()> {
        self.inner.read_exact(bytes)?;
        self.crc.update(bytes);
        Ok(())
    }
}
