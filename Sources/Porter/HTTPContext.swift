public import Logging

/// Everything about one request as it moves through the pipeline (ASP.NET's `HttpContext`).
///
/// A context belongs to exactly one request and is used by one module or handler at a time, in event order;
/// it is never shared between concurrent tasks (hence `@unchecked Sendable`: the pipeline hands it on, it
/// does not share it).
public final class HTTPContext: @unchecked Sendable {
    /// The request as received.
    public var request: HTTPRequest
    /// The response being built.
    public var response = HTTPResponse()
    /// The requesting user; anonymous until an authentication module sets it.
    public var user: Principal = .anonymous
    /// State shared by every request of this process.
    public let application: ApplicationState
    /// The visitor's session, loaded at AcquireRequestState by the session module (nil without one).
    public var session: HTTPSession?
    /// Overrides the handler's declared session use (ASP.NET's `SetSessionStateBehavior`); set before AcquireRequestState.
    public var sessionStateOverride: SessionStateBehavior?
    /// Per-request values for modules and handlers to pass things to each other, keyed by type.
    public var items = RequestItems()
    /// Process-wide services by type (session store, user store, trace log, …), registered at startup.
    public var services: ApplicationServices { application.services }
    /// The handler chosen at MapRequestHandler (or by `remapHandler`).
    @exclusivity(unchecked) public internal(set) var handler: SelectedHandler?
    /// Errors raised during the request, first one first.
    @exclusivity(unchecked) public private(set) var errors: [any Error] = []
    /// The lifecycle event running now.
    @exclusivity(unchecked) public internal(set) var currentEvent: LifecycleEvent = .beginRequest
    /// Whether `completeRequest()` was called: the remaining events up to LogRequest are skipped.
    @exclusivity(unchecked) public private(set) var isCompleted = false
    /// Skips URL authorization for this request (set by modules that already decided, e.g. the login handler's module).
    public var skipAuthorization = false
    /// The request id: nginx's `$request_id` (`REQUEST_ID` parameter) when given, else a generated one.
    public var requestID: String {
        if let id = _requestID { return id }
        let id = request.parameters["REQUEST_ID"] ?? RequestID.generate()
        _requestID = id
        return id
    }
    @exclusivity(unchecked) private var _requestID: String?

    /// A logger carrying `request.id` metadata (built on first use: most requests never log).
    public var logger: Logger {
        get {
            if let logger = _logger { return logger }
            var logger = baseLogger
            logger[metadataKey: "request.id"] = .string(requestID)
            _logger = logger
            return logger
        }
        set { _logger = newValue }
    }
    @exclusivity(unchecked) private var _logger: Logger?
    private let baseLogger: Logger
    /// Per-event timings and trace messages.
    public var trace = RequestTrace()
    /// Where this request's sync handler runs once the request went async: set by the transport that accepted
    /// it (its own worker threads); `nil` (pipeline tier, CGI) runs sync handlers inline.
    public var syncExecutor: (any SyncWorkExecutor)?
    /// The registry lookup the transport made from the request head (reused at MapRequestHandler while the
    /// method and path are unchanged).
    public var route: RequestRoute?
    /// When the server cancels this request for running past its `request_timeout` (monotonic nanoseconds, see
    /// `MonotonicClock`); nil when nothing times it out. Tells a timeout (504) from a client that went away (499).
    @exclusivity(unchecked) public var timeoutDeadline: UInt64?

    /// A context for `request`; `requestID` defaults to the `REQUEST_ID` parameter or a fresh random id.
    public init(request: HTTPRequest, application: ApplicationState, logger: Logger, requestID: String? = nil) {
        self.request = request
        self.application = application
        self._requestID = requestID
        self.baseLogger = logger
    }

    /// The first error raised, if any (ASP.NET's `Context.Error`).
    public var error: (any Error)? { errors.first }

    /// Records an error; the pipeline raises the Error event for it.
    public func addError(_ error: any Error) { errors.append(error) }

    /// Forgets every recorded error (ASP.NET's `ClearError`), e.g. after an error page was written.
    public func clearErrors() { errors.removeAll() }

    /// Ends the request early: events up to LogRequest are skipped; LogRequest, PostLogRequest and EndRequest still run.
    public func completeRequest() { isCompleted = true }

    /// Whether `endResponse()` was called: the remaining events up to EndRequest are skipped.
    @exclusivity(unchecked) public private(set) var isResponseEnded = false

    /// Ends the response (ASP.NET's `Response.End`): the handler should return at once (or `throw ResponseEnd()`);
    /// the events after it are skipped up to EndRequest, which still runs (as do PreSendRequestHeaders/Content).
    public func endResponse() { isResponseEnded = true }

    /// Redirects (`302 Found`, or `status`) and, like ASP.NET's `Response.Redirect(url)`, ends the response;
    /// pass `endResponse: false` for `Redirect(url, false)` (the rest of the pipeline still runs).
    public func redirect(to location: String, status: HTTPStatus = .found, endResponse: Bool = true) {
        response.redirect(to: location, status: status)
        if endResponse { self.endResponse() }
    }

    /// Whether the response already answers the request's errors (an error page module sets it after writing one);
    /// the pipeline then does not replace it. The errors stay in `errors` for LogRequest and EndRequest to see;
    /// an error raised later still gets a response.
    public var isErrorResponseWritten: Bool {
        get { !errors.isEmpty && answeredErrorCount >= errors.count }
        set { answeredErrorCount = newValue ? errors.count : 0 }
    }
    /// How many of `errors` the written error response answers.
    @exclusivity(unchecked) private var answeredErrorCount = 0
    /// The pipeline running this request (for `execute`/`transfer`).
    @exclusivity(unchecked) public internal(set) var pipeline: Pipeline?

    /// Chooses the handler yourself (ASP.NET's `RemapHandler`); only before MapRequestHandler.
    public func remapHandler(_ handler: AnyHTTPHandler, name: String) throws(HTTPError) {
        guard currentEvent < .mapRequestHandler else {
            throw HTTPError(.internalServerError, message: "remapHandler called after MapRequestHandler")
        }
        self.handler = SelectedHandler(name: name, pattern: nil, handler: handler, release: nil)
    }

    /// Writes a trace message (shown on the trace page).
    public func trace(_ message: String, category: String = "app") {
        trace.write(category: category, message)
    }

    /// The session behaviour in effect: the override, else the handler's declaration, else disabled.
    public var effectiveSessionState: SessionStateBehavior {
        sessionStateOverride ?? handler?.handler.sessionState ?? .disabled
    }
}

/// The handler chosen for a request, with the registry entry it came from.
public struct SelectedHandler: Sendable {
    /// The registered name (e.g. `rss`).
    public var name: String
    /// The path pattern that matched (`*.rss`), used as the route in logs and metrics.
    public var pattern: String?
    /// The handler instance.
    public var handler: AnyHTTPHandler
    /// Called after the request with the instance (a factory's `releaseHandler`).
    var release: (@Sendable (AnyHTTPHandler) -> Void)?
}

/// Request id generation.
public enum RequestID {
    /// 32 random hex digits, like nginx's `$request_id`.
    public static func generate() -> String {
        Hex.encode(SecureRandom.bytes(16))
    }
}
