//! Pseudowire drivers: what carries a session's frames to and from the host.
//! Ethernet over a TAP device, like the kernel's `l2tp_eth`, and a null
//! pseudowire that only counts (for control-plane scale tests).

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::offload::vnet::VNET_HDR_LEN;
use crate::reaper::{Doomed, Reaper};
use crate::sys::{self, fast};
use crate::DataplaneError;

/// Largest frame a pseudowire hands over (TAP MTU limit plus headers).
pub const MAX_FRAME: usize = 65_535;

/// A virtio header saying "nothing to do" (plain frame).
const PLAIN_VNET: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];

/// The host side of a session. Frames are read per queue and written as
/// pieces (a virtio header, headers, payload still in the receive buffer),
/// so neither direction copies or allocates per frame.
pub trait Pseudowire: Send + Sync + fmt::Debug {
    /// Device name.
    fn ifname(&self) -> &str;
    /// Device index.
    fn ifindex(&self) -> u32;
    /// MTU set at creation.
    fn mtu(&self) -> u32;
    /// Queues the device has (one descriptor each); 0 without a device.
    fn queues(&self) -> usize;
    /// Descriptor of queue `q`, readable when the host sent a frame there.
    fn queue_fd(&self, q: usize) -> RawFd;
    /// Whether frames read and written carry a virtio header.
    fn vnet_hdr(&self) -> bool {
        false
    }
    /// Takes one frame the host sent on queue `q` (with the virtio header
    /// in front when [`vnet_hdr`](Self::vnet_hdr)); `Ok(None)` when there
    /// is none.
    fn read_queue(&self, q: usize, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// Gives the host one plain frame (a "nothing to do" virtio header is
    /// added when [`vnet_hdr`](Self::vnet_hdr)), on the first queue.
    fn write_frame(&self, frame: &[u8]) -> io::Result<()>;
    /// Gives the host one frame made of `parts` (the first starting with
    /// the virtio header when [`vnet_hdr`](Self::vnet_hdr)), on the queue
    /// of flow `hash`: a flow's replies then leave on the same queue.
    fn write_parts(&self, hash: u32, parts: &[&[u8]]) -> io::Result<()>;
}

/// How a TAP device is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapOptions {
    /// Queues (`IFF_MULTI_QUEUE` when above 1).
    pub queues: usize,
    /// Virtio header and checksum/TSO/USO offloads.
    pub offload: bool,
}

impl TapOptions {
    /// One queue, plain frames.
    pub const PLAIN: Self = Self {
        queues: 1,
        offload: false,
    };
}

/// An Ethernet pseudowire on a non-persistent TAP device: closing the
/// descriptors (dropping this) removes the device, in the background when
/// a [`Reaper`] was given.
#[derive(Debug)]
pub struct TapDevice {
    fds: Vec<OwnedFd>,
    name: String,
    ifindex: u32,
    mtu: u32,
    vnet: bool,
    offloads: libc::c_uint,
    reaper: Option<Reaper>,
}

