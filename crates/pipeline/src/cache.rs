//! The content-addressed cache of stage outputs.
//!
//! A stage's outputs live in `<root>/cache/<stage>/<key>/` beside a `manifest.json` that
//! records the BLAKE3 hash and size of every file. The key hashes everything the outputs
//! depend on (see [`cache_key`]). A directory is only ever created complete: the stage
//! writes into a temporary directory that is renamed into place after the manifest.
//! Before reuse, every file is hashed again, so a truncated or edited output is detected.
//!
//! Every run records the entries it used in `<root>/runs/<n>.json` ([`Cache::record_run`]);
//! [`list_entries`] shows each entry with its size and the last run that used it, and
//! [`collect_garbage`] removes the entries none of the most recent runs used.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use replay_core::lock::{say_waiting, ProjectLock};
use replay_core::{io, ArtifactError};
use serde::{Deserialize, Serialize};

/// Name of the manifest file in every cache entry.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Hash and size of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// BLAKE3 of the content, hex.
    pub blake3: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// What a cache entry holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The stage that wrote it.
    pub stage: String,
    /// Its cache key.
    pub key: String,
    /// Every file, by path relative to the entry (with `/` separators).
    pub files: BTreeMap<String, FileDigest>,
    /// The other entries (`<stage>/<key16>`) used while this one was made, such as the
    /// train stage's per-model fits: a run that reuses this entry uses them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<String>,
}

impl Manifest {
    /// The hash of one declared output: of the file, or of all files below a directory.
    pub fn output_hash(&self, output: &str) -> String {
        let prefix = format!("{output}/");
        let mut hasher = blake3::Hasher::new();
        for (path, digest) in &self.files {
            if path == output || path.starts_with(&prefix) {
                hasher.update(path.as_bytes());
                hasher.update(b"\0");
                hasher.update(digest.blake3.as_bytes());
                hasher.update(b"\n");
            }
        }
        hasher.finalize().to_hex().to_string()
    }
}

