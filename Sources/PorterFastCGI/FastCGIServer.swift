public import Logging
public import Porter
public import ServiceLifecycle
import Synchronization
import Glibc

/// Porter's FastCGI responder: serves a `Pipeline` on a unix socket, a TCP port or an inherited socket.
///
/// N worker threads wait on one epoll set holding the listen socket, every idle kept-alive connection,
/// and the queue of sync work. A thread takes a connection only once a whole request head is buffered,
/// reads it through libfcgi, and runs the pipeline inline; an async step continues in a task and the
/// thread goes back to epoll. Idle kept connections cost an epoll entry, never a thread.
public final class FastCGIServer: Service, Sendable {
    /// The configuration in effect.
    public let configuration: FastCGIServerConfiguration
    /// The pipeline requests run through.
    public let pipeline: Pipeline
    /// Live transport counters.
    public let statistics = TransportStatistics()
    /// The state shared by every request.
    public let application: ApplicationState
    let logger: Logger

    private let state = Mutex<ServerState>(ServerState())
    /// The epoll and listen descriptors, fixed once `start()` ran (read on every request, so not behind the lock).
    private let epollFD = Atomic<Int32>(-1)
    private let listenDescriptor = Atomic<Int32>(-1)
    private let jobs = Mutex<JobQueue>(JobQueue())
    let connectionTable = ConnectionTable()
    private let partials = Mutex<[Connection]>([])
    private let draining = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let gate: RequestGate

    private static let listenToken: UInt64 = 1
    private static let jobsToken: UInt64 = 2
    private static let stopToken: UInt64 = 3

    /// A server for `pipeline`; call `run()` (as a service) or `start()`/`shutdown()`.
    public init(configuration: FastCGIServerConfiguration, pipeline: Pipeline, application: ApplicationState, logger: Logger) {
        self.configuration = configuration
        self.pipeline = pipeline
        self.application = application
        self.logger = logger
        self.gate = RequestGate(limits: .init(maxParamsBytes: configuration.maxParamsBytes))
    }

    /// The executor that runs sync work on some running server's worker threads (for pipelines built
    /// before their server); each request itself uses its own server's `executor`.
    public static let workerExecutor: any SyncWorkExecutor = WorkerExecutorProxy()

    /// Runs sync work on this server's worker threads.
    public var executor: any SyncWorkExecutor { ServerExecutor(server: self) }

    // MARK: - Service

