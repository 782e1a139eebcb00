import Synchronization

/// Runs blocking work off Swift's cooperative pool, on OS threads that may block (a transport's workers, a
/// `BlockingThreadPool`). The transport that accepted a request sets `HTTPContext.syncExecutor` to its own.
public protocol SyncWorkExecutor: Sendable {
    /// Whether the calling thread is one of this executor's threads (then work may run inline).
    var isCurrentThreadWorker: Bool { get }
    /// Queues `work` for one of the executor's threads; false when the executor refuses it (queue full, stopped).
    func tryExecute(_ work: @escaping @Sendable () -> Void) -> Bool
}

extension SyncWorkExecutor {
    /// Runs `body` on a worker thread (inline when already on one) and returns its result. Work whose task
    /// was cancelled while it waited in the queue (client gone, request timed out) is dropped, not run; work the
    /// executor refuses (queue full) throws 503 with `Retry-After`.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if isCurrentThreadWorker { return try body() }
        let cancelled = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let queued = tryExecute {
                    if cancelled.isSet {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume(with: Result { try body() })
                    }
                }
                if !queued {
                    continuation.resume(throwing: HTTPError(.serviceUnavailable, message: "Too busy, try again shortly",
                                                            headers: ["Retry-After": "1"]))
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
