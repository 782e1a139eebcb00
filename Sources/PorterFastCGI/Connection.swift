import Synchronization

/// One accepted connection from nginx: its descriptor, its libfcgi request state and its state machine.
///
/// Ownership moves between epoll (parked), a worker thread or task (serving a request) and the housekeeping
/// thread (waiting for the rest of a partial head); only the owner reads or writes through `request`. The state
/// machine sits behind a lock because housekeeping (timeouts) and `shutdown()` (drain) send it events too:
/// three uncontended lock round-trips per request (inspected, responseReady, responseWritten).
final class Connection: @unchecked Sendable {
    let request: FCGIRequest
    /// The descriptor as accepted (libfcgi sets the request's fd to -1 once it closes it).
    let fd: Int32
    /// Whether the fd is registered with epoll (ADD once, then MOD); touched by the owner only.
    var registered = false
    /// Whether the I/O timeouts are set on the fd (see `FastCGIServer.armTimeouts`); touched by the owner only.
    var timeoutsArmed = false
    private let machine: Mutex<ConnectionStateMachine>

    init(fd: Int32, limits: ConnectionStateMachine.Limits) {
        self.fd = fd
        self.request = FCGIRequest(adopting: fd)
        self.machine = Mutex(ConnectionStateMachine(limits: limits))
    }

    /// Sends `event` to the state machine; returns what to do.
    @discardableResult
    func handle(_ event: ConnectionStateMachine.Event) -> ConnectionStateMachine.Action {
        machine.withLock { $0.handle(event) }
    }

    /// Reports what the owner saw on the socket; also tells whether the connection was parked until now and
    /// the generation of the request to serve.
    func inspected(_ input: ConnectionStateMachine.Input, now: UInt64)
        -> (action: ConnectionStateMachine.Action, wasParked: Bool, generation: UInt64) {
        machine.withLock { m in
            let wasParked = m.state == .parked
            let action = m.handle(.inspected(input, now: now))
            return (action, wasParked, m.generation)
        }
    }

    /// A housekeeping tick; asks the socket whether nginx went away only when that could cancel something.
    /// Returns the action and the request in flight (for its task and path).
    func tick(now: UInt64) -> (action: ConnectionStateMachine.Action, request: ConnectionStateMachine.InFlight?) {
        machine.withLock { m in
            let peerClosed = m.wantsPeerCheck && Poller.peerClosed(fd)
            let action = m.handle(.tick(now: now, peerClosed: peerClosed))
            guard action != .none, case .busy(let request) = m.state else { return (action, nil) }
            return (action, request)
        }
    }

    /// Tells the machine the server is draining; an idle kept connection gets its read side shut (under the
    /// lock, so its state cannot change meanwhile) and its owner sees end of input.
    func drain() {
        machine.withLock { m in
            if m.handle(.drain) == .wakeToClose { Poller.shutdownRead(fd) }
        }
    }

    /// Whether the connection is open and has not answered its first request yet (a drain waits for it).
    var isAwaitingFirstRequest: Bool { machine.withLock { $0.isAwaitingFirstRequest } }

    /// The epoll token: the object's address (kept alive by the server's connection table).
    var token: UInt64 { UInt64(UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque())) }

    /// The connection behind an epoll token.
    static func from(token: UInt64) -> Connection {
        Unmanaged<Connection>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(token))!).takeUnretainedValue()
    }
}
