//! Typed errors: each names the structure, the field and why it was rejected,
//! plus the file offset so a broken capture can be inspected with a hex dump.

use core::fmt;

/// Why a capture file could not be read further.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureError {
    /// The first four bytes are neither a pcap nor a pcapng magic number.
    UnknownFormat { magic: [u8; 4] },
    /// The file ends inside a structure.
    Truncated {
        what: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// A header field holds a value this reader refuses, and why.
    BadField {
        what: &'static str,
        field: &'static str,
        offset: usize,
        value: u64,
        reason: &'static str,
    },
    /// A pcapng packet block names an interface no IDB of its section declared.
    UnknownInterface { offset: usize, interface_id: u32 },
    /// A pcapng block appears before the first Section Header Block.
    NoSectionHeader { offset: usize },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::UnknownFormat { magic } => write!(
                f,
                "not a pcap or pcapng file: magic number {:02x}{:02x}{:02x}{:02x} is unknown",
                magic[0], magic[1], magic[2], magic[3]
            ),
            CaptureError::Truncated {
                what,
                offset,
                needed,
                available,
            } => write!(
                f,
                "truncated {what} at offset {offset}: needs {needed} bytes, only {available} left"
            ),
            CaptureError::BadField {
                what,
                field,
                offset,
                value,
                reason,
            } => write!(
                f,
                "bad {field} in {what} at offset {offset}: value {value} {reason}"
            ),
            CaptureError::UnknownInterface {
                offset,
                interface_id,
            } => write!(
                f,
                "packet block at offset {offset} refers to interface {interface_id}, which no interface description block declared"
            ),
            CaptureError::NoSectionHeader { offset } => write!(
                f,
                "pcapng block at offset {offset} comes before any section header block"
            ),
        }
    }
}

impl std::error::Error for CaptureError {}

/// Protocol layer a dissection error refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Ethernet,
    Vlan,
    LinuxSll,
    LinuxSll2,
    Null,
    Ipv4,
    Ipv6,
    Ipv6Extension,
    Udp,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Ethernet => "Ethernet header",
            Layer::Vlan => "802.1Q tag",
            Layer::LinuxSll => "Linux cooked (SLL) header",
            Layer::LinuxSll2 => "Linux cooked (SLL2) header",
            Layer::Null => "loopback/null header",
            Layer::Ipv4 => "IPv4 header",
            Layer::Ipv6 => "IPv6 header",
            Layer::Ipv6Extension => "IPv6 extension header",
            Layer::Udp => "UDP header",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a captured frame could not be taken apart down to the transport layer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DissectError {
    /// The link type is not one this crate knows how to walk.
    UnsupportedLinkType(u32),
    /// The frame ends inside a header.
    Truncated {
        layer: Layer,
        needed: usize,
        available: usize,
    },
    /// A header field has an impossible value.
    BadField {
        layer: Layer,
        field: &'static str,
        value: u32,
        reason: &'static str,
    },
}

impl fmt::Display for DissectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DissectError::UnsupportedLinkType(lt) => write!(f, "unsupported link type {lt}"),
            DissectError::Truncated {
                layer,
                needed,
                available,
            } => write!(
                f,
                "truncated {layer}: needs {needed} bytes, only {available} captured"
            ),
            DissectError::BadField {
                layer,
                field,
                value,
                reason,
            } => write!(f, "bad {field} in {layer}: value {value} {reason}"),
        }
    }
}

impl std::error::Error for DissectError {}
