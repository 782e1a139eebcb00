import Foundation
import Logging
import Synchronization
import Porter
import PorterState

/// What a running work item gets: its id and kind, the payload and idempotency key it was enqueued with, a way to
/// report progress, and the cancellation signal.
///
/// Cancellation is ordinary Swift task cancellation: `Task.sleep` throws, `Task.isCancelled` turns true when
/// the queue's shutdown grace runs out.
public struct WorkContext: Sendable {
    /// The item's id.
    public let id: WorkItemID
    /// The item's kind (the name given to a closure `enqueue`).
    public let kind: String
    /// The payload given at `enqueue(kind:payload:owner:idempotencyKey:)` (empty for closures).
    public let payload: String
    /// The key the item was enqueued under (its id when none was given): the same on every attempt, so a handler
    /// can make its effect happen once although an item whose host died runs again on another (at-least-once).
    public let idempotencyKey: String
    /// 1 on the first run, 2 after a takeover or a release by a host that shut down, …
    public let attempt: Int
    let report: @Sendable (String) async -> Void

    /// The item's name (its kind).
    public var name: String { kind }

    /// Records a progress message (shown by `WorkStatusHandler` on every host). Storage errors are ignored.
    public func setProgress(_ message: String) async { await report(message) }

    /// Whether the queue has asked this item to stop.
    public var isCancelled: Bool { Task.isCancelled }

    /// Throws `CancellationError` if the queue has asked this item to stop.
    public func checkCancellation() throws { try Task.checkCancellation() }
}

/// Work that continues after the response is sent ("the user does not need to wait"), ASP.NET's
/// `QueueBackgroundWorkItem` without its silent losses — on one host (SQLite) or shared by every host (PostgreSQL).
///
/// Work is a named *kind* registered on every host (`register(kind:_:)`) and enqueued with a payload
/// (`enqueue(kind:payload:owner:idempotencyKey:)`); with the SQLite store a closure can be enqueued too
/// (`enqueue(name:owner:work:)`), and it runs in this process.
///
/// - **SQLite** (`Store.sqlite`, one host): items run in this process, at most `maxConcurrent` at once; the rest wait
///   in order, at most `maxQueued` of them (then `BackgroundWorkError.queueFull`, a 503 with `Retry-After`). Every
///   item's status is kept in SQLite: queued → running → succeeded / failed(message) / interrupted. `shutdown(grace:)`
///   stops taking work, lets running items finish within the grace, cancels the rest and records everything unfinished
///   as `interrupted`; a queue opened on a file that a dead process left items in marks those `interrupted` too.
/// - **PostgreSQL** (`Store.postgres`, the `porter_jobs` table of `PostgresJobStore`): every host runs a claim loop
///   (`runClaimLoop()`, or the module's `WorkClaimer` service) that claims up to `maxConcurrent` items with a lease
///   (`FOR UPDATE SKIP LOCKED`), heartbeats it every third of the lease and finishes it as the lease owner, so an item
///   enqueued on one host may run on another. An item whose host died is claimed again by another host once its lease
///   ends (same idempotency key, `attempt` + 1). `maxQueued` and the per-owner quota are counted in the database.
///   Closures are refused (`closureNeedsLocalStore`): another host could not run them. `shutdown(grace:)` stops
///   claiming and lets running items finish within the grace; unfinished ones are released (queued again, no lease)
///   for another host rather than marked interrupted, and queued items stay queued.
///
/// Items enqueued for an owner (a user) count against that owner's `maxPerOwner` queued+running items (then
/// `ownerQuotaExceeded`, a 429), so one client cannot fill the queue for everyone. Handlers reach the queue as a
/// service (`ctx.services[BackgroundWorkQueue.self]`, published by `BackgroundWorkModule`) or by being given it.
public final class BackgroundWorkQueue: Sendable {
    /// Queue limits.
    public struct Limits: Sendable, Equatable {
        /// Items running at once.
        public var maxConcurrent: Int
        /// Items waiting at most (beyond the running ones).
        public var maxQueued: Int
        /// The `Retry-After` seconds sent when the queue is full or shutting down.
        public var retryAfterSeconds: Int
        /// Queued and running items one owner may have at once (items enqueued without an owner are not counted).
        public var maxPerOwner: Int

