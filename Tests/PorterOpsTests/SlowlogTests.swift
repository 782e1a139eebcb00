import Foundation
import Logging
import Synchronization
import Testing
import Porter
import PorterTesting
@testable import PorterOps

/// A log handler keeping every entry (for asserting on what was logged).
struct CapturingLogHandler: LogHandler {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }
    final class Store: Sendable {
        let entries = Mutex<[Entry]>([])
        var all: [Entry] { entries.withLock { $0 } }
    }
    let store: Store
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        var merged: [String: String] = [:]
        for (k, v) in metadata { merged[k] = "\(v)" }
        for (k, v) in event.metadata ?? [:] { merged[k] = "\(v)" }
        store.entries.withLock { $0.append(Entry(level: event.level, message: "\(event.message)", metadata: merged)) }
    }
}

@Suite struct SlowlogTests {
    @Test func aRequestBlockedPastTheTimeoutIsLoggedWhileStillBlocked() async throws {
        let gate = TestGate()
        var registry = HandlerRegistry()
        try registry.add(name: "blocked", verbs: "GET", path: "/blocked", handler: AsyncClosureHandler { ctx in
            await gate.wait()
            ctx.response.setText("done", status: .ok)
        })
        // A timeout no request reaches by itself: the test drives the watchdog's clock once the handler is blocked,
        // so a slow machine cannot make it fire during an earlier event.
        let slowlog = Slowlog(timeout: .seconds(3600))
        let log = TraceLog()
        let pipeline = Pipeline(registry: registry, modules: [TraceModule(log: log, slowlog: slowlog), SpyModule()])
        let store = CapturingLogHandler.Store()
        let logger = Logger(label: "slowlog-test") { _ in CapturingLogHandler(store: store) }
        let ctx = HTTPContext(request: HTTPRequest(uri: "/blocked", parameters: ["REQUEST_ID": "req-from-nginx-42"]),
                              application: ApplicationState(), logger: logger)
        let request = Task { await pipeline.run(ctx) }
        try await waitUntil("the handler is blocked on the gate") { gate.waiting == 1 }
        slowlog.check(now: MonotonicClock.nanoseconds() + 3_601_000_000_000)
        try await waitUntil("the slow request is logged") { store.all.contains { $0.message == "slow request still running" } }
        // Logged while the handler is still blocked on the gate: nothing was recorded as finished yet.
        #expect(gate.waiting == 1)
        #expect(log.count == 0)
        let entry = try #require(store.all.first { $0.message == "slow request still running" })
        #expect(entry.level == .warning)
        #expect(entry.metadata["request.id"] == "req-from-nginx-42")
        #expect(entry.metadata["slowlog.handler"] == "blocked")
        #expect(entry.metadata["slowlog.event"] == "PreRequestHandlerExecute")
        #expect(entry.metadata["http.path"] == "/blocked")
        #expect(entry.metadata["slowlog.spans"]?.contains("BeginRequest/spy=") == true)
        gate.open()
        await request.value
        #expect(ctx.response.status == .ok)
        #expect(log.count == 1)
        // Once per request, however long it ran.
        slowlog.check(now: MonotonicClock.nanoseconds() + 7_300_000_000_000)
        #expect(slowlog.logged == 1)
        #expect(store.all.filter { $0.message == "slow request still running" }.count == 1)
    }

    @Test func aFastRequestIsNeverLogged() async throws {
        var registry = HandlerRegistry()
        try registry.add(name: "fast", verbs: "GET", path: "/fast", handler: ClosureHandler { ctx in ctx.response.setText("ok", status: .ok) })
        let slowlog = Slowlog(timeout: .seconds(30))
        let pipeline = Pipeline(registry: registry, modules: [TraceModule(slowlog: slowlog)])
        await send(pipeline, "/fast", application: ApplicationState())
        slowlog.check(now: MonotonicClock.nanoseconds() + 60_000_000_000)   // as if a minute passed: it already finished
        #expect(slowlog.logged == 0)
    }

    @Test func badSlowlogTimeoutsAreConfigurationErrors() throws {
        for bad: ConfigValue in [.double(0), .double(-1), .string("soon"), .double(.infinity), .double(100_000)] {
            #expect(throws: ConfigurationError.self) { try TraceModule(options: Options(["slowlog_timeout": bad])) }
        }
        #expect(try TraceModule(options: Options(["slowlog_timeout": .double(0.5)])).slowlog?.timeout == .milliseconds(500))
        #expect(try TraceModule(options: Options([:])).slowlog == nil)
    }

