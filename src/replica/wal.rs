//! Reading SQLite's write-ahead log: the 32-byte header, then frames of a
//! 24-byte header plus one page. A frame counts only when its salts match the
//! header's and its running checksum (SQLite's algorithm, in the byte order
//! the magic names) is valid; the log ends at the last valid commit frame.
//! Frames past it are stale or torn and are ignored.

use std::collections::BTreeMap;
use std::io::Read;

/// WAL magic with checksums computed on little-endian words.
pub const MAGIC_LE: u32 = 0x377f_0682;
/// WAL magic with checksums computed on big-endian words.
pub const MAGIC_BE: u32 = 0x377f_0683;
/// Bytes in the WAL header.
pub const WAL_HEADER_SIZE: u64 = 32;
/// Bytes in a frame header.
pub const FRAME_HEADER_SIZE: u64 = 24;

/// Why a WAL could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WalError {
    /// The header is missing, has a bad magic, version, page size or checksum.
    #[error("invalid WAL header: {0}")]
    Header(String),
}

/// The WAL header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalHeader {
    /// Checksums use big-endian words.
    pub big_endian: bool,
    /// Database page size.
    pub page_size: u32,
    /// Checkpoint sequence number.
    pub checkpoint_seq: u32,
    /// First salt (incremented on each WAL restart).
    pub salt1: u32,
    /// Second salt (random on each WAL restart).
    pub salt2: u32,
    /// The header's checksum, which seeds the first frame's.
    pub checksum: (u32, u32),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `s`.
pub fn checksum(big_endian: bool, data: &[u8], s: (u32, u32)) -> (u32, u32) {
    let (mut s0, mut s1) = s;
    for chunk in data.chunks_exact(8) {
        let (a, b) = if big_endian {
            (be32(&chunk[0..4]), be32(&chunk[4..8]))
        } else {
            (
                u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
                u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]),
            )
        };
        s0 = s0.wrapping_add(a).wrapping_add(s1);
        s1 = s1.wrapping_add(b).wrapping_add(s0);
    }
    (s0, s1)
}

impl WalHeader {
    /// Parses and checks the first 32 bytes of a WAL. Fails on a short file,
    /// an unknown magic or version, a bad page size or a bad checksum.
    pub fn parse(b: &[u8]) -> Result<WalHeader, WalError> {
        let b = b
            .get(..WAL_HEADER_SIZE as usize)
            .ok_or_else(|| WalError::Header("shorter than 32 bytes".into()))?;
        let magic = be32(b);
        let big_endian = match magic {
            MAGIC_BE => true,
            MAGIC_LE => false,
            _ => return Err(WalError::Header(format!("bad magic {magic:#x}"))),
        };
        if be32(&b[4..]) != 3_007_000 {
            return Err(WalError::Header("unknown version".into()));
        }
        let raw = be32(&b[8..]);
        let page_size = if raw == 1 { 65536 } else { raw };
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(WalError::Header(format!("bad page size {raw}")));
        }
        let sum = checksum(big_endian, &b[..24], (0, 0));
        if sum != (be32(&b[24..]), be32(&b[28..])) {
            return Err(WalError::Header("header checksum mismatch".into()));
        }
        Ok(WalHeader {
            big_endian,
            page_size,
            checkpoint_seq: be32(&b[12..]),
            salt1: be32(&b[16..]),
            salt2: be32(&b[20..]),
            checksum: sum,
        })
    }

    /// Bytes in one frame (header plus page).
    pub fn frame_size(&self) -> u64 {
        FRAME_HEADER_SIZE + u64::from(self.page_size)
    }
}

/// A place in a WAL just after a commit frame, with the running checksum
/// there: reading resumes from it without re-reading what came before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalPos {
    /// Byte offset (32 = no frame yet).
    pub offset: u64,
    /// Running checksum after the frame that ends at `offset`.
    pub checksum: (u32, u32),
}

impl WalPos {
    /// The start of the frames of the WAL with `header`.
    pub fn start(header: &WalHeader) -> WalPos {
        WalPos {
            offset: WAL_HEADER_SIZE,
            checksum: header.checksum,
        }
    }
}

/// Committed frames found after a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// For each page written, the byte offset of its newest page image
    /// (after the frame header) among the committed frames.
    pub pages: BTreeMap<u32, u64>,
    /// Database size in pages after the last commit (0 when none).
    pub commit: u32,
    /// Transactions (commit frames) found.
    pub transactions: u32,
    /// Where the next read resumes: just after the last commit frame.
    pub end: WalPos,
}

/// Scans `wal` (the whole file's bytes, or at least up to its end) from
/// `from` and returns the pages of every fully committed transaction after
/// it. Stops quietly at the first frame with other salts, a bad checksum,
/// or a torn end; frames after the last commit frame are not returned.
pub fn scan(header: &WalHeader, wal: &[u8], from: WalPos) -> Scan {
    let rest = wal.get(from.offset as usize..).unwrap_or(&[]);
    // Reading from a slice cannot fail.
    scan_reader(header, rest, from).unwrap_or(Scan {
        pages: BTreeMap::new(),
        commit: 0,
        transactions: 0,
        end: from,
    })
}

