import Foundation
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

    private let state = Mutex<State>(State())
    private let wakeup = DispatchSemaphore(value: 0)

    private struct State {
        var queue: [@Sendable () -> Void] = []
        var head = 0
        var started = false
        var stopping = false
        var running = 0
    }

    /// The accepted thread counts.
    public static let threadRange = 1...64
    /// The accepted queue lengths.
    public static let queueRange = 0...65_536

    /// An executor with `threads` threads and room for `queueLimit` waiting jobs (clamped to the accepted ranges).
    public init(threads: Int = 2, queueLimit: Int = 64) {
        self.threads = min(max(threads, Self.threadRange.lowerBound), Self.threadRange.upperBound)
        self.queueLimit = min(max(queueLimit, Self.queueRange.lowerBound), Self.queueRange.upperBound)
    }

    /// Whether the calling thread is one of a `KDFExecutor`'s threads.
    public static var isExecutorThread: Bool { Thread.current.threadDictionary[threadMarker] != nil }
    static let threadMarker = "porter.kdf-executor"

    /// Runs `work` on one of the executor's threads and returns its result; throws `KDFBusy` when the queue is full.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job: @Sendable () -> Void = { [statistics] in
                statistics.started()
                let result = Result { try work() }
                statistics.finished()
                continuation.resume(with: result)
            }
            if let refusal = enqueue(job) {
                statistics.rejected.add(1, ordering: .relaxed)
                continuation.resume(throwing: refusal)
            }
        }
    }

    /// Jobs waiting for a thread now.
    public var waiting: Int { state.withLock { $0.queue.count - $0.head } }

    /// Lets the threads finish the queued jobs and exit; later `run` calls are refused.
    public func shutdown() {
        let started = state.withLock { s -> Bool in
            s.stopping = true
            return s.started
        }
        if started { for _ in 0..<threads { wakeup.signal() } }
    }

    /// Adds `job`, or returns why not.
    private func enqueue(_ job: @escaping @Sendable () -> Void) -> KDFBusy? {
        let (refusal, start) = state.withLock { s -> (KDFBusy?, Bool) in
            if s.stopping { return (KDFBusy(waiting: s.queue.count - s.head), false) }
            // Room for `threads` running jobs plus `queueLimit` waiting ones.
            let waitingNow = s.queue.count - s.head
            if s.running + waitingNow >= threads + queueLimit { return (KDFBusy(waiting: waitingNow), false) }
            s.queue.append(job)
            let start = !s.started
            s.started = true
            return (nil, start)
        }
        if refusal == nil {
            if start { startThreads() }
            wakeup.signal()
        }
        return refusal
    }

    private func startThreads() {
        for index in 0..<threads {
            let thread = Thread { [self] in self.loop() }
            thread.name = "porter-kdf-\(index)"
            thread.threadDictionary[Self.threadMarker] = true
            thread.start()
        }
    }

    private func loop() {
        Thread.current.threadDictionary[Self.threadMarker] = true
        while true {
            wakeup.wait()
            let job = state.withLock { s -> (@Sendable () -> Void)? in
                guard s.head < s.queue.count else { return nil }
                let job = s.queue[s.head]
                s.head += 1
                if s.head > 256 && s.head * 2 > s.queue.count {
                    s.queue.removeFirst(s.head)
                    s.head = 0
                }
                s.running += 1
                return job
            }
            guard let job else {
                if state.withLock({ $0.stopping }) { return }
                continue
            }
            job()
            state.withLock { $0.running -= 1 }
        }
    }
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
        let now = running.add(1, ordering: .relaxed).newValue
        var seen = maxRunning.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, current) = maxRunning.compareExchange(expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = current
        }
    }

    func finished() {
        running.subtract(1, ordering: .relaxed)
        completed.add(1, ordering: .relaxed)
    }
}
