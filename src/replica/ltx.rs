//! LTX v1 files as Litestream 0.5 writes and reads them (big-endian
//! throughout): a 100-byte header, page frames (page header, compressed size,
//! LZ4 *block*), a six-byte zero terminator, a page index of uvarints, and a
//! 16-byte trailer whose file checksum is CRC-64/GO-ISO with bit 63 set.
//!
//! Quant writes every file with [`FLAG_NO_CHECKSUM`] and zero database
//! checksums, as Litestream does; the decoder verifies the file checksum, so a
//! corrupted object is refused on restore.

use crc::{CRC_64_GO_ISO, Crc};

/// The magic at the start of every LTX file.
pub const MAGIC: &[u8; 4] = b"LTX1";
/// Header flag: the database checksums are not tracked (always set by Quant).
pub const FLAG_NO_CHECKSUM: u32 = 0x2;
/// Page header flag: a four-byte compressed size follows the page header.
pub const PAGE_FLAG_SIZE: u16 = 0x1;
/// Bit set on every stored checksum.
pub const CHECKSUM_FLAG: u64 = 1 << 63;
/// Size of the header in bytes.
pub const HEADER_SIZE: usize = 100;
/// Size of the trailer in bytes.
pub const TRAILER_SIZE: usize = 16;

const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_GO_ISO);

/// Why an LTX file could not be written or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LtxError {
    /// The header or a page breaks a rule of the format.
    #[error("invalid ltx file: {0}")]
    Invalid(String),
    /// The file checksum does not match the content (corruption).
    #[error("ltx file checksum mismatch: stored {stored:016x}, computed {computed:016x}")]
    Checksum {
        /// The checksum in the trailer.
        stored: u64,
        /// The checksum of what was read.
        computed: u64,
    },
}

fn invalid(msg: impl Into<String>) -> LtxError {
    LtxError::Invalid(msg.into())
}

/// The page SQLite reserves for its locks at byte offset 2^30; never stored.
pub fn lock_pgno(page_size: u32) -> u32 {
    (0x4000_0000 / page_size.max(1)) + 1
}

/// The LTX header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Header flags ([`FLAG_NO_CHECKSUM`]).
    pub flags: u32,
    /// Database page size in bytes.
    pub page_size: u32,
    /// Database size in pages after applying this file.
    pub commit: u32,
    /// First transaction id covered.
    pub min_txid: u64,
    /// Last transaction id covered.
    pub max_txid: u64,
    /// Creation time, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Database checksum before applying (zero: not tracked).
    pub pre_apply_checksum: u64,
    /// Offset in the WAL the pages were read from.
    pub wal_offset: i64,
    /// Bytes of WAL covered.
    pub wal_size: i64,
    /// First WAL salt.
    pub wal_salt1: u32,
    /// Second WAL salt.
    pub wal_salt2: u32,
    /// Creator node id (zero).
    pub node_id: u64,
}

impl Header {
    /// A snapshot holds every page of the database (min TXID 1).
    pub fn is_snapshot(&self) -> bool {
        self.min_txid == 1
    }

    fn to_bytes(self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        b[0..4].copy_from_slice(MAGIC);
        b[4..8].copy_from_slice(&self.flags.to_be_bytes());
        b[8..12].copy_from_slice(&self.page_size.to_be_bytes());
        b[12..16].copy_from_slice(&self.commit.to_be_bytes());
        b[16..24].copy_from_slice(&self.min_txid.to_be_bytes());
        b[24..32].copy_from_slice(&self.max_txid.to_be_bytes());
        b[32..40].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        b[40..48].copy_from_slice(&self.pre_apply_checksum.to_be_bytes());
        b[48..56].copy_from_slice(&self.wal_offset.to_be_bytes());
        b[56..64].copy_from_slice(&self.wal_size.to_be_bytes());
        b[64..68].copy_from_slice(&self.wal_salt1.to_be_bytes());
        b[68..72].copy_from_slice(&self.wal_salt2.to_be_bytes());
        b[72..80].copy_from_slice(&self.node_id.to_be_bytes());
        b
    }

