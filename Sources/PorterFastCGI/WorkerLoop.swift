import Porter

extension FastCGIServer {
    /// Events one thread takes from epoll at a time: under load a thread serves several ready connections
    /// without sleeping in between (fewer context switches); see `handOffAfterNanos` for the latency bound.
    static let batchSize: Int32 = 16
    /// If serving part of a batch took longer than this, the rest of the batch is re-armed for other threads.
    static let handOffAfterNanos: UInt64 = 2_000_000

    /// Starts a worker thread on `slot` (one `WorkerThreads` claimed for it).
    func startWorker(_ slot: WorkerThreads.Slot, epfd: Int32) {
        OSThread.start(name: "porter-w\(slot.index)", owner: self) { self.workerLoop(slot, epfd: epfd) }
    }

    /// One worker thread: waits on epoll and serves what is ready (accepts, queued sync work, connections); parks
    /// while more threads run than are wanted (see `WorkerThreads`).
    func workerLoop(_ slot: WorkerThreads.Slot, epfd: Int32) {
        let worker = WorkerState(bufferSize: configuration.maxParamsBytes + 16 * 1024)
        let events = Poller.EventBatch(capacity: Self.batchSize)
        var progress: UInt64 = 0
        while true {
            progress &+= 2
            slot.progress.store(progress, ordering: .relaxed)   // waiting (even): never counted as blocked, parked or not
            if workers.hasSurplus, workers.parkIfSurplus(slot, isStopped: { stopped.load(ordering: .acquiring) }) { return }
            statistics.idleThreads.add(1, ordering: .relaxed)
            let n = events.wait(epfd, timeoutMilliseconds: -1)
            statistics.idleThreads.subtract(1, ordering: .relaxed)
            guard n > 0 else { continue }
            let batchStart = n > 1 ? MonotonicClock.nanoseconds() : 0
            for i in 0..<n {
                progress &+= 2
                slot.progress.store(progress | 1, ordering: .relaxed)
                let token = events.token(i)
                if i > 0, token > Self.stopToken, MonotonicClock.nanoseconds() &- batchStart > Self.handOffAfterNanos {
                    // This batch is taking long (a slow sync handler): let an idle thread serve the rest.
                    Poller.rearm(epfd, Connection.from(token: token).fd, events: Poller.connectionEvents, token: token)
                    continue
                }
                switch token {
                case Self.stopToken:
                    return
                case Self.listenToken:
                    acceptOne(worker)
                case Self.jobsToken:
                    runOneJob()
                default:
                    serve(Connection.from(token: token), worker)
                }
            }
        }
    }

    /// Accepts one connection and serves it at once (nginx sends the request right after connecting).
    func acceptOne(_ worker: WorkerState) {
        let listenFD = listenDescriptor.load(ordering: .acquiring)
        let fd = Poller.accept(listenFD)
        if !draining.load(ordering: .acquiring) {
            Poller.rearm(epollFD.load(ordering: .acquiring), listenFD, events: Poller.oneShotIn, token: Self.listenToken)
        }
        // Accepted while a drain began (another thread had the listen event, or the listen socket is shared):
        // nginx has connected and will send a request on it; it is served like the others.
        guard fd >= 0 else { return }
        if let allowlist = configuration.allowedPeers, let peer = PeerCheck.refusedPeer(fd, allowlist: allowlist) {
            // Counted before the close, so whoever sees the connection closed also sees the count.
            let refused = statistics.refusedPeers.add(1, ordering: .relaxed).newValue
            Poller.close(fd)
            // Logged for the first and then every 1000th refusal: a scan must not flood the log.
            if refused == 1 || refused % 1000 == 0 {
                logger.warning("refused a peer not in allowed_peers", metadata: ["peer": .string(peer), "refused": .stringConvertible(refused)])
            }
            return
        }
        let conn = Connection(fd: fd, limits: connectionLimits)
        connectionTable.insert(conn)
        statistics.acceptedConnections.add(1, ordering: .relaxed)
        statistics.openConnections.add(1, ordering: .relaxed)
        // A drain that began after the check above may have missed this connection in the table.
        if draining.load(ordering: .acquiring) { conn.drain() }
        serve(conn, worker)
    }

    /// Responses up to this size are written without the I/O timeouts set on a connection's first request: the
    /// socket's send buffer is empty, so they fit and cannot block.
    static let unblockableResponseBytes = 64 * 1024

    /// Sets the connection's receive and send timeouts (`io_timeout`), once, before the first read or write
    /// that could block: a body not yet buffered, a large or streamed response, any request after a connection's
    /// first. A one-request connection with its STDIN buffered and a small response (most, without upstream
    /// keepalive) skips the two syscalls.
    func armTimeouts(_ conn: Connection) {
        guard !conn.timeoutsArmed else { return }
        conn.timeoutsArmed = true
        Poller.setTimeouts(conn.fd, receiveSeconds: configuration.ioTimeoutSeconds, sendSeconds: configuration.ioTimeoutSeconds)
    }
}

/// What one worker thread keeps between events: its read buffer, and the serving generation it last saw, so a
/// request finds its pipeline without taking the server's lock (only after a reload moved `servingVersion`).
/// Owned by its thread; never shared.
final class WorkerState {
    let buffer: UnsafeMutableRawBufferPointer
    private var version: UInt64 = .max
    private var serving: ServingGeneration?

    init(bufferSize: Int) {
        buffer = .allocate(byteCount: bufferSize, alignment: 8)
    }

    deinit { buffer.deallocate() }

    /// The generation a new request runs on, with the request already counted in its `inFlight`: counted first and
    /// the version checked again, so a reload that returned the old generation never misses a request still
    /// starting on it (it waits for that generation's `inFlight` to reach zero).
    func enter(_ server: FastCGIServer) -> ServingGeneration {
        while true {
            let seen = server.servingVersion.load(ordering: .sequentiallyConsistent)
            if seen != version || serving == nil {
                serving = server.current
                version = seen
            }
            let generation = serving!
            generation.inFlight.add(1, ordering: .sequentiallyConsistent)
            if server.servingVersion.load(ordering: .sequentiallyConsistent) == seen { return generation }
            generation.inFlight.subtract(1, ordering: .releasing)
        }
    }
}
