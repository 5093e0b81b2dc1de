//! Integration tests live in tests/; this library holds their shared harness:
//! [`netns`] (uniquely named namespaces, veth, device counters, entering a
//! namespace to open sockets), [`daemon`] (the real `l2tpd` and `l2tp`
//! binaries, built if missing), [`packet`] (AF_PACKET and raw IP sockets,
//! hand-made L2TPv3 packets), [`kernel_peer`] (a Linux kernel under qemu),
//! [`kernel_lab`] (static pseudowires between it and our `l2tpd`) and
//! [`bulk`] (hash-checked TCP bulk transfers, the kernel's L2TP counters).
pub mod bulk;
pub mod daemon;
pub mod kernel_lab;
pub mod kernel_peer;
pub mod netns;
pub mod packet;
