import Foundation
import Porter
import PorterFastCGI
import PorterHost
import Glibc

/// What the FastCGI transport knows for the status page: threads, parked kept-alive connections, requests
/// in flight, the process model and this process; and, from the scoreboard, the whole pool's PHP-FPM numbers
/// (accepted conn, slow requests, processes) summed over every worker, past and present.
struct TransportStatusSource: ServerStatusSource {
    let statistics: TransportStatistics
    let startTime: Date
    let processManager: String

    func statusSnapshot() async -> ServerStatusSnapshot {
        let threads = statistics.threads.load(ordering: .relaxed)
        let idle = statistics.idleThreads.load(ordering: .relaxed)
        let queue = statistics.listenQueue()
        var snapshot = ServerStatusSnapshot(processManager: processManager, startTime: startTime,
                                            acceptedRequests: statistics.acceptedRequests.load(ordering: .relaxed),
                                            activeRequests: statistics.activeRequests.load(ordering: .relaxed),
                                            maxActiveRequests: statistics.maxActiveRequests.load(ordering: .relaxed),
                                            idleThreads: idle, busyThreads: max(0, threads - idle), totalThreads: threads,
                                            parkedConnections: statistics.parkedConnections.load(ordering: .relaxed),
                                            processID: getpid())
        snapshot.maxThreadsReached = statistics.maxThreadsReached.load(ordering: .relaxed)
        snapshot.handlerRequests = [:]
        snapshot.listenQueue = queue.queue
        snapshot.listenQueueLength = queue.length
        if let slot = statistics.scoreboard {
            let pool = slot.board.totals()
            snapshot.startTime = Date(timeIntervalSince1970: Double(pool.startTime))
            snapshot.acceptedRequests = pool.acceptedConnections
            snapshot.slowRequests = pool.slowRequests
            snapshot.workerProcesses = .init(active: pool.activeProcesses, idle: pool.idleProcesses)
            snapshot.maxActiveProcesses = pool.maxActiveProcesses
            snapshot.maxChildrenReached = pool.maxChildrenReached
            snapshot.maxListenQueue = max(pool.maxListenQueue, queue.queue)
            if pool.listenQueueLength > 0 { snapshot.listenQueueLength = pool.listenQueueLength }
            snapshot.processes = pool.processes
        }
        snapshot.refusedPeers = statistics.refusedPeers.load(ordering: .relaxed)
        return snapshot
    }
}