/// [`scan`] over a reader positioned at `from.offset` (a WAL file read
/// frame by frame: only the page map is held in memory). Fails on read
/// errors other than a torn end.
pub fn scan_reader(header: &WalHeader, mut r: impl Read, from: WalPos) -> std::io::Result<Scan> {
    let fs = header.frame_size() as usize;
    let mut frame = vec![0u8; fs];
    let mut pos = from.offset;
    let mut sum = from.checksum;
    // Frames of the transaction being read; they count once its commit
    // frame is seen. (Inserting them one by one into the result: appending
    // one map to the other would walk the whole result at every commit.)
    let mut pending: Vec<(u32, u64)> = Vec::new();
    let mut out = Scan {
        pages: BTreeMap::new(),
        commit: 0,
        transactions: 0,
        end: from,
    };
    loop {
        match r.read_exact(&mut frame) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let h = &frame[..FRAME_HEADER_SIZE as usize];
        if be32(&h[8..]) != header.salt1 || be32(&h[12..]) != header.salt2 {
            break;
        }
        sum = checksum(header.big_endian, &h[..8], sum);
        sum = checksum(header.big_endian, &frame[FRAME_HEADER_SIZE as usize..], sum);
        if sum != (be32(&h[16..]), be32(&h[20..])) {
            break;
        }
        let pgno = be32(h);
        if pgno == 0 {
            break;
        }
        pending.push((pgno, pos + FRAME_HEADER_SIZE));
        pos += fs as u64;
        let commit = be32(&h[4..]);
        if commit > 0 {
            // Later frames of a page win.
            out.pages.extend(pending.drain(..));
            out.commit = commit;
            out.transactions += 1;
            out.end = WalPos {
                offset: pos,
                checksum: sum,
            };
        }
    }
    // Pages past the new end of the database are gone (VACUUM, truncation).
    if out.commit > 0 {
        let commit = out.commit;
        out.pages.retain(|&p, _| p <= commit);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn wal_db(dir: &std::path::Path) -> Connection {
        let c = Connection::open(dir.join("w.db")).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; \
             CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);",
        )
        .unwrap();
        c
    }

    #[test]
    fn reads_committed_transactions_of_a_real_wal() {
        let dir = tempfile::tempdir().unwrap();
        let c = wal_db(dir.path());
        let walp = dir.path().join("w.db-wal");
        let bytes = std::fs::read(&walp).unwrap();
        let h = WalHeader::parse(&bytes).unwrap();
        assert_eq!(h.page_size, 4096);
        let first = scan(&h, &bytes, WalPos::start(&h));
        assert!(first.transactions >= 1);
        assert!(first.pages.contains_key(&1), "schema change writes page 1");
        assert_eq!(first.end.offset, bytes.len() as u64);
        // Two more transactions; resume from the previous end.
        for i in 0..2 {
            c.execute("INSERT INTO t (v) VALUES (?1)", [format!("row {i}")])
                .unwrap();
        }
        let bytes = std::fs::read(&walp).unwrap();
        let next = scan(&h, &bytes, first.end);
        assert_eq!(next.transactions, 2);
        assert_eq!(next.commit, 2);
        assert!(next.pages.contains_key(&2));
        assert_eq!(next.end.offset, bytes.len() as u64);
        // Page image offsets point at the page data of the newest frame.
        let off = next.pages[&2] as usize;
        let page = &bytes[off..off + 4096];
        assert!(page.windows(5).any(|w| w == b"row 1"));
        // A torn last frame: the transaction is not counted.
        let torn = &bytes[..bytes.len() - 100];
        let t = scan(&h, torn, first.end);
        assert_eq!(t.transactions, 1);
        // A corrupted frame stops the scan there.
        let mut bad = bytes.clone();
        let at = first.end.offset as usize + 24 + 100;
        bad[at] ^= 0xff;
        assert_eq!(scan(&h, &bad, first.end).transactions, 0);
    }

    #[test]
    fn uncommitted_frames_and_other_salts_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let c = wal_db(dir.path());
        let walp = dir.path().join("w.db-wal");
        // A big transaction spills frames before commit: make one and roll back.
        c.execute_batch("PRAGMA cache_size=1; BEGIN;").unwrap();
        for i in 0..200 {
            c.execute("INSERT INTO t (v) VALUES (?1)", [format!("{i:0>500}")])
                .unwrap();
        }
        c.execute_batch("ROLLBACK;").unwrap();
        let bytes = std::fs::read(&walp).unwrap();
        let h = WalHeader::parse(&bytes).unwrap();
        let s = scan(&h, &bytes, WalPos::start(&h));
        assert!(
            (s.end.offset as usize) < bytes.len(),
            "spilled frames exist past the last commit"
        );
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        // Checkpoint and restart the log: the new header has new salts and the
        // old frames no longer match.
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        c.execute("INSERT INTO t (v) VALUES ('after')", []).unwrap();
        let bytes2 = std::fs::read(&walp).unwrap();
        let h2 = WalHeader::parse(&bytes2).unwrap();
        assert_ne!((h2.salt1, h2.salt2), (h.salt1, h.salt2));
        assert_eq!(scan(&h, &bytes2, WalPos::start(&h)).transactions, 0);
        assert_eq!(scan(&h2, &bytes2, WalPos::start(&h2)).transactions, 1);
    }

    #[test]
    fn header_checks() {
        assert!(WalHeader::parse(&[0u8; 10]).is_err());
        assert!(WalHeader::parse(&[0u8; 32]).is_err());
    }
}