    /// Serves until a graceful shutdown (SIGTERM/SIGINT via ServiceLifecycle) or task cancellation, then drains.
    public func run() async throws {
        try start()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await waitUntilStopped()
            } onGracefulShutdown: {
                self.shutdown()
            }
        } onCancel: {
            self.shutdown()
        }
    }

    /// Opens the listen socket and starts the worker threads.
    public func start() throws(ServerStartError) {
        let (listenFD, socketPath) = try ListenSocket.open(configuration)
        Poller.setNonBlocking(listenFD)
        let epfd = Poller.create()
        let jobsFD = Poller.eventFD()
        let stopFD = Poller.eventFD()
        guard epfd >= 0, jobsFD >= 0, stopFD >= 0 else { throw ServerStartError("epoll/eventfd: \(String(cString: strerror(errno)))") }
        Poller.add(epfd, listenFD, events: Poller.oneShotIn, token: Self.listenToken)
        Poller.add(epfd, jobsFD, events: Poller.oneShotIn, token: Self.jobsToken)
        Poller.add(epfd, stopFD, events: Poller.levelIn, token: Self.stopToken)
        state.withLock {
            $0.epfd = epfd; $0.listenFD = listenFD; $0.jobsFD = jobsFD; $0.stopFD = stopFD; $0.socketPath = socketPath
        }
        epollFD.store(epfd, ordering: .releasing)
        listenDescriptor.store(listenFD, ordering: .releasing)
        WorkerExecutorProxy.register(self)
        let threads = max(1, configuration.threads)
        for i in 0..<threads {
            WorkerThread.start(name: "porter-w\(i)", worker: true) { self.workerLoop(epfd: epfd) }
        }
        statistics.threads.store(threads, ordering: .relaxed)
        WorkerThread.start(name: "porter-house", worker: false) { self.housekeepingLoop() }
        logger.info("listening", metadata: ["listen": .string(configuration.listen.description), "threads": .stringConvertible(threads)])
    }

    /// Begins a graceful stop: no new connections, idle kept connections closed, in-flight requests finish
    /// (up to `drainTimeout`), then the threads exit and `waitUntilStopped()` returns.
    public func shutdown() {
        guard !draining.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let (epfd, listenFD, path) = state.withLock { ($0.epfd, $0.listenFD, $0.socketPath) }
        guard epfd >= 0 else {
            finish()
            return
        }
        Poller.remove(epfd, listenFD)
        if case .inherited = configuration.listen {
            // Shared with other processes (master/workers, systemd): stop accepting but leave it open for them.
        } else {
            Poller.shutdownSocket(listenFD)
            Poller.close(listenFD)
            if let path { unlink(path) }
        }
        // Wake idle kept connections: their owner (a worker) sees EOF and closes them. Connections still waiting
        // for their first request are left alone: that request is served (nginx would answer it 502 otherwise).
        for conn in connectionTable.all where conn.state.load(ordering: .acquiring) == Connection.State.parked.rawValue
            && conn.hasServed.load(ordering: .acquiring) {
            _ = Glibc.shutdown(conn.fd, Int32(SHUT_RDWR))
        }
        state.withLock { $0.drainDeadline = MonotonicClock.nanoseconds() + UInt64(configuration.drainTimeout.components.seconds) * 1_000_000_000 }
        logger.info("draining", metadata: ["active": .stringConvertible(statistics.activeRequests.load(ordering: .relaxed))])
    }

    /// Returns once the server has stopped.
    public func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.finished { return true }
                s.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    private func finish() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let (stopFD, waiters) = state.withLock { s -> (Int32, [CheckedContinuation<Void, Never>]) in
            s.finished = true
            defer { s.waiters = [] }
            return (s.stopFD, s.waiters)
        }
        if stopFD >= 0 { Poller.signal(stopFD) }
        WorkerExecutorProxy.unregister(self)
        logger.info("stopped", metadata: ["requests": .stringConvertible(statistics.acceptedRequests.load(ordering: .relaxed))])
        for waiter in waiters { waiter.resume() }
    }

    // MARK: - Worker threads

    /// Events one thread takes from epoll at a time: under load a thread serves several ready connections
    /// without sleeping in between (fewer context switches); see `handOffAfterNanos` for the latency bound.
    static let batchSize: Int32 = 16
    /// If serving part of a batch took longer than this, the rest of the batch is re-armed for other threads.
    static let handOffAfterNanos: UInt64 = 2_000_000

    private func workerLoop(epfd: Int32) {
        let bufferSize = configuration.maxParamsBytes + 16 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 8)
        defer { buffer.deallocate() }
        let events = Poller.EventBatch(capacity: Self.batchSize)
        while true {
            statistics.idleThreads.add(1, ordering: .relaxed)
            let n = events.wait(epfd, timeoutMilliseconds: -1)
            statistics.idleThreads.subtract(1, ordering: .relaxed)
            guard n > 0 else { continue }
            let batchStart = n > 1 ? MonotonicClock.nanoseconds() : 0
            for i in 0..<n {
                let token = events.token(i)
                if i > 0, token > Self.stopToken, MonotonicClock.nanoseconds() &- batchStart > Self.handOffAfterNanos {
                    // This batch is taking long (a slow sync handler): let an idle thread serve the rest.
                    let conn = Connection.from(token: token)
                    Poller.rearm(epfd, conn.fd, events: Poller.connectionEvents, token: token)
                    continue
                }
                switch token {
                case Self.stopToken:
                    return
                case Self.listenToken:
                    acceptOne(buffer)
                case Self.jobsToken:
                    runOneJob()
                default:
                    let conn = Connection.from(token: token)
                    let previous = conn.state.exchange(Connection.State.busy.rawValue, ordering: .acquiringAndReleasing)
                    if previous == Connection.State.parked.rawValue { statistics.parkedConnections.subtract(1, ordering: .relaxed) }
                    serve(conn, buffer)
                }
            }
        }
    }

    private func acceptOne(_ buffer: UnsafeMutableRawBufferPointer) {
        let epfd = epollFD.load(ordering: .acquiring), listenFD = listenDescriptor.load(ordering: .acquiring)
        let fd = Poller.accept(listenFD)
        if !draining.load(ordering: .relaxed) {
            Poller.rearm(epfd, listenFD, events: Poller.oneShotIn, token: Self.listenToken)
        }
        guard fd >= 0 else { return }
        // Accepted while a drain began (another thread's epoll_wait had already returned the listen event, or
        // a shared listen socket): the peer has connected and will send a request; serve it like the others.
        Poller.setTimeouts(fd, receiveSeconds: configuration.ioTimeoutSeconds, sendSeconds: configuration.ioTimeoutSeconds)
        let conn = Connection(fd: fd)
        connectionTable.insert(conn)
        statistics.acceptedConnections.add(1, ordering: .relaxed)
        statistics.openConnections.add(1, ordering: .relaxed)
        serve(conn, buffer)
    }

    private func runOneJob() {
        let (epfd, jobsFD) = state.withLock { ($0.epfd, $0.jobsFD) }
        let job = jobs.withLock { queue -> (@Sendable () -> Void)? in
            let job = queue.pop()
            if queue.isEmpty { Poller.drain(jobsFD) }
            return job
        }
        Poller.rearm(epfd, jobsFD, events: Poller.oneShotIn, token: Self.jobsToken)
        job?()
    }

    /// Queues sync work for a worker thread.
    func enqueue(_ job: @escaping @Sendable () -> Void) {
        let jobsFD = state.withLock { $0.jobsFD }
        jobs.withLock { $0.push(job) }
        Poller.signal(jobsFD)
    }

    // MARK: - Serving a connection

    /// Looks at what is buffered and serves the request once its head is complete.
    private func serve(_ conn: Connection, _ buffer: UnsafeMutableRawBufferPointer) {
        let n = Poller.peek(conn.fd, into: buffer)
        if n == 0 {
            close(conn)
            return
        }
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK {
                if conn.partialSince != 0 { parkPartial(conn) } else { arm(conn, state: .parked) }
            } else {
                close(conn)
            }
            return
        }
        switch gate.inspect(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) {
        case .malformed(let reason):
            statistics.rejectedConnections.add(1, ordering: .relaxed)
            logger.notice("closing connection: malformed FastCGI input", metadata: ["reason": .string(reason)])
            close(conn)
        case .incomplete:
            if conn.partialSince == 0 { conn.partialSince = MonotonicClock.nanoseconds() }
            parkPartial(conn)
        case .ready:
            conn.partialSince = 0
            process(conn)
        }
    }

    private func process(_ conn: Connection) {
        guard conn.request.accept() else {
            close(conn)
            return
        }
        let params = conn.request.parameters()
        statistics.requestStarted()
        conn.inFlight.withLock { $0 = Connection.InFlight(startedAt: MonotonicClock.nanoseconds()) }
        let declaredLength = params["CONTENT_LENGTH"].flatMap { Int($0) } ?? 0
        let body: [UInt8]
        if declaredLength > configuration.maxBodyBytes {
            refuseOversized(conn)
            return
        }
        switch conn.request.readBody(expected: declaredLength, limit: configuration.maxBodyBytes) {
        case .complete(let bytes):
            body = bytes
        case .tooLarge:
            refuseOversized(conn)
            return
        case .failed:
            statistics.requestFinished()
            conn.request.keepConnection = false
            conn.request.finish()
            close(conn)
            return
        }
        let context = HTTPContext(request: HTTPRequest(cgiParameters: params, body: body), application: application, logger: logger)
        context.syncExecutor = executor
        switch pipeline.start(context) {
        case .finished:
            respond(conn, context)
        case .suspended(let cursor):
            let pipeline = self.pipeline
            let task = Task.immediate {
                await pipeline.resume(context, from: cursor)
                self.respond(conn, context)
            }
            conn.inFlight.withLock { if $0.startedAt != 0 { $0.task = task } }
        }
    }

    private func refuseOversized(_ conn: Connection) {
        statistics.oversizedRequests.add(1, ordering: .relaxed)
        var response = HTTPResponse()
        response.setText("Request body too large\n", status: .payloadTooLarge)
        let bytes = response.bufferedBody ?? []
        response.cgiHead(bodyLength: bytes.count).withUnsafeBytes { _ = conn.request.write($0) }
        bytes.withUnsafeBytes { _ = conn.request.write($0) }
        conn.request.keepConnection = false
        endRequest(conn)
    }

    /// Writes the response head and body, then ends the request.
    private func respond(_ conn: Connection, _ context: HTTPContext) {
        let (timedOut, clientGone) = conn.inFlight.withLock { ($0.timedOut, $0.clientGone) }
        if timedOut {
            context.logger.warning("request timed out", metadata: ["path": .string(context.request.path)])
            context.response.setText("Gateway Timeout\n", status: .gatewayTimeout)
        }
        if clientGone { conn.request.keepConnection = false }
        let sendBody = context.request.method != .head && !context.response.status.forbidsBody
        switch context.response.body {
        case .buffer(let bytes):
            let head = context.response.cgiHead(bodyLength: bytes.count)
            if sendBody && bytes.count <= 16 * 1024 {
                var all = head
                all.append(contentsOf: bytes)
                all.withUnsafeBytes { _ = conn.request.write($0) }
            } else {
                head.withUnsafeBytes { _ = conn.request.write($0) }
                if sendBody { bytes.withUnsafeBytes { _ = conn.request.write($0) } }
            }
            endRequest(conn)
        case .stream(let produce):
            let length = context.response.headers["Content-Length"].flatMap { Int($0) }
            context.response.cgiHead(bodyLength: length).withUnsafeBytes { _ = conn.request.write($0) }
            guard sendBody else {
                endRequest(conn)
                return
            }
            let writer = StreamWriter(request: conn.request)
            let logger = context.logger
            Task.immediate {
                do {
                    try await produce(writer)
                } catch {
                    logger.error("streamed body failed", metadata: ["error": .string("\(error)")])
                    conn.request.keepConnection = false
                }
                self.endRequest(conn)
            }
        }
    }

    private func endRequest(_ conn: Connection) {
        conn.inFlight.withLock { $0 = Connection.InFlight() }
        conn.request.finish()
        conn.hasServed.store(true, ordering: .releasing)
        statistics.requestFinished()
        if conn.request.fd < 0 {
            forget(conn)
        } else if draining.load(ordering: .relaxed) {
            close(conn)
        } else {
            arm(conn, state: .parked)
        }
    }

    /// Puts the connection (back) into epoll.
    private func arm(_ conn: Connection, state newState: Connection.State) {
        let epfd = epollFD.load(ordering: .acquiring)
        if newState == .parked { statistics.parkedConnections.add(1, ordering: .relaxed) }
        conn.state.store(newState.rawValue, ordering: .releasing)
        let ok: Bool
        if conn.registered {
            ok = Poller.rearm(epfd, conn.fd, events: Poller.connectionEvents, token: conn.token)
        } else {
            conn.registered = true
            ok = Poller.add(epfd, conn.fd, events: Poller.connectionEvents, token: conn.token)
        }
        if !ok {
            // Only the owner reaches here and the fd is not armed, so closing is safe.
            if newState == .parked { statistics.parkedConnections.subtract(1, ordering: .relaxed) }
            conn.state.store(Connection.State.busy.rawValue, ordering: .releasing)
            close(conn)
        }
    }

    private func parkPartial(_ conn: Connection) {
        conn.state.store(Connection.State.partial.rawValue, ordering: .releasing)
        partials.withLock { $0.append(conn) }
    }

    /// Closes a connection this thread owns.
    private func close(_ conn: Connection) {
        if conn.request.fd >= 0 {
            conn.request.keepConnection = false
        }
        forget(conn)
    }

    private func forget(_ conn: Connection) {
        if connectionTable.remove(conn) {
            statistics.openConnections.subtract(1, ordering: .relaxed)
        }
        // The last reference goes with the caller's: FCGIRequest.deinit closes the fd.
    }

    // MARK: - Housekeeping

    /// Every 20 ms: re-arms connections waiting for the rest of a request (dropping those past the
    /// header timeout) and completes a graceful stop once nothing is in flight.
    private func housekeepingLoop() {
        let timeoutNanos = UInt64(configuration.requestHeaderTimeout.components.seconds) * 1_000_000_000
            + UInt64(configuration.requestHeaderTimeout.components.attoseconds / 1_000_000_000)
        while !stopped.load(ordering: .relaxed) {
            usleep(20_000)
            let waiting = partials.withLock { list -> [Connection] in
                defer { list.removeAll(keepingCapacity: true) }
                return list
            }
            let now = MonotonicClock.nanoseconds()
            for conn in waiting {
                // While draining, a kept connection's unfinished next request is dropped (nginx retries it on another
                // connection); a connection's first request gets its header timeout like any other.
                let drop = draining.load(ordering: .relaxed) && conn.hasServed.load(ordering: .acquiring)
                if now &- conn.partialSince > timeoutNanos || drop {
                    statistics.rejectedConnections.add(1, ordering: .relaxed)
                    logger.notice("closing connection: request head not received in time")
                    close(conn)
                } else {
                    arm(conn, state: .partial)
                }
            }
            if statistics.activeRequests.load(ordering: .relaxed) > 0,
               configuration.requestTimeout != nil || configuration.cancelOnDisconnect {
                superviseInFlight(now: now)
            }
            if draining.load(ordering: .relaxed) {
                let (deadline, epfd) = state.withLock { ($0.drainDeadline, $0.epfd) }
                let active = statistics.activeRequests.load(ordering: .relaxed)
                // Connections accepted before the drain that have not had their first request yet count as in flight.
                let awaitingFirstRequest = active == 0 && connectionTable.all.contains { !$0.hasServed.load(ordering: .acquiring) }
                if (active == 0 && !awaitingFirstRequest) || now > deadline {
                    if active > 0 { logger.warning("drain timeout: abandoning in-flight requests", metadata: ["active": .stringConvertible(active)]) }
                    _ = epfd
                    finish()
                    return
                }
            }
        }
    }
}

