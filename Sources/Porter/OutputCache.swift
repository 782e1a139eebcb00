import Glibc
import Synchronization

/// How long and under which key a handler's response may be kept and replayed (ASP.NET's `@OutputCache`
/// directive, and `Response.Cache` when a handler sets `ctx.response.cache` at run time).
///
/// Given per route (`map(…, cache:)`, or `output_cache = { … }` on a `[[handlers]]` entry) and used by
/// `OutputCacheModule`. Responses that set cookies, authenticated requests (unless `cacheAuthenticated`),
/// statuses outside `statuses`, streamed bodies and responses marked `no-store`/`private` are never stored.
public struct OutputCachePolicy: Sendable, Equatable {
    /// How long an entry is served, in seconds (at least 1).
    public var duration: Int
    /// Query keys whose values make separate entries (`["*"]`: every key); other keys are ignored.
    public var varyByQuery: [String]
    /// Request headers whose values make separate entries (also sent as `Vary`).
    public var varyByHeaders: [String]
    /// One entry per signed-in user (the response is `private` to browsers and not held by nginx).
    public var varyByUser: Bool
    /// The name of a custom key function given to `OutputCacheModule(customKeys:)` (ASP.NET's `VaryByCustom`).
    public var varyByCustom: String?
    /// Store and serve responses to authenticated requests too (default: they bypass the cache).
    public var cacheAuthenticated: Bool
    /// The statuses that may be stored (default: 200 only).
    public var statuses: Set<Int>

    /// A policy; `duration` in seconds.
    public init(duration: Int, varyByQuery: [String] = [], varyByHeaders: [String] = [], varyByUser: Bool = false,
                varyByCustom: String? = nil, cacheAuthenticated: Bool = false, statuses: Set<Int> = [200]) {
        self.duration = max(1, duration)
        self.varyByQuery = varyByQuery.sorted()
        self.varyByHeaders = varyByHeaders.map { $0.lowercased() }.sorted()
        self.varyByUser = varyByUser
        self.varyByCustom = varyByCustom
        self.cacheAuthenticated = cacheAuthenticated || varyByUser
        self.statuses = statuses
    }

    /// Reads `output_cache = { duration = 5, vary_by_query = ["tz"], vary_by_headers = [], vary_by_user = false,
    /// vary_by_custom = "name", authenticated = false, statuses = [200] }`; nil when the table is absent.
    public static func parse(_ options: Options, key: String = "output_cache") throws(ConfigurationError) -> OutputCachePolicy? {
        guard options.value(key) != nil else { return nil }
        let table = try options.table(key)
        let duration = try table.int("duration", default: 0)
        guard duration > 0 else { throw ConfigurationError("\(table.origin): duration must be a positive number of seconds") }
        let statusTexts = try table.strings("statuses", default: ["200"])
        var statuses: Set<Int> = []
        for text in statusTexts {
            guard let code = Int(text), (200...599).contains(code) else {
                throw ConfigurationError("\(table.origin): statuses must be HTTP status codes, got \(text)")
            }
            statuses.insert(code)
        }
        let custom = try table.string("vary_by_custom")
        let policy = OutputCachePolicy(duration: duration, varyByQuery: try table.strings("vary_by_query", default: []),
                                       varyByHeaders: try table.strings("vary_by_headers", default: []),
                                       varyByUser: try table.bool("vary_by_user", default: false), varyByCustom: custom,
                                       cacheAuthenticated: try table.bool("authenticated", default: false), statuses: statuses)
        if let unknown = table.unusedKeys.first {
            throw ConfigurationError("\(table.origin): unknown option \"\(unknown)\" (it reads: \(table.usedKeys.joined(separator: ", ")))")
        }
        return policy
    }
}

