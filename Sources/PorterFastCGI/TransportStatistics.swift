import Synchronization

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
    /// Worker threads started.
    public let threads = Atomic<Int>(0)

    /// Fresh counters.
    public init() {}

    func requestStarted() {
        acceptedRequests.add(1, ordering: .relaxed)
        maxActiveRequests.raiseMax(to: activeRequests.add(1, ordering: .relaxed).newValue)
    }

    func requestFinished() { activeRequests.subtract(1, ordering: .relaxed) }
}
