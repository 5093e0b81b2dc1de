//! The `bpf(2)` commands of the tc-BPF fast path (maps, program load, tcx
//! links, test runs). A child of `sys`: with `rtnl`, every `unsafe` of the
//! fast path is here.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_int = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_MAP_DELETE_ELEM: libc::c_int = 3;
const BPF_PROG_LOAD: libc::c_int = 5;
#[cfg(test)]
const BPF_PROG_TEST_RUN: libc::c_int = 10;
const BPF_LINK_CREATE: libc::c_int = 28;

/// `BPF_MAP_TYPE_HASH`.
pub const MAP_HASH: u32 = 1;
/// `BPF_MAP_TYPE_PERCPU_ARRAY`.
pub const MAP_PERCPU_ARRAY: u32 = 6;
/// `BPF_PROG_TYPE_SCHED_CLS`: tc programs.
const PROG_SCHED_CLS: u32 = 3;
/// `BPF_TCX_INGRESS` / `BPF_TCX_EGRESS` attach types.
pub const TCX_INGRESS: u32 = 46;
pub const TCX_EGRESS: u32 = 47;

fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised `#[repr(C)]` prefix of `union
    // bpf_attr` for `cmd`, and its size is passed so the kernel reads no
    // further; pointers inside it refer to buffers the caller keeps alive.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn fd_from(r: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this new descriptor; we own it.
    unsafe { OwnedFd::from_raw_fd(r as RawFd) }
}

#[repr(C)]
#[derive(Default)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// A map, with the sizes the kernel reads through the pointers it is given:
/// the calls check them, so a short buffer is an error, not an overread.
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    key_len: usize,
    /// What one lookup or update moves: the value, or for per-CPU maps one
    /// value per possible CPU, each rounded up to 8 bytes.
    value_len: usize,
}

impl Map {
    /// Creates a map; the descriptor keeps it alive.
    pub fn create(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        name: &str,
    ) -> io::Result<Map> {
        let mut attr = MapCreate {
            map_type,
            key_size,
            value_size,
            max_entries,
            ..Default::default()
        };
        copy_name(&mut attr.map_name, name);
        let fd = bpf(BPF_MAP_CREATE, &mut attr).map(fd_from)?;
        let value_len = if map_type == MAP_PERCPU_ARRAY {
            (value_size as usize).next_multiple_of(8) * possible_cpus()
        } else {
            value_size as usize
        };
        Ok(Map {
            fd,
            key_len: key_size as usize,
            value_len,
        })
    }

    /// The descriptor programs refer to the map by.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Bytes a value buffer must have (see the field).
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    fn elem(&self, cmd: libc::c_int, key: &[u8], value: Option<(u64, usize)>) -> io::Result<()> {
        let bad = |what: &str, got: usize, want: usize| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("map {what} of {got} bytes, the map's is {want}"),
            )
        };
        if key.len() != self.key_len {
            return Err(bad("key", key.len(), self.key_len));
        }
        if let Some((_, len)) = value {
            if len != self.value_len {
                return Err(bad("value", len, self.value_len));
            }
        }
        let mut attr = MapElem {
            map_fd: self.fd.as_raw_fd() as u32,
            _pad: 0,
            key: key.as_ptr() as u64,
            value: value.map_or(0, |(ptr, _)| ptr),
            flags: 0,
        };
        bpf(cmd, &mut attr).map(|_| ())
    }

    /// Inserts or replaces `key` -> `value`.
    pub fn update(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.elem(
            BPF_MAP_UPDATE_ELEM,
            key,
            Some((value.as_ptr() as u64, value.len())),
        )
    }

    /// Removes `key`; a missing key is not an error.
    pub fn delete(&self, key: &[u8]) -> io::Result<()> {
        match self.elem(BPF_MAP_DELETE_ELEM, key, None) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            r => r,
        }
    }

    /// Reads `key` into `value`.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> io::Result<()> {
        self.elem(
            BPF_MAP_LOOKUP_ELEM,
            key,
            Some((value.as_mut_ptr() as u64, value.len())),
        )
    }
}

fn copy_name(dst: &mut [u8; 16], name: &str) {
    for (d, s) in dst.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
}

#[repr(C)]
struct MapElem {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// Loads a tc program. `insns` is `struct bpf_insn[]` as raw 8-byte words.
/// On a verifier refusal the error carries the verifier's log.
pub fn prog_load(insns: &[u64], name: &str) -> io::Result<OwnedFd> {
    let license = b"GPL\0";
    let mut attr = ProgLoad {
        prog_type: PROG_SCHED_CLS,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    copy_name(&mut attr.prog_name, name);
    let first = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => return Ok(fd_from(fd)),
        Err(e) => e,
    };
    if !matches!(first.raw_os_error(), Some(libc::EACCES | libc::EINVAL)) {
        return Err(first);
    }
    // A verifier refusal: load again with the log on, to say why.
    let mut log = vec![0u8; 1 << 20];
    attr.log_level = 1;
    attr.log_size = log.len() as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    let err = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => return Ok(fd_from(fd)),
        Err(e) => e,
    };
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(12)..];
    Err(io::Error::new(
        err.kind(),
        format!("{err}; verifier: {}", tail.join(" | ")),
    ))
}

#[repr(C)]
#[derive(Default)]
struct LinkCreate {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    relative_fd: u32,
    _pad: u32,
    expected_revision: u64,
}

/// Attaches `prog` to a device's tcx hook (after any programs already
/// there). The link lives as long as the descriptor: closing it detaches,
/// so a crashed daemon leaves nothing attached.
pub fn tcx_attach(prog: &OwnedFd, ifindex: u32, attach_type: u32) -> io::Result<OwnedFd> {
    let mut attr = LinkCreate {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type,
        ..Default::default()
    };
    bpf(BPF_LINK_CREATE, &mut attr).map(fd_from)
}

#[cfg(test)]
#[repr(C)]
#[derive(Default)]
struct TestRun {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

#[cfg(test)]
/// Runs `prog` once on a copy of `packet` (an Ethernet frame) in the
/// kernel; returns the program's verdict and the packet as it left.
/// `ctx` is a `struct __sk_buff` prefix (the kernel takes `ifindex`,
/// `ingress_ifindex`, `gso_size`... from it).
pub fn prog_test_run(prog: &OwnedFd, packet: &[u8], ctx: &[u8]) -> io::Result<(u32, Vec<u8>)> {
    let mut out = vec![0u8; packet.len() + 512];
    let mut attr = TestRun {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: packet.len() as u32,
        data_size_out: out.len() as u32,
        data_in: packet.as_ptr() as u64,
        data_out: out.as_mut_ptr() as u64,
        repeat: 1,
        ctx_size_in: ctx.len() as u32,
        ctx_in: if ctx.is_empty() {
            0
        } else {
            ctx.as_ptr() as u64
        },
        ..Default::default()
    };
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    out.truncate(attr.data_size_out as usize);
    Ok((attr.retval, out))
}

/// How many CPUs per-CPU maps have a slot for.
pub fn possible_cpus() -> usize {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    let mut n = 0;
    for part in text.trim().split(',') {
        let mut it = part.split('-').map(|x| x.trim().parse::<usize>());
        match (it.next(), it.next()) {
            (Some(Ok(a)), Some(Ok(b))) if b >= a => n += b - a + 1,
            (Some(Ok(_)), None) => n += 1,
            _ => {}
        }
    }
    n.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn possible_cpus_is_at_least_one() {
        assert!(possible_cpus() >= 1);
    }
}
