//! Compaction: merges runs of consecutive files of one level into a file of
//! the next level (`min-max`, later pages win), so a restore downloads a few
//! large files instead of one per sync. Litestream's restore picks, at each
//! step, the file that reaches furthest, so compacted files are used as soon
//! as they exist. Runs never span a TXID that is missing from the source
//! level (a snapshot's TXID is only at level 9).

use super::ltx::{self, Encoder, FLAG_NO_CHECKSUM};
use super::s3::{FileInfo, Store};
use std::collections::BTreeMap;

/// The runs of `files` (sorted by TXID) with no gap between neighbours,
/// starting after `done` (the highest TXID already compacted at the target
/// level). Runs of a single file are left alone.
pub fn runs(files: &[FileInfo], done: u64) -> Vec<Vec<FileInfo>> {
    let mut out: Vec<Vec<FileInfo>> = Vec::new();
    let mut cur: Vec<FileInfo> = Vec::new();
    for f in files.iter().filter(|f| f.min_txid > done) {
        match cur.last() {
            Some(last) if last.max_txid + 1 == f.min_txid => cur.push(f.clone()),
            _ => {
                if cur.len() > 1 {
                    out.push(std::mem::take(&mut cur));
                }
                cur = vec![f.clone()];
            }
        }
    }
    if cur.len() > 1 {
        out.push(cur);
    }
    out
}

/// Merges decoded LTX files (in TXID order) into one. Fails when a file is
/// invalid or the page sizes differ.
pub fn merge(files: &[Vec<u8>]) -> Result<Vec<u8>, ltx::LtxError> {
    let mut pages: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut first: Option<ltx::Header> = None;
    let mut last: Option<ltx::Header> = None;
    for f in files {
        let h = ltx::decode(f, |p, d| {
            pages.insert(p, d.to_vec());
            Ok(())
        })?;
        if first.is_some_and(|x| x.page_size != h.page_size) {
            return Err(ltx::LtxError::Invalid("page size changed".into()));
        }
        first.get_or_insert(h);
        last = Some(h);
    }
    let (Some(first), Some(last)) = (first, last) else {
        return Err(ltx::LtxError::Invalid("nothing to merge".into()));
    };
    let mut enc = Encoder::new(ltx::Header {
        flags: FLAG_NO_CHECKSUM,
        page_size: last.page_size,
        commit: last.commit,
        min_txid: first.min_txid,
        max_txid: last.max_txid,
        timestamp_ms: last.timestamp_ms,
        ..ltx::Header::default()
    })?;
    for (p, d) in pages.range(..=last.commit) {
        enc.page(*p, d)?;
    }
    enc.finish()
}

/// Compacts the files of level `to - 1` not yet covered by level `to`.
/// Returns how many files were written. Fails on a store error or an
/// invalid source file (nothing is deleted: retention does that).
pub async fn compact(store: &Store, to: u8) -> Result<usize, String> {
    let from = to
        .checked_sub(1)
        .ok_or("level 0 is not a compaction level")?;
    let done = store
        .list(to)
        .await
        .map_err(|e| e.to_string())?
        .last()
        .map(|f| f.max_txid)
        .unwrap_or(0);
    let sources = store.list(from).await.map_err(|e| e.to_string())?;
    let mut written = 0;
    for run in runs(&sources, done) {
        let mut bytes = Vec::with_capacity(run.len());
        for f in &run {
            bytes.push(store.get_ltx(f).await.map_err(|e| e.to_string())?);
        }
        let merged = tokio::task::spawn_blocking(move || merge(&bytes))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let (min, max) = (run[0].min_txid, run[run.len() - 1].max_txid);
        let ts = ltx::Header::parse(&merged)
            .ok()
            .and_then(|h| chrono::DateTime::from_timestamp_millis(h.timestamp_ms))
            .unwrap_or_else(chrono::Utc::now);
        store
            .put_ltx(to, min, max, ts, merged)
            .await
            .map_err(|e| e.to_string())?;
        written += 1;
    }
    Ok(written)
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
        assert_eq!(r, vec![vec![(2, 2), (3, 3), (4, 4)], vec![(6, 6), (7, 7)]]);
        assert_eq!(runs(&files, 4).len(), 1);
        assert!(runs(&files, 7).is_empty());
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
