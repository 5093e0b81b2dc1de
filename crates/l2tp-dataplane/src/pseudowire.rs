//! Pseudowire drivers: what carries a session's frames to and from the host.
//! The first is Ethernet over a TAP device, like the kernel's `l2tp_eth`.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys;
use crate::DataplaneError;

/// Largest frame a pseudowire hands over (TAP MTU limit plus headers).
pub const MAX_FRAME: usize = 65_535;

/// The host side of a session.
pub trait Pseudowire: Send + Sync + fmt::Debug {
    /// Device name.
    fn ifname(&self) -> &str;
    /// Device index.
    fn ifindex(&self) -> u32;
    /// MTU set at creation.
    fn mtu(&self) -> u32;
    /// Descriptor that becomes readable when the host sends a frame.
    fn raw_fd(&self) -> RawFd;
    /// Takes one frame the host sent; `Ok(None)` when there is none.
    fn read_frame(&self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// Gives a frame to the host.
    fn write_frame(&self, frame: &[u8]) -> io::Result<()>;
}

/// An Ethernet pseudowire on a non-persistent TAP device: closing the
/// descriptor (dropping this) removes the device.
#[derive(Debug)]
pub struct TapDevice {
    fd: OwnedFd,
    name: String,
    ifindex: u32,
    mtu: u32,
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
        check_ifname(template)?;
        if !template.contains('%') && sys::ifindex(template).is_some() {
            return Err(DataplaneError::DeviceExists(template.to_string()));
        }
        let (fd, name) = sys::open_tap(template).map_err(|e| match e.raw_os_error() {
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
        })?;
        // From here `fd` owns the device: returning early drops it and the
        // device goes away.
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
            fd,
            name,
            ifindex,
            mtu,
        })
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
    fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
    fn read_frame(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        sys::read(self.fd.as_raw_fd(), buf)
    }
    fn write_frame(&self, frame: &[u8]) -> io::Result<()> {
        sys::write(self.fd.as_raw_fd(), frame).map(|_| ())
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
