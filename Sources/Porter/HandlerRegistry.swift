import Synchronization

/// Where a mapping gets its handler: one instance, a maker called per request for non-reusable handlers,
/// or a factory (ASP.NET's `HandlerFactoryWrapper` and `IHttpHandlerFactory`).
public enum HandlerSource: Sendable {
    /// A fixed instance. If it is not reusable, the maker form should be used instead.
    case instance(AnyHTTPHandler)
    /// Builds an instance; a reusable instance is kept and shared, otherwise one is built per request.
    case make(@Sendable () throws -> AnyHTTPHandler)
    /// Chooses the handler per request.
    case factory(any HTTPHandlerFactory)
}

/// One registry line: verbs + path pattern → a named handler (a web.config `<add verb path type/>`).
public final class HandlerMapping: Sendable {
    /// The handler's name (from the catalogue or given in code).
    public let name: String
    /// Accepted verbs.
    public let verbs: VerbSet
    /// The path pattern.
    public let pattern: PathPattern
    /// The largest request body this mapping accepts; nil for the default (see `bodyLimit`).
    public let maxBodyBytes: Int?
    /// The route's output cache policy (`OutputCacheModule`); nil: not cached unless the handler sets `response.cache`.
    public let outputCache: OutputCachePolicy?
    let source: HandlerSource
    private let cached = Mutex<AnyHTTPHandler?>(nil)

    /// A mapping from parsed parts.
    public init(name: String, verbs: VerbSet, pattern: PathPattern, source: HandlerSource, maxBodyBytes: Int? = nil,
                outputCache: OutputCachePolicy? = nil) {
        self.outputCache = outputCache
        self.name = name
        self.verbs = verbs
        self.pattern = pattern
        self.source = source
        self.maxBodyBytes = maxBodyBytes
    }

    /// The body limit the transport applies before reading the body: `maxBodyBytes` when set, else 0 when every
    /// verb is one without a body (GET, HEAD, DELETE, OPTIONS), else nil (the transport's default).
    public var bodyLimit: Int? {
        if let maxBodyBytes { return maxBodyBytes }
        return verbs.takesNoBody ? 0 : nil
    }

    /// The handler for this request, honouring `isReusable`.
    func resolve(for context: HTTPContext) throws -> SelectedHandler {
        switch source {
        case .instance(let handler):
            return SelectedHandler(name: name, pattern: pattern.text, handler: handler, release: nil)
        case .make(let make):
            if let shared = cached.withLock({ $0 }) {
                return SelectedHandler(name: name, pattern: pattern.text, handler: shared, release: nil)
            }
            let made = try make()
            if made.isReusable { cached.withLock { $0 = made } }
            return SelectedHandler(name: name, pattern: pattern.text, handler: made, release: nil)
        case .factory(let factory):
            let handler = try factory.handler(for: context)
            return SelectedHandler(name: name, pattern: pattern.text, handler: handler,
                                   release: { factory.releaseHandler($0) })
        }
    }
}

/// The outcome of looking a request up in the registry.
public enum RegistryMatch: Sendable {
    /// The first mapping whose verbs and path match.
    case mapped(HandlerMapping)
    /// Some mappings match the path but none the verb; `allow` lists the verbs that would.
    case methodNotAllowed(allow: [String])
    /// No mapping matches the path.
    case notFound
}

/// Maps verbs + path patterns to handlers; first match wins (ASP.NET's `<handlers>` collection).
public struct HandlerRegistry: Sendable {
    /// The mappings in match order.
    public private(set) var mappings: [HandlerMapping] = []

    /// An empty registry.
    public init() {}

    /// Adds a mapping at the end (lowest precedence).
    public mutating func add(_ mapping: HandlerMapping) { mappings.append(mapping) }

    /// Maps `verbs` + `path` to a source; `maxBodyBytes` overrides the body limit (see `HandlerMapping.bodyLimit`).
    public mutating func add(name: String, verbs: String = "*", path: String, source: HandlerSource,
                             maxBodyBytes: Int? = nil, outputCache: OutputCachePolicy? = nil) throws(PatternError) {
        add(HandlerMapping(name: name, verbs: VerbSet(verbs), pattern: try PathPattern(path), source: source,
                           maxBodyBytes: maxBodyBytes, outputCache: outputCache))
    }

    /// Maps to a sync handler built by `make` (kept and shared when it is reusable, else built per request).
    public mutating func add<H: HTTPHandler>(name: String, verbs: String = "*", path: String,
                                             make: @escaping @Sendable () throws -> H) throws(PatternError) {
        try add(name: name, verbs: verbs, path: path, source: .make { .sync(try make()) })
    }

    /// Maps to an async handler built by `make` (kept and shared when it is reusable, else built per request).
    public mutating func add<H: AsyncHTTPHandler>(name: String, verbs: String = "*", path: String,
                                                  make: @escaping @Sendable () throws -> H) throws(PatternError) {
        try add(name: name, verbs: verbs, path: path, source: .make { .async(try make()) })
    }

    /// Maps to a reusable sync handler instance.
    public mutating func add(name: String, verbs: String = "*", path: String, handler: some HTTPHandler) throws(PatternError) {
        try add(name: name, verbs: verbs, path: path, source: .instance(.sync(handler)))
    }

    /// Maps to a reusable async handler instance.
    public mutating func add(name: String, verbs: String = "*", path: String, handler: some AsyncHTTPHandler) throws(PatternError) {
        try add(name: name, verbs: verbs, path: path, source: .instance(.async(handler)))
    }

    /// Maps to a handler factory.
    public mutating func add(name: String, verbs: String = "*", path: String, factory: some HTTPHandlerFactory) throws(PatternError) {
        try add(name: name, verbs: verbs, path: path, source: .factory(factory))
    }

    /// Looks up `method` + `path`: the first mapping matching both, else 405 information, else not found.
    public func match(method: HTTPMethod, path: String) -> RegistryMatch {
        var allowed: [String] = []
        var pathMatched = false
        for mapping in mappings where mapping.pattern.matches(path) {
            if mapping.verbs.contains(method) { return .mapped(mapping) }
            pathMatched = true
            if let verbs = mapping.verbs.verbs {
                for verb in verbs.map(\.rawValue).sorted() where !allowed.contains(verb) { allowed.append(verb) }
            }
        }
        return pathMatched ? .methodNotAllowed(allow: allowed) : .notFound
    }
}
