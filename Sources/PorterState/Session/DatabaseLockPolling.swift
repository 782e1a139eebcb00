/// The outcome of one attempt to take a session's lock row in a database.
enum LockAttempt: Sendable {
    case acquired(SessionRecord)
    case missing
    case busy
}

/// Takes a session lock that several processes share: first the in-process queue (so requests of one process
/// wait without touching the database), then the lock columns in the database, polled with a capped
/// exponential back-off (2 ms … 100 ms) while another process holds them, up to the wait timeout.
enum DatabaseLockPolling {
    static func acquire(locks: AsyncKeyedLock, id: String, owner: String, wait: Duration,
                        attempt: @Sendable () async throws -> LockAttempt) async throws -> SessionRecord? {
        let clock = ContinuousClock()
        let start = clock.now
        try await locks.lock(id, owner: owner, timeout: wait)
        do {
            var delay = Duration.milliseconds(2)
            while true {
                switch try await attempt() {
                case .acquired(let record):
                    return record
                case .missing:
                    locks.unlock(id, owner: owner)
                    return nil
                case .busy:
                    let elapsed = clock.now - start
                    guard elapsed < wait else { throw SessionLockTimeout(sessionID: id, waited: elapsed) }
                    try await Task.sleep(for: min(delay, wait - elapsed))
                    delay = min(delay * 2, .milliseconds(100))
                }
            }
        } catch {
            locks.unlock(id, owner: owner)
            throw error
        }
    }
}
