import Foundation
import Porter
import PorterTesting
import Synchronization
import Testing
@testable import PorterState

/// Background jobs on PostgreSQL shared by several hosts (each host = its own store and connection pool on one
/// database): leases, SKIP LOCKED claims, takeover after a dead host's lease, idempotency keys, purge.
@Suite("PostgreSQL job store")
struct JobStoreTests {
    @Test("enqueue is deduplicated by key; status reads the same from every host; finished rows are purged")
    func lifecycle() async throws {
        let server = try await postgresServer()
        let clock = ManualClock()
        let configuration = try await server.makeDatabase()
        let web1 = PostgresJobStore(connection: configuration, clock: clock.wallClock)
        let web2 = PostgresJobStore(connection: configuration, clock: clock.wallClock)
        try await withServices([web1.database, web2.database]) {
        let first = try await web1.enqueue(kind: "report", payload: "{\"n\":1}", idempotencyKey: "user7-report-2026-12")
        #expect(first.created)
        let again = try await web2.enqueue(kind: "report", payload: "{\"n\":1}", idempotencyKey: "user7-report-2026-12")
        #expect(again.id == first.id && !again.created, "the same key is the same job")
        #expect(try await web2.status(id: first.id)?.status == "queued")
        let job = try #require(try await web2.claim(owner: "web2", lease: .seconds(30)))
        #expect(job.id == first.id && job.idempotencyKey == "user7-report-2026-12" && job.attempt == 1 && job.payload == "{\"n\":1}")
        #expect(try await web1.status(id: first.id)?.status == "running")
        #expect(try await web1.claim(owner: "web1", lease: .seconds(30)) == nil, "a leased job is nobody else's")
        #expect(try await web2.finish(id: job.id, owner: "web2", succeeded: true))
        #expect(try await web1.status(id: first.id)?.outcome == JobStatus(status: "succeeded", kind: "report", attempts: 1, message: nil))
        #expect(try await web1.purgeFinished(olderThan: .seconds(3600)) == 0)
        clock.advance(by: .seconds(3601))
        #expect(try await web2.purgeFinished(olderThan: .seconds(3600)) == 1)
        #expect(try await web1.status(id: first.id) == nil)
        }
    }

