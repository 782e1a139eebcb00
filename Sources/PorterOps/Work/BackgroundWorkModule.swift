import Porter

/// Owns the process's `BackgroundWorkQueue`: opens it at construction, publishes it as a service for
/// handlers, and drains it in `shutdown()` (the pipeline's Dispose).
///
/// Options: `database` (SQLite file path, required), `max_concurrent` (2), `max_queued` (100), `max_per_user`
/// (queued+running items per user, 5; over it → 429), `retry_after` (seconds, 5), `shutdown_grace` (seconds, 30),
/// `retention_days` (7; 0 keeps forever) or `retention_seconds`, `purge_interval_seconds` (3600; 0: only at start).
public struct BackgroundWorkModule: HTTPModule {
    /// The queue.
    public let queue: BackgroundWorkQueue
    /// How long `shutdown()` lets running items finish before cancelling them.
    public let shutdownGrace: Duration
    /// Purges finished items on a schedule while serving (the host runs it as a service); nil: only at start.
    public let purger: WorkPurger?

    /// A module owning `queue`.
    public init(queue: BackgroundWorkQueue, shutdownGrace: Duration = .seconds(30), purgeInterval: Duration? = .seconds(3600)) {
        self.queue = queue
        self.shutdownGrace = shutdownGrace
        purger = queue.retention == nil ? nil : purgeInterval.map { WorkPurger(queue: queue, interval: $0) }
    }

    /// A module configured from `porter.toml` options; opens the SQLite file.
    public init(options: Options) throws {
        guard let path = try options.string("database"), !path.isEmpty else {
            throw ConfigurationError("\(options.origin): database (an SQLite file path) is required")
        }
        let maxConcurrent = try options.int("max_concurrent", default: 2)
        let maxQueued = try options.int("max_queued", default: 100)
        let retryAfter = try options.int("retry_after", default: 5)
        let grace = try options.double("shutdown_grace", default: 30)
        let retentionDays = try options.int("retention_days", default: 7)
        let retentionSeconds = try options.int("retention_seconds", default: retentionDays * 24 * 3600)
        let maxPerUser = try options.int("max_per_user", default: 5)
        let purgeEvery = try options.double("purge_interval_seconds", default: 3600)
        guard maxConcurrent >= 1 else { throw ConfigurationError("\(options.origin): max_concurrent must be at least 1") }
        guard maxQueued >= 0 else { throw ConfigurationError("\(options.origin): max_queued must not be negative") }
        guard retryAfter >= 0 else { throw ConfigurationError("\(options.origin): retry_after must not be negative") }
        guard grace >= 0, grace.isFinite else { throw ConfigurationError("\(options.origin): shutdown_grace must be a non-negative number") }
        guard retentionDays >= 0, retentionSeconds >= 0 else {
            throw ConfigurationError("\(options.origin): retention_days and retention_seconds must not be negative")
        }
        guard maxPerUser >= 1 else { throw ConfigurationError("\(options.origin): max_per_user must be at least 1") }
        guard purgeEvery >= 0, purgeEvery.isFinite else {
            throw ConfigurationError("\(options.origin): purge_interval_seconds must be a non-negative number")
        }
        let queue = try BackgroundWorkQueue(
            databasePath: path,
            limits: .init(maxConcurrent: maxConcurrent, maxQueued: maxQueued, retryAfterSeconds: retryAfter, maxPerOwner: maxPerUser),
            retention: retentionSeconds == 0 ? nil : .seconds(retentionSeconds))
        self.init(queue: queue, shutdownGrace: .milliseconds(Int64(grace * 1000)),
                  purgeInterval: purgeEvery == 0 ? nil : .milliseconds(Int64(purgeEvery * 1000)))
    }

    public var name: String { "backgroundWork" }

    public func subscribe(to events: inout ModuleEvents) {}

    public func publish(in services: ApplicationServices) { services.register(queue) }

    public func shutdown() async {
        await queue.shutdown(grace: shutdownGrace)
    }
}
