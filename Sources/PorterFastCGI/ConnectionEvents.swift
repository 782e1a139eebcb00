import FastCGIWire
import Glibc
import Porter

/// Feeding a connection's state machine and carrying out what it decides: park, wait for the rest, serve, close.
extension FastCGIServer {
    /// Looks at what is buffered (without consuming it) and serves the request once its whole head is there.
    func serve(_ conn: Connection, _ worker: WorkerState) {
        let buffer = worker.buffer
        let n = Poller.peek(conn.fd, into: buffer)
        var now: UInt64 = 0
        var request: HTTPRequest?
        var bodyBuffered = true
        let input: ConnectionStateMachine.Input
        if n == 0 {
            input = .endOfStream
        } else if n < 0 {
            input = errno == EAGAIN || errno == EWOULDBLOCK ? .nothingBuffered : .readFailed
        } else {
            let peeked = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            var params = ParamsContent()
            switch gate.inspect(peeked, params: &params) {
            case .malformed(let reason):
                input = .malformed(reason)
            case .incomplete:
                now = MonotonicClock.nanoseconds()
                input = .incompleteHead
            case .ready(let stdinComplete):
                now = MonotonicClock.nanoseconds()
                bodyBuffered = stdinComplete
                // The head is buffered and checked: libfcgi reads it without blocking. The parameters are copied
                // from the peeked PARAMS bytes (the same bytes libfcgi consumes), not back out of libfcgi's `envp`.
                if conn.request.accept() {
                    let head = HTTPRequest(cgiParameters: params.parameters(in: peeked), body: RequestBody.empty)
                    input = .completeHead(path: head.path)
                    request = head
                } else {
                    input = .readFailed
                }
            }
        }
        let (action, wasParked, generation) = conn.inspected(input, now: now)
        if wasParked { statistics.parkedConnections.subtract(1, ordering: .relaxed) }
        if action == .serve, let request = request.take() { // taken, not copied: process changes it in place
            // Reading a body not yet buffered may wait for the peer, and after a connection's first request (the
            // generation counts them) the peer may not have read earlier responses (nginx has; a raw client need
            // not): then the I/O timeouts are needed before reading on.
            if !bodyBuffered || generation > 1 { armTimeouts(conn) }
            process(conn, consume request, generation: generation, worker: worker, startedAt: now)
        } else {
            perform(action, conn)
        }
    }

    /// Carries out a state machine action about the connection itself.
    func perform(_ action: ConnectionStateMachine.Action, _ conn: Connection) {
        switch action {
        case .park:
            arm(conn, parked: true)
        case .rearm:
            arm(conn, parked: false)
        case .waitForRest:
            partials.withLock { $0.append(conn) }
        case .close(let reason):
            switch reason {
            case .malformed(let why):
                statistics.rejectedConnections.add(1, ordering: .relaxed)
                logger.notice("closing connection: malformed FastCGI input", metadata: ["reason": .string(why)])
            case .headerTimeout:
                statistics.rejectedConnections.add(1, ordering: .relaxed)
                logger.notice("closing connection: request head not received in time")
            default:
                break
            }
            close(conn)
        case .wakeToClose:
            Poller.shutdownRead(conn.fd)
        case .none, .serve, .respond, .timeout, .cancel, .reportStuck:
            break
        }
    }

    /// Puts the connection (back) into epoll: parked until its next request, or to read the rest of its head.
    private func arm(_ conn: Connection, parked: Bool) {
        let epfd = epollFD.load(ordering: .acquiring)
        if parked { statistics.parkedConnections.add(1, ordering: .relaxed) }
        let ok: Bool
        if conn.registered {
            ok = Poller.rearm(epfd, conn.fd, events: Poller.connectionEvents, token: conn.token)
        } else {
            conn.registered = true
            ok = Poller.add(epfd, conn.fd, events: Poller.connectionEvents, token: conn.token)
        }
        if !ok {
            // Not armed, so this thread still owns it: closing is safe.
            if parked { statistics.parkedConnections.subtract(1, ordering: .relaxed) }
            perform(conn.inspected(.readFailed, now: 0).action, conn)
        }
    }

    /// Closes a connection this thread owns (libfcgi may have closed the descriptor already).
    func close(_ conn: Connection) {
        if conn.request.fd >= 0 {
            conn.request.keepConnection = false
        }
        if connectionTable.remove(conn) {
            statistics.openConnections.subtract(1, ordering: .relaxed)
        }
        // The last reference goes with the caller's: FCGIRequest.deinit closes the fd.
    }
}
