import Foundation
import Logging
import Porter
@testable import PorterFeeds

/// A feeds database in a fresh temporary directory (a real SQLite file), removed when dropped.
final class TempFeeds: @unchecked Sendable {
    let directory: URL
    let path: String
    let store: FeedStore

    init(seed: Bool = true, externalChangeInterval: Duration = FeedStore.defaultExternalChangeInterval) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("porter-feeds-\(UUID().uuidString)")
        path = directory.appendingPathComponent("data/feeds.sqlite").path
        store = try FeedStore(path: path, externalChangeInterval: externalChangeInterval)
        if seed { try store.seedSampleData() }
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}

/// What a pipeline run produced.
struct Outcome {
    let status: Int
    let headers: HTTPHeaders
    let body: [UInt8]
    var cookies: [SetCookie] = []
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A pipeline whose registry maps `*.rss` and `*.atom` (GET, HEAD) to feed handlers over `store`.
func feedPipeline(_ store: FeedStore, limit: Int = 50, cacheControl: String? = "public, max-age=60",
                  siteURL: String = "http://example.test", verbs: String = "GET,HEAD",
                  modules: [any HTTPModule] = []) throws -> Pipeline {
    var registry = HandlerRegistry()
    let handler = FeedHandler(store: store, limit: limit, cacheControl: cacheControl, siteURL: siteURL)
    try registry.add(name: "rss", verbs: verbs, path: "*.rss", handler: handler)
    try registry.add(name: "atom", verbs: verbs, path: "*.atom", handler: handler)
    return Pipeline(registry: registry, modules: modules)
}

/// Runs one request through `pipeline`.
func run(_ pipeline: Pipeline, _ method: HTTPMethod = .get, _ uri: String, headers: HTTPHeaders = [:]) async -> Outcome {
    let ctx = HTTPContext(request: HTTPRequest(method: method, uri: uri, headers: headers),
                          application: ApplicationState(), logger: Logger(label: "test"))
    await pipeline.run(ctx)
    return Outcome(status: ctx.response.status.code, headers: ctx.response.headers, body: ctx.response.bufferedBody ?? [],
                   cookies: ctx.response.cookies)
}

/// Runs `body` on a thread of its own and returns its result, so blocking work (child processes) never occupies
/// a thread of Swift's small cooperative pool, which every test in this process shares.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// Runs Python scripts for the real-parser checks (feedparser, xml.etree), each on a thread of its own.
enum Python {
    /// The interpreter: `$PORTER_PYTHON`, else `python3` on the PATH.
    static let executable = ProcessInfo.processInfo.environment["PORTER_PYTHON"] ?? "python3"

    /// Whether `python3 -c "import feedparser"` works, installing it with pip once if it does not
    /// (checked once, off the cooperative pool; use as a test condition: `.enabled("…") { await Python.hasFeedparser() }`).
    static func hasFeedparser() async -> Bool { await feedparserCheck.value }

    private static let feedparserCheck = Task<Bool, Never> {
        (try? await onOwnThread {
            if (try? runBlocking("import feedparser", input: []))?.status == 0 { return true }
            let pip = try? runCommand(["-m", "pip", "install", "--quiet", "feedparser"], input: [])
            if (try? runBlocking("import feedparser", input: []))?.status == 0 { return true }
            print("SKIPPING feedparser tests: `pip install feedparser` failed: \(pip.map { String(decoding: $0.stderr, as: UTF8.self) } ?? "python3 not runnable")")
            return false
        }) ?? false
    }

    struct Result: Sendable {
        let status: Int32
        let stdout: [UInt8]
        let stderr: [UInt8]
    }

    /// Runs `script` with `input` in a temporary file whose path is `sys.argv[1]`, extra args after it.
    static func run(_ script: String, input: [UInt8], arguments: [String] = []) async throws -> Result {
        try await onOwnThread { try runBlocking(script, input: input, arguments: arguments) }
    }

    /// ``run(_:input:arguments:)`` on the calling thread.
    static func runBlocking(_ script: String, input: [UInt8], arguments: [String] = []) throws -> Result {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("porter-feed-\(UUID().uuidString).xml")
        try Data(input).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try runCommand(["-c", script, file.path] + arguments, input: [])
    }

    static func runCommand(_ arguments: [String], input: [UInt8]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("porter-py-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errFile) }
        // Standard output to a file too, not a pipe: a child another test starts at the same moment inherits a pipe's
        // write end, and a read to EOF then waits as long as that child lives.
        let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("porter-py-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outFile) }
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let outData = (try? Data(contentsOf: outFile)) ?? Data()
        let errData = (try? Data(contentsOf: errFile)) ?? Data()
        return Result(status: process.terminationStatus, stdout: Array(outData), stderr: Array(errData))
    }
}

/// feedparser's view of a document, as the script below prints it.
struct ParsedFeed: Decodable {
    struct Link: Decodable { let rel: String?; let href: String?; let type: String? }
    struct Feed: Decodable {
        let title: String?
        let link: String?
        let subtitle: String?
        let updated: Int64?
        let id: String?
        let language: String?
        let links: [Link]
    }
    struct Enclosure: Decodable { let href: String?; let length: String?; let type: String? }
    struct Entry: Decodable {
        let title: String?
        let link: String?
        let summary: String?
        let content: [String]
        let id: String?
        let guidislink: Bool?
        let published: Int64?
        let updated: Int64?
        let tags: [String]
        let enclosures: [Enclosure]
    }
    let bozo: Int
    let bozo_exception: String?
    let version: String
    let encoding: String?
    let feed: Feed
    let entries: [Entry]

    static let script = """
        import sys, json, calendar, feedparser
        data = open(sys.argv[1], 'rb').read()
        d = feedparser.parse(data, response_headers={'content-type': sys.argv[2]},
                             sanitize_html=False, resolve_relative_uris=False)
        ts = lambda t: calendar.timegm(t) if t else None
        f = d.feed
        out = {
          'bozo': int(d.bozo), 'bozo_exception': repr(d.get('bozo_exception')) if d.bozo else None,
          'version': d.version, 'encoding': d.get('encoding'),
          'feed': {'title': f.get('title'), 'link': f.get('link'), 'subtitle': f.get('subtitle'),
                   'updated': ts(f.get('updated_parsed')), 'id': f.get('id'), 'language': f.get('language'),
                   'links': [{'rel': l.get('rel'), 'href': l.get('href'), 'type': l.get('type')} for l in f.get('links', [])]},
          'entries': [{'title': e.get('title'), 'link': e.get('link'), 'summary': e.get('summary'),
                       'content': [c.value for c in e.get('content', [])], 'id': e.get('id'),
                       'guidislink': e.get('guidislink'), 'published': ts(e.get('published_parsed')),
                       'updated': ts(e.get('updated_parsed')), 'tags': [t.term for t in e.get('tags', [])],
                       'enclosures': [{'href': x.get('href'), 'length': x.get('length'), 'type': x.get('type')}
                                      for x in e.get('enclosures', [])]} for e in d.entries]}
        print(json.dumps(out))
        """

    /// Parses `body` with feedparser, as served with `contentType`.
    static func parse(_ body: [UInt8], contentType: String) async throws -> ParsedFeed {
        let result = try await Python.run(script, input: body, arguments: [contentType])
        guard result.status == 0 else {
            throw PythonError(message: String(decoding: result.stderr, as: UTF8.self))
        }
        return try JSONDecoder().decode(ParsedFeed.self, from: Data(result.stdout))
    }
}

/// A failed Python run.
struct PythonError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
