//! What every reader yields: one captured frame borrowed from the file bytes.

use core::fmt;

/// A pcap/pcapng LINKTYPE value (the link-layer header that starts each frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP; the version nibble tells IPv4 from IPv6.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: like NULL but the family is always big-endian.
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// Short lowercase name, as used in human-readable output.
    pub fn name(self) -> &'static str {
        match self {
            LinkType::NULL => "null",
            LinkType::ETHERNET => "ethernet",
            LinkType::RAW => "raw",
            LinkType::LOOP => "loop",
            LinkType::LINUX_SLL => "linux-sll",
            LinkType::IPV4 => "ipv4",
            LinkType::IPV6 => "ipv6",
            LinkType::LINUX_SLL2 => "linux-sll2",
            _ => "unknown",
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

/// Capture time. Seconds are signed because pcapng's if_tsoffset may move them before 1970.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp {
    pub secs: i64,
    /// Always below 1_000_000_000.
    pub nanos: u32,
}

impl Timestamp {
    pub const fn new(secs: i64, nanos: u32) -> Timestamp {
        Timestamp { secs, nanos }
    }

    /// Builds a timestamp from `ticks` units of `1/units_per_sec` seconds
    /// without overflow for any input.
    pub(crate) fn from_ticks(ticks: u64, units_per_sec: u64, offset_secs: i64) -> Timestamp {
        let ups = units_per_sec.max(1);
        let secs = ticks / ups;
        let frac = ticks % ups;
        // Common resolutions avoid the 128-bit division.
        let nanos = match ups {
            1_000_000_000 => frac as u32,
            1_000_000 => (frac * 1_000) as u32,
            _ => ((frac as u128) * 1_000_000_000u128 / ups as u128) as u32,
        };
        let secs = i64::try_from(secs)
            .unwrap_or(i64::MAX)
            .saturating_add(offset_secs);
        Timestamp { secs, nanos }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.secs, self.nanos)
    }
}

/// One captured frame; `data` borrows from the file buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 1-based position among the file's packets (what Wireshark calls frame.number).
    pub index: u64,
    pub timestamp: Timestamp,
    pub link_type: LinkType,
    /// pcapng interface ID; 0 for pcap.
    pub interface_id: u32,
    /// Length of the packet on the wire; larger than `data.len()` when the snap length cut it.
    pub orig_len: u32,
    pub data: &'a [u8],
}

impl Frame<'_> {
    /// True when the capture kept fewer bytes than were on the wire.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}

/// One iterator step of a reader that stops for good at the end or at its
/// first error (the error is yielded once): both readers share this contract.
pub(crate) fn fuse<'a, E>(
    done: &mut bool,
    step: Result<Option<Frame<'a>>, E>,
) -> Option<Result<Frame<'a>, E>> {
    let item = step.transpose();
    if !matches!(item, Some(Ok(_))) {
        *done = true;
    }
    item
}
