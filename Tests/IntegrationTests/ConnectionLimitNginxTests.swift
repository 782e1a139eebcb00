import Foundation
import FastCGIWire
import Porter
import PorterHost
import PorterTesting
import Testing

/// The shipped site caps the requests one client address has in progress (`limit_conn porter_addr 64` in
/// nginx/porter.conf): an attacker holding hundreds of long requests used up nginx's worker_connections (each request
/// proxied to Porter holds two), and then nobody else was served.
@Suite("Edge: requests in progress per client address, through real nginx",
       .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct ConnectionLimitNginxTests {
    static let limit = 64
    /// What the attack against the demo used: 600 held requests (1,200 nginx connections without the cap, over the
    /// test harness's 1,024; with it 128, so it takes eight addresses to fill those).
    static let attackers = 600

    @Test("600 slow requests from one address: 64 are held, the other 536 get 429 at once; another address is still served")
    func oneAddressCannotTakeEveryConnection() async throws {
        var limits = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits)
        if limits.rlim_cur < 4096 {   // 600 client sockets and their 64 upstream connections live in this process
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
            collectAnswers(sockets, into: &answers)
            usleep(50_000)
        }
        let other = try SourceBoundRequest.get(port: port, path: "/hello", from: "127.0.0.2").status
        let same = try SourceBoundRequest.get(port: port, path: "/hello", from: "127.0.0.1").status
        // Nothing else answers while they are held.
        collectAnswers(sockets, into: &answers)
        for socket in sockets { socket.close() }
        var servedAgain = false
        let again = ContinuousClock.now + .seconds(60)
        while !servedAgain && ContinuousClock.now < again {
            servedAgain = (try? SourceBoundRequest.get(port: port, path: "/hello", from: "127.0.0.1").status) == 200
            if !servedAgain { usleep(100_000) }
        }
        return Outcome(answers: Array(answers.values), otherAddress: other, sameAddress: same, servedAgain: servedAgain)
    }

    @Test("20 large uploads held from one address: 16 are read, 4 get 429 at once; small POSTs and another address's upload still pass")
    func largeUploadsPerAddress() async throws {
        let configuration = try ServerConfiguration.parse(toml: """
        [[handlers]]
        verb = "POST"
        path = "/sink"
        handler = "echo"
        max_body = "2m"
        """, baseDirectory: ".")
        let running = try await InProcessSite.start(PorterApplication.porter, configuration)
        let port = running.site.nginx.port
        let outcome = try await ConcurrentClients.offPool { try Self.holdUploads(port: port) }
        #expect(outcome.refused.count == 4 && outcome.refused.allSatisfy { $0 == "HTTP/1.1 429 Too Many Requests" }, "\(outcome.refused)")
        #expect(outcome.smallPost == 200, "a small POST from the same address: \(outcome.smallPost)")
        #expect(outcome.otherAddressUpload == 200, "a whole large upload from 127.0.0.2: \(outcome.otherAddressUpload)")
        await running.stop()
    }

    struct UploadOutcome: Sendable {
        var refused: [String]
        var smallPost: Int
        var otherAddressUpload: Int
    }

    /// Opens 20 uploads of 1,500,000 bytes from 127.0.0.1 and sends 100 KB of each (nginx spools them to disk and
    /// waits for the rest); collects what is answered meanwhile (hang guard 120 s); then a 10-byte POST from 127.0.0.1
    /// and a whole 1,500,000-byte upload from 127.0.0.2.
    static func holdUploads(port: UInt16) throws -> UploadOutcome {
        let length = 1_500_000
        func head(_ n: Int) -> [UInt8] {
            Array("POST /sink HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: \(n)\r\nConnection: close\r\n\r\n".utf8)
        }
        let sockets = try (0..<20).map { _ in
            let socket = try RawSocket(connectingTo: .tcp(host: "127.0.0.1", port: port))
            try socket.write(head(length) + [UInt8](repeating: 0x61, count: 100_000))
            return socket
        }
        defer { for socket in sockets { socket.close() } }
        var answers: [Int: String] = [:]
        let deadline = ContinuousClock.now + .seconds(120)
        while answers.count < 4 && ContinuousClock.now < deadline {
            collectAnswers(sockets, into: &answers)
            usleep(50_000)
        }
        let small = String(decoding: try SourceBoundRequest.exchange(head(10) + Array("0123456789".utf8), port: port, from: "127.0.0.1"), as: UTF8.self)
        let whole = String(decoding: try SourceBoundRequest.exchange(head(length) + [UInt8](repeating: 0x62, count: length), port: port,
                                                                     from: "127.0.0.2", timeoutSeconds: 60), as: UTF8.self)
        // Nothing else answers while the 16 are held.
        collectAnswers(sockets, into: &answers)
        func status(_ raw: String) -> Int { raw.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? -1 }
        return UploadOutcome(refused: Array(answers.values), smallPost: status(small), otherAddressUpload: status(whole))
    }

    /// Adds the status line of every socket in `sockets` that has an answer now (by index) to `answers`.
    static func collectAnswers(_ sockets: [RawSocket], into answers: inout [Int: String]) {
        for (index, socket) in sockets.enumerated() where answers[index] == nil {
            guard let bytes = try? socket.read(until: .now + .microseconds(1)), !bytes.isEmpty else { continue }
            answers[index] = String(decoding: bytes.prefix(while: { $0 != 13 }), as: UTF8.self)
        }
    }
}
