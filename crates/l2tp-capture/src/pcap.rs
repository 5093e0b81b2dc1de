//! Classic libpcap files: 24-byte global header, then 16-byte record headers
//! (24 bytes in the "modified" Kuznetzov variant) each followed by the frame.

use crate::bytes::Endian;
use crate::error::CaptureError;
use crate::frame::{fuse, Frame, LinkType, Timestamp};

pub(crate) const MAGIC_MICRO: u32 = 0xa1b2_c3d4;
pub(crate) const MAGIC_NANO: u32 = 0xa1b2_3c4d;
pub(crate) const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;
const GLOBAL_HEADER_LEN: usize = 24;

/// libpcap keeps only these bits of the link-type field; the rest carries FCS hints.
const LINKTYPE_MASK: u32 = 0x03ff_ffff;

/// Parsed pcap global header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapHeader {
    pub endian: Endian,
    /// True for the nanosecond-resolution magic.
    pub nanos: bool,
    pub version_major: u16,
    pub version_minor: u16,
    pub snaplen: u32,
    pub link_type: LinkType,
    /// Kuznetzov's patched format with 8 extra bytes per record header.
    pub modified: bool,
}

/// Zero-copy iterator over the frames of a pcap file held in memory.
#[derive(Clone, Debug)]
pub struct PcapReader<'a> {
    buf: &'a [u8],
    header: PcapHeader,
    pos: usize,
    index: u64,
    done: bool,
}

impl<'a> PcapReader<'a> {
    /// Checks the global header; frames are validated lazily by the iterator.
    pub fn new(buf: &'a [u8]) -> Result<PcapReader<'a>, CaptureError> {
        let truncated = || CaptureError::Truncated {
            what: "pcap global header",
            offset: 0,
            needed: GLOBAL_HEADER_LEN,
            available: buf.len(),
        };
        let &magic = buf.first_chunk::<4>().ok_or_else(truncated)?;
        let le = u32::from_le_bytes(magic);
        let be = u32::from_be_bytes(magic);
        let (endian, value) = match (le, be) {
            (MAGIC_MICRO | MAGIC_NANO | MAGIC_MODIFIED, _) => (Endian::Little, le),
            (_, MAGIC_MICRO | MAGIC_NANO | MAGIC_MODIFIED) => (Endian::Big, be),
            _ => return Err(CaptureError::UnknownFormat { magic }),
        };
        if buf.len() < GLOBAL_HEADER_LEN {
            return Err(truncated());
        }
        let rd16 = |at| endian.u16(buf, at).unwrap_or(0);
        let rd32 = |at| endian.u32(buf, at).unwrap_or(0);
        let version_major = rd16(4);
        let version_minor = rd16(6);
        if version_major != 2 {
            return Err(CaptureError::BadField {
                what: "pcap global header",
                field: "major version",
                offset: 4,
                value: u64::from(version_major),
                reason: "is not 2",
            });
        }
        let header = PcapHeader {
            endian,
            nanos: value == MAGIC_NANO,
            version_major,
            version_minor,
            snaplen: rd32(16),
            link_type: LinkType(rd32(20) & LINKTYPE_MASK),
            modified: value == MAGIC_MODIFIED,
        };
        Ok(PcapReader {
            buf,
            header,
            pos: GLOBAL_HEADER_LEN,
            index: 0,
            done: false,
        })
    }

    pub fn header(&self) -> &PcapHeader {
        &self.header
    }

    fn next_frame(&mut self) -> Result<Option<Frame<'a>>, CaptureError> {
        let rest_len = self.buf.len().saturating_sub(self.pos);
        if rest_len == 0 {
            return Ok(None);
        }
        let hdr_len = if self.header.modified { 24 } else { 16 };
        let start = self.pos;
        let Some(record) = self.buf.get(start..start + hdr_len) else {
            return Err(CaptureError::Truncated {
                what: "pcap record header",
                offset: start,
                needed: hdr_len,
                available: rest_len,
            });
        };
        // `record` holds at least the four fields read here.
        let rd32 = |at| self.header.endian.u32(record, at).unwrap_or(0);
        let (ts_sec, ts_frac, incl_len, orig_len) = (rd32(0), rd32(4), rd32(8), rd32(12));
        let data_start = start + hdr_len;
        let incl = incl_len as usize;
        let Some(data) = data_start
            .checked_add(incl)
            .and_then(|end| self.buf.get(data_start..end))
        else {
            return Err(CaptureError::Truncated {
                what: "pcap packet data",
                offset: data_start,
                needed: incl,
                available: self.buf.len() - data_start,
            });
        };
        self.pos = data_start + incl;
        self.index += 1;
        let units = if self.header.nanos {
            1_000_000_000
        } else {
            1_000_000
        };
        // Fraction fields >= one second exist in the wild; fold the excess into seconds.
        let ticks = u64::from(ts_sec) * units + u64::from(ts_frac);
        Ok(Some(Frame {
            index: self.index,
            timestamp: Timestamp::from_ticks(ticks, units, 0),
            link_type: self.header.link_type,
            interface_id: 0,
            orig_len,
            data,
        }))
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<Frame<'a>, CaptureError>;

    /// Yields each frame; after an error yields it once and then stops.
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.next_frame();
        fuse(&mut self.done, step)
    }
}

impl core::iter::FusedIterator for PcapReader<'_> {}
