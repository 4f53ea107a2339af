//! Zeroes the pages of a restored data directory that no tablespace uses, before its server first
//! starts.
//!
//! A backup copies InnoDB files page for page, free pages included: undo logs purged after the
//! transaction that wrote them, pages a table gave back, and the doublewrite buffer keep the
//! plaintext they last held. Background encryption (`innodb_encryption_threads`) rewrites only
//! the pages in use, and `innodb_immediate_scrub_data_uncompressed` only the pages freed while it
//! is on, so a restored server would keep the source's plaintext in those pages for good. Aurora
//! encrypts every block of the volume a restore writes; the sandbox gets there by zeroing,
//! offline, every page a file's own extent descriptors mark free, and the doublewrite buffer's
//! pages (a prepared backup needs no torn-page repair, and InnoDB skips a doublewrite page whose
//! LSN is 0).
//!
//! The on-disk layout read here is InnoDB's (`fsp0fsp.h`, `trx0sys.h`) for uncompressed 16 KiB
//! pages, the sandbox's page size; a file in any other format is left as it is, and the marker
//! scan of the demo and the tests would then find what it holds.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{SandboxError, SandboxResult};

/// `innodb_page_size`, the sandbox's default.
const PAGE: u64 = 16 * 1024;
/// Pages per extent at 16 KiB (`FSP_EXTENT_SIZE`).
const EXTENT: u64 = 64;
/// The FSP header starts after the page header (`FIL_PAGE_DATA`).
const FSP_HEADER: usize = 38;
const FSP_SIZE: usize = FSP_HEADER + 8;
const FSP_FREE_LIMIT: usize = FSP_HEADER + 12;
const FSP_SPACE_FLAGS: usize = FSP_HEADER + 16;
/// Extent descriptors follow the 112-byte FSP header, 40 bytes each: id (8), list node (12),
/// state (4), then two bits per page, the first of which is set while the page is free.
const XDES_ARRAY: usize = FSP_HEADER + 112;
const XDES_SIZE: usize = 40;
const XDES_STATE: usize = 20;
const XDES_BITMAP: usize = 24;
/// States an initialised extent may be in (free, free fragment, full fragment, segment's and,
/// in MariaDB, a segment's fragment); anything else is left alone.
const XDES_STATES: std::ops::RangeInclusive<u32> = 1..=5;
/// The system tablespace's TRX_SYS page and, near its end, the doublewrite buffer's header:
/// a segment header (10), a magic number, then the first page of each of its two blocks.
const TRX_SYS_PAGE: u64 = 5;
const DOUBLEWRITE: usize = PAGE as usize - 200;
const DOUBLEWRITE_MAGIC: u32 = 536_853_855;

/// What [`zero_unused_pages`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scrubbed {
    pub files: usize,
    pub pages_zeroed: u64,
    /// Files not in the layout this reads (left as they are).
    pub skipped: Vec<PathBuf>,
}

/// Zeroes every free page of every InnoDB tablespace file under `data_dir` (the system
/// tablespace, undo tablespaces, `*.ibd`), and the system tablespace's doublewrite buffer. The
/// server must not be running.
pub fn zero_unused_pages(data_dir: &Path) -> SandboxResult<Scrubbed> {
    let mut scrubbed = Scrubbed::default();
    for path in tablespace_files(data_dir)? {
        let context = format!("scrubbing {}", path.display());
        let file = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(SandboxError::io(context.clone()))?;
        match zero_file(&file).map_err(SandboxError::io(context.clone()))? {
            Some(pages) => {
                scrubbed.files += 1;
                scrubbed.pages_zeroed += pages;
                file.sync_all().map_err(SandboxError::io(context))?;
            }
            None => scrubbed.skipped.push(path),
        }
    }
    Ok(scrubbed)
}