/// The output cache's store: entries by key in bytes-bounded LRU order, and for each path the vary rule the
/// last stored response used (ASP.NET's `CachedVary`), so a lookup before the handler knows what to key on.
/// Registered as a service by `OutputCacheModule`; `remove(path:)`/`remove(prefix:)` evict.
public final class OutputCache: Sendable {
    /// One stored response.
    struct Entry: Sendable {
        let status: HTTPStatus
        let headers: HTTPHeaders
        let body: [UInt8]
        let storedAt: Double
        let expiresAt: Double
        let path: String
        var bytes: Int { body.count + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count } + 64 }
    }

    /// LRU list node.
    final class Node {
        let key: String
        var entry: Entry
        var newer: Node?
        weak var older: Node?
        init(key: String, entry: Entry) { self.key = key; self.entry = entry }
    }

    struct State: ~Copyable {
        var nodes: [String: Node] = [:]
        /// Most recently used.
        var newest: Node?
        /// Least recently used (evicted first).
        var oldest: Node?
        var bytes = 0
        /// Each path's vary rule, kept while the path has entries (so it is bounded as they are).
        var varies: [String: OutputCachePolicy] = [:]
        var entriesPerPath: [String: Int] = [:]

        mutating func unlink(_ node: Node) {
            if let older = node.older { older.newer = node.newer } else { oldest = node.newer }
            if let newer = node.newer { newer.older = node.older } else { newest = node.older }
            node.newer = nil
            node.older = nil
        }

        mutating func pushNewest(_ node: Node) {
            node.older = newest
            node.newer = nil
            newest?.newer = node
            newest = node
            if oldest == nil { oldest = node }
        }

        mutating func remove(_ key: String) {
            guard let node = nodes.removeValue(forKey: key) else { return }
            unlink(node)
            bytes -= node.entry.bytes
            let path = node.entry.path
            let left = (entriesPerPath[path] ?? 1) - 1
            entriesPerPath[path] = left > 0 ? left : nil
            if left <= 0 { varies[path] = nil }
        }
    }

    /// The most bytes (bodies plus headers) kept; the least recently used entries go first.
    public let maxBytes: Int
    /// The largest single entry kept (bigger responses are not stored).
    public let maxEntryBytes: Int
    /// Wall-clock seconds since 1970 (injectable for tests).
    let now: @Sendable () -> Double
    private let state: Mutex<State>

    /// A store of at most `maxBytes`; `now` is the clock (seconds since 1970).
    public init(maxBytes: Int = 16 << 20, maxEntryBytes: Int? = nil, now: @escaping @Sendable () -> Double = OutputCache.wallClock) {
        self.maxBytes = max(0, maxBytes)
        self.maxEntryBytes = min(maxEntryBytes ?? max(1, maxBytes / 4), self.maxBytes)
        self.now = now
        self.state = Mutex(State())
    }

    /// The system's wall clock.
    public static let wallClock: @Sendable () -> Double = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// How many entries and bytes are held.
    public var usage: (entries: Int, bytes: Int, paths: Int) { state.withLock { ($0.nodes.count, $0.bytes, $0.varies.count) } }

    /// Drops every variant of `path`.
    public func remove(path: String) { remove { $0 == path } }

    /// Drops every entry whose path starts with `prefix` (`"/"` empties the cache).
    public func remove(prefix: String) { remove { $0.hasPrefix(prefix) } }

    private func remove(where matches: (String) -> Bool) {
        state.withLock { state in
            for (key, node) in state.nodes where matches(node.entry.path) { state.remove(key) }
        }
    }

    /// The vary rule stored for `path`.
    func vary(for path: String) -> OutputCachePolicy? { state.withLock { $0.varies[path] } }

    /// The fresh entry under `key` (marked most recently used), dropping it when expired.
    func lookup(_ key: String, at time: Double) -> Entry? {
        state.withLock { state in
            guard let node = state.nodes[key] else { return nil }
            guard node.entry.expiresAt > time else {
                state.remove(key)
                return nil
            }
            state.unlink(node)
            state.pushNewest(node)
            return node.entry
        }
    }

    /// Stores `entry` under `key` and `policy` as `path`'s vary rule, evicting least recently used entries to fit.
    /// Returns false when the entry alone is too big.
    @discardableResult
    func store(_ entry: Entry, key: String, policy: OutputCachePolicy) -> Bool {
        let size = entry.bytes
        guard size <= maxEntryBytes else { return false }
        return state.withLock { state in
            state.remove(key)
            while state.bytes + size > maxBytes, let oldest = state.oldest { state.remove(oldest.key) }
            state.varies[entry.path] = policy
            state.entriesPerPath[entry.path, default: 0] += 1
            let node = Node(key: key, entry: entry)
            state.nodes[key] = node
            state.pushNewest(node)
            state.bytes += size
            return true
        }
    }
}

/// The output cache module (ASP.NET's `OutputCacheModule`): at ResolveRequestCache a fresh stored response
/// answers GET/HEAD and the handler is skipped (HEAD gets the GET entry's head); at UpdateRequestCache a
/// cacheable response is stored with `Cache-Control`, `Expires` and `X-Accel-Expires` (so nginx's
/// `fastcgi_cache` can hold the same entry) and every answer carries `Age`.
public struct OutputCacheModule: HTTPModule {
    public var name: String { "output-cache" }
    /// The store (also published as a service, for eviction).
    public let cache: OutputCache
    /// `VaryByCustom` key functions by name.
    public let customKeys: [String: @Sendable (HTTPContext) -> String]

