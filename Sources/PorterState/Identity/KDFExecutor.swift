import Porter
import Synchronization

/// Runs password hashing (PBKDF2/scrypt: deliberately slow CPU work) on its own small, fixed set of threads with
/// a bounded queue, so a flood of logins never occupies the FastCGI worker threads or Swift's cooperative pool.
///
/// `run` awaits without holding a thread; when `threads` jobs run and `queueLimit` more wait, it throws
/// `KDFBusy` at once (the login handler answers 503 + Retry-After). Threads start on first use and are named
/// `porter-kdf-N`.
public final class KDFExecutor: Sendable {
    /// How many jobs run at once (the number of threads).
    public let threads: Int
    /// How many jobs may wait for a thread; more are refused with `KDFBusy`.
    public let queueLimit: Int
    /// Counters for status pages and tests.
    public let statistics = KDFStatistics()
    private let pool: BlockingThreadPool
    /// Room for `threads` running jobs plus `queueLimit` waiting ones.
    private let admission: Bulkhead

    /// The accepted thread counts.
    public static let threadRange = 1...64
    /// The accepted queue lengths.
    public static let queueRange = 0...65_536
    /// The name prefix of the executor's threads.
    public static let threadName = "porter-kdf"

    /// An executor with `threads` threads and room for `queueLimit` waiting jobs (clamped to the accepted ranges).
    public init(threads: Int = 2, queueLimit: Int = 64) {
        self.threads = min(max(threads, Self.threadRange.lowerBound), Self.threadRange.upperBound)
        self.queueLimit = min(max(queueLimit, Self.queueRange.lowerBound), Self.queueRange.upperBound)
        admission = Bulkhead(limit: self.threads + self.queueLimit)
        pool = BlockingThreadPool(name: Self.threadName, threads: self.threads, queueLimit: admission.limit)
    }

    deinit { pool.shutdown() }

    /// Whether the calling thread is one of this executor's threads.
    public var isCurrentThread: Bool { pool.isCurrentThreadWorker }

    /// Whether the calling thread is one of any `KDFExecutor`'s threads.
    public static var isExecutorThread: Bool { OSThread.currentName.hasPrefix(threadName) }

    /// Runs `work` on one of the executor's threads and returns its result; throws `KDFBusy` when the queue is full.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let admitted = admission.tryEnter()
            let submitted = admitted && pool.trySubmit { [statistics, admission] in
                statistics.started()
                let result = Result { try work() }
                statistics.finished()
                admission.leave()
                continuation.resume(with: result)
            }
            if admitted && !submitted { admission.leave() }
            if !submitted {
                statistics.rejected.add(1, ordering: .relaxed)
                continuation.resume(throwing: KDFBusy(waiting: pool.pendingCount))
            }
        }
    }

    /// Jobs waiting for a thread now.
    public var waiting: Int { pool.pendingCount }

    /// Lets the threads finish the queued jobs and exit; later `run` calls are refused.
    public func shutdown() { pool.shutdown() }
}

/// The executor refused a job: every thread is busy and the queue is full (the server is busy: 503 + Retry-After).
public struct KDFBusy: Error, Sendable, Equatable {
    /// Jobs that were waiting.
    public let waiting: Int
}

/// Counters of a `KDFExecutor`: jobs run, refused, and how many ran at once.
public final class KDFStatistics: Sendable {
    /// Jobs completed.
    public let completed = Atomic<Int>(0)
    /// Jobs refused because the queue was full.
    public let rejected = Atomic<Int>(0)
    /// Jobs running now.
    public let running = Atomic<Int>(0)
    /// The most jobs that ever ran at once.
    public let maxRunning = Atomic<Int>(0)

    func started() {
        maxRunning.raiseMax(to: running.add(1, ordering: .relaxed).newValue)
    }

    func finished() {
        running.subtract(1, ordering: .relaxed)
        completed.add(1, ordering: .relaxed)
    }
}
