import Dispatch
import Synchronization

/// A fixed set of OS threads fed from a bounded FIFO queue: blocking work (image resizes, sync handlers) runs
/// here, never on Swift's cooperative pool. A full queue refuses work, so the caller can answer 429/503 at once.
public final class BlockingThreadPool: SyncWorkExecutor {
    /// One unit of work.
    public typealias Job = @Sendable () -> Void

    private struct State {
        var queue: [Job] = []
        var head = 0
        var running = 0
        var stopped = false
        var pending: Int { queue.count - head }
    }

    private let state = Mutex(State())
    private let wakeups = DispatchSemaphore(value: 0)
    private let onThreadExit: (@Sendable () -> Void)?
    /// Number of threads.
    public let threadCount: Int
    /// Jobs that may wait for a thread; more are refused.
    public let queueLimit: Int

    /// Starts `threads` threads named `name-0`, `name-1`, …; `onThreadExit` runs on each thread after `shutdown()`.
    public init(name: String, threads: Int, queueLimit: Int, stackSize: Int? = nil,
                onThreadExit: (@Sendable () -> Void)? = nil) {
        threadCount = max(1, threads)
        self.queueLimit = max(0, queueLimit)
        self.onThreadExit = onThreadExit
        for index in 0..<threadCount {
            OSThread.start(name: "\(name)-\(index)", stackSize: stackSize, owner: self) { [self] in workerLoop() }
        }
    }

    /// Queues `job` unless the queue is full or the pool is stopped; false means refused.
    public func trySubmit(_ job: @escaping Job) -> Bool {
        let queued = state.withLock { s -> Bool in
            guard !s.stopped, s.pending < queueLimit else { return false }
            s.queue.append(job)
            return true
        }
        if queued { wakeups.signal() }
        return queued
    }

    /// Jobs waiting for a thread.
    public var pendingCount: Int { state.withLock { $0.pending } }
    /// Jobs running now.
    public var runningCount: Int { state.withLock { $0.running } }

    /// Stops accepting jobs; the threads finish what is queued, then exit.
    public func shutdown() {
        state.withLock { $0.stopped = true }
        for _ in 0..<threadCount { wakeups.signal() }
    }

    // MARK: - SyncWorkExecutor

    /// Whether the calling thread is one of this pool's threads.
    public var isCurrentThreadWorker: Bool { WorkerThread.isCurrent(of: self) }

    /// Queues `work`; false when the queue is full (`run` then answers 503).
    public func tryExecute(_ work: @escaping @Sendable () -> Void) -> Bool { trySubmit(work) }

    private func workerLoop() {
        while true {
            wakeups.wait()
            let next = state.withLock { s -> (job: Job?, exit: Bool) in
                guard s.head < s.queue.count else { return (nil, s.stopped) }
                let job = s.queue[s.head]
                s.head += 1
                if s.head == s.queue.count {
                    s.queue.removeAll(keepingCapacity: true)
                    s.head = 0
                } else if s.head >= 64 && s.head * 2 >= s.queue.count {
                    s.queue.removeFirst(s.head)
                    s.head = 0
                }
                s.running += 1
                return (job, false)
            }
            if next.exit { break }
            guard let job = next.job else { continue }
            job()
            state.withLock { $0.running -= 1 }
        }
        onThreadExit?()
    }
}
