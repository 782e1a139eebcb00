import Porter
import Synchronization
import Testing

/// The one admission limit: N admitted at once, the rest refused with 503 + Retry-After (never 429).
@Suite struct BulkheadTests {
    @Test func admitsUpToTheLimitThenRefusesWith503() throws {
        let bulkhead = Bulkhead(limit: 2, retryAfterSeconds: 7)
        #expect(bulkhead.tryEnter() && bulkhead.tryEnter())
        #expect(!bulkhead.tryEnter())
        let error = #expect(throws: HTTPError.self) { try bulkhead.enter() }
        #expect(error?.status == .serviceUnavailable)
        #expect(error?.headers["Retry-After"] == "7")
        #expect(bulkhead.current == 2 && bulkhead.rejected.load(ordering: .relaxed) == 2)
        bulkhead.leave()
        #expect(bulkhead.tryEnter(), "leaving makes room")
        #expect(bulkhead.busyError.status == .serviceUnavailable)
    }
}
