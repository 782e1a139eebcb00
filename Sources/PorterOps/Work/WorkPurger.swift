import Logging
import ServiceLifecycle

/// Deletes finished work items older than the queue's retention every `interval` while the server runs, so the
/// table stays bounded in a process that runs for months (an SQLite queue also purges once when it opens). With the
/// PostgreSQL store every host purges the shared table; deleting finished rows twice is harmless.
public struct WorkPurger: Service, CustomStringConvertible {
    /// Its name in service logs (never the queue's configuration).
    public var description: String { "WorkPurger" }

    /// The queue whose finished items are purged.
    public let queue: BackgroundWorkQueue
    /// Time between purges.
    public let interval: Duration
    /// Where failures are reported.
    public let logger: Logger

    /// A purger for `queue` running every `interval`.
    public init(queue: BackgroundWorkQueue, interval: Duration, logger: Logger = Logger(label: "porter.work")) {
        self.queue = queue
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        let queue = self.queue, interval = self.interval, logger = self.logger
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do {
                    let purged = try await queue.purgeFinished()
                    if purged > 0 { logger.debug("purged finished work items", metadata: ["count": "\(purged)"]) }
                } catch {
                    logger.warning("purging finished work items failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

/// Runs a PostgreSQL-backed queue's claim loop on this host while the server runs. On graceful shutdown it stops
/// claiming and drains (`BackgroundWorkQueue.shutdown(grace:)`: running items get `shutdownGrace`, then unfinished ones
/// are released for another host) before the pool, which the host runs before it, closes.
public struct WorkClaimer: Service, CustomStringConvertible {
    /// Its name in service logs (never the queue's configuration).
    public var description: String { "WorkClaimer" }

    /// The queue whose items this host claims.
    public let queue: BackgroundWorkQueue
    /// How long running items may finish at shutdown before they are cancelled and released.
    public let shutdownGrace: Duration

    /// A claimer for `queue`.
    public init(queue: BackgroundWorkQueue, shutdownGrace: Duration) {
        self.queue = queue
        self.shutdownGrace = shutdownGrace
    }

    public func run() async throws {
        let queue = self.queue
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await queue.runClaimLoop() }
            try? await gracefulShutdown()
            await queue.shutdown(grace: shutdownGrace)
            await group.waitForAll()
        }
    }
}
