import FastCGIWire
import Foundation
import Logging
import Porter
import PorterDemo
import PorterFastCGI
import PorterHost
import PorterTesting
import Synchronization
import Testing

/// Streamed responses (`EventsHandler`, `EdgePolicy(streaming: true)`) through real nginx.
@Suite("Streaming through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct StreamingNginxTests {
    /// What the stream's end reported.
    final class Outcome: Sendable {
        let ended = Mutex<(sent: Int, error: String?)?>(nil)
        let preSendHeaders = Atomic<Int>(0)
    }

    /// An in-process Porter with `/events` (`count` events, the gate awaited between two) behind nginx.
    static func site(count: Int, gate: TestGate, outcome: Outcome) throws -> (FastCGIServer, NginxPorterSite) {
        let dir = FastCGITestServer.makeShortTemporaryDirectory()
        var app = PorterApplication(name: "streaming-test")
        app.map("GET,HEAD", "/events", EventsHandler(count: count, pause: { _ in try await gate.pass() },
                                                     onEnd: { sent, error in outcome.ended.withLock { $0 = (sent, error.map { "\($0)" }) } }),
                edge: EventsHandler.edge)
        app.use(ClosureModule(name: "stamp") { events in
            events.on(.preSendRequestHeaders) { ctx in
                let n = outcome.preSendHeaders.add(1, ordering: .relaxed).newValue
                ctx.response.headers["X-Seen"] = "\(n)"
            }
        })
        let configuration = try ServerConfiguration.parse(toml: "listen = \"\(dir)/s\"\nsocket_mode = \"0666\"\n", baseDirectory: dir)
        var logger = Logger(label: "porter.streaming-test")
        logger.logLevel = .critical
        let server = try app.build(configuration, logger: logger).makeServer(logger: logger)
        try server.start()
        let locations = try app.nginxLocations(for: configuration)
        #expect(locations.contains("fastcgi_buffering off;"))
        let site = try NginxPorterSite(socketPath: dir + "/s", locations: locations)
        return (server, site)
    }

    /// Reads from `socket` until `text` has arrived (or the hang guard).
    static func read(_ socket: ClientSocket, into buffer: inout [UInt8], until text: String) throws -> String {
        let deadline = ContinuousClock.now.advanced(by: hangGuard)
        while !String(decoding: buffer, as: UTF8.self).contains(text) {
            let chunk = try socket.read(until: deadline)
            if chunk.isEmpty { break }
            buffer += chunk
        }
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test("each event reaches the client before the next is produced; PreSendRequestHeaders ran once, first")
    func eventsArriveOneByOne() async throws {
        let gate = TestGate()
        let outcome = Outcome()
        let (server, site) = try Self.site(count: 3, gate: gate, outcome: outcome)
        try await ConcurrentClients.offPool {
            let socket = try ClientSocket(connectingTo: .tcp(host: "127.0.0.1", port: site.nginx.port))
            defer { socket.close() }
            try socket.write(Array("GET /events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8))
            var buffer: [UInt8] = []
            let first = try Self.read(socket, into: &buffer, until: "data: event 1\n\n")
            #expect(first.hasPrefix("HTTP/1.1 200"))
            #expect(first.contains("Content-Type: text/event-stream"))
            #expect(first.contains("X-Seen: 1"), "the module saw PreSendRequestHeaders before the head went out")
            #expect(gate.passed == 0, "event 2 is not produced yet: the producer waits at the gate")
            #expect(!first.contains("event 2"))
            gate.release()
            let second = try Self.read(socket, into: &buffer, until: "data: event 2\n\n")
            #expect(gate.passed == 1 && !second.contains("event 3"))
            gate.release()
            let all = try Self.read(socket, into: &buffer, until: "data: event 3\n\n")
            #expect(all.contains("id: 3"))
        }
        try await waitUntil("the stream ended") { outcome.ended.withLock { $0 } != nil }
        #expect(outcome.ended.withLock { $0?.sent } == 3)
        #expect(outcome.preSendHeaders.load(ordering: .relaxed) == 1, "PreSendRequestHeaders exactly once")
        site.stop()
        server.shutdown()
        await server.waitUntilStopped()
    }

    @Test("a client that goes away cancels the producer while it waits (Task cancellation, no further write needed)")
    func disconnectCancelsTheProducer() async throws {
        let gate = TestGate()
        let outcome = Outcome()
        let (server, site) = try Self.site(count: 3, gate: gate, outcome: outcome)
        try await ConcurrentClients.offPool {
            let socket = try ClientSocket(connectingTo: .tcp(host: "127.0.0.1", port: site.nginx.port))
            try socket.write(Array("GET /events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8))
            var buffer: [UInt8] = []
            _ = try Self.read(socket, into: &buffer, until: "data: event 1\n\n")
            socket.close()
        }
        // The gate stays shut: only cancellation can end the producer's wait.
        try await waitUntil("the producer was cancelled") { outcome.ended.withLock { $0 } != nil }
        let ended = try #require(outcome.ended.withLock { $0 })
        #expect(ended.sent == 1)
        #expect(ended.error == "\(CancellationError())")
        #expect(gate.passed == 0)
        site.stop()
        server.shutdown()
        await server.waitUntilStopped()
    }

    @Test("a client that goes away ends a producer that never waits (its next write throws)")
    func disconnectEndsTheStream() async throws {
        let gate = TestGate()
        let outcome = Outcome()
        let (server, site) = try Self.site(count: 100_000, gate: gate, outcome: outcome)
        try await ConcurrentClients.offPool {
            let socket = try ClientSocket(connectingTo: .tcp(host: "127.0.0.1", port: site.nginx.port))
            try socket.write(Array("GET /events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8))
            var buffer: [UInt8] = []
            _ = try Self.read(socket, into: &buffer, until: "data: event 1\n\n")
            socket.close()
        }
        gate.open()
        try await waitUntil("the producer noticed the client left") { outcome.ended.withLock { $0 } != nil }
        let ended = try #require(outcome.ended.withLock { $0 })
        #expect(ended.error != nil, "stopped by a failed write, not by running out of events")
        #expect(ended.sent < 100_000)
        site.stop()
        server.shutdown()
        await server.waitUntilStopped()
    }

    @Test("the catalogue's events handler through the porter process: its route gets fastcgi_buffering off, the events arrive")
    func catalogueEvents() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-events")
        let (porter, site) = try await FeatureNginxTests.start("""
        [[handlers]]
        verb = "GET,HEAD"
        path = "/events"
        handler = "events"
        count = 3
        interval_ms = 0
        """, in: dir)
        let response = try await site.client().fetch("/events")
        #expect(response.status == 200)
        #expect(response.headers["Content-Type"] == "text/event-stream; charset=utf-8")
        #expect(response.text == "id: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\nid: 3\ndata: event 3\n\n")
        #expect(response.wasChunked, "streamed: no Content-Length")
        porter.signal(SIGTERM)
        _ = await porter.exitStatus()
        site.stop()
    }

    @Test("bad events options are startup errors", arguments: [
        ["count": ConfigValue.int(0)], ["count": .int(1001)], ["interval_ms": .int(-1)], ["count": .string("many")],
    ])
    func badEventsOptions(_ values: [String: ConfigValue]) {
        #expect(throws: ConfigurationError.self) { _ = try EventsHandler(options: Options(values, origin: "test")) }
    }
}
