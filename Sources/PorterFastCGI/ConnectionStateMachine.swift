/// The life of one FastCGI connection as a value: each event moves it to a new state and returns the one
/// thing the transport must do next. It performs no I/O; `Connection` holds it under its lock.
///
/// ```
/// accepted ─inspected(incompleteHead)→ partial ─tick→ rearm ─inspected(completeHead)→ busy
/// accepted/parked ─inspected(completeHead)→ busy ─responseWritten(keep)→ parked │ (no keep)→ closed
/// parked ─inspected(endOfStream)→ closed      partial ─tick(past the header timeout)→ closed
/// ```
struct ConnectionStateMachine: Sendable {
    /// Where the connection is in its life.
    enum State: Equatable, Sendable {
        /// Just accepted; its first bytes are being inspected.
        case accepted
        /// A kept connection idle in epoll until its next request (no thread held).
        case parked
        /// Part of a request head is buffered since `since` (monotonic ns); waiting for the rest.
        case partial(since: UInt64)
        /// A request is being read, run or answered.
        case busy(InFlight)
        /// Closed; nothing more happens.
        case closed
    }

    /// The request being served: what supervision (timeouts, client gone) needs.
    struct InFlight: Equatable, Sendable {
        /// Which request on this connection (1, 2, …): a late task registration can tell it is stale.
        var generation: UInt64
        /// When the request head was complete (monotonic ns).
        var startedAt: UInt64
        /// The request's path, for reports about it.
        var path: String
        /// The task running the request once it went async.
        var task: Task<Void, Never>?
        /// Whether the request ran past its timeout (it is answered 504).
        var timedOut = false
        /// Whether nginx closed the connection while the request ran.
        var clientGone = false
        /// Whether the request was reported as stuck (still running well past its timeout).
        var reportedStuck = false
        /// Whether `task` is the streamed body's producer (a later registration of the finished pipeline task is ignored).
        var streaming = false
    }

    /// What the bytes waiting on the socket look like (a non-consuming peek judged by the request gate).
    enum Input: Equatable, Sendable {
        /// The peer closed the connection.
        case endOfStream
        /// Nothing is buffered (a spurious wake-up).
        case nothingBuffered
        /// The socket reported an error.
        case readFailed
        /// A well-formed start of a request head; more bytes are needed.
        case incompleteHead
        /// BEGIN_REQUEST and all PARAMS were buffered, valid and read; `path` names the request in reports.
        case completeHead(path: String)
        /// Not a FastCGI request Porter serves.
        case malformed(String)
    }

    /// Something that happened to the connection.
    enum Event: Equatable, Sendable {
        /// Its owner looked at the socket (right after accept, or after epoll reported it readable).
        case inspected(Input, now: UInt64)
        /// The request `generation` went async and runs in `task`.
        case suspended(Task<Void, Never>, generation: UInt64)
        /// The request `generation`'s streamed body is produced in `task` (it replaces the pipeline's task).
        case streaming(Task<Void, Never>, generation: UInt64)
        /// The housekeeping clock (every 20 ms); `peerClosed` says whether nginx closed the connection.
        case tick(now: UInt64, peerClosed: Bool)
        /// The response is about to be written.
        case responseReady
        /// The response and END_REQUEST were written; `keepConnection` is what nginx asked for and the
        /// transport still allows (false after a 413 or a failed stream).
        case responseWritten(keepConnection: Bool)
        /// Reading the request failed (libfcgi refused it, or the body broke off).
        case requestFailed
        /// The server began a graceful stop.
        case drain
    }

    /// Why a connection is closed.
    enum CloseReason: Equatable, Sendable {
        case peerClosed, readFailed, malformed(String), headerTimeout, draining, notKept, clientGone, requestFailed
    }

    /// What the transport must do next.
    enum Action: Equatable, Sendable {
        /// Nothing.
        case none
        /// Arm the connection in epoll as an idle kept connection.
        case park
        /// Hand the connection to housekeeping, which re-arms it shortly (the rest of the head is not here yet).
        case waitForRest
        /// (Housekeeping) Arm the connection in epoll again to read the rest of its head.
        case rearm
        /// Hand the buffered request to libfcgi and run it.
        case serve
        /// Write the response as built.
        case respond
        /// The request ran out of time: cancel its task (on a tick), or answer 504 (when the response is ready).
        case timeout
        /// nginx went away: cancel the request's task.
        case cancel
        /// The request is still running well past its timeout: report it (a sync handler cannot be cancelled).
        case reportStuck
        /// Shut the socket's read side so its owner wakes, sees end of input and closes it.
        case wakeToClose
        /// Close the connection.
        case close(CloseReason)
    }

    /// Time limits in monotonic nanoseconds.
    struct Limits: Equatable, Sendable {
        /// How long a request head may take to arrive.
        var headerTimeout: UInt64
        /// How long a request may run (nil: no limit).
        var requestTimeout: UInt64?
        /// How long past `requestTimeout` a request is reported stuck.
        var stuckAfter: UInt64 = 5_000_000_000
        /// Whether a request's task is cancelled when nginx closes the connection.
        var cancelOnDisconnect = true
    }

