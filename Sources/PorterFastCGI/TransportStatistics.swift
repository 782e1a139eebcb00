import Synchronization
import CFastCGI
import Glibc

/// Live counters of the FastCGI transport (read by the status page and metrics).
public final class TransportStatistics: Sendable {
    /// Connections accepted since start.
    public let acceptedConnections = Atomic<Int>(0)
    /// Requests read since start (PHP-FPM's "accepted conn").
    public let acceptedRequests = Atomic<Int>(0)
    /// Requests being processed now.
    public let activeRequests = Atomic<Int>(0)
    /// Highest `activeRequests` seen.
    public let maxActiveRequests = Atomic<Int>(0)
    /// Kept-alive connections parked in epoll, waiting for their next request (no thread held).
    public let parkedConnections = Atomic<Int>(0)
    /// Connections open now.
    public let openConnections = Atomic<Int>(0)
    /// Worker threads waiting for work now.
    public let idleThreads = Atomic<Int>(0)
    /// Connections closed because their input was not a FastCGI request Porter serves.
    public let rejectedConnections = Atomic<Int>(0)
    /// TCP connections closed at accept because the peer is not in `allowed_peers`.
    public let refusedPeers = Atomic<Int>(0)
    /// Requests refused with 413 for an over-large body.
    public let oversizedRequests = Atomic<Int>(0)
    /// Request bodies large enough to be spilled to a temporary file.
    public let spilledBodies = Atomic<Int>(0)
    /// Worker threads running (started and not parked): `min_threads`, plus one for each thread blocked in a sync
    /// handler or sync work, up to `threads`.
    public let threads = Atomic<Int>(0)
    /// Times every worker thread there may be (`threads`) ran with some blocked in sync work (sync handlers waited
    /// for a thread; PHP-FPM's `max children reached`, per thread).
    public let maxThreadsReached = Atomic<Int>(0)
    /// Worker threads started since start (the most that ever ran at once; the ones not running are parked).
    public let startedThreads = Atomic<Int>(0)

    /// This process's slot on the pool's scoreboard (shared with the master and the other workers), if any.
    public let scoreboard: ScoreboardSlot?
    /// The listen socket (for its queue length), once the server started.
    let listenDescriptor = Atomic<Int32>(-1)
    /// The listen socket's configured backlog.
    let backlog = Atomic<Int>(0)

    /// Fresh counters writing to `scoreboard` too.
    public init(scoreboard: ScoreboardSlot? = nil) { self.scoreboard = scoreboard }

    func requestStarted(method: String, uri: String, contentLength: Int) {
        acceptedRequests.add(1, ordering: .relaxed)
        maxActiveRequests.raiseMax(to: activeRequests.add(1, ordering: .relaxed).newValue)
        if let scoreboard { scoreboard.board.requestStarted(slot: scoreboard.index, method: method, uri: uri, contentLength: contentLength) }
    }

    func requestFinished() {
        activeRequests.subtract(1, ordering: .relaxed)
        if let scoreboard { scoreboard.board.requestFinished(slot: scoreboard.index) }
    }

    /// Counts a request slower than the slow-request threshold (PHP-FPM's `slow requests`), on the scoreboard.
    public func countSlowRequest() {
        if let scoreboard { scoreboard.board.countSlow(slot: scoreboard.index) }
    }

    /// Connections waiting in the listen backlog now, and the backlog's length (PHP-FPM's `listen queue`,
    /// `listen queue len`); the queue is known for TCP sockets only (Linux `TCP_INFO`), 0 otherwise.
    public func listenQueue() -> (queue: Int, length: Int) {
        let fd = listenDescriptor.load(ordering: .acquiring)
        var queue = 0
        var length = backlog.load(ordering: .relaxed)
        if fd >= 0 {
            var info = tcp_info()
            var size = socklen_t(MemoryLayout<tcp_info>.size)
            if getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &size) == 0 {
                queue = Int(info.tcpi_unacked)
                length = Int(info.tcpi_sacked)
            }
        }
        if let scoreboard {
            scoreboard.board.observeListenQueue(queue)
            if length > 0 { scoreboard.board.setListenQueueLength(length) }
        }
        return (queue, length)
    }
}
