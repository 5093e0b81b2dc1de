//! Boots the qemu kernel peer and checks the parts later tests rely on:
//! the command channel, the kernel's L2TP genl family, and the TAP link.
//! Needs root, qemu and network namespaces (CI runs it as root).
//!
//! `L2TP_SKIP_KERNEL_PEER=1` skips these tests (scripts/test --quick).

use std::time::Duration;

use l2tp_integration::kernel_peer::{self, skip_requested, BootOptions, KernelPeer};
use l2tp_integration::netns::{mac_string, Netns};

fn tap_name(tag: &str) -> String {
    // IFNAMSIZ: at most 15 characters.
    format!("kp{tag}{}", std::process::id() % 100_000)
}

#[test]
fn guest_boots_with_l2tp_genl_and_answers_ping() {
    if skip_requested() {
        return;
    }
    let ns = Netns::new("kpb-a");
    let tap = tap_name("a");
    let mut vm = KernelPeer::boot(&ns.name, &tap).expect("boot");
    eprintln!("kernel peer booted in {:?}", vm.boot_time());

    // Command channel: output, exit status, stderr, multi-line scripts.
    assert_eq!(vm.run("echo hello").unwrap(), (0, "hello\n".to_string()));
    assert_eq!(
        vm.run("echo oops >&2; exit 7").unwrap(),
        (7, "oops\n".to_string())
    );
    let err = vm.run_ok("false").unwrap_err().to_string();
    assert!(err.contains("status 1"), "{err}");
    let big = vm
        .run_ok("for i in $(seq 1 5000); do echo line$i; done")
        .unwrap();
    assert_eq!(big.lines().count(), 5000);
    assert_eq!(big.lines().last(), Some("line5000"));
    let (st, _) = vm.run_timeout("sleep 30", Duration::from_secs(1)).unwrap();
    assert_eq!(st, 137, "guest-side timeout must SIGKILL the command");
    assert_eq!(vm.run_ok("echo still-usable").unwrap(), "still-usable\n");
    // Background jobs outlive their command but not into later replies.
    assert_eq!(
        vm.run_ok("(sleep 0.5; echo late) & echo now").unwrap(),
        "now\n"
    );
    assert_eq!(vm.run_ok("sleep 1; echo next").unwrap(), "next\n");

    // The guest runs the prepared Debian kernel, not the host's.
    let release = vm.run_ok("uname -r").unwrap();
    assert_eq!(release.trim(), kernel_peer::kernel_version().unwrap());

    // The TAP link: the guest's eth0 is the host's TAP in our namespace.
    ns.sh_ok(&format!("ip addr add 198.18.0.1/24 dev {tap}"));
    vm.run_ok("ip addr add 198.18.0.2/24 dev eth0").unwrap();
    let mac = vm.mac(0).unwrap();
    let link = vm.run_ok("cat /sys/class/net/eth0/address").unwrap();
    assert_eq!(link.trim(), mac_string(&mac));
    let ping = ns.sh_ok("ping -c 3 -W 5 198.18.0.2");
    assert!(ping.contains("3 received"), "{ping}");
    vm.run_ok("ping -c 1 -W 5 198.18.0.1").unwrap();

    // IPv6 underlay: guest addresses skip DAD, so a tunnel can bind to one
    // straight away (a tentative address would fail with EADDRNOTAVAIL).
    ns.sh_ok(&format!("ip addr add 2001:db8::1/64 dev {tap} nodad"));
    vm.run_ok(
        "ip addr add 2001:db8::2/64 dev eth0 && \
         ip l2tp add tunnel tunnel_id 11 peer_tunnel_id 21 encap ip \
         local 2001:db8::2 remote 2001:db8::1 && ip l2tp del tunnel tunnel_id 11",
    )
    .unwrap();
    let ping6 = ns.sh_ok("ping -6 -c 2 -W 5 2001:db8::2");
    assert!(ping6.contains("2 received"), "{ping6}");

    let t0 = std::time::Instant::now();
    for _ in 0..20 {
        vm.run_ok("true").unwrap();
    }
    eprintln!("guest command round trip: {:?}", t0.elapsed() / 20);

    // iproute2's ip (not busybox's applet) talks to the l2tp genl family.
    vm.run_ok("ip l2tp show tunnel").unwrap();
    vm.run_ok(
        "ip l2tp add tunnel tunnel_id 10 peer_tunnel_id 20 encap udp \
         local 198.18.0.2 remote 198.18.0.1 udp_sport 1701 udp_dport 1701",
    )
    .unwrap();
    let tunnels = vm.run_ok("ip l2tp show tunnel").unwrap();
    assert!(tunnels.contains("Tunnel 10, encap UDP"), "{tunnels}");
    assert!(tunnels.contains("Peer tunnel 20"), "{tunnels}");
    vm.run_ok("ip l2tp del tunnel tunnel_id 10").unwrap();
    for module in ["l2tp_eth", "l2tp_ip6", "l2tp_ppp", "8021q", "sch_netem"] {
        vm.run_ok(&format!("test -d /sys/module/{module}")).unwrap();
    }

    let pid = vm.pid();
    vm.shutdown().expect("clean poweroff");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "qemu {pid} still running"
    );
}

#[test]
fn two_guests_run_at_once_on_one_bridge() {
    if skip_requested() {
        return;
    }
    let ns = Netns::new("kpb-b");
    let (t1, t2) = (tap_name("b"), tap_name("c"));
    let opts = BootOptions::default();
    let (vm1, vm2) = std::thread::scope(|s| {
        let h1 = s.spawn(|| KernelPeer::boot_with(&ns.name, &t1, &opts));
        let h2 = s.spawn(|| KernelPeer::boot_with(&ns.name, &t2, &opts));
        (h1.join().unwrap(), h2.join().unwrap())
    });
    let (mut vm1, mut vm2) = (vm1.expect("boot vm1"), vm2.expect("boot vm2"));
    assert_ne!(vm1.mac(0), vm2.mac(0));
    assert_ne!(vm1.console_log(), vm2.console_log());

    ns.sh_ok(&format!(
        "ip link add kpbr0 type bridge && ip link set kpbr0 up && \
         ip link set {t1} master kpbr0 && ip link set {t2} master kpbr0"
    ));
    vm1.run_ok("ip addr add 198.18.1.1/24 dev eth0").unwrap();
    vm2.run_ok("ip addr add 198.18.1.2/24 dev eth0").unwrap();
    vm1.run_ok("ping -c 2 -W 5 198.18.1.2").unwrap();
    let neigh = vm2.run_ok("ip neigh show 198.18.1.1").unwrap();
    let mac1 = mac_string(&vm1.mac(0).unwrap());
    assert!(neigh.contains(&mac1), "{neigh}");

    vm1.shutdown().expect("vm1 clean poweroff");
    vm2.shutdown().expect("vm2 clean poweroff");
}
