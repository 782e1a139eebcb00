import Foundation
import Logging
import Porter
import PostgresNIO
import Synchronization

/// A job claimed by one host: run it, heartbeat its lease while it runs, then finish it.
public struct ClaimedJob: Sendable, Equatable {
    /// The job's id (what `/work/ID` shows).
    public let id: String
    /// Which handler runs it.
    public let kind: String
    /// The handler's input, as enqueued.
    public let payload: String
    /// The key the job was enqueued under: the same on every attempt, so a handler can make its effect
    /// happen once even though a job whose host died is run again (at-least-once delivery).
    public let idempotencyKey: String
    /// 1 on the first run, 2 after a takeover, …
    public let attempt: Int
}

/// A job's state as every host reads it.
public struct JobStatus: Sendable, Equatable {
    /// `queued`, `running`, `succeeded` or `failed`.
    public let status: String
    /// The handler that runs it.
    public let kind: String
    /// How many times it was claimed.
    public let attempts: Int
    /// The failure message, if it failed.
    public let message: String?
}

/// Why a job was not accepted.
public struct JobInputError: Error, CustomStringConvertible, Equatable {
    /// What is wrong with the input.
    public let description: String
}

/// Background jobs in PostgreSQL, shared by every host: claimed with a lease (`FOR UPDATE SKIP LOCKED`, so two
/// hosts never claim one job), kept alive by heartbeats, taken over by another host once a dead host's lease
/// ends, deduplicated by idempotency key, readable from every host, purged once finished long enough.
public final class PostgresJobStore: Sendable {
    /// The connection pool: a `Service` the host runs (`context.run(store.database)`, `app.run(store.database)`);
    /// queries wait until it runs. Stores may share one.
    public let database: PostgresService
    var client: PostgresClient { database.client }
    private let schema = PostgresSchema(lockKey: 7270002, statements: [
        """
        CREATE TABLE IF NOT EXISTS porter_jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed')),
            attempts INT NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_expires_ms BIGINT,
            message TEXT,
            created_ms BIGINT NOT NULL,
            finished_ms BIGINT
        )
        """,
        """
        CREATE INDEX IF NOT EXISTS porter_jobs_open ON porter_jobs (created_ms) WHERE status IN ('queued','running')
        """
    ])
    private let clock: WallClock
    private let logger: Logger

    /// Largest payload accepted.
    public static let maxPayloadBytes = 64 * 1024

    /// A store on `database` (the table is created on first use).
    public init(database: PostgresService, clock: WallClock = .system,
                logger: Logger = Logger(label: "porter.jobs.postgres")) {
        self.database = database
        self.clock = clock
        self.logger = logger
    }

    /// A store with its own pool for `configuration` (run `database` as a service).
    public convenience init(configuration: PostgresClient.Configuration, clock: WallClock = .system,
                            logger: Logger = Logger(label: "porter.jobs.postgres")) {
        self.init(database: PostgresService(configuration: configuration, logger: logger), clock: clock, logger: logger)
    }

    /// A store for a `postgres://` URL (as the session store's `postgres_url`).
    public convenience init(url: String, clock: WallClock = .system) throws {
        self.init(configuration: try PostgresService.configuration(url: url), clock: clock)
    }

    /// Creates the table once (see `PostgresSchema`).
    func ready() async throws { try await schema.ready(client, logger: logger) }

