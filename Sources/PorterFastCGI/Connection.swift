import Synchronization

/// One accepted connection from nginx and its libfcgi request state.
///
/// Ownership moves between the event loop (parked in epoll), a worker thread or task (serving a request)
/// and the housekeeping thread (waiting for the rest of a partial request); only the owner touches it.
final class Connection: @unchecked Sendable {
    /// Where the connection is in its life.
    enum State: UInt8 {
        case busy = 0
        case parked = 1
        case partial = 2
    }

    let request: FCGIRequest
    /// The descriptor as accepted (libfcgi sets the request's fd to -1 once it closes it).
    let fd: Int32
    /// Whether the fd is registered with epoll (ADD once, then MOD).
    var registered = false
    /// When the first bytes of an incomplete request were seen (monotonic ns), 0 when none pending.
    var partialSince: UInt64 = 0
    let state = Atomic<UInt8>(State.busy.rawValue)
    /// Whether a response was completed on this connection: only then may nginx hold it as an idle kept
    /// connection (and retry a request elsewhere if it finds it closed). A connection that has not served
    /// its first request must not be dropped while draining: nginx would answer that request 502.
    let hasServed = Atomic<Bool>(false)
    /// The request being served now: when it started, its task (if it went async), and why it was stopped.
    let inFlight = Mutex<InFlight>(InFlight())

    /// What the housekeeping thread needs to time out or cancel the current request.
    struct InFlight {
        var startedAt: UInt64 = 0
        var task: Task<Void, Never>?
        var timedOut = false
        var clientGone = false
        var reportedStuck = false
    }

    init(fd: Int32) {
        self.fd = fd
        self.request = FCGIRequest(adopting: fd)
    }

    /// The epoll token: the object's address (kept alive by the server's connection table).
    var token: UInt64 { UInt64(UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque())) }

    /// The connection behind an epoll token.
    static func from(token: UInt64) -> Connection {
        Unmanaged<Connection>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(token))!).takeUnretainedValue()
    }
}

/// A first-in first-out queue of jobs (sync work handed to the worker threads).
struct JobQueue: ~Copyable {
    private var items: [(@Sendable () -> Void)?] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func push(_ job: @escaping @Sendable () -> Void) { items.append(job) }

    mutating func pop() -> (@Sendable () -> Void)? {
        guard head < items.count else { return nil }
        let job = items[head]
        items[head] = nil
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        return job
    }
}