    @Test func slowestView() async throws {
        let log = TraceLog()
        var registry = HandlerRegistry()
        try registry.add(name: "trace", verbs: "GET", path: "/trace.axd", handler: TraceHandler(log: log))
        try registry.add(name: "sleep", verbs: "GET", path: "/sleep", handler: AsyncClosureHandler { ctx in
            let ms = Int(ctx.request.query["ms"] ?? "0") ?? 0
            try await Task.sleep(for: .milliseconds(ms))
            ctx.response.setText("ok", status: .ok)
        })
        let app = ApplicationState()
        let pipeline = Pipeline(registry: registry, modules: [TraceModule(log: log)])
        for ms in [0, 40, 5, 20] { await send(pipeline, "/sleep?ms=\(ms)", application: app) }
        let ctx = await send(pipeline, "/trace.axd?slowest=2&format=json", application: app)
        #expect(ctx.response.status == .ok)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let listing = try decoder.decode(TraceListing.self, from: Data(ctx.bodyText.utf8))
        #expect(listing.requests.count == 2)
        // The two longest of the four, longest first (whatever this machine's timings were).
        let all = log.recent().filter { $0.path == "/sleep" }.sorted { $0.totalNanos > $1.totalNanos }
        #expect(listing.requests.map(\.sequence) == all.prefix(2).map(\.sequence))
        #expect(listing.requests[0].totalNanos >= listing.requests[1].totalNanos)
        for bad in ["0", "x", "-3"] {
            #expect(await send(pipeline, "/trace.axd?slowest=\(bad)", application: app).response.status == .badRequest)
        }
    }
}

/// A request whose task is cancelled (nginx aborted it: the client went away) is nginx's 499 at info level, counted as
/// 4xx, not an "unhandled error" 500 (a client hanging up on purpose filled the error log and the 5xx series);
/// a `CancellationError` thrown by a handler whose request was not cancelled is still a 500.
@Suite struct ClientGoneTests {
    @Test func aCancelledRequestIs499AtInfo() async throws {
        let gate = TestGate()
        var registry = HandlerRegistry()
        try registry.add(name: "waits", verbs: "GET", path: "/waits", handler: AsyncClosureHandler { ctx in
            try await gate.pass()
            ctx.response.setText("done", status: .ok)
        })
        try registry.add(name: "throws", verbs: "GET", path: "/throws", handler: AsyncClosureHandler { _ in throw CancellationError() })
        let statistics = RequestStatistics()
        let pipeline = Pipeline(registry: registry, modules: [MetricsModule(statistics: statistics)])
        let store = CapturingLogHandler.Store()
        let logger = Logger(label: "client-gone") { _ in CapturingLogHandler(store: store) }

        let ctx = HTTPContext(request: HTTPRequest(uri: "/waits"), application: ApplicationState(), logger: logger)
        let request = Task { await pipeline.run(ctx) }
        try await waitUntil("the handler waits") { gate.waiting == 1 }
        request.cancel()
        await request.value
        #expect(ctx.response.status.code == 499)
        #expect(!store.all.contains { $0.level >= .error }, "\(store.all.map { "\($0.level) \($0.message)" })")
        #expect(store.all.contains { $0.level == .info && $0.message == "request cancelled: the client went away" })

        let thrown = HTTPContext(request: HTTPRequest(uri: "/throws"), application: ApplicationState(), logger: logger)
        await pipeline.run(thrown)
        #expect(thrown.response.status.code == 500, "not cancelled: a handler's own CancellationError is its failure")
        #expect(store.all.contains { $0.level == .error && $0.message == "unhandled error" })

        // Cancelled past the deadline the server set: a timeout, 504 (5xx), not the client's doing.
        let late = HTTPContext(request: HTTPRequest(uri: "/waits"), application: ApplicationState(), logger: logger)
        late.timeoutDeadline = MonotonicClock.nanoseconds()
        let informed = store.all.count
        let timedOut = Task { await pipeline.run(late) }
        try await waitUntil("the handler waits again") { gate.waiting == 1 }
        timedOut.cancel()
        await timedOut.value
        #expect(late.response.status.code == 504)
        #expect(!store.all.dropFirst(informed).contains { $0.message == "request cancelled: the client went away" })

        let classes = statistics.snapshot().requestDurations?.series.keys.map { "\($0.handler) \($0.statusClass)" }.sorted()
        #expect(classes == ["throws 5xx", "waits 4xx", "waits 5xx"])
    }
}