    /// Enqueues a job unless one with `idempotencyKey` exists; returns its id and whether this call created it.
    public func enqueue(kind: String, payload: String, idempotencyKey: String) async throws -> (id: String, created: Bool) {
        guard !kind.isEmpty, kind.utf8.count <= 100, kind.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw JobInputError(description: "job kind must be 1-100 characters of letters, digits, . _ -")
        }
        guard payload.utf8.count <= Self.maxPayloadBytes else { throw JobInputError(description: "job payload over \(Self.maxPayloadBytes) bytes") }
        guard !idempotencyKey.isEmpty, idempotencyKey.utf8.count <= 200 else { throw JobInputError(description: "idempotency key must be 1-200 bytes") }
        try await ready()
        let id = UUID().uuidString.lowercased()
        let now = clock.nowMillis()
        let inserted = try await client.query("""
            INSERT INTO porter_jobs (id, kind, payload, idempotency_key, status, created_ms)
            VALUES (\(id), \(kind), \(payload), \(idempotencyKey), 'queued', \(now))
            ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
            """, logger: logger)
        for try await existing in inserted.decode(String.self) { return (existing, true) }
        let rows = try await client.query("SELECT id FROM porter_jobs WHERE idempotency_key = \(idempotencyKey)", logger: logger)
        for try await existing in rows.decode(String.self) { return (existing, false) }
        throw JobInputError(description: "job with key \(idempotencyKey) vanished while enqueuing (purged?)")
    }

    /// Claims the oldest queued job, or a running one whose lease has ended (its host died), for `owner`.
    public func claim(owner: String, lease: Duration) async throws -> ClaimedJob? {
        try await ready()
        let now = clock.nowMillis()
        let leaseEnd = now + lease.milliseconds
        let rows = try await client.query("""
            UPDATE porter_jobs SET status = 'running', lease_owner = \(owner), lease_expires_ms = \(leaseEnd), attempts = attempts + 1
            WHERE id = (SELECT id FROM porter_jobs
                        WHERE status = 'queued' OR (status = 'running' AND lease_expires_ms <= \(now))
                        ORDER BY created_ms LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, kind, payload, idempotency_key, attempts
            """, logger: logger)
        for try await (id, kind, payload, key, attempts) in rows.decode((String, String, String, String, Int32).self) {
            return ClaimedJob(id: id, kind: kind, payload: payload, idempotencyKey: key, attempt: Int(attempts))
        }
        return nil
    }

    /// Extends `owner`'s lease; false if the job is no longer `owner`'s (taken over after a missed lease).
    public func heartbeat(id: String, owner: String, lease: Duration) async throws -> Bool {
        let leaseEnd = clock.nowMillis() + lease.milliseconds
        let rows = try await client.query("""
            UPDATE porter_jobs SET lease_expires_ms = \(leaseEnd)
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running' RETURNING id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Records the outcome if `owner` still holds the job; false when another host took it over meanwhile
    /// (its outcome is the one that counts).
    public func finish(id: String, owner: String, succeeded: Bool, message: String? = nil) async throws -> Bool {
        let now = clock.nowMillis()
        let status = succeeded ? "succeeded" : "failed"
        let rows = try await client.query("""
            UPDATE porter_jobs SET status = \(status), message = \(message), finished_ms = \(now), lease_owner = NULL, lease_expires_ms = NULL
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running' RETURNING id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// The job's status as any host sees it, or nil for an unknown (or purged) id.
    public func status(id: String) async throws -> JobStatus? {
        try await ready()
        let rows = try await client.query("SELECT status, kind, attempts, message FROM porter_jobs WHERE id = \(id)", logger: logger)
        for try await (status, kind, attempts, message) in rows.decode((String, String, Int32, String?).self) {
            return JobStatus(status: status, kind: kind, attempts: Int(attempts), message: message)
        }
        return nil
    }

    /// Deletes jobs finished more than `age` ago; returns how many.
    @discardableResult
    public func purgeFinished(olderThan age: Duration) async throws -> Int {
        try await ready()
        let cutoff = clock.nowMillis() - age.milliseconds
        let rows = try await client.query("""
            DELETE FROM porter_jobs WHERE status IN ('succeeded','failed') AND finished_ms < \(cutoff) RETURNING id
            """, logger: logger)
        var n = 0
        for try await _ in rows { n += 1 }
        return n
    }

    /// Claims and runs one job with `handler` (the kind's handler), heartbeating every third of the lease;
    /// returns the job it ran, or nil when none was claimable. A throwing handler marks the job failed.
    public func runOne(owner: String, lease: Duration, handler: @Sendable (ClaimedJob) async throws -> Void) async throws -> ClaimedJob? {
        guard let job = try await claim(owner: owner, lease: lease) else { return nil }
        let beat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: lease / 3)
                if Task.isCancelled { break }
                _ = try? await self.heartbeat(id: job.id, owner: owner, lease: lease)
            }
        }
        defer { beat.cancel() }
        do {
            try await handler(job)
            _ = try await finish(id: job.id, owner: owner, succeeded: true)
        } catch is CancellationError {
            // Stopped mid-job (shutdown): left running under its lease, so another host takes it over when it ends.
            return job
        } catch {
            _ = try await finish(id: job.id, owner: owner, succeeded: false, message: String(describing: error))
        }
        return job
    }
}
