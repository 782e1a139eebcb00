import Porter

/// Finds the queue a handler should use: the one it was given, else the one published as a service.
func resolveQueue(_ given: BackgroundWorkQueue?, _ context: HTTPContext) throws(HTTPError) -> BackgroundWorkQueue {
    if let given { return given }
    if let queue = context.services[BackgroundWorkQueue.self] { return queue }
    throw HTTPError(.serviceUnavailable, message: "Background work is not configured.")
}

/// `GET /work/<id>`: a background work item's status as JSON; 404 for unknown or malformed ids.
///
/// The id is the last path segment, so the handler can be mapped at `/work/*` (or any directory).
public struct WorkStatusHandler: HTTPHandler {
    /// The queue to ask; `nil` uses the published one.
    public let queue: BackgroundWorkQueue?

    /// A status endpoint for `queue` (or the published queue when `nil`).
    public init(queue: BackgroundWorkQueue? = nil) { self.queue = queue }

    /// A status endpoint configured from `porter.toml` options (none yet).
    public init(options: Options) throws { self.init() }

    public func processRequest(_ context: HTTPContext) throws {
        let queue = try resolveQueue(queue, context)
        let path = context.request.path
        let segment = path[(path.lastIndex(of: "/").map(path.index(after:)) ?? path.startIndex)...]
        guard let id = WorkItemID(segment) else { throw HTTPError(.notFound, message: "No such work item.") }
        guard let record = try queue.record(id) else { throw HTTPError(.notFound, message: "No such work item.") }
        try JSONOutput.respond(context, record)
    }
}

/// A demo of work that outlives its request: `POST` answers `202 Accepted` with `Location: /work/<id>` at once and
/// builds a "report" in the background for a few seconds, reporting progress after each step.
///
/// Only POST enqueues (GET and HEAD are 405: a link, an `<img>` or a crawler must never order work), and each user's
/// items count against the queue's per-user quota (`max_per_user`, 429 when used up); anonymous requests share one
/// quota, so map it behind an authorization rule that admits signed-in users only (the demo does).
///
/// Options: `steps` (5), `step_seconds` (0.6), `status_path` (`/work/`, the prefix of the `Location`).
public struct ReportHandler: HTTPHandler {
    /// The queue to use; `nil` uses the published one.
    public let queue: BackgroundWorkQueue?
    /// How many steps the job takes.
    public let steps: Int
    /// How long each step sleeps.
    public let stepDuration: Duration
    /// The prefix of the status URL (`/work/` → `Location: /work/<id>`).
    public let statusPath: String

    /// A report endpoint.
    public init(queue: BackgroundWorkQueue? = nil, steps: Int = 5, stepDuration: Duration = .milliseconds(600),
                statusPath: String = "/work/") {
        self.queue = queue
        self.steps = max(1, steps)
        self.stepDuration = stepDuration
        self.statusPath = statusPath.hasSuffix("/") ? statusPath : statusPath + "/"
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

    public func processRequest(_ context: HTTPContext) throws {
        guard context.request.method == .post else { throw HTTPError(.methodNotAllowed, headers: ["Allow": "POST"]) }
        let queue = try resolveQueue(queue, context)
        let steps = self.steps, stepDuration = self.stepDuration
        let requestedBy = context.user.isAuthenticated ? context.user.name : "anonymous"
        let owner = context.user.isAuthenticated ? context.user.name : ReportHandler.anonymousOwner
        let id = try queue.enqueue(name: "report", owner: owner) { work in
            for step in 1...steps {
                try await Task.sleep(for: stepDuration)
                work.setProgress("step \(step) of \(steps)")
            }
            work.setProgress("report for \(requestedBy) ready (\(steps) steps)")
        }
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
