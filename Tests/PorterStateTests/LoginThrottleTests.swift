import Porter
import Testing
@testable import PorterState

/// The login throttle's three counts, on a manual clock (attack pass 31: a lockout outlived its 30 s by the whole
/// 15-minute window, and five wrong passwords from anywhere locked the account for everyone).
@Suite struct LoginThrottleTests {
    /// Runs one attempt to completion; `nil` when admitted and finished, else the Retry-After seconds.
    @discardableResult
    static func attempt(_ throttle: LoginThrottle, _ user: String, from address: String, succeeds: Bool = false) -> Int? {
        switch throttle.begin(user: user, address: address) {
        case .success(let attempt):
            throttle.finish(attempt, succeeded: succeeds)
            return nil
        case .failure(let throttled):
            return throttled.retryAfterSeconds
        }
    }

    @Test("a lockout ends after lockout_seconds: one attempt is admitted, and its failure locks twice as long")
    func lockoutEndsAndDoubles() {
        let clock = ManualClock()
        let throttle = LoginThrottle(clock: clock.wallClock)
        for _ in 0..<5 { #expect(Self.attempt(throttle, "demo", from: "203.0.113.1") == nil) }
        #expect(Self.attempt(throttle, "demo", from: "203.0.113.1") == 30)
        clock.advance(by: .seconds(31))
        // Admitted again (it used to answer Retry-After: 1 until 15 minutes after the first failure).
        guard case .success(let admitted) = throttle.begin(user: "demo", address: "203.0.113.1") else {
            Issue.record("not admitted after the lockout")
            return
        }
        #expect(Self.attempt(throttle, "demo", from: "203.0.113.1") == 1, "one attempt at a time past the limit")
        throttle.finish(admitted, succeeded: false)
        #expect(Self.attempt(throttle, "demo", from: "203.0.113.1") == 60)
        clock.advance(by: .seconds(61))
        #expect(Self.attempt(throttle, "demo", from: "203.0.113.1", succeeds: true) == nil, "the right password, once it may try")
        for _ in 0..<4 { #expect(Self.attempt(throttle, "demo", from: "203.0.113.1") == nil) }
    }

    @Test("one client's failures lock only that client out of the account; the owner signs in from elsewhere")
    func oneClientLocksOnlyItself() {
        let clock = ManualClock()
        let throttle = LoginThrottle(clock: clock.wallClock)
        for _ in 0..<5 { Self.attempt(throttle, "demo", from: "203.0.113.1") }
        #expect(Self.attempt(throttle, "demo", from: "203.0.113.1") != nil)
        #expect(Self.attempt(throttle, "demo", from: "198.51.100.7", succeeds: true) == nil)
        #expect(Self.attempt(throttle, "other", from: "203.0.113.1") == nil, "other accounts: the address budget decides")
    }

    @Test("guessing one account from many clients: max_user_failures locks it for everyone")
    func manyClientsLockTheAccount() {
        let clock = ManualClock()
        let throttle = LoginThrottle(maxFailures: 5, maxUserFailures: 12, clock: clock.wallClock)
        for client in 0..<3 {
            for _ in 0..<4 { #expect(Self.attempt(throttle, "demo", from: "10.0.0.\(client)") == nil) }
        }
        #expect(Self.attempt(throttle, "demo", from: "10.9.9.9") == 30)
        #expect(Self.attempt(throttle, "someone", from: "10.9.9.9") == nil)
        clock.advance(by: .seconds(31))
        #expect(Self.attempt(throttle, "demo", from: "10.9.9.9", succeeds: true) == nil)
        #expect(Self.attempt(throttle, "demo", from: "10.0.0.1") == nil, "a success clears the account's counts")
    }

    @Test("guessing many accounts from one client: max_address_failures locks that client for every user")
    func oneClientManyAccounts() {
        let clock = ManualClock()
        let throttle = LoginThrottle(clock: clock.wallClock)
        for i in 0..<20 { #expect(Self.attempt(throttle, "guess\(i)", from: "203.0.113.9") == nil) }
        #expect(Self.attempt(throttle, "bob", from: "203.0.113.9", succeeds: true) == 30)
        #expect(Self.attempt(throttle, "bob", from: "203.0.113.10", succeeds: true) == nil)
        // A success does not reset the address's budget; when the lockout ends it may try again, one at a time.
        clock.advance(by: .seconds(31))
        #expect(Self.attempt(throttle, "bob", from: "203.0.113.9", succeeds: true) == nil)
        #expect(Self.attempt(throttle, "guess99", from: "203.0.113.9") == nil)
        #expect(Self.attempt(throttle, "guess100", from: "203.0.113.9") == 60)
    }

    @Test("failures are forgotten after the window; a user name holding the separator cannot reach another's count")
    func windowAndKeys() {
        let clock = ManualClock()
        let throttle = LoginThrottle(maxFailures: 2, maxUserFailures: 0, maxAddressFailures: 0, clock: clock.wallClock)
        Self.attempt(throttle, "a", from: "10.0.0.1")
        clock.advance(by: .seconds(16 * 60))
        Self.attempt(throttle, "a", from: "10.0.0.1")
        #expect(Self.attempt(throttle, "a", from: "10.0.0.1") == nil, "the first failure was outside the window")
        #expect(Self.attempt(throttle, "a", from: "10.0.0.1") == 30)
        #expect(Self.attempt(throttle, "1\u{0}a", from: "10.0.0.", succeeds: false) == nil)
    }
}