    /// A module over `cache`; `customKeys` are the functions `OutputCachePolicy.varyByCustom` names.
    public init(cache: OutputCache = OutputCache(), customKeys: [String: @Sendable (HTTPContext) -> String] = [:]) {
        self.cache = cache
        self.customKeys = customKeys
    }

    public func publish(in services: ApplicationServices) { services.register(cache) }

    public func subscribe(to events: inout ModuleEvents) {
        events.on(.resolveRequestCache) { ctx in resolve(ctx) }
        events.on(.updateRequestCache) { ctx in update(ctx) }
    }

    /// The route's policy (nil when the route has none).
    static func routePolicy(_ ctx: HTTPContext) -> OutputCachePolicy? {
        guard let pipeline = ctx.pipeline, case .mapped(let mapping) = pipeline.route(ctx).match else { return nil }
        return mapping.outputCache
    }

    /// The cache key of this request under `policy`: path, then each varied value, length-prefixed.
    func key(_ ctx: HTTPContext, _ policy: OutputCachePolicy) -> String {
        var key = ""
        func add(_ part: String) { key += "\(part.utf8.count):\(part)" }
        add(ctx.request.path)
        let query = ctx.request.query
        if policy.varyByQuery == ["*"] {
            for pair in query.pairs.sorted(by: { ($0.name, $0.value) < ($1.name, $1.value) }) { add(pair.name); add(pair.value) }
        } else {
            for name in policy.varyByQuery { add(name); for value in query.values(for: name) { add(value) }; add("") }
        }
        for header in policy.varyByHeaders { add(ctx.request.headers.values(for: header).joined(separator: ",")) }
        if policy.varyByUser { add(ctx.user.isAuthenticated ? ctx.user.name : "") }
        if let custom = policy.varyByCustom { add(customKeys[custom]?(ctx) ?? "") }
        return key
    }

    func resolve(_ ctx: HTTPContext) {
        let method = ctx.request.method
        guard method == .get || method == .head else { return }
        guard let policy = cache.vary(for: ctx.request.path) ?? Self.routePolicy(ctx) else { return }
        if ctx.user.isAuthenticated && !policy.cacheAuthenticated { return }
        let now = cache.now()
        guard let entry = cache.lookup(key(ctx, policy), at: now) else { return }
        var response = HTTPResponse()
        response.status = entry.status
        response.headers = entry.headers
        response.headers["Age"] = String(max(0, Int(now - entry.storedAt)))
        response.headers["X-Accel-Expires"] = policy.varyByUser ? "0" : String(max(1, Int((entry.expiresAt - now).rounded(.up))))
        response.body = .buffer(entry.body)
        ctx.response = response
        ctx.items[OutputCacheHit.self] = OutputCacheHit()
        ctx.completeRequest()
    }

    func update(_ ctx: HTTPContext) {
        guard ctx.request.method == .get, ctx.errors.isEmpty, ctx.items[OutputCacheHit.self] == nil,
              let policy = ctx.response.cache ?? Self.routePolicy(ctx) else { return }
        let response = ctx.response
        guard policy.statuses.contains(response.status.code), response.cookies.isEmpty,
              !response.headers.contains("Set-Cookie"),
              !ctx.user.isAuthenticated || policy.cacheAuthenticated,
              case .buffer(let body) = response.body else { return }
        // A response that varies on a request header the policy does not key on (a handler's gzip for clients that
        // accept it) would be served to clients it does not fit: not stored.
        if let vary = response.headers["Vary"] {
            let names = vary.split(separator: ",").map { $0.trimmingSpaces().lowercased() }
            guard names.allSatisfy({ $0.isEmpty || policy.varyByHeaders.contains($0) }) else { return }
        }
        if CacheControl.forbidsSharedCaching(response.headers["Cache-Control"]) { return }
        let now = cache.now()
        let expires = now + Double(policy.duration)
        var headers = response.headers
        headers["Cache-Control"] = "\(policy.varyByUser ? "private" : "public"), max-age=\(policy.duration)"
        headers["Expires"] = HTTPDate.rfc1123(Int64(expires))
        headers["X-Accel-Expires"] = policy.varyByUser ? "0" : String(policy.duration)
        if !policy.varyByHeaders.isEmpty { headers["Vary"] = policy.varyByHeaders.joined(separator: ", ") }
        let entry = OutputCache.Entry(status: response.status, headers: headers, body: body, storedAt: now,
                                      expiresAt: expires, path: ctx.request.path)
        guard cache.store(entry, key: key(ctx, policy), policy: policy) else { return }
        ctx.response.headers = headers
        ctx.response.headers["Age"] = "0"
    }
}

/// Marks a request answered from the output cache (`ctx.items[OutputCacheHit.self] != nil`).
public struct OutputCacheHit: Sendable {}