/// Hash a file's content with BLAKE3.
pub fn hash_file(path: &Path) -> Result<FileDigest, ArtifactError> {
    let mut file = fs::File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(|e| ArtifactError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok(FileDigest {
        blake3: hasher.finalize().to_hex().to_string(),
        bytes,
    })
}

/// Digests of every file below `dir` except the manifest, by relative path.
fn digest_tree(dir: &Path) -> Result<BTreeMap<String, FileDigest>, ArtifactError> {
    let mut files = BTreeMap::new();
    for path in files_below(dir)? {
        let relative = path.strip_prefix(dir).unwrap_or(&path);
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if name != MANIFEST_FILE {
            files.insert(name, hash_file(&path)?);
        }
    }
    Ok(files)
}

/// Every file below `dir`, at any depth.
fn files_below(dir: &Path) -> Result<Vec<PathBuf>, ArtifactError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).map_err(|e| ArtifactError::io(&current, e))? {
            let path = entry.map_err(|e| ArtifactError::io(&current, e))?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// The cache key of a stage run: BLAKE3 over the stage name, its code version, its
/// config section and the content hashes of its inputs.
pub fn cache_key(
    stage: &str,
    code_version: &str,
    config: &serde_json::Value,
    inputs: &[(String, String)],
) -> String {
    let material = serde_json::json!({
        "stage": stage,
        "code_version": code_version,
        "config": config,
        "inputs": inputs,
    });
    blake3::hash(material.to_string().as_bytes()).to_hex().to_string()
}

/// The state of a cache entry.
#[derive(Debug)]
pub enum Lookup {
    /// Present and every file matches its manifest.
    Hit(Manifest),
    /// Not present.
    Miss,
    /// Present but damaged; the reason says how.
    Invalid(String),
}

/// The cache below `<root>/cache`, and the entries this run used.
#[derive(Debug)]
pub struct Cache {
    root: PathBuf,
    used: Mutex<BTreeSet<String>>,
}

impl Cache {
    /// A cache under `artifacts_root`.
    pub fn new(artifacts_root: &Path) -> Self {
        Cache {
            root: artifacts_root.join("cache"),
            used: Mutex::default(),
        }
    }

    /// Remember that this run used the entry of `key` under `stage`, and what it uses.
    fn mark_used(&self, stage: &str, key: &str, uses: &[String]) {
        let name = entry_name(stage, key);
        if let Ok(mut used) = self.used.lock() {
            used.insert(name);
            used.extend(uses.iter().cloned());
        }
    }

    /// The entries this run used so far.
    fn used_now(&self) -> BTreeSet<String> {
        self.used.lock().map(|u| u.clone()).unwrap_or_default()
    }

    /// Write the record of this run: the entries it used (`<stage>/<key16>`), in
    /// `<artifacts>/runs/<n>.json` with `n` one more than the newest record. Call it
    /// holding the [`replay_core::lock::ProjectLock`].
    pub fn record_run(&self) -> Result<(), ArtifactError> {
        let runs = run_records(&self.runs_dir())?;
        let run = runs.last().map_or(1, |r| r.run + 1);
        let entries = self.used_now().into_iter().collect();
        let record = RunRecord { run, entries };
        io::write_json(&self.runs_dir().join(format!("{run:06}.json")), &record)
    }

    fn runs_dir(&self) -> PathBuf {
        self.root.join(RUNS_DIR)
    }

    /// The directory of a stage's entry for `key`.
    pub fn entry_dir(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(entry_name(stage, key))
    }

    /// Find an entry and verify every file against its manifest.
    pub fn lookup(&self, stage: &str, key: &str) -> Lookup {
        let dir = self.entry_dir(stage, key);
        if !dir.exists() {
            return Lookup::Miss;
        }
        let manifest: Manifest = match io::read_json(&dir.join(MANIFEST_FILE)) {
            Ok(m) => m,
            Err(e) => return Lookup::Invalid(format!("unreadable manifest: {e}")),
        };
        if manifest.key != key {
            return Lookup::Invalid("manifest belongs to another key".into());
        }
        match digest_tree(&dir) {
            Ok(files) if files == manifest.files => {
                self.mark_used(stage, key, &manifest.uses);
                Lookup::Hit(manifest)
            }
            Ok(files) => {
                let changed = manifest
                    .files
                    .keys()
                    .chain(files.keys())
                    .find(|k| manifest.files.get(*k) != files.get(*k))
                    .cloned()
                    .unwrap_or_default();
                Lookup::Invalid(format!("{changed} does not match its recorded hash"))
            }
            Err(e) => Lookup::Invalid(e.to_string()),
        }
    }

    /// Run `produce` into a fresh temporary directory, record the manifest, and move the
    /// directory into place (replacing a damaged entry). Nothing is left on failure.
    pub fn store<E: From<ArtifactError>>(
        &self,
        stage: &str,
        key: &str,
        produce: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<(PathBuf, Manifest), E> {
        let dir = self.entry_dir(stage, key);
        let parent = dir.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&parent).map_err(|e| ArtifactError::io(&parent, e))?;
        let tmp = replay_core::atomic::temp_path_for(&dir);
        let before = self.used_now();
        let result = (|| {
            fs::create_dir_all(&tmp).map_err(|e| ArtifactError::io(&tmp, e))?;
            produce(&tmp)?;
            let manifest = Manifest {
                stage: stage.into(),
                key: key.into(),
                files: digest_tree(&tmp)?,
                uses: self.used_now().difference(&before).cloned().collect(),
            };
            io::write_json(&tmp.join(MANIFEST_FILE), &manifest)?;
            if dir.exists() {
                fs::remove_dir_all(&dir).map_err(|e| ArtifactError::io(&dir, e))?;
            }
            fs::rename(&tmp, &dir).map_err(|e| ArtifactError::io(&dir, e))?;
            Ok(manifest)
        })();
        match &result {
            Ok(manifest) => self.mark_used(stage, key, &manifest.uses),
            Err(_) => {
                let _ = fs::remove_dir_all(&tmp);
            }
        }
        result.map(|manifest| (dir, manifest))
    }

    /// The directory of the entry for `key` under `stage` (any namespace, e.g. one
    /// model's fit) if it is present and valid (see [`Cache::lookup`]).
    pub fn valid_entry(&self, stage: &str, key: &str) -> Option<PathBuf> {
        match self.lookup(stage, key) {
            Lookup::Hit(_) => Some(self.entry_dir(stage, key)),
            Lookup::Miss | Lookup::Invalid(_) => None,
        }
    }
}

/// The name of an entry in run records and [`Manifest::uses`]: `<stage>/<key16>`.
fn entry_name(stage: &str, key: &str) -> String {
    format!("{stage}/{}", &key[..16.min(key.len())])
}

/// The directory below the cache root holding the run records.
const RUNS_DIR: &str = "runs";

/// Which cache entries one run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's number, counting from 1 in this artifacts directory.
    pub run: u64,
    /// The entries it used, `<stage>/<key16>`.
    pub entries: Vec<String>,
}

