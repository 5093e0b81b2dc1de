//! pcapng files: a sequence of sections, each a Section Header Block (which
//! fixes the byte order) followed by Interface Description Blocks and packet
//! blocks (Enhanced, Simple and the obsolete Packet Block). Other block types
//! are skipped.

use crate::bytes::Endian;
use crate::error::CaptureError;
use crate::frame::{fuse, Frame, LinkType, Timestamp};

pub(crate) const BLOCK_SHB: u32 = 0x0a0d_0d0a;
pub(crate) const BLOCK_IDB: u32 = 0x0000_0001;
pub(crate) const BLOCK_PB: u32 = 0x0000_0002;
pub(crate) const BLOCK_SPB: u32 = 0x0000_0003;
pub(crate) const BLOCK_EPB: u32 = 0x0000_0006;
pub(crate) const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Per-interface facts needed to interpret packet blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface {
    pub link_type: LinkType,
    pub snaplen: u32,
    /// Timestamp units per second (if_tsresol; 1_000_000 by default).
    pub units_per_sec: u64,
    /// if_tsoffset: seconds added to every timestamp.
    pub ts_offset: i64,
}

/// Zero-copy iterator over the packets of a pcapng file held in memory.
#[derive(Clone, Debug)]
pub struct PcapngReader<'a> {
    buf: &'a [u8],
    pos: usize,
    endian: Endian,
    /// Interfaces of the current section; cleared by each SHB.
    interfaces: Vec<Interface>,
    index: u64,
    done: bool,
}

struct Block<'a> {
    kind: u32,
    offset: usize,
    body: &'a [u8],
}

impl<'a> PcapngReader<'a> {
    /// Checks that the file starts with a valid Section Header Block.
    pub fn new(buf: &'a [u8]) -> Result<PcapngReader<'a>, CaptureError> {
        let &magic = buf.first_chunk::<4>().ok_or(CaptureError::Truncated {
            what: "pcapng section header block",
            offset: 0,
            needed: 28,
            available: buf.len(),
        })?;
        if u32::from_le_bytes(magic) != BLOCK_SHB {
            return Err(CaptureError::UnknownFormat { magic });
        }
        let mut r = PcapngReader {
            buf,
            pos: 0,
            endian: Endian::Little,
            interfaces: Vec::new(),
            index: 0,
            done: false,
        };
        // Parse the first SHB eagerly so a broken header is reported at open time.
        let block = r.read_block()?;
        r.section_header(&block)?;
        Ok(r)
    }

    /// Interfaces declared so far in the current section.
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// Reads the block at `self.pos` and advances past it. An SHB's byte
    /// order is learnt here, before its length can be trusted.
    fn read_block(&mut self) -> Result<Block<'a>, CaptureError> {
        let offset = self.pos;
        let rest = self.buf.get(offset..).unwrap_or(&[]);
        if rest.len() < 12 {
            return Err(CaptureError::Truncated {
                what: "pcapng block header",
                offset,
                needed: 12,
                available: rest.len(),
            });
        }
        let kind_le = Endian::Little.u32(rest, 0).unwrap_or(0);
        if kind_le == BLOCK_SHB {
            let bom = Endian::Little.u32(rest, 8).unwrap_or(0);
            self.endian = if bom == BYTE_ORDER_MAGIC {
                Endian::Little
            } else if bom.swap_bytes() == BYTE_ORDER_MAGIC {
                Endian::Big
            } else {
                return Err(CaptureError::BadField {
                    what: "pcapng section header block",
                    field: "byte-order magic",
                    offset: offset + 8,
                    value: u64::from(bom),
                    reason: "is not 0x1a2b3c4d in either byte order",
                });
            };
        }
        let e = self.endian;
        let kind = e.u32(rest, 0).unwrap_or(0);
        let total = e.u32(rest, 4).unwrap_or(0);
        let bad_len = |reason| CaptureError::BadField {
            what: "pcapng block",
            field: "block total length",
            offset: offset + 4,
            value: u64::from(total),
            reason,
        };
        if total < 12 {
            return Err(bad_len("is below the 12-byte minimum"));
        }
        if total & 3 != 0 {
            return Err(bad_len("is not a multiple of 4"));
        }
        let total = total as usize;
        if total > rest.len() {
            return Err(CaptureError::Truncated {
                what: "pcapng block",
                offset,
                needed: total,
                available: rest.len(),
            });
        }
        let trailer = e.u32(rest, total - 4).unwrap_or(0);
        if trailer as usize != total {
            return Err(CaptureError::BadField {
                what: "pcapng block",
                field: "trailing block total length",
                offset: offset + total - 4,
                value: u64::from(trailer),
                reason: "differs from the leading block total length",
            });
        }
        self.pos = offset + total;
        Ok(Block {
            kind,
            offset,
            body: rest.get(8..total - 4).unwrap_or(&[]),
        })
    }

