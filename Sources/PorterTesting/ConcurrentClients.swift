import Glibc

/// One call's slot: the work and, once the thread finished, its result.
final class ClientSlot<T: Sendable>: @unchecked Sendable, SlotRunnable {
    var result: Result<T, any Error>?
    let body: @Sendable (Int) throws -> T
    let index: Int
    init(_ body: @escaping @Sendable (Int) throws -> T, _ index: Int) { self.body = body; self.index = index }
    func runSlot() { result = Result { try body(index) } }
}

protocol SlotRunnable: AnyObject { func runSlot() }

/// Runs blocking client calls on their own OS threads (not Swift's small cooperative pool), for load in tests.
public enum ConcurrentClients {
    /// Calls `body(i)` for i in 0..<count, each on its own thread, and returns the results in order.
    public static func run<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) -> [Result<T, any Error>] {
        var threads: [pthread_t] = []
        var slots: [ClientSlot<T>] = []
        for i in 0..<count {
            let slot = ClientSlot(body, i)
            slots.append(slot)
            var thread = pthread_t()
            var attr = pthread_attr_t()
            pthread_attr_init(&attr)
            pthread_attr_setstacksize(&attr, 256 * 1024)
            let box = Unmanaged.passRetained(SlotBox(slot)).toOpaque()
            let rc = pthread_create(&thread, &attr, { raw in
                Unmanaged<SlotBox>.fromOpaque(raw!).takeRetainedValue().slot.runSlot()
                return nil
            }, box)
            pthread_attr_destroy(&attr)
            precondition(rc == 0, "pthread_create: \(rc)")
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        return slots.map { $0.result! }
    }
}

final class SlotBox {
    let slot: any SlotRunnable
    init(_ slot: any SlotRunnable) { self.slot = slot }
}
