import Porter
import Synchronization

/// Runs blocking client calls on their own OS threads, never on Swift's small cooperative pool (which the
/// servers under test need for their async handlers), and awaits them without blocking a pool thread.
public enum ConcurrentClients {
    /// Calls `body(i)` for i in 0..<count, each on its own thread, and returns the results in order.
    public static func run<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) async -> [Result<T, any Error>] {
        guard count > 0 else { return [] }
        let results = ResultSlots<T>(count)
        let remaining = Atomic<Int>(count)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            for i in 0..<count {
                OSThread.start(stackSize: 512 * 1024) {
                    results.set(i, Result { try body(i) })
                    if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { continuation.resume() }
                }
            }
        }
        return results.all
    }

    /// Runs one blocking call on its own thread and returns its result.
    public static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(1) { _ in try body() }[0].get()
    }
}

/// One result per call, filled in by the calls' threads.
final class ResultSlots<T: Sendable>: Sendable {
    private let slots: Mutex<[Result<T, any Error>?]>
    init(_ count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }
    func set(_ index: Int, _ result: Result<T, any Error>) { slots.withLock { $0[index] = result } }
    var all: [Result<T, any Error>] { slots.withLock { $0.map { $0! } } }
}
