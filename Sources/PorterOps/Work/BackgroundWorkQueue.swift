import Foundation
import Synchronization
import Porter

/// What a running work item gets: its id, a way to report progress, and the cancellation signal.
///
/// Cancellation is ordinary Swift task cancellation: `Task.sleep` throws, `Task.isCancelled` turns true when
/// the queue's shutdown grace runs out.
public struct WorkContext: Sendable {
    /// The item's id.
    public let id: WorkItemID
    /// The item's name.
    public let name: String
    let store: WorkStore

    /// Records a progress message (shown by `WorkStatusHandler`). Storage errors are ignored.
    public func setProgress(_ message: String) {
        try? store.setProgress(id, message)
    }

    /// Whether the queue has asked this item to stop.
    public var isCancelled: Bool { Task.isCancelled }

    /// Throws `CancellationError` if the queue has asked this item to stop.
    public func checkCancellation() throws { try Task.checkCancellation() }
}

/// Work that continues after the response is sent ("the user does not need to wait"), ASP.NET's
/// `QueueBackgroundWorkItem` without its silent losses.
///
/// At most `maxConcurrent` items run at once; the rest wait in order, at most `maxQueued` of them (then
/// `enqueue` throws `BackgroundWorkError.queueFull`, a 503 with `Retry-After`). Items enqueued for an owner (a user)
/// count against that owner's `maxPerOwner` queued+running items, across every process sharing the SQLite file
/// (then `ownerQuotaExceeded`, a 429), so one client cannot fill the queue for everyone. Every item's status is kept
/// in SQLite: queued → running → succeeded / failed(message) / interrupted. `shutdown(grace:)` stops taking
/// work, lets running items finish within the grace, cancels the rest and records everything unfinished as
/// `interrupted`; a queue opened on a file that a dead process left items in marks those `interrupted` too.
///
/// Handlers reach the queue as a service (`ctx.services[BackgroundWorkQueue.self]`, published by
/// `BackgroundWorkModule`) or by being given it in their init.
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
        /// Queued items that never started and were recorded as interrupted.
        public var interruptedQueued: Int
        /// Running items that were cancelled after the grace period.
        public var cancelledRunning: Int
    }

    struct Pending: Sendable {
        let id: WorkItemID
        let name: String
        let work: @Sendable (WorkContext) async throws -> Void
    }

    struct State {
        var accepting = true
        var pending: [Pending] = []
        var pendingHead = 0
        var running: [WorkItemID: Task<Void, Never>] = [:]
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
    /// The SQLite file path.
    public let databasePath: String
    /// Ids of items a previous process left unfinished and this queue marked `interrupted` when it opened.
    public let recoveredItems: [WorkItemID]
    let store: WorkStore
    private let state = Mutex(State())

    /// Opens the queue on the SQLite file at `databasePath` (created if missing), marking items a dead process
    /// left `queued`/`running` as `interrupted`, and deleting finished items older than `retention` (if given).
    public init(databasePath: String, limits: Limits = Limits(), retention: Duration? = .seconds(7 * 24 * 3600)) throws {
        self.limits = limits
        self.databasePath = databasePath
        self.retention = retention
        store = try WorkStore(path: databasePath)
        recoveredItems = try store.recoverAbandoned(message: "the server stopped before the item finished")
            .compactMap { WorkItemID($0) }
        try purgeFinished()
    }

    /// Deletes finished items older than `retention` (none when it is `nil`); returns how many went.
    /// `WorkPurger` calls it on a schedule while the server runs.
    @discardableResult
    public func purgeFinished() throws -> Int {
        guard let retention else { return 0 }
        let seconds = Double(retention.components.seconds) + Double(retention.components.attoseconds) / 1e18
        return try store.purgeFinished(olderThan: seconds)
    }

    /// Records a new item as `queued` and starts it when a slot is free; returns its id at once.
    ///
    /// With an `owner` (e.g. the user's name), the owner's queued and running items are counted first, in the same
    /// SQLite transaction as the insert. Throws `BackgroundWorkError`: 503 + `Retry-After` when the queue is full or
    /// shutting down, 429 + `Retry-After` when `owner` already has `maxPerOwner` unfinished items.
    @discardableResult
    public func enqueue(name: String, owner: String? = nil,
                        work: @escaping @Sendable (WorkContext) async throws -> Void) throws(BackgroundWorkError) -> WorkItemID {
        let id = WorkItemID()
        let result: Result<Void, BackgroundWorkError> = state.withLock { s in
            guard s.accepting else { return .failure(.shuttingDown(retryAfterSeconds: limits.retryAfterSeconds)) }
            let free = s.running.count < limits.maxConcurrent
            guard free || s.pendingCount < limits.maxQueued else {
                return .failure(.queueFull(retryAfterSeconds: limits.retryAfterSeconds))
            }
            // Recorded inside the lock so SQLite order, queue order and the `running` update all agree.
            do {
                guard try store.insert(id: id, name: name, createdAt: Date(), requestedBy: owner, maxPerOwner: limits.maxPerOwner) else {
                    return .failure(.ownerQuotaExceeded(retryAfterSeconds: limits.retryAfterSeconds))
                }
            } catch {
                return .failure(.storageFailed(detail: String(describing: error)))
            }
            s.pending.append(Pending(id: id, name: name, work: work))
            dispatch(&s)
            return .success(())
        }
        try result.get()
        return id
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
        guard (try? store.markRunning(item.id)) == true else { return }
        let context = WorkContext(id: item.id, name: item.name, store: store)
        do {
            try Task.checkCancellation()
            try await item.work(context)
            _ = try? store.finish(item.id, status: .succeeded)
        } catch {
            if error is CancellationError || Task.isCancelled {
                _ = try? store.finish(item.id, status: .interrupted, detail: String(describing: error))
            } else {
                let message = (error as? WorkFailure)?.message
                    ?? (error as? any HTTPResponseError)?.publicMessage
                    ?? "the work item failed"
                _ = try? store.finish(item.id, status: .failed(message), detail: String(reflecting: error))
            }
        }
    }

    /// The recorded state of item `id` (from SQLite, so items of earlier runs are found too), `nil` if unknown.
    public func record(_ id: WorkItemID) throws -> WorkItemRecord? {
        try store.record(id)
    }

    /// The most recent items, newest first.
    public func records(limit: Int = 100) throws -> [WorkItemRecord] {
        try store.records(limit: limit)
    }

    /// Items running now (in this process).
    public var runningCount: Int { state.withLock { $0.running.count } }
    /// Items waiting for a slot (in this process).
    public var queuedCount: Int { state.withLock { $0.pendingCount } }
    /// The most items that ran at once in this process.
    public var peakRunning: Int { state.withLock { $0.maxRunningSeen } }
    /// Whether `enqueue` still takes work.
    public var isAccepting: Bool { state.withLock { $0.accepting } }

    /// Stops taking work and drains: queued items that have not started are recorded `interrupted`; running
    /// items get up to `grace` to finish; then they are cancelled, given `cancellationGrace` to notice, and
    /// whatever is still unfinished is recorded `interrupted`. Safe to call more than once.
    @discardableResult
    public func shutdown(grace: Duration, cancellationGrace: Duration = .seconds(1)) async -> ShutdownSummary {
        let (dropped, runningAtStart) = state.withLock { s -> ([WorkItemID], Int) in
            s.accepting = false
            var dropped: [WorkItemID] = []
            while let p = s.popPending() { dropped.append(p.id) }
            return (dropped, s.running.count)
        }
        try? store.interrupt(dropped, message: "the server stopped before the item started")
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
            try? store.interrupt(Array(stillRunning.keys), message: "cancelled while running (server shutdown)")
        }
        return ShutdownSummary(finishedDuringGrace: runningAtStart - stillRunning.count, interruptedQueued: dropped.count,
                               cancelledRunning: stillRunning.count)
    }
}
