import Foundation
import Porter

/// Finds the queue a handler should use: the one it was given, else the one published as a service.
func resolveQueue(_ given: BackgroundWorkQueue?, _ context: HTTPContext) throws(HTTPError) -> BackgroundWorkQueue {
    if let given { return given }
    if let queue = context.services[BackgroundWorkQueue.self] { return queue }
    throw HTTPError(.serviceUnavailable, message: "Background work is not configured.")
}

/// `GET /work/<id>`: a background work item's status as JSON; 404 for unknown or malformed ids.
///
/// The id is the last path segment, so the handler can be mapped at `/work/*` (or any directory). With the
/// PostgreSQL store every host answers the same JSON (including `attempts` and `host`).
public struct WorkStatusHandler: AsyncHTTPHandler {
    /// The queue to ask; `nil` uses the published one.
    public let queue: BackgroundWorkQueue?

    /// A status endpoint for `queue` (or the published queue when `nil`).
    public init(queue: BackgroundWorkQueue? = nil) { self.queue = queue }

    /// A status endpoint configured from `porter.toml` options (none yet).
    public init(options: Options) throws { self.init() }

    public func processRequest(_ context: HTTPContext) async throws {
        let queue = try resolveQueue(queue, context)
        let path = context.request.path
        let segment = path[(path.lastIndex(of: "/").map(path.index(after:)) ?? path.startIndex)...]
        guard let id = WorkItemID(segment) else { throw HTTPError(.notFound, message: "No such work item.") }
        guard let record = try await queue.record(id) else { throw HTTPError(.notFound, message: "No such work item.") }
        try JSONOutput.respond(context, record)
    }
}

/// A demo of work that outlives its request: `POST` answers `202 Accepted` with `Location: /work/<id>` at once and
/// builds a "report" in the background for a few seconds, reporting progress after each step.
///
/// It enqueues work of kind `report` (`ReportHandler.kind`, registered by `BackgroundWorkModule`) with its step settings
/// as the payload, so it runs on either store — with PostgreSQL on whichever host claims it.
///
/// Only POST enqueues (GET and HEAD are 405: a link, an `<img>` or a crawler must never order work), and each user's
/// items count against the queue's per-user quota (`max_per_user`, 429 when used up); anonymous requests share one
/// quota, so map it behind an authorization rule that admits signed-in users only (the demo does). An
/// `Idempotency-Key` header (1-200 visible ASCII characters, else 400) makes a retried POST by the same user answer
/// 202 with the item it already enqueued instead of enqueueing again.
///
/// Options: `steps` (5), `step_seconds` (0.6), `status_path` (`/work/`, the prefix of the `Location`).
public struct ReportHandler: AsyncHTTPHandler {
    /// The queue to use; `nil` uses the published one.
    public let queue: BackgroundWorkQueue?
    /// How many steps the job takes.
    public let steps: Int
    /// How long each step sleeps.
    public let stepDuration: Duration
    /// The prefix of the status URL (`/work/` → `Location: /work/<id>`).
    public let statusPath: String

    /// The work kind a report is enqueued as.
    public static let kind = "report"

    /// A report endpoint (registers the `report` kind on `queue` when one is given).
    public init(queue: BackgroundWorkQueue? = nil, steps: Int = 5, stepDuration: Duration = .milliseconds(600),
                statusPath: String = "/work/") {
        self.queue = queue
        self.steps = max(1, steps)
        self.stepDuration = stepDuration
        self.statusPath = statusPath.hasSuffix("/") ? statusPath : statusPath + "/"
        if let queue { Self.register(on: queue) }
    }

    /// A report endpoint configured from `porter.toml` options (`steps`, `step_seconds`, `status_path`).
    public init(options: Options) throws {
        let steps = try options.int("steps", default: 5)
        let seconds = try options.double("step_seconds", default: 0.6)
        guard (1...1000).contains(steps) else { throw ConfigurationError("\(options.origin): steps must be 1...1000, got \(steps)") }
        guard seconds >= 0, seconds <= 3600 else { throw ConfigurationError("\(options.origin): step_seconds must be 0...3600, got \(seconds)") }
        let path = try options.string("status_path", default: "/work/")
        guard path.hasPrefix("/") else { throw ConfigurationError("\(options.origin): status_path must start with /") }
        self.init(steps: steps, stepDuration: .milliseconds(Int64(seconds * 1000)), statusPath: path)
    }

    /// The quota bucket anonymous requests share.
    public static let anonymousOwner = "?"

    /// What a report item is enqueued with.
    struct Payload: Codable {
        var steps: Int
        var stepMilliseconds: Int64
        var requestedBy: String

        enum CodingKeys: String, CodingKey {
            case steps
            case stepMilliseconds = "step_ms"
            case requestedBy = "requested_by"
        }
    }

    /// Registers the `report` kind's handler on `queue` (every host must, before it serves).
    public static func register(on queue: BackgroundWorkQueue) {
        guard !queue.handles(kind: kind) else { return }
        queue.register(kind: kind) { work in
            guard let payload = try? JSONDecoder().decode(Payload.self, from: Data(work.payload.utf8)),
                  (1...1000).contains(payload.steps), (0...3_600_000).contains(payload.stepMilliseconds) else {
                throw WorkFailure("the report's settings are unreadable")
            }
            for step in 1...payload.steps {
                try await Task.sleep(for: .milliseconds(payload.stepMilliseconds))
                await work.setProgress("step \(step) of \(payload.steps)")
            }
            await work.setProgress("report for \(payload.requestedBy) ready (\(payload.steps) steps)")
        }
    }

    /// The longest `Idempotency-Key` accepted.
    public static let maxIdempotencyKeyLength = 200

    public func processRequest(_ context: HTTPContext) async throws {
        guard context.request.method == .post else { throw HTTPError(.methodNotAllowed, headers: ["Allow": "POST"]) }
        let queue = try resolveQueue(queue, context)
        Self.register(on: queue)
        let requestedBy = context.user.isAuthenticated ? context.user.name : "anonymous"
        let owner = context.user.isAuthenticated ? context.user.name : ReportHandler.anonymousOwner
        var key: String?
        if let given = context.request.headers["Idempotency-Key"] {
            guard !given.isEmpty, given.utf8.count <= Self.maxIdempotencyKeyLength,
                  given.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                throw HTTPError(.badRequest, message: "Idempotency-Key must be 1-\(Self.maxIdempotencyKeyLength) visible ASCII characters.")
            }
            // Scoped to the user (another user's key never finds this user's item), and of bounded length.
            let digest = Cryptography.sha256("\(owner)\u{0}\(given)".utf8)
            key = "report:" + Hex.encode(digest)
        }
        let payload = Payload(steps: steps, stepMilliseconds: stepDuration.milliseconds, requestedBy: requestedBy)
        let json = String(decoding: try JSONEncoder().encode(payload), as: UTF8.self)
        let id = try await queue.enqueue(kind: Self.kind, payload: json, owner: owner, idempotencyKey: key)
        let location = statusPath + id.rawValue
        context.trace("queued background work \(id)", category: "work")
        try JSONOutput.respond(context, Accepted(id: id.rawValue, status: "queued", location: location), status: .accepted)
        context.response.headers["Location"] = location
    }

    struct Accepted: Encodable {
        var id: String
        var status: String
        var location: String
    }
}
