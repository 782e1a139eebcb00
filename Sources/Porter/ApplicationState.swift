import Synchronization

/// Process-wide key/value state shared by every request (ASP.NET's `Application`), safe under concurrency.
///
/// Single reads and writes are atomic; `update` is the Swift form of `Application.Lock()`/`UnLock()`:
/// it runs a closure with exclusive access so read-modify-write sequences cannot interleave.
public final class ApplicationState: Sendable {
    private let storage = Mutex<[String: any Sendable]>([:])
    /// Services by type that Porter's parts register while the application is built (not the user's bag).
    public let services: ApplicationServices

    /// An empty store with its own service registry.
    public init(services: ApplicationServices = ApplicationServices()) { self.services = services }

    /// Reads or writes one value; `nil` removes it.
    public subscript(key: String) -> (any Sendable)? {
        get { storage.withLock { $0[key] } }
        set { storage.withLock { $0[key] = newValue } }
    }

    /// Reads a value as `T`, or `nil` when missing or of another type.
    public func value<T: Sendable>(_ key: String, as type: T.Type = T.self) -> T? {
        storage.withLock { $0[key] as? T }
    }

    /// Runs `body` with exclusive access to the whole store and returns its result.
    public func update<R: Sendable>(_ body: (inout [String: any Sendable]) throws -> R) rethrows -> R {
        try storage.withLock { try body(&$0) }
    }

    /// Atomically increments an integer value (missing counts as 0) and returns the new value.
    @discardableResult
    public func increment(_ key: String, by delta: Int = 1) -> Int {
        storage.withLock { dict in
            let next = ((dict[key] as? Int) ?? 0) + delta
            dict[key] = next
            return next
        }
    }

    /// The keys currently stored, sorted.
    public var keys: [String] { storage.withLock { $0.keys.sorted() } }
}
