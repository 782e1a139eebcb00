import Foundation
import Logging
import Porter
@testable import PorterHost
import PorterTesting
import ServiceLifecycle
import Synchronization
import Testing
@testable import PorterState

/// The session module's long-running work (the PostgreSQL pool, the purger) is handed to the host's
/// `ServiceGroup` through `BuildContext.run` and ends with its graceful shutdown.
@Suite struct SessionServicesTests {
    /// Builds the `session` module from the state feature's catalogue, collecting the services it asks to run.
    func buildSession(_ options: [String: ConfigValue]) throws -> (any HTTPModule, [any Service]) {
        var catalog = Catalog()
        StateFeature().register(&catalog)
        let collector = ServiceCollector()
        let context = BuildContext(application: ApplicationState(), logger: Logger(label: "test"), lifecycle: collector)
        let module = try catalog.modules.build("session", options: Options(options, origin: "[session]"), context: context)
        return (module, collector.services)
    }

    func countingPipeline(_ module: any HTTPModule) throws -> Pipeline {
        var registry = HandlerRegistry()
        try registry.add(name: "count", path: "/count", handler: ClosureHandler(sessionState: .exclusive) { ctx in
            let n = Int(ctx.session?["n"] ?? "0")! + 1
            ctx.session?["n"] = String(n)
            ctx.response.write(String(n))
        })
        return Pipeline(registry: registry, modules: [module])
    }

    @Test func aPostgresSessionModuleRegistersItsPoolAndPurgerWhichStopWithTheGroup() async throws {
        let server = try await postgresServer()
        let database = try await server.makeDatabaseName()
        let (module, services) = try buildSession([
            "store": .string("postgres"), "postgres_host": .string("127.0.0.1"), "postgres_port": .int(server.port),
            "postgres_user": .string("postgres"), "postgres_database": .string(database),
            "purge_interval_seconds": .int(1), "cookie_secure": .bool(true),
        ])
        #expect(services.count == 2)
        #expect(services.contains { $0 is PostgresService } && services.contains { $0 is SessionPurger })
        let pipeline = try countingPipeline(module)
        let group = RunningGroup(services)
        // The pool serves queries while the group runs.
        let first = makeContext(.get, "/count")
        await pipeline.run(first)
        #expect(bodyText(first) == "1")
        let sid = try #require(setCookie(first, "porter_session")?.value)
        let second = makeContext(.get, "/count", headers: ["Cookie": "porter_session=\(sid)"])
        await pipeline.run(second)
        #expect(bodyText(second) == "2")
        // Graceful shutdown ends both services: run() returns without error (a service that failed or ended
        // early would make it throw; one that never ended would hang the guard below).
        try await group.shutDown()
        await module.shutdown()
    }

    /// A reload hands the same pool to a new group before the old group stops: the old group's stop closes the idle
    /// connections, and the store goes on serving through the new group (opening a connection again).
    @Test func aPoolHandedToTwoGroupsServesAfterEitherStopsAndBothGroupsStop() async throws {
        let server = try await postgresServer()
        let store = PostgresSessionStore(connection: try await server.makeDatabase())
        let first = RunningGroup([store.database])
        #expect(try await store.read(id: "none") == nil)
        let second = RunningGroup([store.database])        // as a reload does with app.use modules' services
        #expect(try await store.read(id: "none") == nil)
        try await second.shutDown()
        #expect(try await store.read(id: "none") == nil, "the first group's pool still serves")
        try await first.shutDown()
    }

    @Test func thePurgerRunsOnItsScheduleUntilGracefulShutdown() async throws {
        let clock = ManualClock()
        let store = MemorySessionStore(clock: clock.wallClock)
        try await store.insert(id: "old", data: "{}", timeoutSeconds: 60, lockOwner: nil, lease: .seconds(30))
        let purger = SessionPurger(store: store, interval: .milliseconds(10))
        let group = RunningGroup([purger])
        clock.advance(by: .seconds(61))
        try await waitUntil("the purger removed the expired session") { store.count == 0 }
        try await group.shutDown()
    }

    @Test func aSQLiteSessionModuleRunsOnlyThePurgerAndNoneWhenPurgingIsOff() throws {
        let path = try temporaryDirectory().appendingPathComponent("s.sqlite").path
        let (_, services) = try buildSession(["store": .string("sqlite"), "path": .string(path)])
        #expect(services.count == 1 && services.first is SessionPurger)
        let (_, none) = try buildSession(["store": .string("memory"), "purge_interval_seconds": .int(0)])
        #expect(none.isEmpty)
    }

    @Test func codeFirstUseRunsTheModulesServicesWithTheServer() throws {
        var app = PorterApplication()
        // The README's snippet.
        let pool = try PostgresService(url: "postgres://porter@/porter?host=/run/postgresql")
        app.use(SessionModule(store: PostgresSessionStore(database: pool)))   // runs the pool and the purger
        #expect(app.extraServices.count == 2)
        #expect(app.extraServices.contains { $0 is PostgresService } && app.extraServices.contains { $0 is SessionPurger })
    }

    @Test func badPostgresOptionsAreAConfigurationErrorNotAStartedPool() throws {
        #expect(throws: ConfigurationError.self) {
            try buildSession(["store": .string("postgres"), "postgres_url": .string("mysql://x/y")])
        }
        #expect(throws: ConfigurationError.self) {
            try buildSession(["store": .string("postgres"), "postgres_tls": .string("sometimes")])
        }
        #expect(throws: ConfigurationError.self) {
            try buildSession(["store": .string("memory"), "purge_interval_seconds": .int(-1)])
        }
        for bad in [0, 101] {
            #expect(throws: ConfigurationError.self) {
                try buildSession(["store": .string("postgres"), "postgres_max_connections": .int(bad)])
            }
        }
    }

    @Test func thePoolSizeIsASettingAndPartOfWhatPoolsAreSharedBy() throws {
        let pools = PostgresPools()
        let url: ConfigValue = .string("postgres://porter@127.0.0.1:1/porter")
        let three = try pools.pool(options: Options(["postgres_url": url, "postgres_max_connections": .int(3)]))
        #expect(three.maximumConnections == 3)
        #expect(try pools.pool(options: Options(["postgres_url": url, "postgres_max_connections": .int(3)])) === three)
        let standard = try pools.pool(options: Options(["postgres_url": url]))
        #expect(standard.maximumConnections == 8 && standard !== three)
    }

}

/// A `ServiceGroup` running in the background that records when its `run()` returned.
final class RunningGroup: Sendable {
    let group: ServiceGroup
    private let ended = Mutex(false)
    private let task = Mutex<Task<Void, any Error>?>(nil)

    init(_ services: [any Service]) {
        group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                  logger: Logger(label: "test.group")))
        let group = self.group
        task.withLock { $0 = Task { [self] in
            defer { self.ended.withLock { $0 = true } }
            try await group.run()
        } }
    }

    /// Triggers graceful shutdown and waits (up to the hang guard) until every service returned; rethrows a
    /// failure of the group (a service that threw or ended before shutdown).
    func shutDown() async throws {
        await group.triggerGracefulShutdown()
        try await waitUntil("the group's services ended") { self.ended.withLock { $0 } }
        try await task.withLock { $0 }?.value
    }
}