    fn section_header(&mut self, block: &Block<'a>) -> Result<(), CaptureError> {
        // body: byte-order magic(4) major(2) minor(2) section length(8) options
        if block.body.len() < 16 {
            return Err(CaptureError::Truncated {
                what: "pcapng section header block",
                offset: block.offset,
                needed: 28,
                available: block.body.len() + 12,
            });
        }
        let major = self.endian.u16(block.body, 4).unwrap_or(0);
        if major != 1 {
            return Err(CaptureError::BadField {
                what: "pcapng section header block",
                field: "major version",
                offset: block.offset + 12,
                value: u64::from(major),
                reason: "is not 1",
            });
        }
        self.interfaces.clear();
        Ok(())
    }

    fn interface_description(&mut self, block: &Block<'a>) -> Result<(), CaptureError> {
        let e = self.endian;
        let body = block.body;
        let (Some(lt), Some(snaplen)) = (e.u16(body, 0), e.u32(body, 4)) else {
            return Err(CaptureError::Truncated {
                what: "pcapng interface description block",
                offset: block.offset,
                needed: 20,
                available: body.len() + 12,
            });
        };
        let mut iface = Interface {
            link_type: LinkType(u32::from(lt)),
            snaplen,
            units_per_sec: 1_000_000,
            ts_offset: 0,
        };
        let opts_offset = block.offset + 16;
        for opt in Options::new(body.get(8..).unwrap_or(&[]), e, opts_offset) {
            let (code, value, at) = opt?;
            match code {
                OPT_IF_TSRESOL => {
                    let Some(&v) = value.first() else { continue };
                    iface.units_per_sec = resolution(v).ok_or(CaptureError::BadField {
                        what: "pcapng interface description block",
                        field: "if_tsresol option",
                        offset: at,
                        value: u64::from(v),
                        reason: "gives a resolution finer than a 64-bit counter can hold",
                    })?;
                }
                OPT_IF_TSOFFSET => {
                    if let Some(v) = e.u64(value, 0) {
                        iface.ts_offset = v as i64;
                    }
                }
                _ => {}
            }
        }
        self.interfaces.push(iface);
        Ok(())
    }

    fn interface(&self, block: &Block<'a>, id: u32) -> Result<Interface, CaptureError> {
        self.interfaces
            .get(id as usize)
            .copied()
            .ok_or(CaptureError::UnknownInterface {
                offset: block.offset,
                interface_id: id,
            })
    }

    fn enhanced_packet(
        &self,
        block: &Block<'a>,
        legacy: bool,
    ) -> Result<(u32, Interface, u64, u32, &'a [u8]), CaptureError> {
        let e = self.endian;
        let body = block.body;
        let what = if legacy {
            "pcapng packet block"
        } else {
            "pcapng enhanced packet block"
        };
        // The obsolete Packet Block has a 16-bit interface ID (then a drop count).
        let id = if legacy {
            e.u16(body, 0).map(u32::from)
        } else {
            e.u32(body, 0)
        };
        let (Some(id), Some(ts_hi), Some(ts_lo), Some(caplen), Some(orig_len)) = (
            id,
            e.u32(body, 4),
            e.u32(body, 8),
            e.u32(body, 12),
            e.u32(body, 16),
        ) else {
            return Err(CaptureError::Truncated {
                what,
                offset: block.offset,
                needed: 32,
                available: body.len() + 12,
            });
        };
        let iface = self.interface(block, id)?;
        let data = 20usize
            .checked_add(caplen as usize)
            .and_then(|end| body.get(20..end))
            .ok_or(CaptureError::BadField {
                what,
                field: "captured packet length",
                offset: block.offset + 20,
                value: u64::from(caplen),
                reason: "runs past the end of the block",
            })?;
        let ticks = (u64::from(ts_hi) << 32) | u64::from(ts_lo);
        Ok((id, iface, ticks, orig_len, data))
    }