        /// Limits; the defaults are 2 running, 100 waiting, retry after 5 s, 5 items per owner.
        public init(maxConcurrent: Int = 2, maxQueued: Int = 100, retryAfterSeconds: Int = 5, maxPerOwner: Int = 5) {
            self.maxConcurrent = max(1, maxConcurrent)
            self.maxQueued = max(0, maxQueued)
            self.retryAfterSeconds = max(0, retryAfterSeconds)
            self.maxPerOwner = max(1, maxPerOwner)
        }
    }

    /// What `shutdown(grace:)` did.
    public struct ShutdownSummary: Sendable, Equatable {
        /// Items that finished (any final status) during the grace period.
        public var finishedDuringGrace: Int
        /// Queued items that never started and were recorded as interrupted (SQLite; PostgreSQL leaves them queued).
        public var interruptedQueued: Int
        /// Running items that were cancelled after the grace period (recorded interrupted with SQLite, released for
        /// another host with PostgreSQL).
        public var cancelledRunning: Int
    }

    /// A named kind's handler: gets the item's context (payload, idempotency key, attempt) and throws to fail it.
    public typealias Handler = @Sendable (WorkContext) async throws -> Void

    /// Where the queue records its items.
    public enum Store: Sendable {
        /// An SQLite file (created if missing): items run in this process only.
        case sqlite(path: String)
        /// PostgreSQL's `porter_jobs`, shared by every host: items are claimed with a `lease` (heartbeat every third of
        /// it) by whichever host's claim loop asks first; an idle loop asks again after `pollInterval`.
        case postgres(PostgresJobStore, lease: Duration = .seconds(30), pollInterval: Duration = .milliseconds(500))
    }

    enum Backing: Sendable {
        case local(WorkStore)
        case shared(PostgresJobStore, lease: Duration, pollInterval: Duration)
    }

    struct Pending: Sendable {
        let id: WorkItemID
        let name: String
        let payload: String
        let idempotencyKey: String
        let work: Handler
    }

    struct State {
        var accepting = true
        /// Set by `simulateCrash()`: nothing more is recorded, as if the process had died.
        var crashed = false
        var handlers: [String: Handler] = [:]
        var pending: [Pending] = []
        var pendingHead = 0
        var running: [WorkItemID: Task<Void, Never>] = [:]
        /// The lease token of each shared item this process runs (one per claim, so a superseded attempt of this
        /// same process can never heartbeat, report progress for or finish a newer claim of the item).
        var claimTokens: [WorkItemID: String] = [:]
        var maxRunningSeen = 0

        var pendingCount: Int { pending.count - pendingHead }

        mutating func popPending() -> Pending? {
            guard pendingHead < pending.count else { return nil }
            let p = pending[pendingHead]
            pendingHead += 1
            if pendingHead > 64 && pendingHead * 2 > pending.count {
                pending.removeFirst(pendingHead)
                pendingHead = 0
            }
            return p
        }
    }

    /// The limits in force.
    public let limits: Limits
    /// How long finished items are kept (`nil`: forever); `purgeFinished()` deletes older ones.
    public let retention: Duration?
    /// The SQLite file path (`nil` with the PostgreSQL store).
    public let databasePath: String?
    /// Ids of items a previous process left unfinished and this queue marked `interrupted` when it opened (SQLite).
    public let recoveredItems: [WorkItemID]
    /// The name recorded as the host of items this queue runs (PostgreSQL), `PORTER_HOST_NAME` by default.
    public let hostName: String
    /// The prefix of this queue's lease tokens: host name, process and a random part; each claim adds its own part.
    public let leaseOwner: String
    let backing: Backing
    let logger: Logger
    private let state = Mutex(State())

    /// Opens the queue on the SQLite file at `databasePath` (created if missing), marking items a dead process
    /// left `queued`/`running` as `interrupted`, and deleting finished items older than `retention` (if given).
    public convenience init(databasePath: String, limits: Limits = Limits(), retention: Duration? = .seconds(7 * 24 * 3600)) throws {
        try self.init(store: .sqlite(path: databasePath), limits: limits, retention: retention)
    }

