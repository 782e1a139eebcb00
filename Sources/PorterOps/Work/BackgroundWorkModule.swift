import Porter
import PorterHost
import PorterState
import ServiceLifecycle

/// Owns the process's `BackgroundWorkQueue`: opens it at construction, publishes it as a service for
/// handlers, runs its services (PostgreSQL pool, claim loop, purger) with the server, and drains it in `shutdown()`
/// (the pipeline's Dispose). It registers the `report` kind (`ReportHandler`) so every host can run reports.
///
/// Options: `store` (`sqlite` default, or `postgres`); SQLite: `database` (file path, required); PostgreSQL:
/// `postgres_url` (or `postgres_host`/`postgres_port`/`postgres_user`/`postgres_password`/`postgres_database`/
/// `postgres_tls`, as the session module; the same database shares one pool), `lease_seconds` (30; heartbeat every
/// third), `poll_interval_ms` (500, the idle claim loop's pause). Both: `max_concurrent` (2, per process: each
/// worker process runs its own queue), `max_queued`
/// (100), `max_per_user` (queued+running items per user, 5; over it → 429), `retry_after` (seconds, 5),
/// `shutdown_grace` (seconds, 30), `retention_days` (7; 0 keeps forever) or `retention_seconds`,
/// `purge_interval_seconds` (3600; 0: only at start with SQLite, never with PostgreSQL).
public struct BackgroundWorkModule: ServiceProvidingModule {
    /// The queue.
    public let queue: BackgroundWorkQueue
    /// How long `shutdown()` lets running items finish before cancelling them.
    public let shutdownGrace: Duration
    /// Purges finished items on a schedule while serving (one of `services`); nil: only at start.
    public let purger: WorkPurger?
    /// Claims PostgreSQL items on this host (one of `services`); nil with SQLite.
    public let claimer: WorkClaimer?

    /// A module owning `queue`.
    public init(queue: BackgroundWorkQueue, shutdownGrace: Duration = .seconds(30), purgeInterval: Duration? = .seconds(3600)) {
        self.queue = queue
        self.shutdownGrace = shutdownGrace
        purger = queue.retention == nil ? nil : purgeInterval.map { WorkPurger(queue: queue, interval: $0) }
        claimer = queue.isShared ? WorkClaimer(queue: queue, shutdownGrace: shutdownGrace) : nil
        ReportHandler.register(on: queue)
    }

    /// A module configured from `porter.toml` options; opens the SQLite file, or takes a PostgreSQL pool from `pools`
    /// (the application's, so the session module on the same database shares it; a new one when nil).
    public init(options: Options, pools: PostgresPools? = nil) throws {
        let kind = try options.string("store", default: "sqlite")
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
        let store: BackgroundWorkQueue.Store
        switch kind {
        case "sqlite":
            guard let path = try options.string("database"), !path.isEmpty else {
                throw ConfigurationError("\(options.origin): database (an SQLite file path) is required with store = \"sqlite\"")
            }
            store = .sqlite(path: path)
        case "postgres", "postgresql":
            let lease = try options.double("lease_seconds", default: 30)
            let poll = try options.int("poll_interval_ms", default: 500)
            guard lease >= 0.1, lease <= 86_400 else {
                throw ConfigurationError("\(options.origin): lease_seconds must be 0.1...86400, got \(lease)")
            }
            guard (1...60_000).contains(poll) else {
                throw ConfigurationError("\(options.origin): poll_interval_ms must be 1...60000, got \(poll)")
            }
            let pool: PostgresService
            do {
                pool = try (pools ?? PostgresPools()).pool(options: options)
            } catch let error as ConfigurationError {
                throw ConfigurationError("\(options.origin): \(error.message)")
            }
            store = .postgres(PostgresJobStore(database: pool), lease: .milliseconds(Int64(lease * 1000)),
                              pollInterval: .milliseconds(poll))
        default:
            throw ConfigurationError("\(options.origin): store must be sqlite or postgres, got \(kind)")
        }
        let queue = try BackgroundWorkQueue(
            store: store,
            limits: .init(maxConcurrent: maxConcurrent, maxQueued: maxQueued, retryAfterSeconds: retryAfter, maxPerOwner: maxPerUser),
            retention: retentionSeconds == 0 ? nil : .seconds(retentionSeconds))
        self.init(queue: queue, shutdownGrace: .milliseconds(Int64(grace * 1000)),
                  purgeInterval: purgeEvery == 0 ? nil : .milliseconds(Int64(purgeEvery * 1000)))
    }

    /// The services the host runs with the server, in order: the PostgreSQL pool, the claim loop, the purger (the
    /// host stops them in reverse order, so the claim loop drains while the pool still runs).
    public var services: [any Service] {
        var list: [any Service] = []
        if let jobs = queue.sharedStore { list.append(jobs.database) }
        if let claimer { list.append(claimer) }
        if let purger { list.append(purger) }
        return list
    }

    public var name: String { "backgroundWork" }

    public func subscribe(to events: inout ModuleEvents) {}

    public func publish(in services: ApplicationServices) { services.register(queue) }

    public func shutdown() async {
        await queue.shutdown(grace: shutdownGrace)
    }
}
