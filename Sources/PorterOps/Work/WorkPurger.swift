import Logging
import ServiceLifecycle

/// Deletes finished work items older than the queue's retention every `interval` while the server runs, so the
/// table stays bounded in a process that runs for months (the queue also purges once when it opens).
public struct WorkPurger: Service {
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
                    let purged = try queue.purgeFinished()
                    if purged > 0 { logger.debug("purged finished work items", metadata: ["count": "\(purged)"]) }
                } catch {
                    logger.warning("purging finished work items failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
