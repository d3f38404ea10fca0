//! LTX v1 files as Litestream 0.5 writes and reads them (big-endian
//! throughout): a 100-byte header, page frames (page header, compressed size,
//! LZ4 *block*), a six-byte zero terminator, a page index of uvarints, and a
//! 16-byte trailer whose file checksum is CRC-64/GO-ISO with bit 63 set.
//!
//! Quant writes every file with [`FLAG_NO_CHECKSUM`] and zero database
//! checksums, as Litestream does; the decoder verifies the file checksum, so a
//! corrupted object is refused on restore.

use crc::{CRC_64_GO_ISO, Crc, Table};
use std::io::{Read, Write};

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

// Slice-by-16 tables: several GB/s, so a 1 GB restore is not bound by the checksum.
const CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_GO_ISO);

/// Why an LTX file could not be written or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LtxError {
    /// The header or a page breaks a rule of the format.
    #[error("invalid ltx file: {0}")]
    Invalid(String),
    /// Reading or writing the file failed.
    #[error("ltx i/o: {0}")]
    Io(String),
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

/// Writes one LTX file, page by page, to memory or any writer, enforcing the
/// snapshot and ordering rules. Only the page index (a few bytes per page)
/// is held until the end.
pub struct Encoder<W: Write = Vec<u8>> {
    header: Header,
    out: W,
    written: u64,
    digest: crc::Digest<'static, u64, Table<16>>,
    index: Vec<(u32, u64, u64)>,
    prev: u32,
    scratch: Vec<u8>,
}

impl Encoder<Vec<u8>> {
    /// Starts a file in memory with `header`. Fails when the header is invalid.
    pub fn new(header: Header) -> Result<Encoder<Vec<u8>>, LtxError> {
        Encoder::to_writer(header, Vec::with_capacity(HEADER_SIZE + 4096))
    }
}

fn io_err(e: std::io::Error) -> LtxError {
    LtxError::Io(e.to_string())
}

impl<W: Write> Encoder<W> {
    /// Starts a file written to `out`. Fails when the header is invalid or
    /// cannot be written.
    pub fn to_writer(header: Header, mut out: W) -> Result<Encoder<W>, LtxError> {
        header.validate()?;
        let bytes = header.to_bytes();
        let mut digest = CRC64.digest();
        digest.update(&bytes);
        out.write_all(&bytes).map_err(io_err)?;
        // LZ4's worst case for one page (the bound is small: page + page/255 + 16).
        let bound = lz4::block::compress_bound(header.page_size as usize).map_err(io_err)?;
        let scratch = vec![0u8; bound];
        Ok(Encoder {
            header,
            out,
            written: HEADER_SIZE as u64,
            digest,
            index: Vec::new(),
            prev: 0,
            scratch,
        })
    }