/// `ibdata*`, `undo*` and every `*.ibd` below `dir`.
fn tablespace_files(dir: &Path) -> SandboxResult<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(SandboxError::io(format!("reading {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(SandboxError::io(format!("reading {}", dir.display())))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            out.extend(tablespace_files(&path)?);
        } else if name.starts_with("ibdata") || name.starts_with("undo") || name.ends_with(".ibd") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Zeroes one file's free pages; `None` if it is not an uncompressed 16 KiB tablespace.
fn zero_file(file: &File) -> std::io::Result<Option<u64>> {
    let pages_in_file = file.metadata()?.len() / PAGE;
    if pages_in_file == 0 || file.metadata()?.len() % PAGE != 0 {
        return Ok(None);
    }
    let mut page = vec![0u8; PAGE as usize];
    file.read_exact_at(&mut page, 0)?;
    if !is_uncompressed_16k(u32_at(&page, FSP_SPACE_FLAGS)) {
        return Ok(None);
    }
    let space_id = u32_at(&page, FSP_HEADER);
    let size = u64::from(u32_at(&page, FSP_SIZE)).min(pages_in_file);
    let free_limit = u64::from(u32_at(&page, FSP_FREE_LIMIT)).min(size);
    let mut to_zero = Vec::new();
    // One descriptor page per PAGE pages, each describing the PAGE pages from itself.
    let mut descriptor = 0;
    while descriptor < free_limit {
        if descriptor != 0 {
            file.read_exact_at(&mut page, descriptor * PAGE)?;
        }
        to_zero.extend(free_pages(&page, descriptor, free_limit));
        descriptor += PAGE;
    }
    if space_id == 0 {
        to_zero.extend(doublewrite_pages(file, size)?);
    }
    let zeroes = vec![0u8; PAGE as usize];
    for number in &to_zero {
        file.write_all_at(&zeroes, number * PAGE)?;
    }
    Ok(Some(to_zero.len() as u64))
}

/// The pages `descriptor_page` (the page numbered `first`) marks free, below `free_limit`.
fn free_pages(descriptor_page: &[u8], first: u64, free_limit: u64) -> Vec<u64> {
    let mut out = Vec::new();
    for extent in 0..PAGE / EXTENT {
        let start = first + extent * EXTENT;
        if start >= free_limit {
            break;
        }
        let entry = XDES_ARRAY + extent as usize * XDES_SIZE;
        if !XDES_STATES.contains(&u32_at(descriptor_page, entry + XDES_STATE)) {
            continue;
        }
        for offset in 0..EXTENT {
            let number = start + offset;
            // The descriptor page and the change buffer bitmap after it are always in use.
            if number >= free_limit || number == first || number == first + 1 {
                continue;
            }
            let bit = offset as usize * 2;
            let byte = descriptor_page[entry + XDES_BITMAP + bit / 8];
            if (byte >> (bit % 8)) & 1 == 1 {
                out.push(number);
            }
        }
    }
    out
}

/// The doublewrite buffer's two blocks, as the TRX_SYS page names them.
fn doublewrite_pages(file: &File, size: u64) -> std::io::Result<Vec<u64>> {
    if size <= TRX_SYS_PAGE {
        return Ok(Vec::new());
    }
    let mut page = vec![0u8; PAGE as usize];
    file.read_exact_at(&mut page, TRX_SYS_PAGE * PAGE)?;
    if u32_at(&page, DOUBLEWRITE + 10) != DOUBLEWRITE_MAGIC {
        return Ok(Vec::new());
    }
    let blocks = [
        u64::from(u32_at(&page, DOUBLEWRITE + 14)),
        u64::from(u32_at(&page, DOUBLEWRITE + 18)),
    ];
    Ok(blocks
        .iter()
        .flat_map(|first| *first..first + EXTENT)
        .filter(|number| *number > TRX_SYS_PAGE && *number < size)
        .collect())
}

/// `FSP_SPACE_FLAGS` of an uncompressed 16 KiB tablespace: in MariaDB's `full_crc32` format
/// (marker bit 4) the page size is bits 0–3 (5: 16 KiB); in the older format bits 1–4 give the
/// compressed page size (0: none) and bits 6–9 the page size (0 or 5: 16 KiB).
fn is_uncompressed_16k(flags: u32) -> bool {
    if flags & (1 << 4) != 0 {
        return flags & 0xf == 5 && flags & (0b111 << 5) == 0;
    }
    let zip = (flags >> 1) & 0xf;
    let page = (flags >> 6) & 0xf;
    zip == 0 && (page == 0 || page == 5)
}

fn u32_at(page: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes([
        page[offset],
        page[offset + 1],
        page[offset + 2],
        page[offset + 3],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A descriptor page whose first extent is a fragment extent with pages 0–2 in use and the
    /// rest free, and whose second extent is wholly free.
    fn descriptor_page() -> Vec<u8> {
        let mut page = vec![0u8; PAGE as usize];
        for (extent, state, used) in [(0usize, 2u32, 3u64), (1, 1, 0)] {
            let entry = XDES_ARRAY + extent * XDES_SIZE;
            page[entry + XDES_STATE..entry + XDES_STATE + 4].copy_from_slice(&state.to_be_bytes());
            for offset in used..EXTENT {
                let bit = offset as usize * 2;
                page[entry + XDES_BITMAP + bit / 8] |= 1 << (bit % 8);
            }
        }
        page
    }

    #[test]
    fn free_pages_are_those_the_descriptor_marks_free_below_the_free_limit() {
        let page = descriptor_page();
        let free = free_pages(&page, 0, 2 * EXTENT);
        assert_eq!(free.first(), Some(&3));
        assert_eq!(free.len() as u64, (EXTENT - 3) + EXTENT);
        // Only what the free limit covers; an uninitialised third extent is never touched.
        assert_eq!(free_pages(&page, 0, 70).last(), Some(&69));
        assert!(free_pages(&page, 0, 2 * EXTENT)
            .iter()
            .all(|p| *p < 2 * EXTENT));
    }

    #[test]
    fn the_descriptor_and_bitmap_pages_are_never_zeroed() {
        let mut page = descriptor_page();
        // Even if the bitmap (wrongly) says they are free.
        page[XDES_ARRAY + XDES_BITMAP] = 0xff;
        let free = free_pages(&page, 0, EXTENT);
        assert!(!free.contains(&0) && !free.contains(&1), "{free:?}");
        assert!(free.contains(&2));
    }

    #[test]
    fn only_uncompressed_16k_spaces_are_read() {
        assert!(is_uncompressed_16k(0x15)); // full_crc32, 16 KiB
        assert!(!is_uncompressed_16k(0x13)); // full_crc32, 4 KiB
        assert!(is_uncompressed_16k(0x21)); // older format, atomic blobs, default page size
        assert!(!is_uncompressed_16k(0x21 | (4 << 1))); // ROW_FORMAT=COMPRESSED, 8 KiB
        assert!(!is_uncompressed_16k(0x21 | (3 << 6))); // 4 KiB pages
    }

    #[test]
    fn files_not_made_of_whole_pages_are_skipped() {
        let dir = std::env::temp_dir().join(format!("aurora-scrub-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("odd.ibd"), vec![7u8; 100]).unwrap();
        let scrubbed = zero_unused_pages(&dir).unwrap();
        assert_eq!(scrubbed.files, 0);
        assert_eq!(scrubbed.skipped, vec![dir.join("odd.ibd")]);
        assert_eq!(std::fs::read(dir.join("odd.ibd")).unwrap(), vec![7u8; 100]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
