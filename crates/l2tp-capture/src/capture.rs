//! Format sniffing, so callers can hand over any file's bytes.

use crate::error::CaptureError;
use crate::frame::Frame;
use crate::pcap::{PcapReader, MAGIC_MICRO, MAGIC_MODIFIED, MAGIC_NANO};
use crate::pcapng::{PcapngReader, BLOCK_SHB};

/// Which container a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Pcap,
    Pcapng,
}

/// Guesses the format from the first four bytes.
pub fn detect_format(buf: &[u8]) -> Result<Format, CaptureError> {
    let &magic = buf.first_chunk::<4>().ok_or(CaptureError::Truncated {
        what: "capture file magic number",
        offset: 0,
        needed: 4,
        available: buf.len(),
    })?;
    let le = u32::from_le_bytes(magic);
    let be = u32::from_be_bytes(magic);
    if le == BLOCK_SHB {
        return Ok(Format::Pcapng);
    }
    for v in [le, be] {
        if matches!(v, MAGIC_MICRO | MAGIC_NANO | MAGIC_MODIFIED) {
            return Ok(Format::Pcap);
        }
    }
    Err(CaptureError::UnknownFormat { magic })
}

/// A reader for either format; iterate it to get frames in file order.
#[derive(Clone, Debug)]
pub enum CaptureReader<'a> {
    Pcap(PcapReader<'a>),
    Pcapng(PcapngReader<'a>),
}

impl<'a> CaptureReader<'a> {
    /// Detects the format and validates the file header.
    pub fn new(buf: &'a [u8]) -> Result<CaptureReader<'a>, CaptureError> {
        Ok(match detect_format(buf)? {
            Format::Pcap => CaptureReader::Pcap(PcapReader::new(buf)?),
            Format::Pcapng => CaptureReader::Pcapng(PcapngReader::new(buf)?),
        })
    }

    pub fn format(&self) -> Format {
        match self {
            CaptureReader::Pcap(_) => Format::Pcap,
            CaptureReader::Pcapng(_) => Format::Pcapng,
        }
    }
}

impl<'a> Iterator for CaptureReader<'a> {
    type Item = Result<Frame<'a>, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            CaptureReader::Pcap(r) => r.next(),
            CaptureReader::Pcapng(r) => r.next(),
        }
    }
}

impl core::iter::FusedIterator for CaptureReader<'_> {}