    /// Adds page `pgno` (exactly one page of data). Pages must come in
    /// ascending order, never the lock page, none past `commit`; a snapshot
    /// must hold every page from 1. Fails naming the broken rule, or when
    /// the writer fails.
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
        let offset = self.written;
        // The reference LZ4 library (the C code Litestream's Go port follows):
        // pages come out ~5 % smaller than with lz4_flex's block compressor,
        // which is what a replica uploads.
        let n = lz4::block::compress_to_buffer(
            data,
            Some(lz4::block::CompressionMode::DEFAULT),
            false,
            &mut self.scratch,
        )
        .map_err(|e| invalid(format!("page {pgno} does not compress: {e}")))?;
        let mut head = [0u8; 10];
        head[0..4].copy_from_slice(&pgno.to_be_bytes());
        head[4..6].copy_from_slice(&PAGE_FLAG_SIZE.to_be_bytes());
        head[6..10].copy_from_slice(&(n as u32).to_be_bytes());
        self.digest.update(&head);
        self.digest.update(data);
        self.out.write_all(&head).map_err(io_err)?;
        self.out.write_all(&self.scratch[..n]).map_err(io_err)?;
        self.written += 10 + n as u64;
        self.index.push((pgno, offset, self.written - offset));
        self.prev = pgno;
        Ok(())
    }

    /// Finishes the file and returns the writer. Fails when a snapshot is
    /// missing pages, the file holds no page, or the writer fails.
    pub fn finish(mut self) -> Result<W, LtxError> {
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
        let mut tail = Vec::with_capacity(self.index.len() * 8 + 6 + 9 + 8 + TRAILER_SIZE);
        tail.extend_from_slice(&[0u8; 6]);
        let index_start = tail.len();
        for &(pgno, off, size) in &self.index {
            put_uvarint(&mut tail, u64::from(pgno));
            put_uvarint(&mut tail, off);
            put_uvarint(&mut tail, size);
        }
        put_uvarint(&mut tail, 0);
        let len = ((tail.len() - index_start) as u64).to_be_bytes();
        tail.extend_from_slice(&len);
        tail.extend_from_slice(&0u64.to_be_bytes()); // post-apply checksum
        self.digest.update(&tail);
        let checksum = CHECKSUM_FLAG | self.digest.finalize();
        tail.extend_from_slice(&checksum.to_be_bytes());
        self.out.write_all(&tail).map_err(io_err)?;
        self.out.flush().map_err(io_err)?;
        Ok(self.out)
    }
}

/// Reads one LTX file from any reader, page by page, holding one page at a
/// time; the file checksum is verified by [`Decoder::finish`]. Pages are
/// handed out before the checksum is known: callers applying them must
/// discard their work when `finish` (or a page) fails.
pub struct Decoder<R: Read> {
    r: R,
    header: Header,
    digest: crc::Digest<'static, u64, Table<16>>,
    prev: u32,
    count: usize,
    page: Vec<u8>,
    compressed: Vec<u8>,
    ended: bool,
}

fn read_exact_or(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), LtxError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            invalid(format!("truncated {what}"))
        } else {
            io_err(e)
        }
    })
}

