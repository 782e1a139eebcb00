import Foundation
import Porter
import PorterFastCGI
import PorterHost
import Glibc

/// What the FastCGI transport knows for the status page: threads, parked kept-alive connections, requests
/// in flight, the process model and this process.
struct TransportStatusSource: ServerStatusSource {
    let statistics: TransportStatistics
    let startTime: Date
    let processManager: String

    func statusSnapshot() async -> ServerStatusSnapshot {
        let threads = statistics.threads.load(ordering: .relaxed)
        let idle = statistics.idleThreads.load(ordering: .relaxed)
        var snapshot = ServerStatusSnapshot(pool: "porter", processManager: processManager, startTime: startTime,
                                            acceptedRequests: statistics.acceptedRequests.load(ordering: .relaxed),
                                            activeRequests: statistics.activeRequests.load(ordering: .relaxed),
                                            maxActiveRequests: statistics.maxActiveRequests.load(ordering: .relaxed),
                                            idleThreads: idle, busyThreads: max(0, threads - idle), totalThreads: threads,
                                            parkedConnections: statistics.parkedConnections.load(ordering: .relaxed),
                                            processID: getpid())
        snapshot.handlerRequests = [:]
        snapshot.refusedPeers = statistics.refusedPeers.load(ordering: .relaxed)
        return snapshot
    }
}
