import Foundation
import FastCGIWire
import Porter
import PorterFastCGI
import PorterHost
import PorterTesting
import Synchronization
import Testing
import Glibc

/// The generated `upstream` in front of several Porter hosts on TCP: nginx accepts it, spreads requests,
/// retries idempotent requests on another host when one fails, and never re-sends a POST that reached a host.
@Suite("nginx upstream over several Porter hosts", .serialized)
struct UpstreamNginxTests {
    static func host(_ name: String, port: UInt16) throws -> FastCGITestServer {
        var registry = HandlerRegistry()
        try registry.add(name: "whoami", path: "/whoami", handler: ClosureHandler { ctx in
            ctx.response.contentType = "text/plain"
            ctx.response.write("\(name) \(ctx.request.method.rawValue)\n")
        })
        return try FastCGITestServer(registry: registry) {
            $0.listen = .tcp(host: "127.0.0.1", port: Int(port))
            $0.allowedPeers = try? PeerAllowlist(parsing: ["127.0.0.1"])
        }
    }

    static let locations = "location = /whoami {\n    client_max_body_size 1k;\n    include porter-fastcgi.conf;\n}\n"

    @Test("two hosts share the load; with one stopped every GET and POST is still answered by the other")
    func failover() async throws {
        let (pa, pb) = (try LocalPorts.free(), try LocalPorts.free())
        let a = try Self.host("a", port: pa)
        let b = try Self.host("b", port: pb)
        let site = try NginxPorterSite(socketPath: "/nonexistent", locations: Self.locations,
                                       upstream: UpstreamConfiguration(servers: ["127.0.0.1:\(pa)", "127.0.0.1:\(pb)"]))
        defer { site.stop() }
        let http = site.client()
        var seen = Set<String>()
        for _ in 0..<10 {
            let r = try await http.fetch("/whoami")
            #expect(r.status == 200)
            seen.insert(r.text)
        }
        #expect(seen == ["a GET\n", "b GET\n"], "round robin reaches both hosts")
        await b.stop()   // its port now refuses connections
        var failed = 0
        for i in 0..<20 {
            let r = try await http.fetch("/whoami", method: i % 2 == 0 ? "GET" : "POST", body: Array("x".utf8))
            if r.status != 200 || !r.text.hasPrefix("a ") { failed += 1 }
        }
        print("upstream failover: 20 requests with host b stopped, \(failed) failed")
        #expect(failed == 0, "a refused connect is retried on the next host, for POST too (nothing was sent)")
        await a.stop()
    }

    @Test("a host that drops requests: GETs are retried elsewhere (0 failed); POSTs it received are not re-sent")
    func idempotentOnly() async throws {
        let pa = try LocalPorts.free()
        let a = try Self.host("a", port: pa)
        let hole = try BlackHole()
        defer { hole.stop() }
        // max_fails = 0: nginx keeps sending to the failing host, so every other request meets it.
        var upstream = UpstreamConfiguration(servers: ["127.0.0.1:\(hole.port)", "127.0.0.1:\(pa)"])
        upstream.maxFails = 0
        let site = try NginxPorterSite(socketPath: "/nonexistent", locations: Self.locations, upstream: upstream)
        defer { site.stop() }
        let http = site.client()
        var getFailures = 0
        for _ in 0..<10 {
            let r = try await http.fetch("/whoami")
            if r.status != 200 { getFailures += 1 }
        }
        let dropsDuringGets = hole.connections
        var postOK = 0, post502 = 0
        for _ in 0..<10 {
            let r = try await http.fetch("/whoami", method: "POST", body: Array("x".utf8))
            if r.status == 200 && r.text == "a POST\n" { postOK += 1 } else if r.status == 502 { post502 += 1 }
        }
        let dropsDuringPosts = hole.connections - dropsDuringGets
        print("upstream retries: GET failed \(getFailures)/10 with \(dropsDuringGets) dropped; POST ok \(postOK), 502 \(post502), dropped \(dropsDuringPosts)")
        #expect(dropsDuringGets > 0, "the failing host was tried")
        #expect(getFailures == 0, "every dropped GET was retried on the other host")
        #expect(post502 == dropsDuringPosts, "a POST that reached the failing host is reported, never sent twice")
        #expect(postOK + post502 == 10)
        #expect(post502 > 0)
        await a.stop()
    }
}

/// A TCP listener on 127.0.0.1 that accepts, reads what arrives for a moment, and closes without answering.
final class BlackHole: Sendable {
    let port: UInt16
    private let fd: Int32
    private let count = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)

    var connections: Int { count.load(ordering: .acquiring) }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else { throw WaitTimedOut(what: "black hole listen", waited: .zero) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = UInt16(bigEndian: addr.sin_port)
        self.fd = fd
        OSThread.start(name: "blackhole") { [self] in self.serve() }
    }

    private func serve() {
        let listenFD = fd
        do {
            while !stopped.load(ordering: .acquiring) {
                let c = accept(listenFD, nil, nil)
                guard c >= 0 else { if errno == EINTR { continue } else { return } }
                // Read the request (nginx has sent it), then close: the request reached a host that failed it.
                var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
                setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var buffer = [UInt8](repeating: 0, count: 4096)
                _ = buffer.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                count.add(1, ordering: .releasing)
                close(c)
            }
        }
    }

    func stop() {
        stopped.store(true, ordering: .releasing)
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