    /// Parses the first 100 bytes of `b`. Fails on a short buffer, a wrong
    /// magic or a header that breaks the format's rules.
    pub fn parse(b: &[u8]) -> Result<Header, LtxError> {
        if b.len() < HEADER_SIZE {
            return Err(invalid("shorter than its header"));
        }
        if &b[0..4] != MAGIC {
            return Err(invalid("not an LTX file (bad magic)"));
        }
        let h = Header {
            flags: be32(&b[4..]),
            page_size: be32(&b[8..]),
            commit: be32(&b[12..]),
            min_txid: be64(&b[16..]),
            max_txid: be64(&b[24..]),
            timestamp_ms: be64(&b[32..]) as i64,
            pre_apply_checksum: be64(&b[40..]),
            wal_offset: be64(&b[48..]) as i64,
            wal_size: be64(&b[56..]) as i64,
            wal_salt1: be32(&b[64..]),
            wal_salt2: be32(&b[68..]),
            node_id: be64(&b[72..]),
        };
        h.validate()?;
        Ok(h)
    }

    /// Checks the header's own rules. Fails naming the broken rule.
    pub fn validate(&self) -> Result<(), LtxError> {
        if self.flags & !FLAG_NO_CHECKSUM != 0 {
            return Err(invalid(format!("unknown header flags {:#x}", self.flags)));
        }
        if !(512..=65536).contains(&self.page_size) || !self.page_size.is_power_of_two() {
            return Err(invalid(format!("bad page size {}", self.page_size)));
        }
        if self.min_txid == 0 || self.max_txid < self.min_txid {
            return Err(invalid(format!(
                "bad TXID range {:x}-{:x}",
                self.min_txid, self.max_txid
            )));
        }
        if self.flags & FLAG_NO_CHECKSUM != 0 && self.pre_apply_checksum != 0 {
            return Err(invalid("pre-apply checksum set on a no-checksum file"));
        }
        if self.is_snapshot() && self.pre_apply_checksum != 0 {
            return Err(invalid("pre-apply checksum set on a snapshot"));
        }
        Ok(())
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_uvarint(b: &[u8], pos: &mut usize) -> Result<u64, LtxError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).ok_or_else(|| invalid("truncated page index"))?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(invalid("page index varint too long"))
}

/// Writes one LTX file into memory, page by page, enforcing the snapshot and
/// ordering rules.
pub struct Encoder {
    header: Header,
    out: Vec<u8>,
    digest: crc::Digest<'static, u64>,
    index: Vec<(u32, u64, u64)>,
    prev: u32,
}

impl Encoder {
    /// Starts a file with `header`. Fails when the header is invalid.
    pub fn new(header: Header) -> Result<Encoder, LtxError> {
        header.validate()?;
        let bytes = header.to_bytes();
        let mut digest = CRC64.digest();
        digest.update(&bytes);
        let mut out = Vec::with_capacity(HEADER_SIZE + 4096);
        out.extend_from_slice(&bytes);
        Ok(Encoder {
            header,
            out,
            digest,
            index: Vec::new(),
            prev: 0,
        })
    }

