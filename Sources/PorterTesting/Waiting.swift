// Porter — PorterTesting: helpers shared by the pipeline, FastCGI and nginx test tiers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How long a test waits for an asynchronous outcome before it calls it a hang.
///
/// Generous on purpose: the machine running the tests may be busy (other builds, 40 suites in parallel), so
/// a wait that reaches this guard means the outcome never came, not that it came late. Tests never assert
/// how long something took; they wait for the state they expect and fail only if it does not arrive.
public let hangGuard: Duration = .seconds(60)

/// A wait for an asynchronous outcome that reached its hang guard.
public struct WaitTimedOut: Error, CustomStringConvertible {
    /// What the test was waiting for (with the state it saw last, when the caller described it).
    public var what: String
    /// How long it waited.
    public var waited: Duration

    /// An error saying what was awaited for how long.
    public init(what: String, waited: Duration) {
        self.what = what
        self.waited = waited
    }

    /// "gave up after 60 seconds waiting for …".
    public var description: String { "gave up after \(waited) waiting for \(what)" }
}

/// Waits until `condition` holds, checking it every few milliseconds, and throws ``WaitTimedOut`` (saying
/// `what` it waited for) if it still does not hold after `timeout`.
///
/// `what` is evaluated only on failure, so it can show the state seen last:
/// ```swift
/// try await waitUntil("200 handlers at the gate (now \(gate.waiting))") { gate.waiting == 200 }
/// ```
public func waitUntil(_ what: @autoclosure () -> String, timeout: Duration = hangGuard,
                      _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let start = clock.now
    var pause = Duration.milliseconds(1)
    while true {
        if try await condition() { return }
        if clock.now - start >= timeout { throw WaitTimedOut(what: what(), waited: timeout) }
        try await Task.sleep(for: pause)
        pause = min(pause * 2, .milliseconds(20))
    }
}

/// ``waitUntil(_:timeout:_:)`` for code running on a thread of its own (blocks that thread while it waits).
public func waitUntilBlocking(_ what: @autoclosure () -> String, timeout: Duration = hangGuard,
                              _ condition: () throws -> Bool) throws {
    let clock = ContinuousClock()
    let start = clock.now
    while true {
        if try condition() { return }
        if clock.now - start >= timeout { throw WaitTimedOut(what: what(), waited: timeout) }
        usleep(5_000)
    }
}
