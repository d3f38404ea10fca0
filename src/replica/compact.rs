//! Compaction, as Litestream 0.5 does it: level `n` (1–8) merges the files
//! of level `n - 1` written since its own last file into one file
//! (`min-max`, later pages win), at every multiple of its interval on the
//! wall clock (Litestream's defaults: L1 every 30 s, L2 every 5 min, L3
//! every hour), so a restore downloads a few large files instead of one per
//! sync. Litestream's restore picks, at each step, the file that reaches
//! furthest, so compacted files are used as soon as they exist. Runs never
//! span a TXID that is missing from the source level (a snapshot's TXID is
//! only at level 9). Level-0 files are deleted once a level-1 file covers
//! them and they are older than the level-0 retention (5 min, Litestream's
//! `l0-retention`): point-in-time restore then has level 1's granularity for
//! older moments. Everything else is deleted by snapshot retention.

use super::ltx::{self, Decoder, Encoder, FLAG_NO_CHECKSUM};
use super::s3::{FileInfo, SNAPSHOT_LEVEL, Spool, Store};
use chrono::{DateTime, Utc};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// Litestream 0.5's default compaction intervals, for levels 1, 2 and 3.
pub const DEFAULT_INTERVALS: [Duration; 3] = [
    Duration::from_secs(30),
    Duration::from_secs(5 * 60),
    Duration::from_secs(3600),
];
/// How long a level-0 file stays after level 1 covers it (Litestream's
/// default `l0-retention`).
pub const DEFAULT_L0_RETENTION: Duration = Duration::from_secs(5 * 60);

/// When each level is compacted.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Interval of level 1, 2, … (at most 8 levels).
    pub intervals: Vec<Duration>,
    /// How long level-0 files are kept once level 1 covers them.
    pub l0_retention: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            intervals: DEFAULT_INTERVALS.to_vec(),
            l0_retention: DEFAULT_L0_RETENTION,
        }
    }
}

impl Schedule {
    /// Checks the levels. Fails when there are more than 8 or an interval is
    /// shorter than 100 ms.
    pub fn validate(&self) -> Result<(), String> {
        if self.intervals.len() > usize::from(SNAPSHOT_LEVEL - 1) {
            return Err(format!("at most {} compaction levels", SNAPSHOT_LEVEL - 1));
        }
        if self
            .intervals
            .iter()
            .any(|i| *i < Duration::from_millis(100))
        {
            return Err("a compaction interval is shorter than 100ms".into());
        }
        Ok(())
    }
}

/// The most recent multiple of `interval` since the epoch at or before
/// `now`: compactions are aligned on the wall clock, as Litestream's are.
pub fn boundary(now: DateTime<Utc>, interval: Duration) -> DateTime<Utc> {
    let step = interval.as_millis().max(1) as i64;
    let ms = now.timestamp_millis();
    DateTime::from_timestamp_millis(ms - ms.rem_euclid(step)).unwrap_or(now)
}

