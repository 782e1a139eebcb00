import Foundation
import Logging
import Porter
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
    public var status: String
    /// The handler that runs it.
    public var kind: String
    /// How many times it was claimed.
    public var attempts: Int
    /// The failure message, if it failed.
    public var message: String?
    /// The last progress message its handler reported.
    public var progress: String?
    /// The host that ran it last (`PORTER_HOST_NAME`), nil before its first claim.
    public var host: String?
    /// When it was enqueued, started last and finished (Unix milliseconds).
    public var createdMillis: Int64 = 0, startedMillis: Int64?, finishedMillis: Int64?

    /// A status; the timestamps and progress default to unknown.
    public init(status: String, kind: String, attempts: Int, message: String?, progress: String? = nil, host: String? = nil,
                createdMillis: Int64 = 0, startedMillis: Int64? = nil, finishedMillis: Int64? = nil) {
        self.status = status
        self.kind = kind
        self.attempts = attempts
        self.message = message
        self.progress = progress
        self.host = host
        self.createdMillis = createdMillis
        self.startedMillis = startedMillis
        self.finishedMillis = finishedMillis
    }
}

/// What `PostgresJobStore.enqueue(kind:payload:idempotencyKey:requestedBy:maxPerRequester:maxQueued:)` did.
public enum JobEnqueueOutcome: Sendable, Equatable {
    /// A new job with this id was queued.
    case created(String)
    /// A job with the same idempotency key already exists (any status): this is its id.
    case existing(String)
    /// The requester already has `maxPerRequester` queued or running jobs.
    case requesterQuotaExceeded
    /// `maxQueued` jobs are already waiting.
    case queueFull