    /// Adds page `pgno` (exactly one page of data). Pages must come in
    /// ascending order, never the lock page, none past `commit`; a snapshot
    /// must hold every page from 1. Fails naming the broken rule.
    pub fn page(&mut self, pgno: u32, data: &[u8]) -> Result<(), LtxError> {
        let h = &self.header;
        if data.len() != h.page_size as usize {
            return Err(invalid(format!(
                "page {pgno} is {} bytes, expected {}",
                data.len(),
                h.page_size
            )));
        }
        if pgno == 0 || pgno > h.commit {
            return Err(invalid(format!(
                "page {pgno} outside the database of {} pages",
                h.commit
            )));
        }
        let lock = lock_pgno(h.page_size);
        if pgno == lock {
            return Err(invalid(format!("page {pgno} is the lock page")));
        }
        if h.is_snapshot() {
            let want = if self.prev + 1 == lock {
                self.prev + 2
            } else {
                self.prev + 1
            };
            if pgno != want {
                return Err(invalid(format!(
                    "snapshot page {pgno} out of sequence (expected {want})"
                )));
            }
        } else if pgno <= self.prev {
            return Err(invalid(format!(
                "page {pgno} out of order after {}",
                self.prev
            )));
        }
        let offset = self.out.len() as u64;
        let compressed = lz4_flex::block::compress(data);
        let mut head = [0u8; 10];
        head[0..4].copy_from_slice(&pgno.to_be_bytes());
        head[4..6].copy_from_slice(&PAGE_FLAG_SIZE.to_be_bytes());
        head[6..10].copy_from_slice(&(compressed.len() as u32).to_be_bytes());
        self.digest.update(&head);
        self.digest.update(data);
        self.out.extend_from_slice(&head);
        self.out.extend_from_slice(&compressed);
        self.index
            .push((pgno, offset, self.out.len() as u64 - offset));
        self.prev = pgno;
        Ok(())
    }

    /// Finishes the file and returns its bytes. Fails when a snapshot is
    /// missing pages or the file holds no page.
    pub fn finish(mut self) -> Result<Vec<u8>, LtxError> {
        let h = self.header;
        if self.index.is_empty() {
            return Err(invalid("an LTX file needs at least one page"));
        }
        if h.is_snapshot() && self.prev != h.commit {
            let ends_before_lock =
                self.prev + 1 == lock_pgno(h.page_size) && self.prev + 1 == h.commit;
            if !ends_before_lock {
                return Err(invalid(format!(
                    "snapshot ends at page {} of {}",
                    self.prev, h.commit
                )));
            }
        }
        let terminator = [0u8; 6];
        self.digest.update(&terminator);
        self.out.extend_from_slice(&terminator);
        let mut index = Vec::with_capacity(self.index.len() * 8 + 9);
        for &(pgno, off, size) in &self.index {
            put_uvarint(&mut index, u64::from(pgno));
            put_uvarint(&mut index, off);
            put_uvarint(&mut index, size);
        }
        put_uvarint(&mut index, 0);
        let len = (index.len() as u64).to_be_bytes();
        self.digest.update(&index);
        self.digest.update(&len);
        self.out.extend_from_slice(&index);
        self.out.extend_from_slice(&len);
        let post_apply = 0u64.to_be_bytes();
        self.digest.update(&post_apply);
        let checksum = CHECKSUM_FLAG | self.digest.finalize();
        self.out.extend_from_slice(&post_apply);
        self.out.extend_from_slice(&checksum.to_be_bytes());
        Ok(self.out)
    }
}

