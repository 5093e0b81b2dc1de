//! The `virtio_net_hdr` a TAP device with `IFF_VNET_HDR` puts in front of
//! every frame: how the kernel hands over unfinished checksums and
//! unsegmented (GSO) frames, and how we hand back coalesced ones.
//!
//! A legacy virtio header is in the host's byte order (the kernel's
//! `tun_is_little_endian` is true on little-endian hosts unless told
//! otherwise), so fields are read and written in native order.

/// Size of the header without the `num_buffers` field of mergeable buffers.
pub const VNET_HDR_LEN: usize = 10;

/// `csum_start`/`csum_offset` name a checksum still to be completed.
pub const F_NEEDS_CSUM: u8 = 1;
/// The checksum was verified (the kernel skips its own check).
pub const F_DATA_VALID: u8 = 2;

/// Not a GSO frame.
pub const GSO_NONE: u8 = 0;
/// IPv4 TCP to be segmented (TSO).
pub const GSO_TCPV4: u8 = 1;
/// IPv4 UDP to be fragmented (UFO); never asked for, so never accepted.
pub const GSO_UDP: u8 = 3;
/// IPv6 TCP to be segmented.
pub const GSO_TCPV6: u8 = 4;
/// UDP to be split into datagrams of `gso_size` (USO, IPv4 or IPv6).
pub const GSO_UDP_L4: u8 = 5;
/// Flag on a TCP GSO type: the first segment carries CWR.
pub const GSO_ECN: u8 = 0x80;

/// One decoded header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `F_*` bits.
    pub flags: u8,
    /// `GSO_*` type, possibly with [`GSO_ECN`].
    pub gso_type: u8,
    /// Length of the headers (the kernel fills in the linear length, which
    /// may be larger: only a hint).
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where checksumming starts (the transport header).
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Decodes the first [`VNET_HDR_LEN`] bytes; `None` if shorter.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let b: &[u8; VNET_HDR_LEN] = b.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(Self {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    /// Encodes the header.
    pub fn emit(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }

    /// The GSO type without the ECN flag.
    pub fn gso_kind(&self) -> u8 {
        self.gso_type & !GSO_ECN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4 | GSO_ECN,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        assert_eq!(VnetHdr::parse(&h.emit()), Some(h));
        assert_eq!(h.gso_kind(), GSO_TCPV4);
        assert_eq!(VnetHdr::parse(&[0; 9]), None);
    }
}
