import Foundation
import FastCGIWire
import Porter
import PorterHost
import PorterTesting
import Testing

/// The shipped site caps the requests one client address has in progress (`limit_conn porter_addr 256` in
/// nginx/porter.conf): an attacker holding hundreds of long requests used up nginx's worker_connections (each request
/// proxied to Porter holds two), and then nobody else was served.
@Suite("Edge: requests in progress per client address, through real nginx",
       .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct ConnectionLimitNginxTests {
    static let limit = 256
    /// What the attack against the demo used: 600 held requests (1,200 nginx connections without the cap, over the
    /// 1,024 of deploy/dev.sh's nginx and of the test harness's).
    static let attackers = 600

    @Test("600 slow requests from one address: 256 are held, the other 344 get 429 at once; another address is still served")
    func oneAddressCannotTakeEveryConnection() async throws {
        var limits = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits)
        if limits.rlim_cur < 4096 {   // 600 client sockets and their 256 upstream connections live in this process
            limits.rlim_cur = min(4096, limits.rlim_max)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits)
        }
        let configuration = try ServerConfiguration.parse(toml: """
        [[handlers]]
        verb = "GET,HEAD"
        path = "/slow"
        handler = "slow"
        max_ms = 600000
        [[handlers]]
        verb = "GET,HEAD"
        path = "/hello"
        handler = "hello"
        """, baseDirectory: ".")
        let running = try await InProcessSite.start(PorterApplication.porter, configuration)
        let port = running.site.nginx.port
        let outcome = try await ConcurrentClients.offPool { try Self.attack(port: port) }
        #expect(outcome.answers.count == Self.attackers - Self.limit && outcome.answers.allSatisfy { $0 == "HTTP/1.1 429 Too Many Requests" },
                "\(outcome.answers.count) of \(Self.attackers) answered: \(Set(outcome.answers)); nginx log:\n\(String(running.site.nginx.errorLog.suffix(2000)))")
        #expect(outcome.otherAddress == 200, "from 127.0.0.2 while the attack holds its requests: \(outcome.otherAddress)")
        #expect(outcome.sameAddress == 429, "from 127.0.0.1 while it is at its limit: \(outcome.sameAddress)")
        #expect(outcome.servedAgain, "127.0.0.1 is served again once its requests ended")
        await running.stop()
    }

    struct Outcome: Sendable {
        /// The status lines of the attack's requests that were answered while the others were held.
        var answers: [String]
        var otherAddress: Int
        var sameAddress: Int
        var servedAgain: Bool
    }

    /// Opens `attackers` connections from 127.0.0.1, each asking for a 10-minute /slow; collects the answers that
    /// come while the rest are held (hang guard 120 s), asks /hello from 127.0.0.2 and from 127.0.0.1, hangs up, and
    /// waits (hang guard 60 s) until 127.0.0.1 is served again.
    static func attack(port: UInt16) throws -> Outcome {
        let sockets = try (0..<attackers).map { _ in
            let socket = try RawSocket(connectingTo: .tcp(host: "127.0.0.1", port: port))
            try socket.write(Array("GET /slow?ms=600000 HTTP/1.1\r\nHost: attacker\r\n\r\n".utf8))
            return socket
        }
        defer { for socket in sockets { socket.close() } }
        var answers: [Int: String] = [:]
        let deadline = ContinuousClock.now + .seconds(120)
        while answers.count < attackers - limit && ContinuousClock.now < deadline {
            for (index, socket) in sockets.enumerated() where answers[index] == nil {
                guard let bytes = try? socket.read(until: .now + .microseconds(1)), !bytes.isEmpty else { continue }
                answers[index] = String(decoding: bytes.prefix(while: { $0 != 13 }), as: UTF8.self)
            }
            usleep(50_000)
        }
        let other = try SourceBoundRequest.get(port: port, path: "/hello", from: "127.0.0.2").status
        let same = try SourceBoundRequest.get(port: port, path: "/hello", from: "127.0.0.1").status
        // Nothing else answers while they are held.
        for (index, socket) in sockets.enumerated() where answers[index] == nil {
            if let bytes = try? socket.read(until: .now + .microseconds(1)), !bytes.isEmpty {
                answers[index] = String(decoding: bytes.prefix(while: { $0 != 13 }), as: UTF8.self)
            }
        }
        for socket in sockets { socket.close() }
        var servedAgain = false
        let again = ContinuousClock.now + .seconds(60)
        while !servedAgain && ContinuousClock.now < again {
            servedAgain = (try? SourceBoundRequest.get(port: port, path: "/hello", from: "127.0.0.1").status) == 200
            if !servedAgain { usleep(100_000) }
        }
        return Outcome(answers: Array(answers.values), otherAddress: other, sameAddress: same, servedAgain: servedAgain)
    }
}