    /// The job's id, when there is one.
    public var id: String? {
        switch self {
        case .created(let id), .existing(let id): id
        default: nil
        }
    }
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
    /// stores may share one.
    public let database: PostgresService
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
            finished_ms BIGINT,
            requested_by TEXT,
            progress TEXT,
            host TEXT,
            started_ms BIGINT
        )
        """,
        """
        CREATE INDEX IF NOT EXISTS porter_jobs_open ON porter_jobs (created_ms) WHERE status IN ('queued','running')
        """,
        // Tables made before issue 14 (the background work queue) lack the last four columns. Added only when missing: ALTER TABLE takes an exclusive lock even when the column exists, and a host
        // starting while another enqueues would deadlock with it.
        """
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                           WHERE table_schema = current_schema() AND table_name = 'porter_jobs' AND column_name = 'started_ms') THEN
                ALTER TABLE porter_jobs ADD COLUMN IF NOT EXISTS requested_by TEXT, ADD COLUMN IF NOT EXISTS progress TEXT,
                    ADD COLUMN IF NOT EXISTS host TEXT, ADD COLUMN IF NOT EXISTS started_ms BIGINT;
            END IF;
        END $$
        """,
        """
        CREATE INDEX IF NOT EXISTS porter_jobs_requester ON porter_jobs (requested_by)
            WHERE status IN ('queued','running') AND requested_by IS NOT NULL
        """,
    ])
    private let clock: WallClock

    /// Largest payload accepted.
    public static let maxPayloadBytes = 64 * 1024

    /// A store on `database` (the table is created on first use).
    public init(database: PostgresService, clock: WallClock = .system) {
        self.database = database
        self.clock = clock
    }

    /// A store with its own pool for a libpq connection string or URI (run `database` as a service).
    public convenience init(connection: String, clock: WallClock = .system,
                            logger: Logger = Logger(label: "porter.jobs.postgres")) {
        self.init(database: PostgresService(connection: connection, logger: logger), clock: clock)
    }

    /// A store for a `postgres://` URL (as the session store's `postgres_url`).
    public convenience init(url: String, clock: WallClock = .system) throws {
        self.init(connection: try PostgresService.configuration(url: url), clock: clock)
    }

    /// Creates the table once (see `PostgresSchema`).
    func ready() async throws { try await schema.ready(database) }

    /// Throws `JobInputError` unless `kind` is 1-100 letters, digits, `.`, `_`, `-`, `payload` at most
    /// `maxPayloadBytes` and `idempotencyKey` 1-200 bytes (the rules of every work store).
    public static func validate(kind: String, payload: String, idempotencyKey: String?) throws(JobInputError) {
        guard !kind.isEmpty, kind.utf8.count <= 100, kind.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw JobInputError(description: "job kind must be 1-100 characters of letters, digits, . _ -")
        }
        guard payload.utf8.count <= Self.maxPayloadBytes else { throw JobInputError(description: "job payload over \(Self.maxPayloadBytes) bytes") }
        if let idempotencyKey {
            guard !idempotencyKey.isEmpty, idempotencyKey.utf8.count <= 200 else { throw JobInputError(description: "idempotency key must be 1-200 bytes") }
        }
    }

    /// Enqueues a job unless one with `idempotencyKey` exists; returns its id and whether this call created it.
    public func enqueue(kind: String, payload: String, idempotencyKey: String) async throws -> (id: String, created: Bool) {
        switch try await enqueue(kind: kind, payload: payload, idempotencyKey: idempotencyKey, requestedBy: nil,
                                 maxPerRequester: .max, maxQueued: .max) {
        case .created(let id): return (id, true)
        case .existing(let id): return (id, false)
        case .requesterQuotaExceeded, .queueFull: throw JobInputError(description: "unreachable: no limits were given")
        }
    }

    /// Enqueues a job unless one with `idempotencyKey` exists (then answers `.existing` with its id, whatever the limits).
    /// Otherwise counts, in the same transaction and under one advisory lock (so hosts enqueueing at once agree),
    /// the waiting jobs (`maxQueued`) and `requestedBy`'s queued and running jobs (`maxPerRequester`).
    public func enqueue(kind: String, payload: String, idempotencyKey: String, requestedBy: String?,
                        maxPerRequester: Int, maxQueued: Int) async throws -> JobEnqueueOutcome {
        try Self.validate(kind: kind, payload: payload, idempotencyKey: idempotencyKey)
        try await ready()
        let id = RequestID.generate()
        let now = clock.nowMillis()
        let (perRequester, queued) = (Int64(clamping: maxPerRequester), Int64(clamping: maxQueued))
        return try await database.transaction { conn -> JobEnqueueOutcome in
            try conn.query("SELECT pg_advisory_xact_lock(7270003)")
            if let existing = try conn.query("SELECT id FROM porter_jobs WHERE idempotency_key = \(idempotencyKey)").first {
                return .existing(try existing.string(0))
            }
            if queued < Int64.max,
               let n = try conn.query("SELECT COUNT(*) FROM porter_jobs WHERE status = 'queued'").first, try n.int(0) >= queued {
                return .queueFull
            }
            if let requestedBy, perRequester < Int64.max, let n = try conn.query("""
                SELECT COUNT(*) FROM porter_jobs WHERE requested_by = \(requestedBy) AND status IN ('queued','running')
                """).first, try n.int(0) >= perRequester {
                return .requesterQuotaExceeded
            }
            try conn.query("""
                INSERT INTO porter_jobs (id, kind, payload, idempotency_key, status, created_ms, requested_by)
                VALUES (\(id), \(kind), \(payload), \(idempotencyKey), 'queued', \(now), \(requestedBy))
                """)
            return .created(id)
        }
    }

    /// Claims the oldest queued job, or a running one whose lease has ended (its host died), for `owner`.
    /// `host` is recorded as the job's host (what status pages show); it defaults to `owner`.
    public func claim(owner: String, lease: Duration, host: String? = nil) async throws -> ClaimedJob? {
        try await ready()
        let now = clock.nowMillis()
        let leaseEnd = now + lease.milliseconds
        let hostName = host ?? owner
        let rows = try await database.query("""
            UPDATE porter_jobs SET status = 'running', lease_owner = \(owner), lease_expires_ms = \(leaseEnd), attempts = attempts + 1,
                host = \(hostName), started_ms = \(now), progress = NULL
            WHERE id = (SELECT id FROM porter_jobs
                        WHERE status = 'queued' OR (status = 'running' AND lease_expires_ms <= \(now))
                        ORDER BY created_ms LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, kind, payload, idempotency_key, attempts
            """)
        return try rows.first.map { row in
            ClaimedJob(id: try row.string(0), kind: try row.string(1), payload: try row.string(2), idempotencyKey: try row.string(3),
                       attempt: Int(try row.int(4)))
        }
    }

    /// Extends `owner`'s lease; false if the job is no longer `owner`'s (taken over after a missed lease).
    public func heartbeat(id: String, owner: String, lease: Duration) async throws -> Bool {
        let leaseEnd = clock.nowMillis() + lease.milliseconds
        let rows = try await database.query("""
            UPDATE porter_jobs SET lease_expires_ms = \(leaseEnd)
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running' RETURNING id
            """)
        return !rows.isEmpty
    }

    /// Records `owner`'s running job's progress message; false if the job is no longer `owner`'s.
    @discardableResult
    public func setProgress(id: String, owner: String, progress: String) async throws -> Bool {
        let rows = try await database.query("""
            UPDATE porter_jobs SET progress = \(progress) WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running' RETURNING id
            """)
        return !rows.isEmpty
    }

    /// Gives `owner`'s running job back to the queue (a host shutting down): `queued` again with no lease, so the
    /// next claim by any host takes it at once; false if it was no longer `owner`'s.
    @discardableResult
    public func release(id: String, owner: String) async throws -> Bool {
        let rows = try await database.query("""
            UPDATE porter_jobs SET status = 'queued', lease_owner = NULL, lease_expires_ms = NULL
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running' RETURNING id
            """)
        return !rows.isEmpty
    }

    /// Records the outcome if `owner` still holds the job; false when another host took it over meanwhile
    /// (its outcome is the one that counts).
    public func finish(id: String, owner: String, succeeded: Bool, message: String? = nil) async throws -> Bool {
        let now = clock.nowMillis()
        let status = succeeded ? "succeeded" : "failed"
        let rows = try await database.query("""
            UPDATE porter_jobs SET status = \(status), message = \(message), finished_ms = \(now), lease_owner = NULL, lease_expires_ms = NULL
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running' RETURNING id
            """)
        return !rows.isEmpty
    }

    /// The job's status as any host sees it, or nil for an unknown (or purged) id.
    public func status(id: String) async throws -> JobStatus? {
        try await ready()
        let rows = try await database.query("""
            SELECT status, kind, attempts, message, progress, host, created_ms, started_ms, finished_ms FROM porter_jobs WHERE id = \(id)
            """)
        return try rows.first.map { row in
            JobStatus(status: try row.string(0), kind: try row.string(1), attempts: Int(try row.int(2)),
                      message: row.optionalString(3), progress: row.optionalString(4), host: row.optionalString(5),
                      createdMillis: try row.int(6), startedMillis: try row.optionalInt(7), finishedMillis: try row.optionalInt(8))
        }
    }

    /// Deletes jobs finished more than `age` ago; returns how many.
    @discardableResult
    public func purgeFinished(olderThan age: Duration) async throws -> Int {
        try await ready()
        let cutoff = clock.nowMillis() - age.milliseconds
        let rows = try await database.query("""
            DELETE FROM porter_jobs WHERE status IN ('succeeded','failed') AND finished_ms < \(cutoff) RETURNING id
            """)
        return rows.count
    }
}