/// Every run record in `dir`, oldest first.
fn run_records(dir: &Path) -> Result<Vec<RunRecord>, ArtifactError> {
    let mut records = Vec::new();
    if !dir.is_dir() {
        return Ok(records);
    }
    for entry in fs::read_dir(dir).map_err(|e| ArtifactError::io(dir, e))? {
        let path = entry.map_err(|e| ArtifactError::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "json") {
            records.push(io::read_json::<RunRecord>(&path)?);
        }
    }
    records.sort_by_key(|r| r.run);
    Ok(records)
}

/// One cache entry as [`list_entries`] shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryInfo {
    /// `<stage>/<key16>`.
    pub name: String,
    /// Bytes of its files.
    pub bytes: u64,
    /// The newest run that used it (`None`: no recorded run did).
    pub last_run: Option<u64>,
}

/// Every entry of the cache under `artifacts`, by name.
pub fn list_entries(artifacts: &Path) -> Result<Vec<EntryInfo>, ArtifactError> {
    let root = artifacts.join("cache");
    let mut last_run: BTreeMap<String, u64> = BTreeMap::new();
    for record in run_records(&root.join(RUNS_DIR))? {
        for entry in record.entries {
            last_run.insert(entry, record.run);
        }
    }
    let mut entries = Vec::new();
    if !root.is_dir() {
        return Ok(entries);
    }
    for stage in sorted_dirs(&root)? {
        let stage_name = file_name(&stage);
        if stage_name == RUNS_DIR {
            continue;
        }
        for entry in sorted_dirs(&stage)? {
            if replay_core::atomic::is_temp_name(&file_name(&entry)) {
                continue; // being written by a run, or left by a killed one
            }
            let name = format!("{stage_name}/{}", file_name(&entry));
            entries.push(EntryInfo {
                bytes: tree_bytes(&entry)?,
                last_run: last_run.get(&name).copied(),
                name,
            });
        }
    }
    Ok(entries)
}

/// What [`collect_garbage`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    /// Entries removed.
    pub removed: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Entries kept.
    pub kept: usize,
}

/// Remove the cache entries that none of the `keep_runs` most recent runs used, and the
/// older run records. Waits for a run in progress to finish first.
pub fn collect_garbage(artifacts: &Path, keep_runs: usize) -> Result<Collected, ArtifactError> {
    let _lock = ProjectLock::acquire(artifacts, say_waiting(artifacts))?;
    let runs_dir = artifacts.join("cache").join(RUNS_DIR);
    let records = run_records(&runs_dir)?;
    let recent = records.len().saturating_sub(keep_runs);
    let keep: BTreeSet<&String> = records[recent..].iter().flat_map(|r| &r.entries).collect();
    let mut collected = Collected {
        removed: 0,
        bytes: 0,
        kept: 0,
    };
    for entry in list_entries(artifacts)? {
        if keep.contains(&entry.name) {
            collected.kept += 1;
            continue;
        }
        let dir = artifacts.join("cache").join(&entry.name);
        fs::remove_dir_all(&dir).map_err(|e| ArtifactError::io(&dir, e))?;
        collected.removed += 1;
        collected.bytes += entry.bytes;
    }
    for record in &records[..recent] {
        let path = runs_dir.join(format!("{:06}.json", record.run));
        fs::remove_file(&path).map_err(|e| ArtifactError::io(&path, e))?;
    }
    Ok(collected)
}

