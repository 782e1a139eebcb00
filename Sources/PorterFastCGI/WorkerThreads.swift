import CFastCGI
import Dispatch
import Glibc
import Synchronization

/// The server's worker threads, sized to the work: `minimum` threads (one per CPU by default) wait on epoll; when
/// threads are blocked in one event — a sync handler or sync work waiting on a database, a file, a lock — for a
/// whole housekeeping tick, as many others are started (or unparked) so that `minimum` threads still take new
/// work, up to `maximum`. Once the blocked ones are back, the surplus park. ASP.NET's thread pool injects threads
/// on starvation the same way.
///
/// Why not `maximum` threads polling all the time: with more pollers than cores, each event tends to wake a sleeping
/// thread instead of waiting for a busy one to come back for it, so every request pays a context switch (measured:
/// 8 pollers on 2 cores cost 31.6–36.2 µs of CPU per hello request, 2 pollers 19.1–19.2).
final class WorkerThreads: Sendable {
    /// One thread's place: what housekeeping reads to tell a blocked thread from a busy one, and where it parks.
    final class Slot: Sendable {
        let index: Int
        /// (events taken << 1) | 1 while serving an event, | 0 while waiting or parked; written by its thread only.
        let progress = Atomic<UInt64>(0)
        /// Signalled to unpark the thread (or to let it see the server stopped).
        let wakeup = DispatchSemaphore(value: 0)

        init(index: Int) { self.index = index }

        /// Whether the thread was serving one and the same event at `previous` and now.
        func isStuck(since previous: UInt64) -> (stuck: Bool, now: UInt64) {
            let now = progress.load(ordering: .relaxed)
            return (now & 1 == 1 && now == previous, now)
        }
    }

    /// Threads that poll when nothing blocks.
    let minimum: Int
    /// The most threads there can be (blocked ones included).
    let maximum: Int
    let slots: [Slot]
    /// The counters this pool keeps: `startedThreads` (slots `0..<started` have a thread) and `threads` (started and
    /// not parked).
    private let statistics: TransportStatistics
    /// How many threads should run now: `minimum` + the blocked ones, at most `maximum` (set by housekeeping).
    let wanted: Atomic<Int>
    /// Slots whose threads are parked, and whether the server stopped (then nobody parks any more).
    private let parked = Mutex<(slots: [Int], closed: Bool)>(([], false))

    init(minimum: Int, maximum: Int, statistics: TransportStatistics) {
        self.statistics = statistics
        self.maximum = max(1, maximum)
        self.minimum = min(max(1, minimum), self.maximum)
        self.slots = (0..<self.maximum).map(Slot.init(index:))
        self.wanted = Atomic(self.minimum)
    }

    /// CPUs this process may run on (its affinity mask, as `taskset` or a cgroup cpuset set it).
    static var availableCPUs: Int {
        let count = Int(porter_available_cpus())
        return count > 0 ? count : max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// Claims the next unstarted slot for a new thread (counted as running), or nil when all `maximum` are started.
    func claimNewSlot() -> Slot? {
        var count = statistics.startedThreads.load(ordering: .relaxed)
        while count < maximum {
            let (exchanged, original) = statistics.startedThreads.compareExchange(expected: count, desired: count + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                statistics.threads.add(1, ordering: .relaxed)
                return slots[count]
            }
            count = original
        }
        return nil
    }

    /// Whether the calling thread should park: more threads run than are wanted.
    var hasSurplus: Bool { statistics.threads.load(ordering: .relaxed) > wanted.load(ordering: .relaxed) }

    /// Parks `slot`'s thread while there is a surplus; returns when it is unparked (or at once if there is no surplus
    /// any more). `isStopped` is checked after every wake-up: true means the thread must exit.
    func parkIfSurplus(_ slot: Slot, isStopped: () -> Bool) -> Bool {
        let parks = parked.withLock { state -> Bool in
            guard !state.closed, statistics.threads.load(ordering: .relaxed) > wanted.load(ordering: .relaxed) else { return false }
            statistics.threads.subtract(1, ordering: .relaxed)
            state.slots.append(slot.index)
            return true
        }
        guard parks else { return isStopped() }
        slot.wakeup.wait()
        return isStopped()
    }

    /// Unparks one parked thread (counted as running); false when none is parked.
    func unparkOne() -> Bool {
        guard let index = parked.withLock({ $0.slots.popLast() }) else { return false }
        statistics.threads.add(1, ordering: .relaxed)
        slots[index].wakeup.signal()
        return true
    }

    /// Wakes every parked thread and lets none park again (the server stopped: they see it and exit).
    func wakeAllParked() {
        let all = parked.withLock { state -> [Int] in
            state.closed = true
            defer { state.slots.removeAll() }
            return state.slots
        }
        for index in all { slots[index].wakeup.signal() }
    }

    /// Threads parked now.
    var parkedCount: Int { parked.withLock { $0.slots.count } }

    /// One housekeeping look (every tick): counts threads stuck in one event since the last look (`seen` keeps each
    /// slot's progress between looks), sets `wanted`, and returns how many more threads must run and how many are blocked.
    func rebalance(seen: inout [UInt64]) -> (missing: Int, blocked: Int) {
        let count = statistics.startedThreads.load(ordering: .acquiring)
        if seen.count < count { seen.append(contentsOf: repeatElement(0, count: count - seen.count)) }
        var blocked = 0
        for i in 0..<count {
            let (stuck, now) = slots[i].isStuck(since: seen[i])
            if stuck { blocked += 1 }
            seen[i] = now
        }
        let target = min(maximum, minimum + blocked)
        wanted.store(target, ordering: .relaxed)
        return (max(0, target - statistics.threads.load(ordering: .relaxed)), blocked)
    }
}