impl<R: Read> Decoder<R> {
    /// Reads and checks the header. Fails on a bad header or a read error.
    pub fn new(mut r: R) -> Result<Decoder<R>, LtxError> {
        let mut head = [0u8; HEADER_SIZE];
        read_exact_or(&mut r, &mut head, "header")?;
        let header = Header::parse(&head)?;
        let mut digest = CRC64.digest();
        digest.update(&head);
        Ok(Decoder {
            r,
            header,
            digest,
            prev: 0,
            count: 0,
            page: vec![0u8; header.page_size as usize],
            compressed: Vec::new(),
            ended: false,
        })
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next page, or `None` after the last one (then call
    /// [`Decoder::finish`]). Fails on any format violation or read error.
    pub fn next_page(&mut self) -> Result<Option<(u32, &[u8])>, LtxError> {
        Ok(self.advance()?.map(|p| (p, self.page.as_slice())))
    }

    /// The page read by the last successful [`Decoder::advance`].
    pub fn page(&self) -> &[u8] {
        &self.page
    }

    /// Reads the next page (see [`Decoder::page`]) and returns its number,
    /// or `None` after the last one. Fails on any format violation or read
    /// error.
    pub fn advance(&mut self) -> Result<Option<u32>, LtxError> {
        if self.ended {
            return Ok(None);
        }
        let h = self.header;
        let mut head = [0u8; 6];
        read_exact_or(&mut self.r, &mut head, "page header")?;
        let pgno = be32(&head);
        let flags = u16::from_be_bytes([head[4], head[5]]);
        if pgno == 0 {
            if flags != 0 {
                return Err(invalid("bad end-of-pages marker"));
            }
            self.digest.update(&head);
            self.ended = true;
            return Ok(None);
        }
        if flags != PAGE_FLAG_SIZE {
            return Err(invalid(format!("unsupported page flags {flags:#x}")));
        }
        let lock = lock_pgno(h.page_size);
        let prev = self.prev;
        if pgno > h.commit || pgno == lock || pgno <= prev {
            return Err(invalid(format!("page {pgno} out of order or range")));
        }
        if h.is_snapshot() && pgno != prev + 1 && !(prev + 1 == lock && pgno == prev + 2) {
            return Err(invalid(format!("snapshot page {pgno} out of sequence")));
        }
        let mut size_bytes = [0u8; 4];
        read_exact_or(&mut self.r, &mut size_bytes, "page size")?;
        let size = be32(&size_bytes) as usize;
        if size > lz4_flex::block::get_maximum_output_size(self.page.len()) {
            return Err(invalid(format!("page {pgno} is too large compressed")));
        }
        self.compressed.resize(size, 0);
        read_exact_or(&mut self.r, &mut self.compressed, "page")?;
        let n = lz4_flex::block::decompress_into(&self.compressed, &mut self.page)
            .map_err(|e| invalid(format!("page {pgno} does not decompress: {e}")))?;
        if n != self.page.len() {
            return Err(invalid(format!(
                "page {pgno} decompresses to {n} bytes, not {}",
                self.page.len()
            )));
        }
        self.digest.update(&head);
        self.digest.update(&size_bytes);
        self.digest.update(&self.page);
        self.prev = pgno;
        self.count += 1;
        Ok(Some(pgno))
    }

    /// Reads the page index and the trailer after the last page and verifies
    /// the file checksum; returns the header. Fails on any format violation,
    /// a checksum mismatch, or when pages are left unread.
    pub fn finish(mut self) -> Result<Header, LtxError> {
        if !self.ended {
            return Err(invalid("pages left unread"));
        }
        let h = self.header;
        if self.count == 0 {
            return Err(invalid("no pages"));
        }
        let lock = lock_pgno(h.page_size);
        let prev = self.prev;
        if h.is_snapshot() && prev != h.commit && !(prev + 1 == lock && prev + 1 == h.commit) {
            return Err(invalid(format!(
                "snapshot ends at page {prev} of {}",
                h.commit
            )));
        }
        let mut rest = Vec::new();
        self.r.read_to_end(&mut rest).map_err(io_err)?;
        // Page index: entries, zero, then its length.
        let mut pos = 0;
        loop {
            let pgno = read_uvarint(&rest, &mut pos)?;
            if pgno == 0 {
                break;
            }
            read_uvarint(&rest, &mut pos)?;
            read_uvarint(&rest, &mut pos)?;
        }
        let len_bytes = rest
            .get(pos..pos + 8)
            .ok_or_else(|| invalid("truncated page index size"))?;
        if be64(len_bytes) != pos as u64 {
            return Err(invalid("page index size mismatch"));
        }
        pos += 8;
        self.digest.update(&rest[..pos]);
        let trailer = rest
            .get(pos..pos + TRAILER_SIZE)
            .ok_or_else(|| invalid("truncated trailer"))?;
        if pos + TRAILER_SIZE != rest.len() {
            return Err(invalid("bytes after the trailer"));
        }
        let post_apply = be64(trailer);
        if h.flags & FLAG_NO_CHECKSUM != 0 && post_apply != 0 {
            return Err(invalid("post-apply checksum set on a no-checksum file"));
        }
        self.digest.update(&trailer[..8]);
        let computed = CHECKSUM_FLAG | self.digest.finalize();
        let stored = be64(&trailer[8..]);
        if stored != computed {
            return Err(LtxError::Checksum { stored, computed });
        }
        Ok(h)
    }
}

/// Decodes a whole LTX file held in memory, calling `page(pgno, data)` for
/// each page in order, and returns the header once the file checksum is
/// verified (see [`Decoder`]). Fails on any format violation or a checksum
/// mismatch.
pub fn decode(
    file: &[u8],
    mut page: impl FnMut(u32, &[u8]) -> Result<(), LtxError>,
) -> Result<Header, LtxError> {
    let mut d = Decoder::new(file)?;
    while let Some((pgno, data)) = d.next_page()? {
        page(pgno, data)?;
    }
    d.finish()
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
