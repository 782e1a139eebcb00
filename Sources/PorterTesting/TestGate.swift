// Porter — PorterTesting: helpers shared by the pipeline, FastCGI and nginx test tiers.

import Synchronization

/// A gate test handlers wait at until the test lets them through: it proves how many requests were inside
/// their handler at the same moment by counting, never by timing.
///
/// ```swift
/// let gate = TestGate()
/// registry.add(name: "gated", path: "/gated", handler: AsyncClosureHandler { ctx in
///     try await gate.pass()            // suspends: holds no thread
///     ctx.response.write("ok")
/// })
/// // … start 200 requests, then:
/// try await waitUntil("200 handlers at the gate (now \(gate.waiting))") { gate.waiting == 200 }
/// gate.open()
/// ```
/// Waiting suspends the task (no thread is blocked). A waiter whose task is cancelled leaves the gate at once
/// and ``pass()`` throws `CancellationError`, so handlers still see deadlines and client aborts.
public final class TestGate: Sendable {
    private struct Waiter {
        let token: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var arrived = 0
        var passed = 0
        var maxWaiting = 0
        var permits = 0
        var isOpen = false
        var nextToken: UInt64 = 0
        var waiters: [Waiter] = []
    }

    private let state = Mutex(State())

    /// A closed gate.
    public init() {}

    /// Callers that reached the gate so far.
    public var arrived: Int { state.withLock { $0.arrived } }
    /// Callers waiting at the gate now.
    public var waiting: Int { state.withLock { $0.waiters.count } }
    /// The most callers that waited at the gate at the same moment.
    public var maxWaiting: Int { state.withLock { $0.maxWaiting } }
    /// Callers the gate let through so far.
    public var passed: Int { state.withLock { $0.passed } }
    /// Whether ``open()`` was called.
    public var isOpen: Bool { state.withLock { $0.isOpen } }

    /// ``pass()`` for work that cannot throw: returns when let through, or at once if the task is cancelled.
    public func wait() async { try? await pass() }

    /// Waits until let through, ignoring cancellation entirely (to stand in for work that never checks it).
    public func waitIgnoringCancellation() async {
        guard let token = arrive() else { return }
        try? await suspend(token, cancellable: false)
    }

    /// Waits until the gate is open or a ``release(_:)`` lets this caller through (earliest arrivals first).
    /// Throws `CancellationError` if the calling task is cancelled first.
    public func pass() async throws {
        guard let token = arrive() else { return }
        try await withTaskCancellationHandler {
            try await suspend(token, cancellable: true)
        } onCancel: {
            let waiter: Waiter? = self.state.withLock { s in
                guard let i = s.waiters.firstIndex(where: { $0.token == token }) else { return nil }
                return s.waiters.remove(at: i)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Like ``pass()``, but cancelling the calling task does not end the wait: only the gate does.
    public func passIgnoringCancellation() async {
        guard let token = arrive() else { return }
        try? await suspend(token, cancellable: false)
    }

    /// Counts an arrival; returns nil if the caller may go through at once, else its waiting token.
    private func arrive() -> UInt64? {
        state.withLock { s in
            s.arrived += 1
            if s.isOpen { s.passed += 1; return nil }
            if s.permits > 0 { s.permits -= 1; s.passed += 1; return nil }
            s.nextToken += 1
            return s.nextToken
        }
    }

    private func suspend(_ token: UInt64, cancellable: Bool) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let resumeNow: Result<Void, any Error>? = state.withLock { s in
                if cancellable && Task.isCancelled { return .failure(CancellationError()) }
                if s.isOpen { s.passed += 1; return .success(()) }
                if s.permits > 0 { s.permits -= 1; s.passed += 1; return .success(()) }
                s.waiters.append(Waiter(token: token, continuation: continuation))
                s.maxWaiting = max(s.maxWaiting, s.waiters.count)
                return nil
            }
            if let resumeNow { continuation.resume(with: resumeNow) }
        }
    }

    /// Opens the gate: everyone waiting goes through, and so does everyone who arrives later.
    public func open() {
        let waiters: [Waiter] = state.withLock { s in
            s.isOpen = true
            s.passed += s.waiters.count
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.continuation.resume() }
    }

    /// Lets `count` callers through, the earliest waiting first; permits not used now go to later arrivals.
    public func release(_ count: Int = 1) {
        let waiters: [Waiter] = state.withLock { s in
            let now = min(count, s.waiters.count)
            s.permits += count - now
            s.passed += now
            defer { s.waiters.removeFirst(now) }
            return Array(s.waiters.prefix(now))
        }
        for waiter in waiters { waiter.continuation.resume() }
    }
}

/// A counter of callers inside some section, with the highest value it reached (e.g. handlers in flight).
public final class InFlightCounter: Sendable {
    private let counts = Mutex<(now: Int, peak: Int, total: Int)>((0, 0, 0))

    /// A counter at zero.
    public init() {}

    /// Callers inside now.
    public var now: Int { counts.withLock { $0.now } }
    /// The most callers that were inside at the same moment.
    public var peak: Int { counts.withLock { $0.peak } }
    /// Callers that entered so far.
    public var total: Int { counts.withLock { $0.total } }

    /// Runs `body` counted as inside.
    public func inside<T>(_ body: () async throws -> T) async rethrows -> T {
        counts.withLock { c in
            c.now += 1
            c.total += 1
            c.peak = max(c.peak, c.now)
        }
        defer { counts.withLock { $0.now -= 1 } }
        return try await body()
    }
}
