import Synchronization

/// Per-request values keyed by type (ASP.NET's `HttpContext.Items`), plus string keys for ad-hoc values.
///
/// Modules and handlers pass things to each other by type, so a lookup can never read the wrong kind of
/// value: `ctx.items[RequestStart.self] = RequestStart(at: .now)` … `ctx.items[RequestStart.self]?.at`.
public struct RequestItems: Sendable {
    private var typed: [ObjectIdentifier: any Sendable] = [:]
    private var named: [String: any Sendable] = [:]

    /// No items.
    public init() {}

    /// The value stored for type `T`, if any; assigning `nil` removes it.
    public subscript<T: Sendable>(_ type: T.Type) -> T? {
        get { typed[ObjectIdentifier(type)] as? T }
        set { typed[ObjectIdentifier(type)] = newValue }
    }

    /// An ad-hoc value under a string key (prefer type keys for anything shared between components).
    public subscript(key: String) -> (any Sendable)? {
        get { named[key] }
        set { named[key] = newValue }
    }

    /// Whether nothing is stored.
    public var isEmpty: Bool { typed.isEmpty && named.isEmpty }
}

/// Process-wide services by type — the session store, the user store, the trace log, the work queue —
/// registered while the application is built, looked up by modules and handlers.
///
/// Builders should resolve what they need once, at startup, with `require(_:by:hint:)`, so a missing
/// module is a startup error that says what to add rather than a 500 at request time.
public final class ApplicationServices: Sendable {
    private let storage = Mutex<[ObjectIdentifier: any Sendable]>([:])

    /// An empty registry.
    public init() {}

    /// Registers `service` under its type `T`, replacing an earlier one.
    public func register<T: Sendable>(_ service: T, as type: T.Type = T.self) {
        storage.withLock { $0[ObjectIdentifier(type)] = service }
    }

    /// The service registered for `T`, if any.
    public subscript<T: Sendable>(_ type: T.Type) -> T? {
        storage.withLock { $0[ObjectIdentifier(type)] as? T }
    }

    /// The service registered for `T`, or `make()` registered and returned the first time.
    public func resolve<T: Sendable>(_ type: T.Type = T.self, orRegister make: () throws -> T) rethrows -> T {
        try storage.withLock { dict in
            if let existing = dict[ObjectIdentifier(type)] as? T { return existing }
            let made = try make()
            dict[ObjectIdentifier(type)] = made
            return made
        }
    }

    /// The service registered for `T`; if there is none, a configuration error naming who needs it and how to provide it.
    public func require<T: Sendable>(_ type: T.Type = T.self, by component: String, hint: String) throws(ConfigurationError) -> T {
        guard let service = self[type] else {
            throw ConfigurationError("\(component) needs \(String(describing: type)), which nothing provides: \(hint)")
        }
        return service
    }
}
