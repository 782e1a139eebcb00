import FastCGIWire
import Porter
import PorterFastCGI
import PorterTesting
import Testing
import Glibc

/// `allowed_peers`: TCP peers outside the list are closed at accept and counted; a non-loopback TCP listener
/// refuses to start without a list unless waived.
@Suite("TCP peer allowlist")
struct PeerAllowlistTests {
    @Test("addresses and CIDRs, IPv4 and IPv6, match as written")
    func matching() throws {
        let list = try PeerAllowlist(parsing: ["10.0.0.5", "192.168.1.0/24", "fd00::/8", "::1", "172.16.0.1, 172.16.0.2"])
        #expect(list.allows(address: "10.0.0.5"))
        #expect(!list.allows(address: "10.0.0.6"))
        #expect(list.allows(address: "192.168.1.200"))
        #expect(!list.allows(address: "192.168.2.1"))
        #expect(list.allows(address: "fd12:3456::1"))
        #expect(!list.allows(address: "fe80::1"))
        #expect(list.allows(address: "::1"))
        #expect(list.allows(address: "172.16.0.2"))
        // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
        #expect(list.allows(address: "::ffff:10.0.0.5"))
        #expect(!list.allows(address: "::ffff:10.0.0.7"))
        #expect(try PeerAllowlist(parsing: ["0.0.0.0/0"]).allows(address: "203.0.113.9"))
        #expect(try PeerAllowlist(parsing: ["10.1.2.3/31"]).allows(address: "10.1.2.2"))
        #expect(!(try PeerAllowlist(parsing: ["10.1.2.3/31"]).allows(address: "10.1.2.4")))
    }

    @Test("bad entries are refused with the entry named", arguments: ["", "abc", "10.0.0.0/33", "10.0.0.1/", "::1/129", "1.2.3.4/-1",
                                                                     "1.2.3", "10.0.0.1/8/8", "300.1.1.1", "10.0.0.1/ 8", "fd00::/x", ";"])
    func badEntries(entry: String) {
        #expect(throws: ConfigurationError.self) { try PeerAllowlist(parsing: [entry]) }
    }

    @Test("loopback listen addresses need no allowlist; others do unless waived")
    func startPolicy() throws {
        #expect(PeerAllowlist.isLoopback(host: "127.0.0.1"))
        #expect(PeerAllowlist.isLoopback(host: "127.1.2.3"))
        #expect(PeerAllowlist.isLoopback(host: "::1"))
        #expect(PeerAllowlist.isLoopback(host: "localhost"))
        #expect(!PeerAllowlist.isLoopback(host: "0.0.0.0"))
        #expect(!PeerAllowlist.isLoopback(host: "::"))
        #expect(!PeerAllowlist.isLoopback(host: "10.0.0.1"))
        #expect(!PeerAllowlist.isLoopback(host: "example.org"))
        var c = FastCGIServerConfiguration(listen: .tcp(host: "0.0.0.0", port: 9000))
        #expect(throws: ServerStartError.self) { try c.checkPeerPolicy(boundHost: "0.0.0.0") }
        c.allowAnyPeer = true
        try c.checkPeerPolicy(boundHost: "0.0.0.0")
        c.allowAnyPeer = false
        c.allowedPeers = try PeerAllowlist(parsing: ["10.0.0.2"])
        try c.checkPeerPolicy(boundHost: "0.0.0.0")
    }

    @Test("the server refuses to start on 0.0.0.0 without allowed_peers (before binding anything)")
    func refusesWildcardWithoutList() throws {
        let port = try LocalPorts.free()
        #expect(throws: ServerStartError.self) {
            _ = try FastCGITestServer(registry: try transportRegistry()) { $0.listen = .tcp(host: "0.0.0.0", port: Int(port)) }
        }
        #expect(!LocalPorts.isAccepting(port: port))
    }

    @Test("on 0.0.0.0 with an allowlist: listed peers are served, others closed at accept and counted")
    func filtersPeers() async throws {
        let port = try LocalPorts.free()
        let t = try FastCGITestServer(registry: try transportRegistry()) {
            $0.listen = .tcp(host: "0.0.0.0", port: Int(port))
            $0.allowedPeers = try? PeerAllowlist(parsing: ["127.0.0.1/32"])
        }
        let allowed = try await ConcurrentClients.offPool { try fastCGIExchange(port: port, from: "127.0.0.1", request: .get("/hello")) }
        #expect(String(decoding: allowed, as: UTF8.self).contains("Hello, world"))
        for _ in 0..<3 {
            let refused = try await ConcurrentClients.offPool { try fastCGIExchange(port: port, from: "127.0.0.2", request: .get("/hello")) }
            #expect(refused.isEmpty, "a refused peer gets no byte back")
        }
        #expect(t.server.statistics.refusedPeers.load(ordering: .relaxed) == 3)
        // Still serving the allowed peer afterwards.
        let again = try await ConcurrentClients.offPool { try fastCGIExchange(port: port, from: "127.0.0.1", request: .get("/hello")) }
        #expect(String(decoding: again, as: UTF8.self).contains("Hello, world"))
        #expect(t.server.statistics.refusedPeers.load(ordering: .relaxed) == 3)
        await t.stop()
    }

    @Test("allow_any_peer waives the list: every peer is served")
    func waived() async throws {
        let port = try LocalPorts.free()
        let t = try FastCGITestServer(registry: try transportRegistry()) {
            $0.listen = .tcp(host: "0.0.0.0", port: Int(port))
            $0.allowAnyPeer = true
        }
        let bytes = try await ConcurrentClients.offPool { try fastCGIExchange(port: port, from: "127.0.0.2", request: .get("/hello")) }
        #expect(String(decoding: bytes, as: UTF8.self).contains("Hello, world"))
        #expect(t.server.statistics.refusedPeers.load(ordering: .relaxed) == 0)
        await t.stop()
    }
}

/// Sends one FastCGI request to 127.0.0.1:`port` from the local address `source` and returns every byte that
/// came back before the server closed the connection (empty: closed without an answer).
func fastCGIExchange(port: UInt16, from source: String, request: FastCGIRequest) throws -> [UInt8] {
    var request = request
    request.keepConnection = false
    return try SourceBoundRequest.exchange(request.encoded(), port: port, from: source, timeoutSeconds: 30)
}
