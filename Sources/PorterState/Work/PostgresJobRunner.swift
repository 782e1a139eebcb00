import Logging
import ServiceLifecycle

/// Runs the shared PostgreSQL jobs on this host: claims one at a time, runs its kind's handler with the lease
/// kept alive, and polls when there is nothing to do. On a graceful shutdown it stops claiming and lets the running
/// job finish; a host that dies leaves its job to be taken over by another host when the lease ends.
public struct PostgresJobRunner: Service {
    /// A job kind's handler: gets the job (payload, idempotency key, attempt) and throws to fail it.
    public typealias Handler = @Sendable (ClaimedJob) async throws -> Void

    /// The shared store.
    public let store: PostgresJobStore
    /// This host's name in the lease (e.g. `web1:pid`).
    public let owner: String
    /// How long a claim holds without a heartbeat.
    public let lease: Duration
    /// How long to wait before asking again when no job was claimable.
    public let pollInterval: Duration
    /// Handlers by job kind (a job of an unknown kind fails with a message saying so).
    public let handlers: [String: Handler]
    /// Where failures are reported.
    public let logger: Logger

    /// A runner for `handlers` on `store`.
    public init(store: PostgresJobStore, owner: String, handlers: [String: Handler], lease: Duration = .seconds(30),
                pollInterval: Duration = .milliseconds(500), logger: Logger = Logger(label: "porter.jobs")) {
        self.store = store
        self.owner = owner
        self.handlers = handlers
        self.lease = lease
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func run() async throws {
        let stopping = StopFlag()
        await withGracefulShutdownHandler {
            while !stopping.isSet && !Task.isCancelled {
                var ran = false
                do {
                    ran = try await store.runOne(owner: owner, lease: lease) { job in
                        guard let handler = handlers[job.kind] else {
                            throw JobInputError(description: "no handler for job kind \(job.kind)")
                        }
                        try await handler(job)
                    } != nil
                } catch {
                    logger.warning("claiming a job failed", metadata: ["error": "\(error)"])
                }
                if !ran { try? await Task.sleep(for: pollInterval) }
            }
        } onGracefulShutdown: {
            stopping.set()
        }
    }
}

import Synchronization

/// A one-way flag set by the graceful-shutdown handler.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