/// The subdirectories of `dir`, sorted.
fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>, ArtifactError> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| ArtifactError::io(dir, e))? {
        let path = entry.map_err(|e| ArtifactError::io(dir, e))?.path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Bytes of every file below `dir`.
fn tree_bytes(dir: &Path) -> Result<u64, ArtifactError> {
    files_below(dir)?.iter().try_fold(0, |bytes, path| {
        let meta = fs::metadata(path).map_err(|e| ArtifactError::io(path, e))?;
        Ok(bytes + meta.len())
    })
}

/// Put `from` (a file or a directory tree) at `to`: files are hard-linked when the file
/// system allows (cache entries are never modified in place, and a damaged one is
/// detected by its manifest), copied otherwise, so publishing costs no time or disk even
/// at millions of rows.
pub fn link_or_copy(from: &Path, to: &Path) -> Result<(), ArtifactError> {
    if from.is_dir() {
        fs::create_dir_all(to).map_err(|e| ArtifactError::io(to, e))?;
        for entry in fs::read_dir(from).map_err(|e| ArtifactError::io(from, e))? {
            let entry = entry.map_err(|e| ArtifactError::io(from, e))?;
            link_or_copy(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir).map_err(|e| ArtifactError::io(dir, e))?;
        }
        if fs::hard_link(from, to).is_ok() {
            return Ok(());
        }
        fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| ArtifactError::io(from, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_one(cache: &Cache, key: &str, content: &[u8]) -> PathBuf {
        cache
            .store::<ArtifactError>("s", key, |dir| {
                fs::create_dir_all(dir.join("sub")).unwrap();
                fs::write(dir.join("sub/a.bin"), content).unwrap();
                Ok(())
            })
            .unwrap()
            .0
    }

    #[test]
    fn stored_entries_are_hits_until_a_file_changes() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::new(root.path());
        let key = "0123456789abcdef0123";
        assert!(matches!(cache.lookup("s", key), Lookup::Miss));
        let dir = store_one(&cache, key, b"hello");
        let Lookup::Hit(manifest) = cache.lookup("s", key) else {
            panic!("expected a hit")
        };
        assert_eq!(manifest.files["sub/a.bin"].bytes, 5);
        fs::write(dir.join("sub/a.bin"), b"hell").unwrap();
        assert!(matches!(cache.lookup("s", key), Lookup::Invalid(r) if r.contains("sub/a.bin")));
        store_one(&cache, key, b"hello");
        assert!(matches!(cache.lookup("s", key), Lookup::Hit(_)));
    }

    #[test]
    fn a_failed_stage_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::new(root.path());
        let result = cache.store("s", "fedcba9876543210", |dir| {
            fs::write(dir.join("half"), b"x").unwrap();
            Err(ArtifactError::Invalid {
                path: dir.into(),
                message: "failed".into(),
            })
        });
        assert!(result.is_err());
        assert_eq!(fs::read_dir(root.path().join("cache/s")).unwrap().count(), 0);
    }

    #[test]
    fn keys_change_with_every_ingredient() {
        let config = serde_json::json!({"a": 1});
        let inputs = vec![("x".to_string(), "h1".to_string())];
        let base = cache_key("s", "1", &config, &inputs);
        assert_ne!(base, cache_key("t", "1", &config, &inputs));
        assert_ne!(base, cache_key("s", "2", &config, &inputs));
        assert_ne!(base, cache_key("s", "1", &serde_json::json!({"a": 2}), &inputs));
        assert_ne!(
            base,
            cache_key("s", "1", &config, &[("x".to_string(), "h2".to_string())])
        );
        assert_eq!(base, cache_key("s", "1", &config, &inputs));
    }
}
