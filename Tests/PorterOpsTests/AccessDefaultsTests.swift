import Testing
import Porter
import PorterHost
@testable import PorterOps

/// Issue 10, item 6 (pipeline tier): status and metrics are local-only by default, and tell nginx so.
@Suite struct AccessDefaultsTests {
    @Test func opsPagesAreLocalOnlyByDefaultAndSayItToNginx() async throws {
        for handler in [try StatusHandler(options: Options()).access, try MetricsHandler(options: Options()).status.access, StatusHandler().access] {
            #expect(handler == .localOnly())
        }
        var registry = HandlerRegistry()
        try registry.add(name: "status", path: "/status", handler: try StatusHandler(options: Options()))
        try registry.add(name: "metrics", path: "/metrics", handler: try MetricsHandler(options: Options()))
        let pipeline = Pipeline(registry: registry, modules: [MetricsModule()])
        for path in ["/status", "/metrics"] {
            #expect(await send(pipeline, path, remote: "192.0.2.1", application: ApplicationState()).response.status == .forbidden)
            #expect(await send(pipeline, path, remote: "127.0.0.1", application: ApplicationState()).response.status == .ok)
        }
        #expect(try AccessPolicy.edge(Options()).localOnly)
        #expect(try !AccessPolicy.edge(Options(["local_only": .bool(false)])).localOnly)
        #expect(try !AccessPolicy.edge(Options(["allow_roles": .array([.string("admin")])])).localOnly, "nginx cannot see roles")
    }
}