    /// Opens the queue on `store`. SQLite: as `init(databasePath:limits:retention:)`. PostgreSQL: nothing is read
    /// until first use (the pool must run: `PostgresJobStore.database` is a service); run `runClaimLoop()` (or
    /// `WorkClaimer`) for this host to take items.
    public init(store: Store, limits: Limits = Limits(), retention: Duration? = .seconds(7 * 24 * 3600),
                hostName: String = HostName.current, logger: Logger = Logger(label: "porter.work")) throws {
        self.limits = limits
        self.retention = retention
        self.hostName = hostName
        self.logger = logger
        leaseOwner = "\(hostName):\(ProcessIdentity.current):\(RequestID.generate().prefix(8))"
        switch store {
        case .sqlite(let path):
            databasePath = path
            let local = try WorkStore(path: path)
            backing = .local(local)
            recoveredItems = try local.recoverAbandoned(message: "the server stopped before the item finished")
                .compactMap { WorkItemID($0) }
            if let retention { try local.purgeFinished(olderThan: TimeInterval(retention.milliseconds) / 1000) }
        case .postgres(let jobs, let lease, let pollInterval):
            databasePath = nil
            recoveredItems = []
            backing = .shared(jobs, lease: max(lease, .milliseconds(30)), pollInterval: max(pollInterval, .milliseconds(1)))
        }
    }

    /// Whether items are shared by every host (the PostgreSQL store).
    public var isShared: Bool {
        if case .shared = backing { return true }
        return false
    }

    /// The PostgreSQL job store, when that is the store.
    public var sharedStore: PostgresJobStore? {
        if case .shared(let jobs, _, _) = backing { return jobs }
        return nil
    }

    /// Registers the handler for items of `kind` (replacing an earlier one). Register every kind on every host
    /// before it serves: with PostgreSQL any host may claim any item, and one without the kind's handler fails it.
    public func register(kind: String, _ handler: @escaping Handler) {
        state.withLock { $0.handlers[kind] = handler }
    }

    /// Whether a handler for `kind` is registered.
    public func handles(kind: String) -> Bool { state.withLock { $0.handlers[kind] != nil } }

    /// Deletes finished items older than `retention` (none when it is `nil`); returns how many went.
    /// `WorkPurger` calls it on a schedule while the server runs.
    @discardableResult
    public func purgeFinished() async throws -> Int {
        guard let retention else { return 0 }
        switch backing {
        case .local(let store): return try store.purgeFinished(olderThan: TimeInterval(retention.milliseconds) / 1000)
        case .shared(let jobs, _, _): return try await jobs.purgeFinished(olderThan: retention)
        }
    }

    /// Enqueues an item of a registered `kind` with `payload` (at most `PostgresJobStore.maxPayloadBytes`) and returns
    /// its id at once; an `idempotencyKey` (1-200 bytes) already used returns the id of the item enqueued with it
    /// instead of enqueueing again. Throws `BackgroundWorkError`: 400 for an unknown kind or bad payload/key, 429 when
    /// `owner` already has `maxPerOwner` unfinished items, 503 + `Retry-After` when the queue is full or shutting down.
    @discardableResult
    public func enqueue(kind: String, payload: String = "", owner: String? = nil,
                        idempotencyKey: String? = nil) async throws(BackgroundWorkError) -> WorkItemID {
        guard let handler = state.withLock({ $0.handlers[kind] }) else {
            throw .invalidWork("no handler is registered for work kind \"\(kind.prefix(100))\"")
        }
        do {
            try PostgresJobStore.validate(kind: kind, payload: payload, idempotencyKey: idempotencyKey)
        } catch {
            throw .invalidWork(error.description)
        }
        switch backing {
        case .local:
            return try enqueueLocal(name: kind, owner: owner, payload: payload, idempotencyKey: idempotencyKey, work: handler)
        case .shared(let jobs, _, _):
            guard isAccepting else { throw .shuttingDown(retryAfterSeconds: limits.retryAfterSeconds) }
            let outcome: JobEnqueueOutcome
            do {
                outcome = try await jobs.enqueue(kind: kind, payload: payload, idempotencyKey: idempotencyKey ?? RequestID.generate(),
                                                 requestedBy: owner, maxPerRequester: limits.maxPerOwner, maxQueued: limits.maxQueued)
            } catch {
                throw .storageFailed(detail: String(describing: error))
            }
            switch outcome {
            case .created(let id), .existing(let id):
                guard let workID = WorkItemID(id) else { throw .storageFailed(detail: "job id \(id) is not a work item id") }
                return workID
            case .requesterQuotaExceeded: throw .ownerQuotaExceeded(retryAfterSeconds: limits.retryAfterSeconds)
            case .queueFull: throw .queueFull(retryAfterSeconds: limits.retryAfterSeconds)
            }
        }
    }