/// Names the kernel would reject (`dev_valid_name`), checked up front for a
/// clear error.
fn check_ifname(name: &str) -> Result<(), DataplaneError> {
    let bad = |reason: &str| DataplaneError::Invalid {
        field: "ifname",
        reason: format!("{name:?}: {reason}"),
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() >= sys::IFNAMSIZ {
        return Err(bad("longer than 15 bytes"));
    }
    if name == "." || name == ".." {
        return Err(bad("reserved name"));
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        return Err(bad("contains '/', ':', NUL or whitespace"));
    }
    if name.matches('%').count() > 1 || (name.contains('%') && !name.contains("%d")) {
        return Err(bad("only one %d template is allowed"));
    }
    Ok(())
}

impl TapDevice {
    /// Creates the device (`template` may contain `%d`), sets its MTU and
    /// brings it up. On any failure nothing is left behind.
    pub fn create(template: &str, mtu: u32) -> Result<Self, DataplaneError> {
        Self::create_with(template, mtu, TapOptions::PLAIN, None)
    }

    /// Like [`create`](Self::create), with queues and offloads; a device
    /// dropped later is removed by `reaper` (in the background) if given.
    pub fn create_with(
        template: &str,
        mtu: u32,
        opts: TapOptions,
        reaper: Option<Reaper>,
    ) -> Result<Self, DataplaneError> {
        check_ifname(template)?;
        if !template.contains('%') && sys::ifindex(template).is_some() {
            return Err(DataplaneError::DeviceExists(template.to_string()));
        }
        let (fds, name) =
            fast::open_tap_queues(template, opts.offload, opts.queues).map_err(|e| {
                match e.raw_os_error() {
                    Some(libc::EPERM) | Some(libc::EACCES) => DataplaneError::PermissionDenied {
                        what: format!("creating TAP device {template}"),
                    },
                    // Lost a race with another creator of the same name.
                    Some(libc::EBUSY) | Some(libc::EEXIST) => {
                        DataplaneError::DeviceExists(template.to_string())
                    }
                    Some(libc::EINVAL) if sys::ifindex(template).is_some() => {
                        DataplaneError::DeviceExists(template.to_string())
                    }
                    Some(libc::ENOENT) | Some(libc::ENODEV) => DataplaneError::Io {
                        context: "opening /dev/net/tun (is the tun module available?)".into(),
                        source: e,
                    },
                    _ => DataplaneError::Io {
                        context: format!("creating TAP device {template}"),
                        source: e,
                    },
                }
            })?;
        // From here `fds` own the device: returning early drops them and the
        // device goes away.
        let mut offloads = 0;
        if opts.offload {
            let fd = fds.first().map_or(-1, |f| f.as_raw_fd());
            let base = fast::TUN_F_CSUM | fast::TUN_F_TSO4 | fast::TUN_F_TSO6;
            let with_uso = base | fast::TUN_F_USO4 | fast::TUN_F_USO6;
            // USO needs Linux 6.2; older kernels refuse the unknown bits.
            offloads = match fast::tap_set_offload(fd, with_uso) {
                Ok(()) => with_uso,
                Err(_) => {
                    fast::tap_set_offload(fd, base).map_err(|e| DataplaneError::Io {
                        context: format!("enabling checksum/TSO offloads on {name}"),
                        source: e,
                    })?;
                    base
                }
            };
        }
        sys::set_mtu(&name, mtu).map_err(|e| match e.raw_os_error() {
            Some(libc::EINVAL) => DataplaneError::Invalid {
                field: "mtu",
                reason: format!("{mtu} is outside what {name} accepts (68..=65521)"),
            },
            _ => DataplaneError::Io {
                context: format!("setting the MTU of {name} to {mtu}"),
                source: e,
            },
        })?;
        sys::set_up(&name).map_err(|e| DataplaneError::Io {
            context: format!("bringing {name} up"),
            source: e,
        })?;
        let ifindex = sys::ifindex(&name).ok_or_else(|| DataplaneError::Io {
            context: format!("looking up the index of {name}"),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        })?;
        Ok(Self {
            fds,
            name,
            ifindex,
            mtu,
            vnet: opts.offload,
            offloads,
            reaper,
        })
    }

    /// The `TUN_F_*` offloads the host was allowed (0 without offload).
    pub fn offloads(&self) -> libc::c_uint {
        self.offloads
    }

    fn fd(&self, q: usize) -> RawFd {
        self.fds
            .get(q % self.fds.len().max(1))
            .map_or(-1, |f| f.as_raw_fd())
    }
}

impl Drop for TapDevice {
    fn drop(&mut self) {
        if let Some(r) = self.reaper.take() {
            r.submit(Doomed {
                name: std::mem::take(&mut self.name),
                ifindex: self.ifindex,
                fds: std::mem::take(&mut self.fds),
            });
        }
    }
}

impl Pseudowire for TapDevice {
    fn ifname(&self) -> &str {
        &self.name
    }
    fn ifindex(&self) -> u32 {
        self.ifindex
    }
    fn mtu(&self) -> u32 {
        self.mtu
    }
    fn queues(&self) -> usize {
        self.fds.len()
    }
    fn queue_fd(&self, q: usize) -> RawFd {
        self.fd(q)
    }
    fn vnet_hdr(&self) -> bool {
        self.vnet
    }
    fn read_queue(&self, q: usize, buf: &mut [u8]) -> io::Result<Option<usize>> {
        sys::read(self.fd(q), buf)
    }
    fn write_frame(&self, frame: &[u8]) -> io::Result<()> {
        if self.vnet {
            fast::writev(self.fd(0), &[&PLAIN_VNET, frame]).map(|_| ())
        } else {
            sys::write(self.fd(0), frame).map(|_| ())
        }
    }
    fn write_parts(&self, hash: u32, parts: &[&[u8]]) -> io::Result<()> {
        let fd = self.fd(hash as usize);
        match parts {
            [one] => sys::write(fd, one).map(|_| ()),
            _ => fast::writev(fd, parts).map(|_| ()),
        }
    }
}

/// A pseudowire without a device: frames from the peer are counted and
/// dropped, nothing is ever sent. Costs no thread, descriptor or buffer,
/// so a scale test can hold 100,000 sessions.
#[derive(Debug)]
pub struct NullPseudowire {
    mtu: u32,
}

impl NullPseudowire {
    /// A null pseudowire reporting `mtu`.
    pub fn new(mtu: u32) -> Self {
        Self { mtu }
    }
}

impl Pseudowire for NullPseudowire {
    fn ifname(&self) -> &str {
        ""
    }
    fn ifindex(&self) -> u32 {
        0
    }
    fn mtu(&self) -> u32 {
        self.mtu
    }
    fn queues(&self) -> usize {
        0
    }
    fn queue_fd(&self, _q: usize) -> RawFd {
        -1
    }
    fn read_queue(&self, _q: usize, _buf: &mut [u8]) -> io::Result<Option<usize>> {
        Ok(None)
    }
    fn write_frame(&self, _frame: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn write_parts(&self, _hash: u32, _parts: &[&[u8]]) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_validation() {
        assert!(check_ifname("l2tpeth%d").is_ok());
        assert!(check_ifname("pw0").is_ok());
        for bad in ["", "a/b", "a b", "..", "0123456789abcdef", "a%s", "%d%d"] {
            match check_ifname(bad) {
                Err(DataplaneError::Invalid {
                    field: "ifname", ..
                }) => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
