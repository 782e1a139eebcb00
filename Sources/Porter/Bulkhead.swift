import Synchronization

/// The admission limit: at most `limit` units of work (requests, jobs) are admitted at once; the rest are
/// refused at once with `503 Service Unavailable` and `Retry-After` instead of queueing silently.
///
/// 503 means "this server is busy" (capacity); 429 is for per-client rate limits (RFC 6585, nginx's
/// `limit_req`). A handler's `max_concurrency` and the image resize queue both admit work through it.
public final class Bulkhead: Sendable {
    /// The most units admitted at once.
    public let limit: Int
    /// Seconds suggested to the client in `Retry-After`.
    public let retryAfterSeconds: Int
    private let running = Atomic<Int>(0)
    /// Units refused so far.
    public let rejected = Atomic<Int>(0)

    /// A bulkhead admitting `limit` units at once.
    public init(limit: Int, retryAfterSeconds: Int = 1) {
        precondition(limit > 0, "a bulkhead needs a positive limit")
        self.limit = limit
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// Units inside now.
    public var current: Int { running.load(ordering: .relaxed) }

    /// The refusal: `503 Service Unavailable` with `Retry-After`.
    public var busyError: HTTPError {
        HTTPError(.serviceUnavailable, message: "Too busy, try again shortly", headers: ["Retry-After": String(retryAfterSeconds)])
    }

    /// Enters if there is room (then `leave()` must follow); counts a refusal otherwise.
    public func tryEnter() -> Bool {
        let now = running.add(1, ordering: .acquiringAndReleasing).newValue
        guard now > limit else { return true }
        running.subtract(1, ordering: .acquiringAndReleasing)
        rejected.add(1, ordering: .relaxed)
        return false
    }

    /// Enters, or throws `busyError` (503 + Retry-After) when full.
    public func enter() throws(HTTPError) {
        guard tryEnter() else { throw busyError }
    }

    /// Leaves.
    public func leave() { running.subtract(1, ordering: .acquiringAndReleasing) }

    /// Wraps a handler source so every handler it yields is limited by this bulkhead.
    public func wrap(_ source: HandlerSource) -> HandlerSource {
        switch source {
        case .instance(let handler): .instance(wrap(handler))
        case .make(let make): .make { [self] in wrap(try make()) }
        case .factory(let factory): .factory(BulkheadFactory(inner: factory, bulkhead: self))
        }
    }

    /// Wraps one handler, keeping it sync or async.
    public func wrap(_ handler: AnyHTTPHandler) -> AnyHTTPHandler {
        switch handler {
        case .sync(let h): .sync(SyncBulkheadHandler(inner: h, bulkhead: self))
        case .async(let h): .async(AsyncBulkheadHandler(inner: h, bulkhead: self))
        }
    }
}

struct SyncBulkheadHandler: HTTPHandler {
    let inner: any HTTPHandler
    let bulkhead: Bulkhead
    var isReusable: Bool { inner.isReusable }
    var sessionState: SessionStateBehavior { inner.sessionState }
    func processRequest(_ context: HTTPContext) throws {
        try bulkhead.enter()
        defer { bulkhead.leave() }
        try inner.processRequest(context)
    }
}

struct AsyncBulkheadHandler: AsyncHTTPHandler {
    let inner: any AsyncHTTPHandler
    let bulkhead: Bulkhead
    var isReusable: Bool { inner.isReusable }
    var sessionState: SessionStateBehavior { inner.sessionState }
    func processRequest(_ context: HTTPContext) async throws {
        try bulkhead.enter()
        defer { bulkhead.leave() }
        try await inner.processRequest(context)
    }
}

struct BulkheadFactory: HTTPHandlerFactory {
    let inner: any HTTPHandlerFactory
    let bulkhead: Bulkhead
    func handler(for context: HTTPContext) throws -> AnyHTTPHandler { bulkhead.wrap(try inner.handler(for: context)) }
}
