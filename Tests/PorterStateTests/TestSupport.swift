import Foundation
import Logging
import Porter
import ServiceLifecycle
import PorterTesting
import Testing
@testable import PorterState

/// A context for a pipeline-tier test.
func makeContext(_ method: HTTPMethod = .get, _ uri: String, headers: HTTPHeaders = [:], body: String = "",
                 parameters: [String: String] = [:], application: ApplicationState = ApplicationState()) -> HTTPContext {
    HTTPContext(request: HTTPRequest(method: method, uri: uri, headers: headers, body: Array(body.utf8), parameters: CGIParameters(parameters)),
                application: application, logger: Logger(label: "test"))
}

/// A form POST context.
func makeFormPost(_ uri: String, _ fields: [(String, String)], cookies: String? = nil) -> HTTPContext {
    var headers: HTTPHeaders = ["Content-Type": "application/x-www-form-urlencoded"]
    if let cookies { headers["Cookie"] = cookies }
    let body = fields.map { PercentEncoding.encode($0.0) + "=" + PercentEncoding.encode($0.1) }.joined(separator: "&")
    return makeContext(.post, uri, headers: headers, body: body)
}

/// The response body as text.
func bodyText(_ ctx: HTTPContext) -> String { String(decoding: ctx.response.bufferedBody ?? [], as: UTF8.self) }

/// The `Set-Cookie` of `name` in the response, if any.
func setCookie(_ ctx: HTTPContext, _ name: String) -> SetCookie? { ctx.response.cookies.last { $0.name == name } }

/// The directory holding this test process's temporary files; removed when the process exits.
let testRoot: URL = {
    let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("porter-state-tests-\(getpid())")
    atexit { try? FileManager.default.removeItem(at: testRoot) }
    return url
}()

/// A fresh temporary directory (under `testRoot`).
func temporaryDirectory() throws -> URL {
    let url = testRoot.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A connection URI for a new, empty database on the test server.
extension PostgresTestServer {
    func makeDatabase() async throws -> String {
        url(database: try await makeDatabaseName()) + "?sslmode=disable"
    }
}

/// The process's shared test server (skips the test only when PostgreSQL cannot be installed).
func postgresServer() async throws -> PostgresTestServer { try await PostgresTestServer.sharedOrSkip() }

/// Runs `services` in a `ServiceGroup` while `body` runs, then shuts the group down gracefully and waits until
/// every service returned (as the host does around serving).
func withServices<T>(_ services: [any Service], _ body: () async throws -> T) async throws -> T {
    if services.isEmpty { return try await body() }
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                  logger: Logger(label: "porter.test.services")))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return try result.get()
    }
}

/// The long-running services a store needs (a PostgreSQL store's pool).
func services(of stores: any SessionStore...) -> [any Service] {
    stores.compactMap { ($0 as? PostgresSessionStore)?.database }
}