    /// Records a new item running `work` in this process as `queued` and starts it when a slot is free; returns its id
    /// at once. SQLite store only: with PostgreSQL it throws `closureNeedsLocalStore` (register a kind instead).
    ///
    /// With an `owner` (e.g. the user's name), the owner's queued and running items are counted first, in the same
    /// SQLite transaction as the insert. Throws `BackgroundWorkError`: 503 + `Retry-After` when the queue is full or
    /// shutting down, 429 + `Retry-After` when `owner` already has `maxPerOwner` unfinished items.
    @discardableResult
    public func enqueue(name: String, owner: String? = nil,
                        work: @escaping @Sendable (WorkContext) async throws -> Void) throws(BackgroundWorkError) -> WorkItemID {
        guard case .local = backing else { throw .closureNeedsLocalStore }
        return try enqueueLocal(name: name, owner: owner, payload: nil, idempotencyKey: nil, work: work)
    }

    private func enqueueLocal(name: String, owner: String?, payload: String?, idempotencyKey: String?,
                              work: @escaping Handler) throws(BackgroundWorkError) -> WorkItemID {
        guard case .local(let store) = backing else { throw .closureNeedsLocalStore }
        let id = WorkItemID()
        let result: Result<WorkItemID, BackgroundWorkError> = state.withLock { s in
            guard s.accepting else { return .failure(.shuttingDown(retryAfterSeconds: limits.retryAfterSeconds)) }
            let free = s.running.count < limits.maxConcurrent
            // Recorded inside the lock so SQLite order, queue order and the `running` update all agree.
            let outcome: JobEnqueueOutcome
            do {
                if let idempotencyKey, let existing = try store.itemID(idempotencyKey: idempotencyKey) {
                    return .success(existing)
                }
                guard free || s.pendingCount < limits.maxQueued else {
                    return .failure(.queueFull(retryAfterSeconds: limits.retryAfterSeconds))
                }
                outcome = try store.insert(id: id, name: name, createdAt: Date(), requestedBy: owner, maxPerOwner: limits.maxPerOwner,
                                           payload: payload, idempotencyKey: idempotencyKey)
            } catch {
                return .failure(.storageFailed(detail: String(describing: error)))
            }
            switch outcome {
            case .created: break
            case .existing(let other): return WorkItemID(other).map { .success($0) } ?? .failure(.storageFailed(detail: "bad id \(other)"))
            case .requesterQuotaExceeded, .queueFull: return .failure(.ownerQuotaExceeded(retryAfterSeconds: limits.retryAfterSeconds))
            }
            s.pending.append(Pending(id: id, name: name, payload: payload ?? "", idempotencyKey: idempotencyKey ?? id.rawValue, work: work))
            dispatch(&s)
            return .success(id)
        }
        return try result.get()
    }

    /// Starts waiting items while slots are free (called with the lock held).
    private func dispatch(_ s: inout State) {
        while s.accepting && s.running.count < limits.maxConcurrent, let next = s.popPending() {
            s.running[next.id] = Task.detached { await self.execute(next) }
            s.maxRunningSeen = max(s.maxRunningSeen, s.running.count)
        }
    }

    private func execute(_ item: Pending) async {
        defer {
            state.withLock { s in
                s.running[item.id] = nil
                dispatch(&s)
            }
        }
        guard case .local(let store) = backing, (try? store.markRunning(item.id)) == true else { return }
        let id = item.id
        let context = WorkContext(id: id, kind: item.name, payload: item.payload, idempotencyKey: item.idempotencyKey,
                                  attempt: 1) { message in try? store.setProgress(id, message) }
        do {
            try Task.checkCancellation()
            try await item.work(context)
            _ = try? store.finish(item.id, status: .succeeded)
        } catch {
            if error is CancellationError || Task.isCancelled {
                _ = try? store.finish(item.id, status: .interrupted, detail: String(describing: error))
            } else {
                _ = try? store.finish(item.id, status: .failed(Self.publicMessage(error)), detail: String(reflecting: error))
            }
        }
    }

    /// The message recorded for a failed item: a `WorkFailure`'s or `HTTPResponseError`'s public message, else generic.
    static func publicMessage(_ error: any Error) -> String {
        (error as? WorkFailure)?.message ?? (error as? any HTTPResponseError)?.publicMessage ?? "the work item failed"
    }

    // MARK: - PostgreSQL claim loop

