import Glibc
import Synchronization

/// One call's slot: the work and, once the thread finished, its result.
final class ClientSlot<T: Sendable>: @unchecked Sendable, SlotRunnable {
    var result: Result<T, any Error>?
    let body: @Sendable (Int) throws -> T
    let index: Int
    let done: @Sendable () -> Void
    init(_ body: @escaping @Sendable (Int) throws -> T, _ index: Int, done: @escaping @Sendable () -> Void) {
        self.body = body; self.index = index; self.done = done
    }
    func runSlot() {
        result = Result { try body(index) }
        done()
    }
}

protocol SlotRunnable: AnyObject { func runSlot() }

/// Runs blocking client calls on their own OS threads, never on Swift's small cooperative pool (which the
/// servers under test need for their async handlers), and awaits them without blocking a pool thread.
public enum ConcurrentClients {
    /// Calls `body(i)` for i in 0..<count, each on its own thread, and returns the results in order.
    public static func run<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) async -> [Result<T, any Error>] {
        let remaining = Atomic<Int>(count)
        let slots = SlotList<T>()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finished: @Sendable () -> Void = {
                if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { continuation.resume() }
            }
            if count == 0 { continuation.resume(); return }
            for i in 0..<count {
                let slot = ClientSlot(body, i, done: finished)
                slots.append(slot)
                var thread = pthread_t()
                var attr = pthread_attr_t()
                pthread_attr_init(&attr)
                pthread_attr_setstacksize(&attr, 512 * 1024)
                pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
                let box = Unmanaged.passRetained(SlotBox(slot)).toOpaque()
                let rc = pthread_create(&thread, &attr, { raw in
                    Unmanaged<SlotBox>.fromOpaque(raw!).takeRetainedValue().slot.runSlot()
                    return nil
                }, box)
                pthread_attr_destroy(&attr)
                precondition(rc == 0, "pthread_create: \(rc)")
            }
        }
        return slots.all.map { $0.result! }
    }

    /// Runs one blocking call on its own thread and returns its result.
    public static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(1) { _ in try body() }[0].get()
    }
}

final class SlotList<T: Sendable>: @unchecked Sendable {
    private let lock = Mutex<[ClientSlot<T>]>([])
    func append(_ slot: ClientSlot<T>) { lock.withLock { $0.append(slot) } }
    var all: [ClientSlot<T>] { lock.withLock { $0 } }
}

final class SlotBox {
    let slot: any SlotRunnable
    init(_ slot: any SlotRunnable) { self.slot = slot }
}
