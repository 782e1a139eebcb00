import Logging
import Porter
import PorterTesting
import Testing

@Suite("Routes looked up from the request head: body limits and the cached match")
struct RouteTests {
    static func registry() throws -> HandlerRegistry {
        var registry = HandlerRegistry()
        try registry.add(name: "read", verbs: "GET", path: "/read", handler: ClosureHandler { $0.response.write("r") })
        try registry.add(name: "remove", verbs: "DELETE,OPTIONS", path: "/remove", handler: ClosureHandler { _ in })
        try registry.add(name: "post", verbs: "POST", path: "/post", handler: ClosureHandler { _ in })
        try registry.add(name: "any", path: "/any", handler: ClosureHandler { _ in })
        try registry.add(name: "upload", verbs: "POST", path: "/upload", source: .instance(.sync(ClosureHandler { _ in })),
                         maxBodyBytes: 8 << 20)
        try registry.add(name: "tiny", verbs: "GET", path: "/tiny", source: .instance(.sync(ClosureHandler { _ in })),
                         maxBodyBytes: 10)
        return registry
    }

    static let limits: [(method: HTTPMethod, path: String, limit: Int?)] = [
        (.get, "/read", 0), (.head, "/read", 0), (.delete, "/remove", 0), (.options, "/remove", 0),
        (.post, "/post", nil), (.put, "/any", nil), (.post, "/upload", 8 << 20), (.get, "/tiny", 10),
        (.get, "/missing", nil), (.post, "/read", nil),
    ]

    @Test("body limits: the mapping's own, 0 for bodiless verbs, else the transport default", arguments: limits)
    func bodyLimit(_ row: (method: HTTPMethod, path: String, limit: Int?)) throws {
        let pipeline = Pipeline(registry: try Self.registry(), modules: [])
        #expect(pipeline.bodyLimit(method: row.method, path: row.path) == row.limit)
        #expect(pipeline.route(method: row.method, path: row.path).bodyLimit(default: 1234) == row.limit ?? 1234)
    }

    @Test("MapRequestHandler uses the transport's route while method and path are unchanged, else looks up again")
    func cachedRoute() async throws {
        let pipeline = Pipeline(registry: try Self.registry(), modules: [])
        let context = HTTPContext(request: HTTPRequest(uri: "/read"), application: ApplicationState(), logger: Logger(label: "t"))
        // A route computed for another path is not trusted.
        context.route = pipeline.route(method: .get, path: "/tiny")
        await pipeline.run(context)
        #expect(context.handler?.name == "read")
        let cached = HTTPContext(request: HTTPRequest(uri: "/read"), application: ApplicationState(), logger: Logger(label: "t"))
        cached.route = pipeline.route(method: .get, path: "/read")
        await pipeline.run(cached)
        #expect(cached.handler?.name == "read" && cached.response.bufferedBody == Array("r".utf8))
    }
}
