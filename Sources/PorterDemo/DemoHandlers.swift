public import Porter
import PorterFastCGI
import Synchronization

/// Answers `Hello, world` (or the configured greeting) as text/plain: the smallest sync handler.
public struct HelloHandler: HTTPHandler {
    /// The text sent, followed by a newline.
    public let greeting: String
    /// The body bytes, encoded once: every response shares them (no per-request copy).
    private let body: [UInt8]

    /// A hello handler; options: `greeting` (default `Hello, world`).
    public init(options: Options = Options()) throws(ConfigurationError) {
        greeting = try options.string("greeting", default: "Hello, world")
        body = Array((greeting + "\n").utf8)
    }

    public func processRequest(_ context: HTTPContext) throws {
        context.response.contentType = "text/plain"
        context.response.write(body)
    }
}

/// Echoes the request back as JSON (method, path, query, headers, cookies, form, body, user, params): for tests and debugging.
public struct EchoHandler: HTTPHandler {
    /// An echo handler.
    public init() {}

    /// Credentials are never echoed (a script on the page could read HttpOnly cookies through it): these header and
    /// parameter values, and every cookie value, are replaced by their length.
    static let hiddenHeaders: Set<String> = ["cookie", "authorization", "proxy-authorization"]
    static let hiddenParameters: Set<String> = ["HTTP_COOKIE", "HTTP_AUTHORIZATION", "HTTP_PROXY_AUTHORIZATION"]

    static func hidden(_ value: String) -> String { "(hidden, \(value.utf8.count) bytes)" }

    public func processRequest(_ context: HTTPContext) throws {
        let r = context.request
        func pairs(_ list: some Sequence<(name: String, value: String)>) -> JSONValue {
            .array(list.map { JSONValue.array([.string($0.name), .string($0.value)]) })
        }
        let headers = r.headers.fields.map { field in
            (name: field.name, value: Self.hiddenHeaders.contains(field.name.lowercased()) ? Self.hidden(field.value) : field.value)
        }
        context.response.headers["X-Content-Type-Options"] = "nosniff"
        context.response.setJSON([
            "method": .string(r.method.rawValue),
            "path": .string(r.path),
            "uri": .string(r.uri),
            "query": pairs(r.query.pairs),
            "headers": pairs(headers),
            "cookies": .object(r.cookies.sorted { $0.key < $1.key }.map { ($0.key, .string(Self.hidden($0.value))) }),
            "form": pairs(r.form.pairs),
            "body": .string(r.bodyText),
            "bodyLength": .int(r.body.count),
            "remoteAddress": .string(r.remoteAddress),
            "user": .string(context.user.name),
            "requestID": .string(context.requestID),
            "params": .object(r.parameters.sorted { $0.key < $1.key }.map {
                ($0.key, .string(Self.hiddenParameters.contains($0.key) ? Self.hidden($0.value) : $0.value))
            }),
            "workerThread": .bool(FastCGIWorkerCheck.isWorkerThread()),
        ])
    }
}

/// Awaits `?ms=` milliseconds (default from options, 100) and then answers `Hello, world`: an async handler
/// that holds no thread while it waits.
public struct SlowHandler: AsyncHTTPHandler {
    /// The default wait.
    public let defaultMilliseconds: Int
    /// The longest wait a client may ask for.
    public let maxMilliseconds: Int

    /// A slow handler; options: `ms` (100), `max_ms` (60000).
    public init(options: Options = Options()) throws(ConfigurationError) {
        defaultMilliseconds = try options.int("ms", default: 100)
        maxMilliseconds = try options.int("max_ms", default: 60_000)
    }

    public func processRequest(_ context: HTTPContext) async throws {
        var ms = defaultMilliseconds
        if let text = context.request.query["ms"] {
            guard let value = Int(text), value >= 0, value <= maxMilliseconds else {
                throw HTTPError(.badRequest, message: "ms must be an integer from 0 to \(maxMilliseconds)")
            }
            ms = value
        }
        try await Task.sleep(for: .milliseconds(ms))
        context.response.contentType = "text/plain"
        context.response.write("Hello, world\n")
    }
}

/// A sample generic handler (ASP.NET's `Handler1.ashx`): not reusable, so one instance is made per
/// request; it greets `?name=`, shows the user and counts requests in application state.
public final class SampleHandler: HTTPHandler, @unchecked Sendable {
    /// Instances created so far in this process (shows that non-reusable handlers are built per request).
    public static let instances = Atomic<Int>(0)
    private let instance: Int
    private var greeting = "Hello"

    /// A new instance.
    public init() {
        instance = Self.instances.add(1, ordering: .relaxed).newValue
    }

    public var isReusable: Bool { false }

    public func processRequest(_ context: HTTPContext) throws {
        let name = context.request.query["name"].map { $0.isEmpty ? "stranger" : $0 } ?? "stranger"
        guard name.count <= 100 else { throw HTTPError(.badRequest, message: "name is too long") }
        if context.request.method == .post, let g = context.request.form["greeting"], !g.isEmpty { greeting = String(g.prefix(40)) }
        let hits = context.application.increment("sample.hits")
        context.response.contentType = "text/html; charset=utf-8"
        context.response.write("""
        <!doctype html><html><head><meta charset="utf-8"><title>Sample handler</title></head><body>
        <h1>\(HTMLEscaping.escape(greeting)), \(HTMLEscaping.escape(name))!</h1>
        <p>User: \(HTMLEscaping.escape(context.user.isAuthenticated ? context.user.name : "anonymous"))</p>
        <p>Handler instance #\(instance); this page has been served \(hits) times by this process.</p>
        </body></html>

        """)
    }
}

/// Tells handlers whether they run on a Porter worker thread.
public enum FastCGIWorkerCheck {
    /// Whether the calling thread is one of the transport's worker threads.
    public static func isWorkerThread() -> Bool { WorkerThread.isCurrent }
}

