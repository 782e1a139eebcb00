public import Logging
public import Porter
public import ServiceLifecycle
import Synchronization
import Glibc

/// Porter's FastCGI responder: serves a `Pipeline` on a unix socket, a TCP port or an inherited socket.
///
/// Worker threads (one per CPU, more while some block: `WorkerThreads`) wait on one epoll set holding the listen
/// socket, every idle kept-alive connection, and the queue of sync work. A thread takes a connection only once a
/// whole request head is buffered,
/// reads it through libfcgi, and runs the pipeline inline; an async step continues in a task and the
/// thread goes back to epoll. Idle kept connections cost an epoll entry, never a thread.
///
/// This file is the service facade (start, shutdown, drain, wait); the rest of the transport lives in
/// `WorkerLoop`, `ConnectionEvents`, `RequestRunner`, `BodyReader`, `ResponseWriter` and `Housekeeping`.
public final class FastCGIServer: Service, Sendable {
    /// The configuration in effect.
    public let configuration: FastCGIServerConfiguration
    /// The pipeline new requests run through (a reload replaces it: see `replace(pipeline:application:)`).
    public var pipeline: Pipeline { current.pipeline }
    /// Live transport counters.
    public let statistics = TransportStatistics(scoreboard: .forThisProcess())
    /// The state shared by every new request.
    public var application: ApplicationState { current.application }
    private let serving: Mutex<ServingGeneration>
    /// Bumped by every `replace`: worker threads keep the generation they last saw and take the lock only when this moved.
    let servingVersion = Atomic<UInt64>(0)
    /// The pipeline and state new requests run on.
    public var current: ServingGeneration { serving.withLock { $0 } }
    let logger: Logger

    private let state = Mutex<ServerState>(ServerState())
    /// Descriptors fixed once `start()` ran (read on every event, so not behind the lock).
    let epollFD = Atomic<Int32>(-1)
    let listenDescriptor = Atomic<Int32>(-1)
    let jobsDescriptor = Atomic<Int32>(-1)
    let jobs = Mutex<JobQueue>(JobQueue())
    let connectionTable = ConnectionTable()
    /// Connections waiting for the rest of a request head; housekeeping re-arms them.
    let partials = Mutex<[Connection]>([])
    let draining = Atomic<Bool>(false)
    let stopped = Atomic<Bool>(false)
    let gate: RequestGate
    /// The worker threads: how many run, which are parked.
    let workers: WorkerThreads
    let connectionLimits: ConnectionStateMachine.Limits

    static let listenToken: UInt64 = 1
    static let jobsToken: UInt64 = 2
    static let stopToken: UInt64 = 3

    /// A server for `pipeline`; call `run()` (as a service) or `start()`/`shutdown()`.
    public init(configuration: FastCGIServerConfiguration, pipeline: Pipeline, application: ApplicationState, logger: Logger) {
        self.configuration = configuration
        self.serving = Mutex(ServingGeneration(pipeline: pipeline, application: application))
        self.logger = logger
        self.workers = WorkerThreads(minimum: configuration.minThreads ?? WorkerThreads.availableCPUs,
                                     maximum: configuration.threads, statistics: statistics)
        self.gate = RequestGate(limits: .init(maxParamsBytes: configuration.maxParamsBytes))
        self.connectionLimits = .init(headerTimeout: configuration.requestHeaderTimeout.nanoseconds,
                                      requestTimeout: configuration.requestTimeout?.nanoseconds,
                                      cancelOnDisconnect: configuration.cancelOnDisconnect)
    }

    /// Makes new requests run on `pipeline` and `application` (a configuration reload); requests already
    /// running finish on the old ones. Returns the old generation (wait for it with `waitUntilIdle()`).
    public func replace(pipeline: Pipeline, application: ApplicationState) -> ServingGeneration {
        let next = ServingGeneration(pipeline: pipeline, application: application)
        return serving.withLock { current in
            let old = current
            current = next
            servingVersion.add(1, ordering: .sequentiallyConsistent)
            return old
        }
    }