extension FastCGIServer {
    /// Cancels requests whose client went away or whose time is up; reports requests stuck past the limit.
    func superviseInFlight(now: UInt64) {
        let timeoutNanos = configuration.requestTimeout.map {
            UInt64($0.components.seconds) * 1_000_000_000 + UInt64($0.components.attoseconds / 1_000_000_000)
        }
        for conn in allConnections() {
            var stuck = false
            let task = conn.inFlight.withLock { f -> Task<Void, Never>? in
                guard f.startedAt != 0 else { return nil }
                var cancel = false
                if let timeoutNanos, now &- f.startedAt > timeoutNanos, !f.timedOut {
                    f.timedOut = true
                    cancel = true
                }
                if let timeoutNanos, now &- f.startedAt > timeoutNanos + 5_000_000_000, !f.reportedStuck {
                    f.reportedStuck = true
                    stuck = true
                }
                if configuration.cancelOnDisconnect, f.task != nil, !f.clientGone, Poller.peerClosed(conn.fd) {
                    f.clientGone = true
                    cancel = true
                }
                return cancel ? f.task : nil
            }
            task?.cancel()
            if stuck {
                logger.error("request still running past its timeout (a sync handler cannot be cancelled)")
                configuration.onStuckRequest?("")
            }
        }
    }

