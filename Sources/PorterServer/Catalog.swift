public import Porter
public import Logging

/// What a handler or module builder gets besides its options: shared state and the server's services.
public struct BuildContext: Sendable {
    /// The application state all requests share.
    public let application: ApplicationState
    /// The server's logger.
    public let logger: Logger
    /// Services built-in parts share (e.g. the trace log, statistics), keyed by name.
    public let services: ServiceBox

    /// A build context.
    public init(application: ApplicationState, logger: Logger, services: ServiceBox = ServiceBox()) {
        self.application = application
        self.logger = logger
        self.services = services
    }
}

/// A process-wide registry of shared service objects (one trace log, one statistics source, …).
public final class ServiceBox: Sendable {
    private let storage = ApplicationState()
    /// An empty box.
    public init() {}
    /// Replaces the service under `key` and returns the previous one.
    public func replace(_ key: String, with service: any Sendable) -> (any Sendable)? {
        storage.update { dict in
            let old = dict[key]
            dict[key] = service
            return old
        }
    }

    /// The service under `key`, if any.
    public func peek(_ key: String) -> (any Sendable)? { storage[key] }

    /// The service stored under `key`, created by `make` the first time.
    public func get<T: Sendable>(_ key: String, make: () throws -> T) rethrows -> T {
        try storage.update { dict in
            if let existing = dict[key] as? T { return existing }
            let made = try make()
            dict[key] = made
            return made
        }
    }
}

/// Named handler builders: the config binds paths to these names (`handler = "rss"`).
public struct HandlerCatalog: Sendable {
    /// Builds a handler source from options.
    public typealias Builder = @Sendable (Options, BuildContext) throws -> HandlerSource
    /// The registered builders.
    public private(set) var entries: [String: (summary: String, build: Builder)] = [:]

    /// An empty catalogue.
    public init() {}

    /// Registers (or replaces) a builder under `name`.
    public mutating func register(_ name: String, summary: String, build: @escaping Builder) {
        entries[name] = (summary, build)
    }

    /// Builds the named handler; unknown names are a configuration error listing the known ones.
    public func build(_ name: String, options: Options, context: BuildContext) throws -> HandlerSource {
        guard let entry = entries[name] else {
            throw ConfigurationError("\(options.origin): unknown handler \"\(name)\" (known: \(entries.keys.sorted().joined(separator: ", ")))")
        }
        return try entry.build(options, context)
    }
}

/// Named module builders: the config lists modules by these names (`name = "session"`).
public struct ModuleCatalog: Sendable {
    /// Builds a module from options.
    public typealias Builder = @Sendable (Options, BuildContext) throws -> any HTTPModule
    /// The registered builders.
    public private(set) var entries: [String: (summary: String, build: Builder)] = [:]

    /// An empty catalogue.
    public init() {}

    /// Registers (or replaces) a builder under `name`.
    public mutating func register(_ name: String, summary: String, build: @escaping Builder) {
        entries[name] = (summary, build)
    }

    /// Builds the named module; unknown names are a configuration error listing the known ones.
    public func build(_ name: String, options: Options, context: BuildContext) throws -> any HTTPModule {
        guard let entry = entries[name] else {
            throw ConfigurationError("\(options.origin): unknown module \"\(name)\" (known: \(entries.keys.sorted().joined(separator: ", ")))")
        }
        return try entry.build(options, context)
    }
}
