/// Runs blocking work off Swift's cooperative pool: the transport's worker threads.
public protocol SyncWorkExecutor: Sendable {
    /// Whether the calling thread is one of this executor's threads (then work may run inline).
    var isCurrentThreadWorker: Bool { get }
    /// Runs `work` on one of the executor's threads.
    func execute(_ work: @escaping @Sendable () -> Void)
}

extension SyncWorkExecutor {
    /// Runs `body` on a worker thread (inline when already on one) and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if isCurrentThreadWorker { return try body() }
        return try await withCheckedThrowingContinuation { continuation in
            execute { continuation.resume(with: Result { try body() }) }
        }
    }
}