/// The runs of `files` (sorted by TXID) with no gap between neighbours,
/// starting after `done` (the highest TXID already compacted at the target
/// level). A single file is a run too: as in Litestream, every file reaches
/// every level, so each level alone restores the whole range it covers.
pub fn runs(files: &[FileInfo], done: u64) -> Vec<Vec<FileInfo>> {
    let mut out: Vec<Vec<FileInfo>> = Vec::new();
    let mut cur: Vec<FileInfo> = Vec::new();
    for f in files.iter().filter(|f| f.min_txid > done) {
        match cur.last() {
            Some(last) if last.max_txid + 1 == f.min_txid => cur.push(f.clone()),
            _ => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                cur = vec![f.clone()];
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Merges LTX files (in memory, in TXID order) into one (in memory). Fails
/// when a file is invalid or the page sizes differ.
pub fn merge(files: &[Vec<u8>]) -> Result<Vec<u8>, ltx::LtxError> {
    merge_readers(files.iter().map(|f| f.as_slice()).collect(), Vec::new()).map(|(v, _)| v)
}

/// Merges LTX files read from `sources` (in TXID order) into one written to
/// `out`, page by page: a k-way merge on page numbers where the latest file
/// wins, holding one page per source. Returns the writer and the merged
/// header. Fails when a file is invalid (checksums included) or the page
/// sizes differ.
pub fn merge_readers<R: Read, W: Write>(
    sources: Vec<R>,
    out: W,
) -> Result<(W, ltx::Header), ltx::LtxError> {
    let mut decs = Vec::with_capacity(sources.len());
    for r in sources {
        decs.push(Some(Decoder::new(r)?));
    }
    let headers: Vec<ltx::Header> = decs.iter().flatten().map(|d| *d.header()).collect();
    let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
        return Err(ltx::LtxError::Invalid("nothing to merge".into()));
    };
    if headers.iter().any(|h| h.page_size != first.page_size) {
        return Err(ltx::LtxError::Invalid("page size changed".into()));
    }
    let header = ltx::Header {
        flags: FLAG_NO_CHECKSUM,
        page_size: last.page_size,
        commit: last.commit,
        min_txid: first.min_txid,
        max_txid: last.max_txid,
        timestamp_ms: last.timestamp_ms,
        ..ltx::Header::default()
    };
    let mut enc = Encoder::to_writer(header, out)?;
    // Current page number of each source (`None`: exhausted and verified).
    let mut cur: Vec<Option<u32>> = Vec::with_capacity(decs.len());
    for d in &mut decs {
        cur.push(step(d)?);
    }
    while let Some(min) = cur.iter().flatten().min().copied() {
        if min <= header.commit {
            let win = (0..decs.len())
                .rev()
                .find(|&i| cur[i] == Some(min))
                .and_then(|i| decs[i].as_ref())
                .ok_or_else(|| ltx::LtxError::Invalid("merge lost its page".into()))?;
            enc.page(min, win.page())?;
        }
        for i in 0..decs.len() {
            if cur[i] == Some(min) {
                cur[i] = step(&mut decs[i])?;
            }
        }
    }
    Ok((enc.finish()?, header))
}

/// Advances a source; at its end, verifies its checksum and drops it.
fn step<R: Read>(d: &mut Option<Decoder<R>>) -> Result<Option<u32>, ltx::LtxError> {
    let Some(dec) = d.as_mut() else {
        return Ok(None);
    };
    match dec.advance()? {
        Some(p) => Ok(Some(p)),
        None => {
            if let Some(dec) = d.take() {
                dec.finish()?;
            }
            Ok(None)
        }
    }
}

/// Most files merged into one at a time (each holds a page and a small
/// read buffer); a longer run becomes several consecutive files.
pub const MAX_MERGE: usize = 128;

/// Compacts the files of level `to - 1` not yet covered by level `to`.
/// Returns how many files were written. Fails on a store error or an
/// invalid source file (nothing is deleted: retention does that).
pub async fn compact(store: &Store, to: u8) -> Result<usize, String> {
    let done = store
        .list(to)
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|f| f.max_txid)
        .max()
        .unwrap_or(0);
    Ok(compact_after(store, to, done, &std::env::temp_dir())
        .await?
        .len())
}

/// A file written by compaction and the files it was made of.
#[derive(Debug, Clone)]
pub struct Compacted {
    /// The new file.
    pub file: FileInfo,
    /// Its sources, one level down.
    pub sources: Vec<FileInfo>,
}

/// Compacts the runs of level `to - 1` that start after TXID `done` into
/// level `to`. Returns what was written. Fails on a store error or an
/// invalid source file.
pub async fn compact_after(
    store: &Store,
    to: u8,
    done: u64,
    spool_dir: &Path,
) -> Result<Vec<Compacted>, String> {
    let from = to
        .checked_sub(1)
        .filter(|_| to < SNAPSHOT_LEVEL)
        .ok_or("levels 1 to 8 are compaction levels")?;
    let sources = store
        .list_after(from, done)
        .await
        .map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    for run in runs(&sources, done)
        .iter()
        .flat_map(|r| r.chunks(MAX_MERGE))
    {
        // Sources are spooled (to disk once large), then merged page by page.
        let mut bodies = Vec::with_capacity(run.len());
        for f in run {
            bodies.push(
                store
                    .fetch_ltx(f, Spool::new(spool_dir))
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        let dir = spool_dir.to_path_buf();
        let (merged, header) = tokio::task::spawn_blocking(move || {
            let readers = bodies
                .iter()
                .map(|b| b.reader())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let (spool, header) =
                merge_readers(readers, Spool::new(dir)).map_err(|e| e.to_string())?;
            let body = spool.finish().map_err(|e| e.to_string())?;
            Ok::<_, String>((body, header))
        })
        .await
        .map_err(|e| e.to_string())??;
        let (min, max) = (run[0].min_txid, run[run.len() - 1].max_txid);
        let ts = DateTime::from_timestamp_millis(header.timestamp_ms).unwrap_or_else(Utc::now);
        let size = merged.len().unwrap_or(0);
        store
            .put_ltx(to, min, max, ts, merged)
            .await
            .map_err(|e| e.to_string())?;
        written.push(Compacted {
            file: FileInfo {
                level: to,
                min_txid: min,
                max_txid: max,
                size,
                last_modified: Some(Utc::now()),
            },
            sources: run.to_vec(),
        });
    }
    Ok(written)
}

/// Compaction and retention for one replica: each level at every multiple
/// of its interval, lower levels first, then the level-0 files that level 1
/// covers once they are older than the level-0 retention; after each
/// snapshot, the snapshot retention. One at a time, so a compaction never
/// writes a file retention has just made useless. Failures are logged and
/// retried at the next turn.
pub struct Compactor {
    store: Store,
    schedule: Schedule,
    /// How long history is kept (`replica.retention`).
    retention: Duration,
    /// Where large files are spooled.
    spool_dir: PathBuf,
    /// Highest TXID at each level (index = level), `None` until listed.
    done: Vec<Option<u64>>,
    /// When each level is next due.
    due: Vec<DateTime<Utc>>,
    /// Level-0 files covered by level 1, waiting for their retention.
    covered_l0: Vec<FileInfo>,
    /// Level 0 has been checked against level 1 since start.
    l0_checked: bool,
}

impl Compactor {
    /// A compactor for `store` keeping `retention` of history and spooling
    /// large files to `spool_dir`; every level is due at once.
    pub fn new(
        store: Store,
        schedule: Schedule,
        retention: Duration,
        spool_dir: PathBuf,
        now: DateTime<Utc>,
    ) -> Compactor {
        let levels = schedule.intervals.len();
        Compactor {
            store,
            schedule,
            retention,
            spool_dir,
            done: vec![None; levels + 1],
            due: vec![now; levels + 1],
            covered_l0: Vec::new(),
            l0_checked: false,
        }
    }

    /// When the next level is due (`None` without levels).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.due.iter().skip(1).min().copied()
    }

    /// Compacts every level that is due at `now`, then applies the level-0
    /// retention. Returns the files written. Fails with the first error
    /// (the failing level is retried at its next turn).
    pub async fn tick(&mut self, now: DateTime<Utc>) -> Result<Vec<Compacted>, String> {
        let mut out = Vec::new();
        let mut first_err = None;
        for (i, interval) in self.schedule.intervals.clone().into_iter().enumerate() {
            let level = (i + 1) as u8;
            if self.due[level as usize] > now {
                continue;
            }
            self.due[level as usize] = boundary(now, interval) + interval;
            match self.level(level).await {
                Ok(mut w) => out.append(&mut w),
                Err(e) => {
                    tracing::warn!(level, error = %e, "replica compaction failed; will retry");
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Err(e) = self.l0_retention(now).await {
            tracing::warn!(error = %e, "replica level-0 retention failed; will retry");
            first_err.get_or_insert(e);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    async fn level(&mut self, level: u8) -> Result<Vec<Compacted>, String> {
        let l = level as usize;
        let done = match self.done[l] {
            Some(d) => d,
            None => {
                let files = self.store.list(level).await.map_err(|e| e.to_string())?;
                let d = files.iter().map(|f| f.max_txid).max().unwrap_or(0);
                if level == 1 {
                    self.check_l0(&files).await?;
                }
                self.done[l] = Some(d);
                d
            }
        };
        let written = compact_after(&self.store, level, done, &self.spool_dir).await?;
        if let Some(last) = written.last() {
            self.done[l] = Some(last.file.max_txid);
        }
        if level == 1 {
            self.covered_l0
                .extend(written.iter().flat_map(|c| c.sources.iter().cloned()));
        }
        for c in &written {
            tracing::debug!(
                level,
                min = c.file.min_txid,
                max = c.file.max_txid,
                files = c.sources.len(),
                "replica compaction written"
            );
        }
        Ok(written)
    }

    /// Once after start: level-0 files already covered by level-1 files
    /// (compacted before a restart) wait for their retention too.
    async fn check_l0(&mut self, l1: &[FileInfo]) -> Result<(), String> {
        if self.l0_checked {
            return Ok(());
        }
        let l0 = self.store.list(0).await.map_err(|e| e.to_string())?;
        self.covered_l0.extend(l0.into_iter().filter(|f| {
            l1.iter()
                .any(|c| c.min_txid <= f.min_txid && f.max_txid <= c.max_txid)
        }));
        self.l0_checked = true;
        Ok(())
    }

    /// Deletes the covered level-0 files older than the retention.
    async fn l0_retention(&mut self, now: DateTime<Utc>) -> Result<(), String> {
        let horizon = now
            - chrono::Duration::from_std(self.schedule.l0_retention).map_err(|e| e.to_string())?;
        let (old, young): (Vec<_>, Vec<_>) = std::mem::take(&mut self.covered_l0)
            .into_iter()
            .partition(|f| f.last_modified.is_none_or(|t| t < horizon));
        self.covered_l0 = young;
        if old.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.store.delete_ltx(&old).await {
            self.covered_l0.extend(old);
            return Err(e.to_string());
        }
        tracing::debug!(
            files = old.len(),
            "replica level-0 files deleted after compaction"
        );
        Ok(())
    }

    /// Runs [`Compactor::tick`] whenever a level is due, and
    /// [`Compactor::enforce_retention`] after each snapshot announced on
    /// `snapshots`, one at a time, until `stop` is set.
    pub async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        mut snapshots: watch::Receiver<u64>,
    ) {
        let mut retain = false;
        loop {
            if super::replicator::stop_requested(&stop) {
                return;
            }
            if retain {
                retain = false;
                if let Err(e) = self.enforce_retention(Utc::now()).await {
                    tracing::warn!(error = %e, "replica retention: old files not deleted; will retry after the next snapshot");
                }
            }
            let now = Utc::now();
            if self.next_due().is_some_and(|t| t <= now) {
                let _ = self.tick(now).await;
            }
            let wait = self
                .next_due()
                .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
                r = snapshots.changed() => retain = r.is_ok(),
            }
        }
    }

    /// Deletes what no restore within the retention needs: snapshots older
    /// than the newest one taken before the window opened (that one stays, to
    /// restore the window's first moments), and files of levels 0–8 that end
    /// at or before it. Fails on a store error (retried after the next
    /// snapshot).
    pub async fn enforce_retention(&self, now: DateTime<Utc>) -> Result<(), String> {
        let store = &self.store;
        let horizon =
            now - chrono::Duration::from_std(self.retention).map_err(|e| e.to_string())?;
        let snapshots = store
            .list(SNAPSHOT_LEVEL)
            .await
            .map_err(|e| e.to_string())?;
        let (old, _): (Vec<_>, Vec<_>) = snapshots
            .into_iter()
            .partition(|f| f.last_modified.is_some_and(|t| t < horizon));
        let Some(base) = old.iter().max_by_key(|f| f.max_txid).cloned() else {
            return Ok(());
        };
        let mut doomed: Vec<_> = old
            .into_iter()
            .filter(|f| f.max_txid < base.max_txid)
            .collect();
        for level in 0..SNAPSHOT_LEVEL {
            doomed.extend(
                store
                    .list(level)
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .filter(|f| f.max_txid <= base.max_txid),
            );
        }
        if !doomed.is_empty() {
            store.delete_ltx(&doomed).await.map_err(|e| e.to_string())?;
            tracing::info!(
                files = doomed.len(),
                before_txid = base.max_txid,
                "replica retention: old files deleted"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(min: u64, max: u64) -> FileInfo {
        FileInfo {
            level: 0,
            min_txid: min,
            max_txid: max,
            size: 1,
            last_modified: None,
        }
    }

    #[test]
    fn runs_split_at_gaps_and_skip_what_is_done() {
        let files = [f(2, 2), f(3, 3), f(4, 4), f(6, 6), f(7, 7), f(9, 9)];
        let r: Vec<Vec<(u64, u64)>> = runs(&files, 0)
            .iter()
            .map(|r| r.iter().map(|f| (f.min_txid, f.max_txid)).collect())
            .collect();
        assert_eq!(
            r,
            vec![
                vec![(2, 2), (3, 3), (4, 4)],
                vec![(6, 6), (7, 7)],
                vec![(9, 9)]
            ]
        );
        assert_eq!(runs(&files, 4).len(), 2);
        assert_eq!(runs(&files, 7).len(), 1);
        assert!(runs(&files, 9).is_empty());
    }

    #[test]
    fn compactions_align_on_the_wall_clock_and_levels_are_checked() {
        let t = DateTime::parse_from_rfc3339("2026-03-01T10:17:42.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            boundary(t, Duration::from_secs(30)),
            at("2026-03-01T10:17:30Z")
        );
        assert_eq!(
            boundary(t, Duration::from_secs(300)),
            at("2026-03-01T10:15:00Z")
        );
        assert_eq!(
            boundary(t, Duration::from_secs(3600)),
            at("2026-03-01T10:00:00Z")
        );
        assert!(Schedule::default().validate().is_ok());
        let nine = Schedule {
            intervals: vec![Duration::from_secs(1); 9],
            ..Schedule::default()
        };
        assert!(nine.validate().is_err(), "level 9 holds snapshots");
        let tiny = Schedule {
            intervals: vec![Duration::from_millis(1)],
            ..Schedule::default()
        };
        assert!(tiny.validate().is_err());
    }

    fn file(min: u64, commit: u32, pages: &[(u32, u8)]) -> Vec<u8> {
        let mut e = Encoder::new(ltx::Header {
            flags: FLAG_NO_CHECKSUM,
            page_size: 512,
            commit,
            min_txid: min,
            max_txid: min,
            timestamp_ms: min as i64,
            ..ltx::Header::default()
        })
        .unwrap();
        for (p, b) in pages {
            e.page(*p, &[*b; 512]).unwrap();
        }
        e.finish().unwrap()
    }

    #[test]
    fn later_pages_win_and_pages_past_the_end_go() {
        let merged = merge(&[
            file(2, 3, &[(1, 1), (3, 1)]),
            file(3, 4, &[(2, 2), (3, 2), (4, 2)]),
            file(4, 2, &[(1, 3)]),
        ])
        .unwrap();
        let mut got = Vec::new();
        let h = ltx::decode(&merged, |p, d| {
            got.push((p, d[0]));
            Ok(())
        })
        .unwrap();
        assert_eq!((h.min_txid, h.max_txid, h.commit), (2, 4, 2));
        assert_eq!(got, vec![(1, 3), (2, 2)]);
    }
}