/// Decodes a whole LTX file, calling `page(pgno, data)` for each page in
/// order, and returns the header once the file checksum is verified. Pages
/// are handed out before the checksum is known: callers applying them must
/// discard their work when this fails. Fails on any format violation or a
/// checksum mismatch.
pub fn decode(
    file: &[u8],
    mut page: impl FnMut(u32, &[u8]) -> Result<(), LtxError>,
) -> Result<Header, LtxError> {
    let h = Header::parse(file)?;
    if file.len() < HEADER_SIZE + 6 + 8 + TRAILER_SIZE {
        return Err(invalid("truncated"));
    }
    let mut digest = CRC64.digest();
    digest.update(&file[..HEADER_SIZE]);
    let mut pos = HEADER_SIZE;
    let mut prev = 0u32;
    let mut count = 0usize;
    let mut buf = vec![0u8; h.page_size as usize];
    let lock = lock_pgno(h.page_size);
    loop {
        let head = file
            .get(pos..pos + 6)
            .ok_or_else(|| invalid("truncated page header"))?;
        let pgno = be32(head);
        let flags = u16::from_be_bytes([head[4], head[5]]);
        if pgno == 0 {
            if flags != 0 {
                return Err(invalid("bad end-of-pages marker"));
            }
            digest.update(head);
            pos += 6;
            break;
        }
        if flags != PAGE_FLAG_SIZE {
            return Err(invalid(format!("unsupported page flags {flags:#x}")));
        }
        if pgno > h.commit || pgno == lock || pgno <= prev {
            return Err(invalid(format!("page {pgno} out of order or range")));
        }
        if h.is_snapshot() && pgno != prev + 1 && !(prev + 1 == lock && pgno == prev + 2) {
            return Err(invalid(format!("snapshot page {pgno} out of sequence")));
        }
        let size_bytes = file
            .get(pos + 6..pos + 10)
            .ok_or_else(|| invalid("truncated page size"))?;
        let size = be32(size_bytes) as usize;
        let data = file
            .get(pos + 10..pos + 10 + size)
            .ok_or_else(|| invalid(format!("truncated page {pgno}")))?;
        let n = lz4_flex::block::decompress_into(data, &mut buf)
            .map_err(|e| invalid(format!("page {pgno} does not decompress: {e}")))?;
        if n != buf.len() {
            return Err(invalid(format!(
                "page {pgno} decompresses to {n} bytes, not {}",
                buf.len()
            )));
        }
        digest.update(&file[pos..pos + 10]);
        digest.update(&buf);
        page(pgno, &buf)?;
        prev = pgno;
        count += 1;
        pos += 10 + size;
    }
    if count == 0 {
        return Err(invalid("no pages"));
    }
    if h.is_snapshot() && prev != h.commit && !(prev + 1 == lock && prev + 1 == h.commit) {
        return Err(invalid(format!(
            "snapshot ends at page {prev} of {}",
            h.commit
        )));
    }
    // Page index: entries, zero, then its length.
    let index_start = pos;
    loop {
        let pgno = read_uvarint(file, &mut pos)?;
        if pgno == 0 {
            break;
        }
        read_uvarint(file, &mut pos)?;
        read_uvarint(file, &mut pos)?;
    }
    let len_bytes = file
        .get(pos..pos + 8)
        .ok_or_else(|| invalid("truncated page index size"))?;
    if be64(len_bytes) != (pos - index_start) as u64 {
        return Err(invalid("page index size mismatch"));
    }
    pos += 8;
    digest.update(&file[index_start..pos]);
    let trailer = file
        .get(pos..pos + TRAILER_SIZE)
        .ok_or_else(|| invalid("truncated trailer"))?;
    if pos + TRAILER_SIZE != file.len() {
        return Err(invalid("bytes after the trailer"));
    }
    let post_apply = be64(trailer);
    if h.flags & FLAG_NO_CHECKSUM != 0 && post_apply != 0 {
        return Err(invalid("post-apply checksum set on a no-checksum file"));
    }
    digest.update(&trailer[..8]);
    let computed = CHECKSUM_FLAG | digest.finalize();
    let stored = be64(&trailer[8..]);
    if stored != computed {
        return Err(LtxError::Checksum { stored, computed });
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(min: u64, max: u64, commit: u32) -> Header {
        Header {
            flags: FLAG_NO_CHECKSUM,
            page_size: 4096,
            commit,
            min_txid: min,
            max_txid: max,
            timestamp_ms: 1_700_000_000_123,
            ..Header::default()
        }
    }

    fn page(seed: u32) -> Vec<u8> {
        (0..4096u32)
            .map(|i| ((i / 7).wrapping_mul(seed + 3) % 251) as u8)
            .collect()
    }

    #[test]
    fn snapshot_round_trips() {
        let mut e = Encoder::new(header(1, 5, 3)).unwrap();
        for p in 1..=3 {
            e.page(p, &page(p)).unwrap();
        }
        let file = e.finish().unwrap();
        assert_eq!(&file[..4], b"LTX1");
        let mut got = Vec::new();
        let h = decode(&file, |p, d| {
            got.push((p, d.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(h, header(1, 5, 3));
        assert_eq!(got, (1..=3).map(|p| (p, page(p))).collect::<Vec<_>>());
        // Trailer: zero post-apply checksum, flagged file checksum.
        let t = &file[file.len() - 16..];
        assert_eq!(be64(t), 0);
        assert_ne!(be64(&t[8..]) & CHECKSUM_FLAG, 0);
    }

    #[test]
    fn snapshot_rules() {
        let mut e = Encoder::new(header(1, 1, 3)).unwrap();
        assert!(e.page(2, &page(2)).is_err(), "must start at page 1");
        e.page(1, &page(1)).unwrap();
        assert!(e.page(3, &page(3)).is_err(), "no gaps");
        e.page(2, &page(2)).unwrap();
        assert!(e.finish().is_err(), "missing page 3");
        let mut e = Encoder::new(header(1, 1, 1)).unwrap();
        assert!(e.page(1, &[0u8; 10]).is_err(), "wrong page size");
        assert!(Encoder::new(header(1, 1, 1)).unwrap().finish().is_err());
    }

    #[test]
    fn incremental_rules() {
        let mut e = Encoder::new(header(7, 7, 10)).unwrap();
        e.page(2, &page(2)).unwrap();
        assert!(e.page(2, &page(2)).is_err(), "ascending");
        assert!(e.page(11, &page(11)).is_err(), "within commit");
        e.page(9, &page(9)).unwrap();
        let file = e.finish().unwrap();
        let mut seen = Vec::new();
        let h = decode(&file, |p, _| {
            seen.push(p);
            Ok(())
        })
        .unwrap();
        assert_eq!((h.min_txid, h.max_txid, seen), (7, 7, vec![2, 9]));
        let mut big = header(1, 1, 300_000);
        big.page_size = 4096;
        let mut e = Encoder::new(big).unwrap();
        assert_eq!(lock_pgno(4096), 262_145);
        let mut inc = Encoder::new(header(2, 2, 300_000)).unwrap();
        assert!(inc.page(262_145, &page(1)).is_err(), "lock page");
        e.page(1, &page(1)).unwrap();
    }

    #[test]
    fn bad_headers_are_refused() {
        assert!(Encoder::new(header(0, 1, 1)).is_err());
        assert!(Encoder::new(header(5, 4, 1)).is_err());
        let mut h = header(1, 1, 1);
        h.page_size = 1000;
        assert!(Encoder::new(h).is_err());
        let mut h = header(1, 1, 1);
        h.flags = 0x8;
        assert!(Encoder::new(h).is_err());
    }

    #[test]
    fn checksum_detects_corruption() {
        let mut e = Encoder::new(header(3, 3, 2)).unwrap();
        e.page(2, &page(2)).unwrap();
        let file = e.finish().unwrap();
        assert!(decode(&file, |_, _| Ok(())).is_ok());
        // Flip a header byte that keeps the header valid (timestamp).
        let mut bad = file.clone();
        bad[39] ^= 1;
        assert!(matches!(
            decode(&bad, |_, _| Ok(())),
            Err(LtxError::Checksum { .. })
        ));
        // Flip the stored checksum.
        let mut bad = file.clone();
        let n = bad.len();
        bad[n - 1] ^= 0x10;
        assert!(matches!(
            decode(&bad, |_, _| Ok(())),
            Err(LtxError::Checksum { .. })
        ));
        // A post-apply checksum is refused.
        let mut bad = file.clone();
        bad[n - 16] = 1;
        assert!(decode(&bad, |_, _| Ok(())).is_err());
        // Truncation.
        assert!(decode(&file[..file.len() - 1], |_, _| Ok(())).is_err());
    }

    #[test]
    fn uvarints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            let mut pos = 0;
            assert_eq!(read_uvarint(&b, &mut pos).unwrap(), v);
            assert_eq!(pos, b.len());
        }
    }
}
