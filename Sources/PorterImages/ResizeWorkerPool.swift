#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// A small pool of OS threads it owns, fed from a bounded FIFO queue: resizes block these threads, never
/// Swift's cooperative pool. `trySubmit` refuses work when `queueLimit` jobs are already waiting.
final class ResizeWorkerPool: Sendable {
    /// One unit of work.
    typealias Job = @Sendable () -> Void

    private struct State {
        var queue: [Job] = []
        var head = 0
        var running = 0
        var stopped = false
        var pending: Int { queue.count - head }
    }

    private let state = Mutex(State())
    private let wakeups = DispatchSemaphore(value: 0)
    /// Number of threads.
    let threadCount: Int
    /// Jobs that may wait for a thread; more are refused.
    let queueLimit: Int

    /// Starts `threads` detached threads (`name` is kept for diagnostics).
    init(threads: Int, queueLimit: Int, name: String = "porter-img") {
        threadCount = max(1, threads)
        self.queueLimit = max(0, queueLimit)
        for index in 0..<threadCount {
            startThread(name: "\(name)-\(index)")
        }
    }

    /// Queues `job` unless the queue is full or the pool is stopped; returns whether it was queued.
    func trySubmit(_ job: @escaping Job) -> Bool {
        let queued = state.withLock { s -> Bool in
            guard !s.stopped, s.pending < queueLimit else { return false }
            s.queue.append(job)
            return true
        }
        if queued { wakeups.signal() }
        return queued
    }

    /// Jobs waiting for a thread.
    var pendingCount: Int { state.withLock { $0.pending } }
    /// Jobs running now.
    var runningCount: Int { state.withLock { $0.running } }

    /// Stops accepting jobs; threads finish what is queued, then exit.
    func shutdown() {
        state.withLock { $0.stopped = true }
        for _ in 0..<threadCount { wakeups.signal() }
    }

    private func workerLoop() {
        while true {
            wakeups.wait()
            let next = state.withLock { s -> (job: Job?, exit: Bool) in
                guard s.head < s.queue.count else { return (nil, s.stopped) }
                let job = s.queue[s.head]
                s.head += 1
                if s.head >= 64 && s.head * 2 >= s.queue.count {
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
        VipsRuntime.threadShutdown()
    }

    private func startThread(name: String) {
        let box = Unmanaged.passRetained(ThreadStart(name: name) { [self] in workerLoop() })
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue()
            start.body()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
    }
}

/// What a new thread runs.
private final class ThreadStart {
    let name: String
    let body: () -> Void
    init(name: String, body: @escaping () -> Void) {
        self.name = name
        self.body = body
    }
}
