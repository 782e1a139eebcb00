/// A pipeline component that subscribes to lifecycle events (ASP.NET's `IHttpModule`).
///
/// `subscribe(to:)` is `Init`: it only registers subscribers. Subscribers of one event run in module
/// registration order. `shutdown()` is `Dispose`: it runs once when the server stops.
public protocol HTTPModule: Sendable {
    /// The module's name in traces and logs.
    var name: String { get }
    /// Registers this module's event subscribers.
    func subscribe(to events: inout ModuleEvents)
    /// Whether this module reads per-event and per-module timings (`ctx.trace.spans`), as a trace page or a slow-request
    /// log does; only then does the pipeline read the clock around every event (default: no).
    var recordsTimings: Bool { get }
    /// Registers, at startup, the services this module offers others by type (a trace log, a user store);
    /// the default offers none.
    func publish(in services: ApplicationServices)
    /// Releases resources when the server stops; the default does nothing.
    func shutdown() async
}

extension HTTPModule {
    public var name: String { String(describing: Self.self) }
    public func shutdown() async {}
    public func publish(in services: ApplicationServices) {}
    public var recordsTimings: Bool { false }
}

/// A subscriber: a sync or async closure run when its event fires.
public enum EventSubscriber: Sendable {
    case sync(@Sendable (HTTPContext) throws -> Void)
    case async(@Sendable (HTTPContext) async throws -> Void)
}

/// The subscription list a module fills in `subscribe(to:)`.
public struct ModuleEvents: Sendable {
    /// The module subscribing.
    public let moduleName: String
    /// Subscriptions in registration order.
    public internal(set) var subscriptions: [(event: LifecycleEvent, subscriber: EventSubscriber)] = []

    /// An empty list for `moduleName`.
    public init(moduleName: String) { self.moduleName = moduleName }

    /// Subscribes a synchronous closure to `event`.
    public mutating func on(_ event: LifecycleEvent, _ body: @escaping @Sendable (HTTPContext) throws -> Void) {
        precondition(event != .executeRequestHandler, "executeRequestHandler is the handler's slot, not an event")
        subscriptions.append((event, .sync(body)))
    }

    /// Subscribes an asynchronous closure to `event`.
    public mutating func onAsync(_ event: LifecycleEvent, _ body: @escaping @Sendable (HTTPContext) async throws -> Void) {
        precondition(event != .executeRequestHandler, "executeRequestHandler is the handler's slot, not an event")
        subscriptions.append((event, .async(body)))
    }
}

/// A module from closures, for tests and small cross-cutting concerns.
public struct ClosureModule: HTTPModule {
    public let name: String
    let register: @Sendable (inout ModuleEvents) -> Void

    /// A module named `name` whose `subscribe(to:)` is `register`.
    public init(name: String, _ register: @escaping @Sendable (inout ModuleEvents) -> Void) {
        self.name = name
        self.register = register
    }

    public func subscribe(to events: inout ModuleEvents) { register(&events) }
}

/// A module that loads and saves `HTTPContext.session` at AcquireRequestState/ReleaseRequestState; the
/// pipeline's startup check (`Pipeline.validate()`) looks for one when a handler declares session state.
public protocol SessionStateProvider: HTTPModule {}