    /// Runs sync work on this server's worker threads (every request it accepts uses it as `syncExecutor`).
    public var executor: any SyncWorkExecutor { ServerExecutor(server: self) }

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
            $0.listenFD = listenFD; $0.stopFD = stopFD; $0.socketPath = socketPath
        }
        epollFD.store(epfd, ordering: .releasing)
        listenDescriptor.store(listenFD, ordering: .releasing)
        statistics.listenDescriptor.store(listenFD, ordering: .releasing)
        statistics.backlog.store(Int(configuration.backlog), ordering: .relaxed)
        jobsDescriptor.store(jobsFD, ordering: .releasing)
        for _ in 0..<workers.minimum {
            if let slot = workers.claimNewSlot() { startWorker(slot, epfd: epfd) }
        }
        OSThread.start(name: "porter-house") { self.housekeepingLoop(epfd: epfd) }
        logger.info("listening", metadata: ["listen": .string(configuration.listen.description),
                                            "threads": .string("\(workers.minimum)...\(workers.maximum)")])
    }

    /// Begins a graceful stop: no new connections, idle kept connections closed, in-flight requests finish
    /// (up to `drainTimeout`), then the threads exit and `waitUntilStopped()` returns.
    public func shutdown() {
        // The deadline is in place before `draining` is seen: housekeeping ends a drain past its deadline, and with
        // the deadline still 0 it abandoned every in-flight request at once (seen under load: 30 × 502 with a
        // 300 s drain limit). A second call keeps the first deadline.
        let deadline = MonotonicClock.nanoseconds() + configuration.drainTimeout.nanoseconds
        state.withLock { if $0.drainDeadline == 0 { $0.drainDeadline = deadline } }
        guard !draining.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let epfd = epollFD.load(ordering: .acquiring)
        guard epfd >= 0 else {
            finish()
            return
        }
        let (listenFD, path) = state.withLock { ($0.listenFD, $0.socketPath) }
        Poller.remove(epfd, listenFD)
        if case .inherited = configuration.listen {
            // Shared with other processes (master/workers, systemd): stop accepting but leave it open for them.
        } else {
            Poller.shutdownSocket(listenFD)
            Poller.close(listenFD)
            if let path { unlink(path) }
        }
        // Idle kept connections are woken and closed by their owner; the others close after their request.
        for conn in connectionTable.all { conn.drain() }
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

    /// When a graceful stop must end even with requests still running (monotonic ns).
    var drainDeadline: UInt64 { state.withLock { $0.drainDeadline } }

    /// Stops the threads and wakes `waitUntilStopped()`.
    func finish() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let (stopFD, waiters) = state.withLock { s -> (Int32, [CheckedContinuation<Void, Never>]) in
            s.finished = true
            defer { s.waiters = [] }
            return (s.stopFD, s.waiters)
        }
        if stopFD >= 0 { Poller.signal(stopFD) }
        workers.wakeAllParked()
        logger.info("stopped", metadata: ["requests": .stringConvertible(statistics.acceptedRequests.load(ordering: .relaxed))])
        for waiter in waiters { waiter.resume() }
    }
}

/// Server state that changes rarely, guarded by a lock.
struct ServerState: ~Copyable {
    var listenFD: Int32 = -1
    var stopFD: Int32 = -1
    var socketPath: String?
    var drainDeadline: UInt64 = 0
    var finished = false
    var waiters: [CheckedContinuation<Void, Never>] = []
}

/// A pipeline and the application state it serves, with the count of requests running on them: what a
/// reload swaps as one (requests started before the swap keep theirs to the end).
public final class ServingGeneration: Sendable {
    /// The compiled pipeline.
    public let pipeline: Pipeline
    /// The state its requests share.
    public let application: ApplicationState
    let inFlight = Atomic<Int>(0)

    init(pipeline: Pipeline, application: ApplicationState) {
        self.pipeline = pipeline
        self.application = application
    }

    /// Requests running on this generation now.
    public var requestsInFlight: Int { inFlight.load(ordering: .sequentiallyConsistent) }

    /// Returns once no request runs on this generation (checked every 50 ms; returns early when cancelled).
    public func waitUntilIdle() async {
        while requestsInFlight > 0 && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
    }
}
