//! The associated files of a TFLite model with metadata (labels, vocabularies).
//!
//! TFLite's metadata writer appends them to the flatbuffer as a ZIP archive, so the whole
//! `.tflite` is also a valid ZIP file. The writer stores the entries uncompressed, and that is
//! all this reader handles: the end-of-central-directory record, the central directory and each
//! entry's local header, every length and offset bounds-checked, the CRC-32 verified. A
//! compressed, encrypted or ZIP64 entry is an error naming it. This keeps the crate free of a
//! ZIP dependency (the `zip` crate with default features off still brings in five crates, one
//! of them a proc macro) for what is a few hundred bytes of parsing.

use crate::{is_tflite, TfliteError};

const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const EOCD_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

/// The files associated with a model through its metadata, as `(name, contents)` in archive
/// order; empty for a model without an appended archive.
///
/// # Errors
/// [`TfliteError::NotTflite`] when `bytes` is not a TFLite file; [`TfliteError::Archive`] when
/// the appended archive is damaged, or an entry is compressed, encrypted or ZIP64.
pub fn associated_files(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, TfliteError> {
    if !is_tflite(bytes) {
        return Err(TfliteError::NotTflite {
            reason: "bytes 4..8 are not the identifier \"TFL3\"".to_owned(),
        });
    }
    let Some(eocd) = find_eocd(bytes) else {
        return Ok(Vec::new());
    };
    let entries = usize::from(u16_at(bytes, eocd + 10).unwrap_or(0));
    let dir_size = u32_at(bytes, eocd + 12).unwrap_or(0);
    let dir_offset = u32_at(bytes, eocd + 16).unwrap_or(0);
    if dir_size == u32::MAX || dir_offset == u32::MAX || entries == usize::from(u16::MAX) {
        return Err(archive("it is a ZIP64 archive, which this reader does not support"));
    }
    // Writers that append an archive to an existing file either record offsets from the
    // start of the file (TFLite's writer) or from the start of the archive; the gap between
    // where the directory says it ends and where the end record is tells them apart.
    let dir_end = u64::from(dir_offset) + u64::from(dir_size);
    let shift = (eocd as u64)
        .checked_sub(dir_end)
        .ok_or_else(|| archive("the central directory runs past the end-of-directory record"))?;
    let at = |offset: u32| usize::try_from(u64::from(offset) + shift).unwrap_or(usize::MAX);

    let mut files = Vec::with_capacity(entries.min(64));
    let mut pos = at(dir_offset);
    for entry in 0..entries {
        let header = bytes
            .get(pos..pos.saturating_add(CENTRAL_LEN))
            .filter(|h| u32_at(h, 0) == Some(CENTRAL_SIGNATURE))
            .ok_or_else(|| archive(format!("central directory entry {entry} at byte {pos} is missing")))?;
        let field16 = |o| usize::from(u16_at(header, o).unwrap_or(0));
        let field32 = |o| u32_at(header, o).unwrap_or(0);
        let (flags, method, crc, size, uncompressed) = (field16(8), field16(10), field32(16), field32(20), field32(24));
        let (name_len, extra_len, comment_len) = (field16(28), field16(30), field16(32));
        let local = at(field32(42));
        let name_start = pos + CENTRAL_LEN;
        let name = bytes
            .get(name_start..name_start + name_len)
            .ok_or_else(|| archive(format!("the name of entry {entry} runs past the end of the file")))?;
        let name = String::from_utf8_lossy(name).into_owned();
        if flags & 1 != 0 {
            return Err(archive(format!("entry `{name}` is encrypted")));
        }
        if method != 0 || size != uncompressed {
            return Err(archive(format!(
                "entry `{name}` is compressed (method {method}); only stored entries can be read"
            )));
        }
        let local_header = bytes
            .get(local..local.saturating_add(LOCAL_LEN))
            .filter(|h| u32_at(h, 0) == Some(LOCAL_SIGNATURE))
            .ok_or_else(|| archive(format!("the local header of entry `{name}` at byte {local} is missing")))?;
        let skip =
            usize::from(u16_at(local_header, 26).unwrap_or(0)) + usize::from(u16_at(local_header, 28).unwrap_or(0));
        let start = local + LOCAL_LEN + skip;
        let data = usize::try_from(size)
            .ok()
            .and_then(|len| bytes.get(start..start.checked_add(len)?))
            .ok_or_else(|| {
                archive(format!(
                    "the data of entry `{name}` ({size} bytes) runs past the end of the file"
                ))
            })?;
        if crc32(data) != crc {
            return Err(archive(format!("entry `{name}` fails its CRC-32 check (damaged file)")));
        }
        files.push((name, data.to_vec()));
        pos = name_start + name_len + extra_len + comment_len;
    }
    Ok(files)
}

/// The class names of a classifier with metadata: the lines of its first associated `.txt`
/// file (TFLite's metadata stores the label file that way), or `None` when it has none.
///
/// The label file's role is recorded in the metadata flatbuffer, which this crate does not
/// decode; taking the first `.txt` file is right for TFLite's image classifiers, which carry
/// exactly one.
///
/// # Errors
/// As [`associated_files`], and [`TfliteError::Archive`] if the text is not UTF-8.
pub fn labels(bytes: &[u8]) -> Result<Option<Vec<String>>, TfliteError> {
    let files = associated_files(bytes)?;
    let Some((name, text)) = files.into_iter().find(|(name, _)| name.ends_with(".txt")) else {
        return Ok(None);
    };
    let text = String::from_utf8(text).map_err(|e| archive(format!("label file `{name}` is not UTF-8 text ({e})")))?;
    Ok(Some(text.lines().map(str::to_owned).collect()))
}

fn archive(reason: impl Into<String>) -> TfliteError {
    TfliteError::Archive { reason: reason.into() }
}

/// The end-of-central-directory record: the last one whose comment runs exactly to the end
/// of the file (the comment may hold the signature bytes, the length check rules that out).
fn find_eocd(bytes: &[u8]) -> Option<usize> {
    let last = bytes.len().checked_sub(EOCD_LEN)?;
    let first = last.saturating_sub(usize::from(u16::MAX));
    (first..=last).rev().find(|&pos| {
        u32_at(bytes, pos) == Some(EOCD_SIGNATURE)
            && u16_at(bytes, pos + 20).map(|len| pos + EOCD_LEN + usize::from(len)) == Some(bytes.len())
    })
}

fn u16_at(bytes: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_le_bytes(*bytes.get(pos..)?.first_chunk()?))
}

