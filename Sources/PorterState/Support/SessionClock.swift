import Foundation
import Synchronization

/// The wall clock the session and authentication components read, in Unix milliseconds; replaceable in tests.
public struct WallClock: Sendable {
    /// Returns the current time in milliseconds since 1970.
    public let nowMillis: @Sendable () -> Int64

    /// A clock reading `nowMillis`.
    public init(nowMillis: @escaping @Sendable () -> Int64) { self.nowMillis = nowMillis }

    /// The system clock.
    public static let system = WallClock { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// The current time in whole seconds since 1970.
    public var nowSeconds: Int64 { nowMillis() / 1000 }
}

/// A clock that only moves when told to, for tests of expiry.
public final class ManualClock: Sendable {
    private let millis: Mutex<Int64>

    /// A clock standing at `millis` (default: now).
    public init(millis: Int64 = WallClock.system.nowMillis()) { self.millis = Mutex(millis) }

    /// Moves the clock forward.
    public func advance(by duration: Duration) {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        millis.withLock { $0 += ms }
    }

    /// The clock as a `WallClock`.
    public var wallClock: WallClock { WallClock { [self] in self.millis.withLock { $0 } } }
}

extension Duration {
    /// Whole milliseconds in this duration.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