    func allConnections() -> [Connection] { connectionTable.all }
}

/// Mutable server state guarded by a lock.
struct ServerState: ~Copyable {
    var epfd: Int32 = -1
    var listenFD: Int32 = -1
    var jobsFD: Int32 = -1
    var stopFD: Int32 = -1
    var socketPath: String?
    var drainDeadline: UInt64 = 0
    var finished = false
    var waiters: [CheckedContinuation<Void, Never>] = []
}

/// Opens the listen socket a configuration names (unix path with mode and group, TCP, or inherited).
public enum ListenSocket {
    /// Whether `fd` is a listening socket (e.g. fd 0 handed over by spawn-fcgi).
    public static func isListening(_ fd: Int32) -> Bool { Poller.isListeningSocket(fd) }

    /// Opens (or adopts) the listen socket; returns its fd and the unix socket path when one was created.
    public static func open(_ configuration: FastCGIServerConfiguration) throws(ServerStartError) -> (fd: Int32, path: String?) {
        switch configuration.listen {
        case .unix(let path):
            let fd = LibFCGI.openSocket(path, backlog: configuration.backlog)
            guard fd >= 0 else { throw ServerStartError("cannot listen on \(path): \(String(cString: strerror(errno)))") }
            if let problem = Poller.setSocketPermissions(path: path, mode: mode_t(configuration.socketMode), group: configuration.socketGroup) {
                Poller.close(fd)
                throw ServerStartError(problem)
            }
            return (fd, path)
        case .tcp(let host, let port):
            let fd = LibFCGI.openSocket("\(host):\(port)", backlog: configuration.backlog)
            guard fd >= 0 else { throw ServerStartError("cannot listen on \(host):\(port): \(String(cString: strerror(errno)))") }
            return (fd, nil)
        case .inherited(let fd):
            _ = LibFCGI.initialized
            guard Poller.isListeningSocket(fd) else { throw ServerStartError("fd \(fd) is not a listening socket") }
            return (fd, nil)
        }
    }
}

