//! The sim's state: one JSON document, in memory or in a file shared by processes.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::{ReplicationState, TrafficSplit};

/// The whole state document.
///
/// ```json
/// {
///   "down": ["west", "front:east"],
///   "resources": {
///     "front": { "calls": {"apply": 2}, "invocations": {"apply": 3}, "split": {"west": 100} },
///     "db": { "role": "primary", "link": "paused", "calls": {"promote": 1} }
///   }
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct World {
    /// Targets marked down (`TARGET` or `ROUTER:TARGET`).
    #[serde(default)]
    pub down: BTreeSet<String>,
    /// Per resource name.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceState>,
}

/// A store's role in the sim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SimRole {
    Primary,
    Replica,
}

/// One resource's state. A field left `None` means "as the settings configure it",
/// so a resource needs no initialisation and its settings stay the source of truth
/// until something changes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ResourceState {
    /// Mutating calls that took effect, by trait method name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub calls: BTreeMap<String, u64>,
    /// Every mutating call made (no-ops and injected failures included).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub invocations: BTreeMap<String, u64>,
    /// How many `fail_first` failures were already returned.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures_injected: u64,
    /// Router: the unscoped split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<TrafficSplit>,
    /// Router: splits applied to a scope.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scoped: BTreeMap<String, TrafficSplit>,
    /// Probe: how many `sequence` entries were consumed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub position: u64,
    /// Store: its role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<SimRole>,
    /// Store: fenced (refuses writes).
    #[serde(default, skip_serializing_if = "is_false")]
    pub fenced: bool,
    /// Store: how its last promote went: `planned` (a graceful run) or
    /// `forced` (an ungraceful one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promote: Option<String>,
    /// Store: flushed since it last became writable.
    #[serde(default, skip_serializing_if = "is_false")]
    pub flushed: bool,
    /// Replicator (and store as a replicator): the link's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<ReplicationState>,
    /// Replicator (and store as a replicator): the link was reversed (re-protects).
    #[serde(default, skip_serializing_if = "is_false")]
    pub reversed: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Where a sim resource keeps its state.
#[derive(Clone)]
pub(crate) enum Backend {
    /// The in-memory world of one registry.
    Memory(Arc<Mutex<World>>),
    /// A JSON file shared by every resource (and process) naming it.
    File(PathBuf),
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Memory(_) => f.write_str("memory"),
            Backend::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

impl Backend {
    /// Runs `f` on a consistent snapshot.
    pub fn read<R>(&self, f: impl FnOnce(&World) -> R) -> io::Result<R> {
        match self {
            Backend::Memory(world) => Ok(f(&world.lock().unwrap_or_else(|e| e.into_inner()))),
            Backend::File(path) => Ok(f(&read_file(path)?)),
        }
    }

    /// Runs `f` on the state and keeps its changes, atomically with respect to
    /// every other user of the same state.
    pub fn update<R>(&self, f: impl FnOnce(&mut World) -> R) -> io::Result<R> {
        match self {
            Backend::Memory(world) => Ok(f(&mut world.lock().unwrap_or_else(|e| e.into_inner()))),
            Backend::File(path) => update_file(path, f),
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

fn open_lock(path: &Path) -> io::Result<fd_lock::RwLock<File>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(with_suffix(path, ".lock"))?;
    Ok(fd_lock::RwLock::new(file))
}

fn load(path: &Path) -> io::Result<World> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(World::default()),
        Err(e) => return Err(e),
    };
    if text.trim().is_empty() {
        return Ok(World::default());
    }
    serde_json::from_str(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sim state file {} is not valid: {e}", path.display()),
        )
    })
}

/// Reads the state file under a shared lock; a missing file is an empty state.
pub(crate) fn read_file(path: &Path) -> io::Result<World> {
    let lock = open_lock(path)?;
    let _guard = lock.read()?;
    load(path)
}

/// Read-modify-write of the state file under an exclusive lock on
/// `<state_file>.lock`, replaced by writing a temporary file and renaming it.
pub(crate) fn update_file<R>(path: &Path, f: impl FnOnce(&mut World) -> R) -> io::Result<R> {
    let mut lock = open_lock(path)?;
    let _guard = lock.write()?;
    let mut world = load(path)?;
    let out = f(&mut world);
    let tmp = with_suffix(path, ".tmp");
    let text = serde_json::to_string_pretty(&world).map_err(io::Error::other)?;
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)?;
    Ok(out)
}