    fn simple_packet(&self, block: &Block<'a>) -> Result<(Interface, u32, &'a [u8]), CaptureError> {
        let Some(orig_len) = self.endian.u32(block.body, 0) else {
            return Err(CaptureError::Truncated {
                what: "pcapng simple packet block",
                offset: block.offset,
                needed: 16,
                available: block.body.len() + 12,
            });
        };
        let iface = self.interface(block, 0)?;
        let room = block.body.len() - 4;
        let mut caplen = (orig_len as usize).min(room);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        let data = block.body.get(4..4 + caplen).unwrap_or(&[]);
        Ok((iface, orig_len, data))
    }

    fn next_frame(&mut self) -> Result<Option<Frame<'a>>, CaptureError> {
        loop {
            if self.pos >= self.buf.len() {
                return Ok(None);
            }
            let block = self.read_block()?;
            let (id, iface, ticks, orig_len, data) = match block.kind {
                BLOCK_SHB => {
                    self.section_header(&block)?;
                    continue;
                }
                BLOCK_IDB => {
                    self.interface_description(&block)?;
                    continue;
                }
                BLOCK_EPB => self.enhanced_packet(&block, false)?,
                BLOCK_PB => self.enhanced_packet(&block, true)?,
                BLOCK_SPB => {
                    let (iface, orig_len, data) = self.simple_packet(&block)?;
                    (0, iface, 0, orig_len, data)
                }
                _ => continue,
            };
            self.index += 1;
            return Ok(Some(Frame {
                index: self.index,
                timestamp: Timestamp::from_ticks(ticks, iface.units_per_sec, iface.ts_offset),
                link_type: iface.link_type,
                interface_id: id,
                orig_len,
                data,
            }));
        }
    }
}

/// if_tsresol: high bit clear means 10^-n seconds, set means 2^-n.
fn resolution(v: u8) -> Option<u64> {
    let n = u32::from(v & 0x7f);
    if v & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n).filter(|_| n < 64)
    }
}

/// Iterator over a pcapng option list: (code, value, file offset of the option).
struct Options<'a> {
    buf: &'a [u8],
    pos: usize,
    endian: Endian,
    base: usize,
    done: bool,
}

impl<'a> Options<'a> {
    fn new(buf: &'a [u8], endian: Endian, base: usize) -> Options<'a> {
        Options {
            buf,
            pos: 0,
            endian,
            base,
            done: false,
        }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<(u16, &'a [u8], usize), CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let at = self.base + self.pos;
        let (Some(code), Some(len)) = (
            self.endian.u16(self.buf, self.pos),
            self.endian.u16(self.buf, self.pos + 2),
        ) else {
            self.done = true;
            return Some(Err(CaptureError::Truncated {
                what: "pcapng option header",
                offset: at,
                needed: 4,
                available: self.buf.len() - self.pos,
            }));
        };
        if code == OPT_END {
            self.done = true;
            return None;
        }
        let start = self.pos + 4;
        let len = usize::from(len);
        let Some(value) = self.buf.get(start..start + len) else {
            self.done = true;
            return Some(Err(CaptureError::BadField {
                what: "pcapng option",
                field: "option length",
                offset: at + 2,
                value: len as u64,
                reason: "runs past the end of the block",
            }));
        };
        self.pos = start + len.next_multiple_of(4);
        Some(Ok((code, value, at)))
    }
}

impl<'a> Iterator for PcapngReader<'a> {
    type Item = Result<Frame<'a>, CaptureError>;

    /// Yields each packet; after an error yields it once and then stops.
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.next_frame();
        fuse(&mut self.done, step)
    }
}

impl core::iter::FusedIterator for PcapngReader<'_> {}