    /// With the PostgreSQL store: claims and runs items (up to `maxConcurrent` at once) until the queue stops
    /// accepting (`shutdown`) or the calling task is cancelled; returns at once with SQLite. Run it once per queue.
    public func runClaimLoop() async {
        guard case .shared(let jobs, let lease, let pollInterval) = backing else { return }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<limits.maxConcurrent {
                group.addTask { await self.claimSlot(jobs, lease: lease, pollInterval: pollInterval) }
            }
        }
    }

    private func claimSlot(_ jobs: PostgresJobStore, lease: Duration, pollInterval: Duration) async {
        while isAccepting && !Task.isCancelled {
            let job: ClaimedJob?
            let owner = "\(leaseOwner):\(RequestID.generate().prefix(8))"
            do {
                job = try await jobs.claim(owner: owner, lease: lease, host: hostName)
            } catch {
                if !Task.isCancelled { logger.warning("claiming background work failed", metadata: ["error": "\(error)"]) }
                job = nil
            }
            guard let job else {
                try? await Task.sleep(for: pollInterval)
                continue
            }
            let task = state.withLock { s -> Task<Void, Never>? in
                guard s.accepting, let id = WorkItemID(job.id) else { return nil }
                let task = Task.detached { await self.executeClaimed(job, id: id, owner: owner, jobs: jobs, lease: lease) }
                s.running[id] = task
                s.claimTokens[id] = owner
                s.maxRunningSeen = max(s.maxRunningSeen, s.running.count)
                return task
            }
            guard let task else {
                guard !isCrashed else { continue }
                if WorkItemID(job.id) == nil {
                    // A job enqueued before jobs had work item ids (PostgresJobRunner's UUIDs): /work/ID cannot show it,
                    // so it is failed rather than claimed and given back forever.
                    await Self.unlessCancelled {
                        _ = try? await jobs.finish(id: job.id, owner: owner, succeeded: false, message: "the job's id is not a work item id")
                    }
                } else {
                    // Claimed while stopping: give it back at once.
                    await Self.unlessCancelled { _ = try? await jobs.release(id: job.id, owner: owner) }
                }
                continue
            }
            await task.value
        }
    }

    private func executeClaimed(_ job: ClaimedJob, id: WorkItemID, owner: String, jobs: PostgresJobStore, lease: Duration) async {
        defer { state.withLock { $0.running[id] = nil; $0.claimTokens[id] = nil } }
        let handler = state.withLock { $0.handlers[job.kind] }
        let context = WorkContext(id: id, kind: job.kind, payload: job.payload, idempotencyKey: job.idempotencyKey,
                                  attempt: job.attempt) { message in
            await Self.unlessCancelled { _ = try? await jobs.setProgress(id: job.id, owner: owner, progress: message) }
        }
        let heartbeat = Task.detached {
            while !Task.isCancelled && !self.isCrashed {
                try? await Task.sleep(for: lease / 3)
                if Task.isCancelled || self.isCrashed { break }
                if (try? await jobs.heartbeat(id: job.id, owner: owner, lease: lease)) == false {
                    self.logger.warning("lost the lease of a background work item", metadata: ["id": "\(job.id)"])
                    break
                }
            }
        }
        defer { heartbeat.cancel() }
        do {
            guard let handler else { throw WorkFailure("no handler for work kind \(job.kind) on host \(hostName)") }
            try Task.checkCancellation()
            try await handler(context)
            heartbeat.cancel()
            guard !isCrashed else { return }
            await Self.unlessCancelled { _ = try? await jobs.finish(id: job.id, owner: owner, succeeded: true) }
        } catch {
            heartbeat.cancel()
            guard !isCrashed else { return }   // a dead host records nothing: its lease ends, another host takes over
            if error is CancellationError || Task.isCancelled {
                // Shutdown: queued again without a lease, so another host takes it at once.
                await Self.unlessCancelled { _ = try? await jobs.release(id: job.id, owner: owner) }
            } else {
                let message = Self.publicMessage(error)
                await Self.unlessCancelled { _ = try? await jobs.finish(id: job.id, owner: owner, succeeded: false, message: message) }
            }
        }
    }

    /// Runs `write` in a task of its own, so a cancelled item can still record its outcome.
    private static func unlessCancelled(_ write: @escaping @Sendable () async -> Void) async {
        await Task.detached { await write() }.value
    }

    private var isCrashed: Bool { state.withLock { $0.crashed } }

    /// Tests: behaves as if the process died now — stops claiming, cancels running items and records nothing
    /// more (no finish, no release, no heartbeat), so their leases run out and another host takes them over.
    func simulateCrash() {
        let running = state.withLock { s -> [Task<Void, Never>] in
            s.crashed = true
            s.accepting = false
            return Array(s.running.values)
        }
        for task in running { task.cancel() }
    }

    // MARK: - Reading

    /// The recorded state of item `id` (SQLite: items of earlier runs too; PostgreSQL: as every host sees it),
    /// `nil` if unknown.
    public func record(_ id: WorkItemID) async throws -> WorkItemRecord? {
        switch backing {
        case .local(let store):
            return try store.record(id)
        case .shared(let jobs, _, _):
            guard let job = try await jobs.status(id: id.rawValue) else { return nil }
            let status: WorkItemStatus = switch job.status {
            case "queued": .queued
            case "running": .running
            case "succeeded": .succeeded
            case "failed": .failed(job.message ?? "failed")
            default: .interrupted
            }
            func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
            return WorkItemRecord(id: id, name: job.kind, status: status, progress: job.progress, message: job.message,
                                  createdAt: date(job.createdMillis), startedAt: job.startedMillis.map(date),
                                  finishedAt: job.finishedMillis.map(date), attempts: job.attempts, host: job.host)
        }
    }

    /// The most recent items of the SQLite store, newest first (SQLite only: empty with PostgreSQL, whose items are
    /// read one at a time with `record(_:)`).
    public func records(limit: Int = 100) throws -> [WorkItemRecord] {
        guard case .local(let store) = backing else { return [] }
        return try store.records(limit: limit)
    }

    /// Items running now (in this process).
    public var runningCount: Int { state.withLock { $0.running.count } }
    /// Items waiting for a slot (in this process; with PostgreSQL they wait in the database, so 0).
    public var queuedCount: Int { state.withLock { $0.pendingCount } }
    /// The most items that ran at once in this process.
    public var peakRunning: Int { state.withLock { $0.maxRunningSeen } }
    /// Whether `enqueue` still takes work (and, with PostgreSQL, the claim loop still claims).
    public var isAccepting: Bool { state.withLock { $0.accepting } }

    /// Stops taking work and drains: running items get up to `grace` to finish; then they are cancelled and given
    /// `cancellationGrace` to notice. SQLite: queued items that have not started, and whatever is still unfinished
    /// after that, are recorded `interrupted`. PostgreSQL: the claim loop stops claiming, queued items stay queued for
    /// other hosts, and unfinished running items are released (queued again, lease cleared) for another host to take.
    /// Safe to call more than once.
    @discardableResult
    public func shutdown(grace: Duration, cancellationGrace: Duration = .seconds(1)) async -> ShutdownSummary {
        let (dropped, runningAtStart) = state.withLock { s -> ([WorkItemID], Int) in
            s.accepting = false
            var dropped: [WorkItemID] = []
            while let p = s.popPending() { dropped.append(p.id) }
            return (dropped, s.running.count)
        }
        if case .local(let store) = backing { try? store.interrupt(dropped, message: "the server stopped before the item started") }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while runningCount > 0 && clock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let stillRunning = state.withLock { s -> [WorkItemID: Task<Void, Never>] in s.running }
        for task in stillRunning.values { task.cancel() }
        if !stillRunning.isEmpty {
            let cancelDeadline = clock.now.advanced(by: cancellationGrace)
            while runningCount > 0 && clock.now < cancelDeadline && !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(10))
            }
            switch backing {
            case .local(let store):
                try? store.interrupt(Array(stillRunning.keys), message: "cancelled while running (server shutdown)")
            case .shared(let jobs, _, _):
                // Items that ignored cancellation: released anyway (their late finish is refused, the lease is gone).
                let tokens = state.withLock { $0.claimTokens }
                if !isCrashed {
                    await Self.unlessCancelled {
                        for id in stillRunning.keys {
                            guard let owner = tokens[id] else { continue }
                            _ = try? await jobs.release(id: id.rawValue, owner: owner)
                        }
                    }
                }
            }
        }
        return ShutdownSummary(finishedDuringGrace: runningAtStart - stillRunning.count, interruptedQueued: dropped.count,
                               cancelledRunning: stillRunning.count)
    }
}
