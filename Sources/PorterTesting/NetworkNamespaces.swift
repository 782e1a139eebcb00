public import Foundation
import Glibc
import Synchronization

/// Test hosts on one machine: `count` network namespaces, each joined to the test's own namespace by a veth
/// pair on a /24 of its own (`10.N.k.1` on this side, `10.N.k.2` inside host k), with loopback up and a
/// default route back here. Made with `ip netns add` + veth and removed by `remove()` (and at process exit);
/// only these addresses and loopback are used. Requires root (CAP_NET_ADMIN); `make` throws
/// ``Unavailable`` with the reason where namespaces cannot be created, so a test can skip with it printed.
public final class NetworkNamespaces: Sendable {
    /// Why the namespaces could not be made.
    public struct Unavailable: Error, CustomStringConvertible {
        /// The command's output.
        public let description: String
    }

    /// One host: its namespace name, its address, and the address of this side of its link.
    public struct Host: Sendable {
        /// The namespace (`ip netns exec NAME …`).
        public let namespace: String
        /// The host's address inside its namespace.
        public let address: String
        /// This side's address on the host's link (the peer address the host sees from here).
        public let gateway: String
    }

    /// The hosts, in order.
    public let hosts: [Host]
    /// The second octet of every address (10.N.k.x), chosen per test process.
    public let network: Int

    private init(hosts: [Host], network: Int) {
        self.hosts = hosts
        self.network = network
    }

    /// Runs the bash script at `script` in a network namespace of its own (`unshare -n`: only a loopback, down until the
    /// script brings it up, and whatever addresses and firewall rules it adds), off the cooperative pool. Returns the
    /// exit status and the combined output (`PorterProcess.run`: a file, not a pipe).
    public static func runIsolated(script: String) async throws -> (status: Int32, output: String) {
        try await ConcurrentClients.offPool { try PorterProcess.run("/usr/bin/unshare", ["-n", "/bin/bash", script]) }
    }

    /// The `ip` binary.
    public static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    } ?? "/usr/sbin/ip"

    /// Makes `count` namespaces (blocks: call from a helper thread). Installs iproute2 when `ip` is missing.
    public static func make(count: Int, tag: String) throws -> NetworkNamespaces {
        if !FileManager.default.isExecutableFile(atPath: ip) {
            _ = try? PorterProcess.run("/usr/bin/apt-get", ["install", "-y", "-q", "iproute2"])
        }
        guard getuid() == 0 else { throw Unavailable(description: "network namespaces need root (uid \(getuid()))") }
        let pid = Int(getpid())
        let network = 100 + pid % 100
        var hosts: [Host] = []
        do {
            for k in 1...count {
                let ns = "porter-\(tag)-\(pid)-\(k)"
                let outer = "pv\(pid % 100_000)x\(k)", inner = "pv\(pid % 100_000)y\(k)"
                let here = "10.\(network).\(k).1", there = "10.\(network).\(k).2"
                hosts.append(Host(namespace: ns, address: there, gateway: here))
                NetworkNamespaces.registerForExit(ns)
                try sh(["netns", "add", ns])
                try sh(["link", "add", outer, "type", "veth", "peer", "name", inner])
                try sh(["link", "set", inner, "netns", ns])
                try sh(["addr", "add", "\(here)/24", "dev", outer])
                try sh(["link", "set", outer, "up"])
                try sh(["-n", ns, "addr", "add", "\(there)/24", "dev", inner])
                try sh(["-n", ns, "link", "set", inner, "up"])
                try sh(["-n", ns, "link", "set", "lo", "up"])
                try sh(["-n", ns, "route", "add", "default", "via", here])
            }
        } catch {
            NetworkNamespaces(hosts: hosts, network: network).remove()
            throw error
        }
        return NetworkNamespaces(hosts: hosts, network: network)
    }

    /// `ip netns exec NAMESPACE` followed by `command`: the argument vector that runs it inside host `index`.
    public func exec(_ index: Int, _ command: [String]) -> [String] { [Self.ip, "netns", "exec", hosts[index].namespace] + command }

    /// Deletes the namespaces (their veth pairs go with them). Safe to call twice.
    public func remove() {
        for host in hosts { _ = try? PorterProcess.run(Self.ip, ["netns", "delete", host.namespace]) }
    }

    private static func sh(_ arguments: [String]) throws {
        let (status, output) = try PorterProcess.run(ip, arguments)
        guard status == 0 else { throw Unavailable(description: "ip \(arguments.joined(separator: " ")): \(output)") }
    }

    private static let atExit = Mutex<[String]?>(nil)

    /// Deletes `namespace` when the test process exits, however the test ended.
    private static func registerForExit(_ namespace: String) {
        let first = atExit.withLock { list -> Bool in
            defer { list = (list ?? []) + [namespace] }
            return list == nil
        }
        if first {
            atexit {
                for ns in NetworkNamespaces.atExit.withLock({ $0 ?? [] }) {
                    _ = try? PorterProcess.run(NetworkNamespaces.ip, ["netns", "delete", ns])
                }
            }
        }
    }

}
