import Synchronization

/// Runs blocking work off Swift's cooperative pool: the transport's worker threads.
public protocol SyncWorkExecutor: Sendable {
    /// Whether the calling thread is one of this executor's threads (then work may run inline).
    var isCurrentThreadWorker: Bool { get }
    /// Runs `work` on one of the executor's threads.
    func execute(_ work: @escaping @Sendable () -> Void)
}

extension SyncWorkExecutor {
    /// Runs `body` on a worker thread (inline when already on one) and returns its result. Work whose task
    /// was cancelled while it waited in the queue (client gone, request timed out) is dropped, not run.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if isCurrentThreadWorker { return try body() }
        let cancelled = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                execute {
                    if cancelled.isSet {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume(with: Result { try body() })
                    }
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }
}

/// A one-way flag set when a task is cancelled.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