    @Test("hosts claiming at once: every job is claimed exactly once (FOR UPDATE SKIP LOCKED)")
    func skipLocked() async throws {
        let server = try await postgresServer()
        let configuration = try await server.makeDatabase()
        let hosts = (0..<3).map { _ in PostgresJobStore(connection: configuration) }
        try await withServices([hosts[0].database, hosts[1].database, hosts[2].database]) {
        var ids = Set<String>()
        for i in 0..<30 { ids.insert(try await hosts[i % 3].enqueue(kind: "k", payload: "\(i)", idempotencyKey: "key-\(i)").id) }
        let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
            for (n, host) in hosts.enumerated() {
                group.addTask {
                    var mine: [String] = []
                    while let job = try await host.claim(owner: "web\(n)", lease: .seconds(60)) {
                        mine.append(job.id)
                        _ = try await host.finish(id: job.id, owner: "web\(n)", succeeded: true)
                    }
                    return mine
                }
            }
            var all: [String] = []
            for try await part in group { all += part }
            return all
        }
        print("skip locked: 30 jobs, \(claimed.count) claims over 3 hosts, \(Set(claimed).count) distinct")
        #expect(claimed.count == 30)
        #expect(Set(claimed) == ids)
        }
    }

    @Test("a host that dies holding a job: another takes it over after the lease, with the same key; the dead host's late result is refused")
    func takeover() async throws {
        let server = try await postgresServer()
        let clock = ManualClock()
        let configuration = try await server.makeDatabase()
        let dying = PostgresJobStore(connection: configuration, clock: clock.wallClock)
        let survivor = PostgresJobStore(connection: configuration, clock: clock.wallClock)
        try await withServices([dying.database, survivor.database]) {
        let id = try await dying.enqueue(kind: "mail", payload: "to=alice", idempotencyKey: "mail-42").id
        let held = try #require(try await dying.claim(owner: "web1", lease: .seconds(20)))
        clock.advance(by: .seconds(15))
        #expect(try await dying.heartbeat(id: id, owner: "web1", lease: .seconds(20)), "a live host keeps its lease")
        clock.advance(by: .seconds(15))
        #expect(try await survivor.claim(owner: "web2", lease: .seconds(20)) == nil, "the heartbeat moved the lease on")
        // web1 dies now: no more heartbeats.
        clock.advance(by: .seconds(21))
        let taken = try #require(try await survivor.claim(owner: "web2", lease: .seconds(20)))
        #expect(taken.id == held.id && taken.attempt == 2 && taken.idempotencyKey == "mail-42")
        #expect(try await dying.heartbeat(id: id, owner: "web1", lease: .seconds(20)) == false)
        #expect(try await dying.finish(id: id, owner: "web1", succeeded: true) == false, "the old owner's outcome does not count")
        #expect(try await survivor.finish(id: id, owner: "web2", succeeded: true))
        #expect(try await dying.status(id: id)?.outcome == JobStatus(status: "succeeded", kind: "mail", attempts: 2, message: nil))
        }
    }

    @Test("a porter_jobs table made before issue 14 gets the work queue's columns; its rows stay readable")
    func upgradesAnOlderTable() async throws {
        let server = try await postgresServer()
        let name = try await server.makeDatabaseName()
        _ = try await ConcurrentClients.offPool {
            try server.psql("""
                CREATE TABLE porter_jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL,
                    idempotency_key TEXT NOT NULL UNIQUE,
                    status TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed')),
                    attempts INT NOT NULL DEFAULT 0, lease_owner TEXT, lease_expires_ms BIGINT, message TEXT,
                    created_ms BIGINT NOT NULL, finished_ms BIGINT);
                INSERT INTO porter_jobs (id, kind, payload, idempotency_key, status, created_ms) VALUES ('old', 'k', '', 'old-key', 'queued', 1);
                """, database: name)
        }
        let store = PostgresJobStore(connection: server.url(database: name))
        try await withServices([store.database]) {
            #expect(try await store.status(id: "old")?.status == "queued")
            let job = try #require(try await store.claim(owner: "web1", lease: .seconds(30), host: "web1"))
            #expect(job.id == "old")
            #expect(try await store.setProgress(id: "old", owner: "web1", progress: "half"))
            let status = try await store.status(id: "old")
            #expect(status?.host == "web1" && status?.progress == "half" && status?.startedMillis != nil)
        }
        let columns = try await ConcurrentClients.offPool {
            try server.psql("SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'porter_jobs'",
                            database: name)
        }
        #expect(["requested_by", "progress", "host", "started_ms"].allSatisfy { columns.contains($0) }, "\(columns)")
    }

    @Test("bad input is refused before it reaches the database; unknown ids read as nil")
    func badInput() async throws {
        let server = try await postgresServer()
        let store = PostgresJobStore(connection: try await server.makeDatabase())
        try await withServices([store.database]) {
        for (kind, payload, key) in [("", "", "k"), ("a b", "", "k"), ("x'; DROP TABLE porter_jobs; --", "", "k"),
                                     (String(repeating: "k", count: 101), "", "k"), ("k", String(repeating: "p", count: 64 * 1024 + 1), "k"),
                                     ("k", "", ""), ("k", "", String(repeating: "i", count: 201))] {
            await #expect(throws: JobInputError.self) { _ = try await store.enqueue(kind: kind, payload: payload, idempotencyKey: key) }
        }
        #expect(try await store.status(id: "no-such-job") == nil)
        #expect(try await store.status(id: "'; SELECT 1; --") == nil)
        let quoted = try await store.enqueue(kind: "k", payload: "it's \"quoted\"", idempotencyKey: "key with 'quotes'")
        #expect(try await store.status(id: quoted.id)?.status == "queued")
        }
    }
}

/// The fields the job store tests compare (not the timestamps or host).
extension JobStatus {
    var outcome: JobStatus { JobStatus(status: status, kind: kind, attempts: attempts, message: message) }
}
