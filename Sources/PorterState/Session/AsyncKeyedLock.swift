import Synchronization

/// An in-process exclusive lock per key with FIFO hand-off and a wait timeout. Waiting suspends the task;
/// no thread is blocked. Stores use it so that requests of one process queue without polling the database.
public final class AsyncKeyedLock: Sendable {
    private struct Waiter {
        let token: UInt64
        let owner: String
        let continuation: CheckedContinuation<Void, any Error>
        var timer: Task<Void, Never>?
    }

    private struct Entry {
        var owner: String
        var waiters: [Waiter] = []
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var nextToken: UInt64 = 0
    }

    private let state = Mutex(State())

    /// An empty lock table.
    public init() {}

    /// Waits up to `timeout` to hold `key` for `owner`; throws `SessionLockTimeout` or `CancellationError`.
    public func lock(_ key: String, owner: String, timeout: Duration) async throws {
        let token: UInt64? = state.withLock { s in
            if s.entries[key] == nil {
                s.entries[key] = Entry(owner: owner)
                return nil
            }
            s.nextToken += 1
            return s.nextToken
        }
        guard let token else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let granted: Bool = state.withLock { s in
                    guard s.entries[key] != nil else {
                        s.entries[key] = Entry(owner: owner)
                        return true
                    }
                    s.entries[key]!.waiters.append(Waiter(token: token, owner: owner, continuation: continuation))
                    return false
                }
                if granted {
                    continuation.resume()
                    return
                }
                let timer = Task { [self] in
                    try? await Task.sleep(for: timeout)
                    guard !Task.isCancelled else { return }
                    self.abandonWait(key, token: token, error: SessionLockTimeout(sessionID: key, waited: timeout))
                }
                state.withLock { s in
                    if let i = s.entries[key]?.waiters.firstIndex(where: { $0.token == token }) {
                        s.entries[key]!.waiters[i].timer = timer
                    } else {
                        timer.cancel()
                    }
                }
            }
        } onCancel: {
            self.abandonWait(key, token: token, error: CancellationError())
        }
    }

    /// Gives `key` back if `owner` holds it, handing it to the longest waiter; otherwise does nothing.
    public func unlock(_ key: String, owner: String) {
        let next: Waiter? = state.withLock { s in
            guard var entry = s.entries[key], entry.owner == owner else { return nil }
            guard !entry.waiters.isEmpty else {
                s.entries[key] = nil
                return nil
            }
            let waiter = entry.waiters.removeFirst()
            entry.owner = waiter.owner
            s.entries[key] = entry
            return waiter
        }
        next?.timer?.cancel()
        next?.continuation.resume()
    }

    /// Whether `key` is held (for tests and traces).
    public func isLocked(_ key: String) -> Bool { state.withLock { $0.entries[key] != nil } }

    private func abandonWait(_ key: String, token: UInt64, error: any Error) {
        let waiter: Waiter? = state.withLock { s in
            guard let i = s.entries[key]?.waiters.firstIndex(where: { $0.token == token }) else { return nil }
            return s.entries[key]!.waiters.remove(at: i)
        }
        waiter?.timer?.cancel()
        waiter?.continuation.resume(throwing: error)
    }
}
