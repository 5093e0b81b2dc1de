//! Reading packet captures and locating L2TP inside them.
//!
//! The readers work on the whole file in memory and hand out frames that
//! borrow from it, so decoding a capture costs no per-packet allocation.
//! Nothing here panics on malformed input: every problem is a typed error
//! saying which structure and field were wrong.
//!
//! ```
//! use l2tp_capture::{CaptureReader, Finding, L2tpFinder, LinkType, PcapWriter, Timestamp, udp_frame};
//! let payload = [0xc8, 0x02, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
//! let frame = udp_frame("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap(), 1701, 1701, &payload);
//! let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).unwrap();
//! w.write_frame(Timestamp::new(1, 0), &frame).unwrap();
//! let file = w.into_inner().unwrap();
//!
//! let finder = L2tpFinder::new();
//! for frame in CaptureReader::new(&file).unwrap() {
//!     let frame = frame.unwrap();
//!     let Finding::L2tp(p) = finder.find_in_frame(&frame).unwrap() else { panic!() };
//!     assert_eq!(p.payload, &payload);
//! }
//! ```

mod bytes;
mod capture;
mod dissect;
mod error;
mod frame;
pub mod pcap;
pub mod pcapng;
mod writer;

pub use bytes::Endian;
pub use capture::{detect_format, CaptureReader, Format};
pub use dissect::{
    Encap, Finding, L2tpFinder, L2tpPacket, IPPROTO_L2TP, IPPROTO_UDP, L2TP_UDP_PORT,
};
pub use error::{CaptureError, DissectError, Layer};
pub use frame::{Frame, LinkType, Timestamp};
pub use pcap::PcapReader;
pub use pcapng::PcapngReader;
pub use writer::{
    ethernet_frame, ip115_frame, ip_packet, udp_datagram, udp_frame, PcapOptions, PcapWriter,
    PcapngWriter, DST_MAC, SRC_MAC,
};