    let limits: Limits
    private(set) var state: State = .accepted
    /// Whether the server is stopping: the connection closes instead of parking.
    private(set) var isDraining = false
    private var requests: UInt64 = 0
    /// Whether a response was completed on this connection. Only then may nginx hold it as an idle kept
    /// connection and retry a request on another one if it finds it closed; a connection that has not served
    /// its first request is never dropped by a drain (nginx would answer that request 502).
    private(set) var hasServed = false

    /// Whether the connection is open and still waiting for its first request (a drain waits for those).
    var isAwaitingFirstRequest: Bool { !hasServed && state != .closed }

    /// A machine for a freshly accepted connection.
    init(limits: Limits) { self.limits = limits }

    /// The current request's generation (0 before the first).
    var generation: UInt64 { requests }

    /// The current request's task, if it went async.
    var task: Task<Void, Never>? {
        if case .busy(let request) = state { return request.task }
        return nil
    }

    /// Whether a tick should ask the socket if nginx went away (only an async request can be cancelled).
    var wantsPeerCheck: Bool {
        guard limits.cancelOnDisconnect, case .busy(let request) = state else { return false }
        return request.task != nil && !request.clientGone
    }

    /// Applies `event`; returns what to do.
    mutating func handle(_ event: Event) -> Action {
        switch event {
        case .inspected(let input, let now): inspected(input, now: now)
        case .suspended(let task, let generation): suspended(task, generation: generation)
        case .streaming(let task, let generation): suspended(task, generation: generation, streaming: true)
        case .tick(let now, let peerClosed): tick(now: now, peerClosed: peerClosed)
        case .responseReady: responseReady()
        case .responseWritten(let keep): responseWritten(keepConnection: keep)
        case .requestFailed: requestFailed()
        case .drain: drain()
        }
    }

    private mutating func inspected(_ input: Input, now: UInt64) -> Action {
        let since: UInt64?
        switch state {
        case .accepted, .parked: since = nil
        case .partial(let start): since = start
        case .busy, .closed: return .none
        }
        switch input {
        case .endOfStream: return close(.peerClosed)
        case .readFailed: return close(.readFailed)
        case .malformed(let reason): return close(.malformed(reason))
        case .nothingBuffered:
            if let since {
                state = .partial(since: since)
                return .waitForRest
            }
            if isDraining && hasServed { return close(.draining) }
            state = .parked
            return .park
        case .incompleteHead:
            if isDraining && hasServed { return close(.draining) }
            state = .partial(since: since ?? now)
            return .waitForRest
        case .completeHead(let path):
            // Served even while draining: nginx sent it before it saw the connection close.
            requests += 1
            state = .busy(InFlight(generation: requests, startedAt: now, path: path))
            return .serve
        }
    }

    private mutating func suspended(_ task: Task<Void, Never>, generation: UInt64, streaming: Bool = false) -> Action {
        guard case .busy(var request) = state, request.generation == generation else { return .none }
        // A pipeline that finished without suspending registers its task after the stream's: keep the stream's.
        if request.streaming && !streaming { return .none }
        request.task = task
        request.streaming = streaming
        state = .busy(request)
        // Timed out or abandoned before the task was known: cancel it now.
        return request.timedOut || request.clientGone ? .cancel : .none
    }

    private mutating func tick(now: UInt64, peerClosed: Bool) -> Action {
        switch state {
        case .partial(let since):
            if isDraining && hasServed { return close(.draining) }
            if now &- since > limits.headerTimeout { return close(.headerTimeout) }
            return .rearm
        case .busy(var request):
            defer { state = .busy(request) }
            if let timeout = limits.requestTimeout, now &- request.startedAt > timeout {
                if !request.timedOut {
                    request.timedOut = true
                    return .timeout
                }
                if !request.reportedStuck, now &- request.startedAt > timeout + limits.stuckAfter {
                    request.reportedStuck = true
                    return .reportStuck
                }
            }
            if limits.cancelOnDisconnect, peerClosed, request.task != nil, !request.clientGone {
                request.clientGone = true
                return .cancel
            }
            return .none
        case .accepted, .parked, .closed:
            return .none
        }
    }

    private mutating func responseReady() -> Action {
        guard case .busy(let request) = state else { return .none }
        return request.timedOut ? .timeout : .respond
    }

    private mutating func responseWritten(keepConnection: Bool) -> Action {
        guard case .busy(let request) = state else { return .none }
        hasServed = true
        if isDraining { return close(.draining) }
        if request.clientGone { return close(.clientGone) }
        guard keepConnection else { return close(.notKept) }
        state = .parked
        return .park
    }

    private mutating func requestFailed() -> Action {
        guard case .busy = state else { return .none }
        return close(.requestFailed)
    }

    private mutating func drain() -> Action {
        isDraining = true
        // Busy and partial connections close at their next event; an idle kept one must be woken to notice.
        // A connection nginx opened but has not used yet keeps waiting for its first request (see `hasServed`).
        return state == .parked && hasServed ? .wakeToClose : .none
    }

    private mutating func close(_ reason: CloseReason) -> Action {
        state = .closed
        return .close(reason)
    }
}