fn u32_at(bytes: &[u8], pos: usize) -> Option<u32> {
    Some(u32::from_le_bytes(*bytes.get(pos..)?.first_chunk()?))
}

/// CRC-32 (IEEE, reflected), bit by bit: label files are kilobytes, a table is not worth it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TFLite-looking prefix followed by a stored ZIP archive of `files`, with absolute
    /// offsets, as TFLite's metadata writer produces.
    fn with_archive(prefix: &[u8], files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = prefix.to_vec();
        let mut central = Vec::new();
        for (name, data) in files {
            let offset = out.len() as u32;
            let crc = crc32(data);
            let len = data.len() as u32;
            out.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(&CENTRAL_SIGNATURE.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&len.to_le_bytes());
            central.extend_from_slice(&len.to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let dir_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&EOCD_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&dir_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    const PREFIX: &[u8] = b"\x10\0\0\0TFL3 flatbuffer bytes";

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn reads_stored_entries_and_labels() {
        let bytes = with_archive(
            PREFIX,
            &[
                ("model.json", b"{}"),
                ("labels.txt", b"background\ntench\r\ngoldfish\n"),
            ],
        );
        let files = associated_files(&bytes).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0], ("model.json".to_owned(), b"{}".to_vec()));
        assert_eq!(labels(&bytes).unwrap().unwrap(), ["background", "tench", "goldfish"]);
    }

    #[test]
    fn a_model_without_archive_has_no_files() {
        assert!(associated_files(PREFIX).unwrap().is_empty());
        assert_eq!(labels(PREFIX).unwrap(), None);
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let bytes = with_archive(PREFIX, &[("labels.txt", b"a\nb\n")]);
        let data_at = bytes.windows(4).position(|w| w == b"a\nb\n").unwrap();
        let mut bad_crc = bytes.clone();
        bad_crc[data_at] = b'x';
        let e = associated_files(&bad_crc).unwrap_err().to_string();
        assert!(e.contains("`labels.txt` fails its CRC-32"), "{e}");

        let mut compressed = bytes.clone();
        let central = bytes
            .windows(4)
            .rposition(|w| w == CENTRAL_SIGNATURE.to_le_bytes())
            .unwrap();
        compressed[central + 10] = 8;
        let e = associated_files(&compressed).unwrap_err().to_string();
        assert!(e.contains("`labels.txt` is compressed (method 8)"), "{e}");

        for len in 0..bytes.len() {
            let _ = associated_files(&bytes[..len]);
        }
        for i in 0..bytes.len() {
            for v in [0u8, 0xff, 0x7f] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = labels(&b);
            }
        }
    }
}
