import Dispatch
import Glibc
import Porter
import PorterTesting
import Synchronization
import Testing

@Suite("Threads: the OS thread primitive and the bounded blocking pool")
struct ThreadTests {
    @Test("a pool's threads know they are its workers; other threads are not")
    func workerMarker() async throws {
        let pool = BlockingThreadPool(name: "t-mark", threads: 2, queueLimit: 4)
        defer { pool.shutdown() }
        #expect(!pool.isCurrentThreadWorker && !WorkerThread.isCurrent)
        let other = BlockingThreadPool(name: "t-other", threads: 1, queueLimit: 1)
        defer { other.shutdown() }
        let seen = try await pool.run { (pool.isCurrentThreadWorker, WorkerThread.isCurrent, other.isCurrentThreadWorker) }
        #expect(seen == (true, true, false))
    }

    @Test("a full queue refuses work: submit returns false and run throws 503 with Retry-After")
    func refusesWhenFull() async throws {
        let pool = BlockingThreadPool(name: "t-full", threads: 1, queueLimit: 1)
        defer { pool.shutdown() }
        let release = DispatchSemaphore(value: 0)
        #expect(pool.trySubmit { release.wait() })
        try await waitUntil("pool.runningCount == 1") { pool.runningCount == 1 }
        #expect(pool.trySubmit {})
        #expect(pool.pendingCount == 1)
        #expect(!pool.trySubmit {})
        await #expect(throws: HTTPError(.serviceUnavailable, message: "Too busy, try again shortly")) {
            try await pool.run { 1 }
        }
        release.signal()
        try await waitUntil("pool.pendingCount == 0 && pool.runningCount == 0") { pool.pendingCount == 0 && pool.runningCount == 0 }
        #expect(try await pool.run { 2 } == 2)
    }

    @Test("after shutdown the queued work still runs, the threads exit (onThreadExit), new work is refused")
    func shutdown() async throws {
        let exits = Atomic<Int>(0)
        let ran = Atomic<Int>(0)
        let pool = BlockingThreadPool(name: "t-stop", threads: 2, queueLimit: 8, onThreadExit: { exits.add(1, ordering: .relaxed) })
        for _ in 0..<4 { _ = pool.trySubmit { ran.add(1, ordering: .relaxed) } }
        pool.shutdown()
        #expect(!pool.trySubmit {})
        try await waitUntil("exits.load(ordering: .relaxed) == 2") { exits.load(ordering: .relaxed) == 2 }
        #expect(ran.load(ordering: .relaxed) == 4)
    }

    @Test("OSThread.start runs the body on a new thread with the given name")
    func named() async throws {
        let name = Mutex<String>("")
        OSThread.start(name: "porter-t-named-long-name") {
            var buffer = [UInt8](repeating: 0, count: 32)
            let fd = open("/proc/thread-self/comm", O_RDONLY)
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 32) }
            close(fd)
            name.withLock { $0 = String(decoding: buffer[0..<max(0, n)], as: UTF8.self) }
        }
        try await waitUntil("!name.withLock { $0 }.isEmpty") { !name.withLock { $0 }.isEmpty }
        #expect(name.withLock { $0 } == "porter-t-named-\n", "Linux keeps 15 bytes")
    }
}
