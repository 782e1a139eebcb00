import Glibc
import Porter

/// The housekeeping thread: every 20 ms it re-arms connections waiting for the rest of a request head (or
/// drops them past the header timeout), supervises requests in flight (timeouts, clients gone, stuck
/// handlers), adds worker threads while others are blocked (`WorkerThreads`) and completes a graceful stop once
/// nothing is in flight.
extension FastCGIServer {
    /// How often housekeeping runs, in microseconds.
    static let housekeepingInterval: UInt32 = 20_000

    func housekeepingLoop(epfd: Int32) {
        var connections: [Connection] = [] // reused by every supervision pass
        var progress: [UInt64] = []        // each worker thread's progress at the last pass
        var saturated = false
        while !stopped.load(ordering: .relaxed) {
            usleep(Self.housekeepingInterval)
            let now = MonotonicClock.nanoseconds()
            addThreads(epfd: epfd, progress: &progress, saturated: &saturated)
            let waiting = partials.withLock { list -> [Connection] in
                defer { list.removeAll(keepingCapacity: true) }
                return list
            }
            for conn in waiting { perform(conn.tick(now: now).action, conn) }
            if statistics.activeRequests.load(ordering: .relaxed) > 0,
               configuration.requestTimeout != nil || configuration.cancelOnDisconnect {
                superviseInFlight(now: now, connections: &connections)
            }
            if draining.load(ordering: .relaxed) {
                let active = statistics.activeRequests.load(ordering: .relaxed)
                // Connections nginx opened but has not used yet still get their first request answered, and idle
                // kept connections (woken by the drain) are closed by a worker thread before the threads stop.
                let parked = statistics.parkedConnections.load(ordering: .relaxed)
                let awaitingFirst = active == 0 && connectionTable.all.contains { $0.isAwaitingFirstRequest }
                let deadline = drainDeadline
                if (active == 0 && !awaitingFirst && parked == 0) || (deadline != 0 && now > deadline) {
                    if active > 0 { logger.warning("drain timeout: abandoning in-flight requests", metadata: ["active": .stringConvertible(active)]) }
                    finish()
                    return
                }
            }
        }
    }

    /// Runs as many more worker threads as are blocked (unparking parked ones first, then starting new ones); warns
    /// once each time every thread there may be runs and some are blocked.
    func addThreads(epfd: Int32, progress: inout [UInt64], saturated: inout Bool) {
        var (missing, blocked) = workers.rebalance(seen: &progress)
        while missing > 0 {
            if !workers.unparkOne() {
                guard let slot = workers.claimNewSlot() else { break }
                startWorker(slot, epfd: epfd)
            }
            missing -= 1
        }
        let atCeiling = blocked > 0 && workers.wanted.load(ordering: .relaxed) == workers.maximum
        if atCeiling && !saturated {
            statistics.maxThreadsReached.add(1, ordering: .relaxed)
            logger.warning("worker threads blocked in sync work: all threads run (raise threads, or make the blocking handler async)",
                           metadata: ["blocked": .stringConvertible(blocked), "threads": .stringConvertible(workers.maximum)])
        }
        saturated = atCeiling
    }

    /// Cancels requests whose client went away or whose time is up; reports requests stuck past the limit.
    /// `connections` is scratch space, kept between calls.
    func superviseInFlight(now: UInt64, connections: inout [Connection]) {
        connectionTable.snapshot(into: &connections)
        defer { connections.removeAll(keepingCapacity: true) } // no connection kept alive until the next pass
        for conn in connections {
            let (action, request) = conn.tick(now: now)
            switch action {
            case .timeout, .cancel:
                request?.task?.cancel()
            case .reportStuck:
                let path = request?.path ?? ""
                logger.error("request still running past its timeout (a sync handler cannot be cancelled)",
                             metadata: ["path": .string(path)])
                configuration.onStuckRequest?(path)
            default:
                break
            }
        }
    }
}