/// Why the server could not start.
public struct ServerStartError: Error, CustomStringConvertible {
    public let message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Writes streamed body chunks to the request's STDOUT.
struct StreamWriter: ResponseBodyWriter {
    let request: FCGIRequest

    func write(_ bytes: [UInt8]) async throws {
        let ok = bytes.withUnsafeBytes { request.write($0) }
        guard ok, request.flush() else { throw HTTPError(.badGateway, message: "client went away") }
    }
}

/// Runs sync work on one server's worker threads.
struct ServerExecutor: SyncWorkExecutor {
    let server: FastCGIServer
    var isCurrentThreadWorker: Bool { WorkerThread.isCurrent }
    func execute(_ work: @escaping @Sendable () -> Void) { server.enqueue(work) }
}

/// Routes sync work to the worker threads of the running server(s) in this process.
final class WorkerExecutorProxy: SyncWorkExecutor {
    private static let servers = Mutex<[ObjectIdentifier: FastCGIServer]>([:])

    static func register(_ server: FastCGIServer) { servers.withLock { $0[ObjectIdentifier(server)] = server } }
    static func unregister(_ server: FastCGIServer) { _ = servers.withLock { $0.removeValue(forKey: ObjectIdentifier(server)) } }

    var isCurrentThreadWorker: Bool { WorkerThread.isCurrent }

    func execute(_ work: @escaping @Sendable () -> Void) {
        if let server = Self.servers.withLock({ $0.values.first }) {
            server.enqueue(work)
        } else {
            WorkerThread.start(name: "porter-sync", worker: true, work)
        }
    }
}
