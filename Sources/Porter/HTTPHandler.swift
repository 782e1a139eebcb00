/// A synchronous endpoint (ASP.NET's `IHttpHandler`): produces the response before returning.
///
/// Sync handlers run on Porter's worker threads, never on Swift's cooperative pool, so they may block.
public protocol HTTPHandler: Sendable {
    /// Produces the response for `context`.
    func processRequest(_ context: HTTPContext) throws
    /// Whether one instance may serve request after request (shared); if false, one is made per request.
    var isReusable: Bool { get }
    /// How this handler uses session state.
    var sessionState: SessionStateBehavior { get }
    /// Limits for `multipart/form-data` bodies, parsed into `request.form`/`request.files` before the handler runs.
    var formLimits: FormLimits { get }
}

/// An asynchronous endpoint (ASP.NET's `HttpTaskAsyncHandler`): awaiting does not hold an OS thread.
public protocol AsyncHTTPHandler: Sendable {
    /// Produces the response for `context`.
    func processRequest(_ context: HTTPContext) async throws
    /// Whether one instance may serve request after request (shared); if false, one is made per request.
    var isReusable: Bool { get }
    /// How this handler uses session state.
    var sessionState: SessionStateBehavior { get }
    /// Limits for `multipart/form-data` bodies, parsed into `request.form`/`request.files` before the handler runs.
    var formLimits: FormLimits { get }
}

extension HTTPHandler {
    public var isReusable: Bool { true }
    public var sessionState: SessionStateBehavior { .disabled }
    public var formLimits: FormLimits { FormLimits() }
}

extension AsyncHTTPHandler {
    public var isReusable: Bool { true }
    public var sessionState: SessionStateBehavior { .disabled }
    public var formLimits: FormLimits { FormLimits() }
}

/// A sync or async handler, as the registry and pipeline carry it.
public enum AnyHTTPHandler: Sendable {
    case sync(any HTTPHandler)
    case async(any AsyncHTTPHandler)

    /// Whether the instance may be reused.
    public var isReusable: Bool {
        switch self {
        case .sync(let h): h.isReusable
        case .async(let h): h.isReusable
        }
    }

    /// The handler's session declaration.
    public var sessionState: SessionStateBehavior {
        switch self {
        case .sync(let h): h.sessionState
        case .async(let h): h.sessionState
        }
    }

    /// The handler's multipart form limits.
    public var formLimits: FormLimits {
        switch self {
        case .sync(let h): h.formLimits
        case .async(let h): h.formLimits
        }
    }

    /// The handler's type name, for traces and logs.
    public var typeName: String {
        switch self {
        case .sync(let h): String(describing: type(of: h))
        case .async(let h): String(describing: type(of: h))
        }
    }
}

/// Builds or chooses a handler per request (ASP.NET's `IHttpHandlerFactory`).
public protocol HTTPHandlerFactory: Sendable {
    /// Returns the handler for this request; throw `HTTPError` to refuse it (e.g. 404).
    func handler(for context: HTTPContext) throws -> AnyHTTPHandler
    /// Called after the request with the handler `handler(for:)` returned (for pooling); the default does nothing.
    func releaseHandler(_ handler: AnyHTTPHandler)
}

extension HTTPHandlerFactory {
    public func releaseHandler(_ handler: AnyHTTPHandler) {}
}

/// A sync handler from a closure, for small endpoints and tests.
public struct ClosureHandler: HTTPHandler {
    let body: @Sendable (HTTPContext) throws -> Void
    public let sessionState: SessionStateBehavior

    /// Wraps `body` as a reusable sync handler.
    public init(sessionState: SessionStateBehavior = .disabled, _ body: @escaping @Sendable (HTTPContext) throws -> Void) {
        self.body = body
        self.sessionState = sessionState
    }

    public func processRequest(_ context: HTTPContext) throws { try body(context) }
}

/// An async handler from a closure, for small endpoints and tests.
public struct AsyncClosureHandler: AsyncHTTPHandler {
    let body: @Sendable (HTTPContext) async throws -> Void
    public let sessionState: SessionStateBehavior

    /// Wraps `body` as a reusable async handler.
    public init(sessionState: SessionStateBehavior = .disabled, _ body: @escaping @Sendable (HTTPContext) async throws -> Void) {
        self.body = body
        self.sessionState = sessionState
    }

    public func processRequest(_ context: HTTPContext) async throws { try await body(context) }
}
