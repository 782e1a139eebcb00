import Porter
import Synchronization

/// A first-in first-out queue of jobs (sync work handed to the worker threads through the epoll set).
struct JobQueue: ~Copyable {
    private var items: [(@Sendable () -> Void)?] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func push(_ job: @escaping @Sendable () -> Void) { items.append(job) }

    mutating func pop() -> (@Sendable () -> Void)? {
        guard head < items.count else { return nil }
        let job = items[head]
        items[head] = nil
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        return job
    }
}

extension FastCGIServer {
    /// Queues sync work for a worker thread (they wait on the jobs eventfd in the epoll set).
    func enqueue(_ job: @escaping @Sendable () -> Void) {
        jobs.withLock { $0.push(job) }
        Poller.signal(jobsDescriptor.load(ordering: .acquiring))
    }

    /// Runs one queued job (a worker woke on the jobs eventfd) and re-arms the eventfd.
    func runOneJob() {
        let jobsFD = jobsDescriptor.load(ordering: .acquiring)
        let job = jobs.withLock { queue -> (@Sendable () -> Void)? in
            let job = queue.pop()
            if queue.isEmpty { Poller.drain(jobsFD) }
            return job
        }
        Poller.rearm(epollFD.load(ordering: .acquiring), jobsFD, events: Poller.oneShotIn, token: Self.jobsToken)
        job?()
    }
}

/// Runs sync work on one server's worker threads: the executor every request it accepts carries.
struct ServerExecutor: SyncWorkExecutor {
    let server: FastCGIServer

    /// Whether the calling thread is one of this server's worker threads.
    var isCurrentThreadWorker: Bool { WorkerThread.isCurrent(of: server) }

    /// Queues `work` (the job queue is unbounded: requests are already admitted).
    func tryExecute(_ work: @escaping @Sendable () -> Void) -> Bool {
        server.enqueue(work)
        return true
    }
}
