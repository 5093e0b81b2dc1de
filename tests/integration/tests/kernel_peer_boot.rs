//! Boots the qemu kernel peer and checks the parts later tests rely on:
//! the command channel, the kernel's L2TP genl family, and the TAP link.
//! Needs root, qemu and network namespaces (CI runs it as root).

use std::process::Command;
use std::time::Duration;

use l2tp_integration::kernel_peer::{self, BootOptions, KernelPeer};

/// A network namespace owned by this test, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("kpb-{tag}-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        sh(&format!("ip netns add {name}"));
        sh(&format!("ip -n {name} link set lo up"));
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(cmd: &str) -> String {
    let out = Command::new("bash").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tap_name(tag: &str) -> String {
    // IFNAMSIZ: at most 15 characters.
    format!("kp{tag}{}", std::process::id() % 100_000)
}

#[test]
fn guest_boots_with_l2tp_genl_and_answers_ping() {
    let ns = Netns::new("a");
    let tap = tap_name("a");
    let mut vm = KernelPeer::boot(&ns.0, &tap).expect("boot");
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
    sh(&format!("ip -n {} addr add 198.18.0.1/24 dev {tap}", ns.0));
    vm.run_ok("ip addr add 198.18.0.2/24 dev eth0").unwrap();
    let mac = vm.mac(0).unwrap();
    let link = vm.run_ok("cat /sys/class/net/eth0/address").unwrap();
    let want: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(link.trim(), want.join(":"));
    let ping = sh(&format!("ip netns exec {} ping -c 3 -W 5 198.18.0.2", ns.0));
    assert!(ping.contains("3 received"), "{ping}");
    vm.run_ok("ping -c 1 -W 5 198.18.0.1").unwrap();

    // IPv6 underlay: guest addresses skip DAD, so a tunnel can bind to one
    // straight away (a tentative address would fail with EADDRNOTAVAIL).
    sh(&format!(
        "ip -n {} addr add 2001:db8::1/64 dev {tap} nodad",
        ns.0
    ));
    vm.run_ok(
        "ip addr add 2001:db8::2/64 dev eth0 && \
         ip l2tp add tunnel tunnel_id 11 peer_tunnel_id 21 encap ip \
         local 2001:db8::2 remote 2001:db8::1 && ip l2tp del tunnel tunnel_id 11",
    )
    .unwrap();
    let ping6 = sh(&format!(
        "ip netns exec {} ping -6 -c 2 -W 5 2001:db8::2",
        ns.0
    ));
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
    let ns = Netns::new("b");
    let (t1, t2) = (tap_name("b"), tap_name("c"));
    let opts = BootOptions::default();
    let (vm1, vm2) = std::thread::scope(|s| {
        let h1 = s.spawn(|| KernelPeer::boot_with(&ns.0, &t1, &opts));
        let h2 = s.spawn(|| KernelPeer::boot_with(&ns.0, &t2, &opts));
        (h1.join().unwrap(), h2.join().unwrap())
    });
    let (mut vm1, mut vm2) = (vm1.expect("boot vm1"), vm2.expect("boot vm2"));
    assert_ne!(vm1.mac(0), vm2.mac(0));
    assert_ne!(vm1.console_log(), vm2.console_log());

    sh(&format!(
        "ip -n {ns} link add kpbr0 type bridge && ip -n {ns} link set kpbr0 up && \
         ip -n {ns} link set {t1} master kpbr0 && ip -n {ns} link set {t2} master kpbr0",
        ns = ns.0
    ));
    vm1.run_ok("ip addr add 198.18.1.1/24 dev eth0").unwrap();
    vm2.run_ok("ip addr add 198.18.1.2/24 dev eth0").unwrap();
    vm1.run_ok("ping -c 2 -W 5 198.18.1.2").unwrap();
    let neigh = vm2.run_ok("ip neigh show 198.18.1.1").unwrap();
    let mac1: Vec<String> = vm1
        .mac(0)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(neigh.contains(&mac1.join(":")), "{neigh}");

    vm1.shutdown().expect("vm1 clean poweroff");
    vm2.shutdown().expect("vm2 clean poweroff");
}
