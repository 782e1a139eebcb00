import Foundation
import Porter

/// A background work item's id: 32 random lowercase hex digits (unguessable, so status URLs can be shared).
public struct WorkItemID: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The hex text.
    public let rawValue: String

    /// A fresh random id.
    public init() { rawValue = RequestID.generate() }

    /// Parses an id; `nil` unless `text` is exactly 32 lowercase hex digits.
    public init?(_ text: some StringProtocol) {
        guard text.utf8.count == 32,
              text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        rawValue = String(text)
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = WorkItemID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a work item id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// Where a work item is in its life.
public enum WorkItemStatus: Sendable, Equatable {
    /// Waiting for a free slot.
    case queued
    /// Running now.
    case running
    /// Finished without error.
    case succeeded
    /// Threw an error; the message is safe to show (an `HTTPResponseError`'s public message, else generic).
    case failed(String)
    /// Stopped by a shutdown or a crash before it finished (never silently dropped).
    case interrupted

    /// The name stored in SQLite and shown in JSON.
    public var name: String {
        switch self {
        case .queued: "queued"
        case .running: "running"
        case .succeeded: "succeeded"
        case .failed: "failed"
        case .interrupted: "interrupted"
        }
    }

    /// Whether the item will not change any more.
    public var isFinal: Bool {
        switch self {
        case .queued, .running: false
        default: true
        }
    }
}

/// A work item's recorded state, as read back from SQLite.
public struct WorkItemRecord: Sendable, Equatable, Encodable {
    /// The id.
    public var id: WorkItemID
    /// The name given at `enqueue`.
    public var name: String
    /// The status.
    public var status: WorkItemStatus
    /// The last progress message the work reported.
    public var progress: String?
    /// Why the item failed or was interrupted (safe to show).
    public var message: String?
    /// When it was enqueued.
    public var createdAt: Date
    /// When it started running.
    public var startedAt: Date?
    /// When it reached a final status.
    public var finishedAt: Date?
    /// How many times a host claimed it (PostgreSQL store only: more than 1 after a takeover or a release).
    public var attempts: Int?
    /// The host (`PORTER_HOST_NAME`) that ran or runs it (PostgreSQL store only).
    public var host: String?

    /// A record; `attempts` and `host` are known for the PostgreSQL store only.
    public init(id: WorkItemID, name: String, status: WorkItemStatus, progress: String?, message: String?, createdAt: Date,
                startedAt: Date?, finishedAt: Date?, attempts: Int? = nil, host: String? = nil) {
        self.id = id
        self.name = name
        self.status = status
        self.progress = progress
        self.message = message
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.attempts = attempts
        self.host = host
    }

    enum CodingKeys: String, CodingKey {
        case id, name, status, progress, message, attempts, host
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(status.name, forKey: .status)
        try c.encodeIfPresent(progress, forKey: .progress)
        try c.encodeIfPresent(message, forKey: .message)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encodeIfPresent(startedAt, forKey: .startedAt)
        try c.encodeIfPresent(finishedAt, forKey: .finishedAt)
        try c.encodeIfPresent(attempts, forKey: .attempts)
        try c.encodeIfPresent(host, forKey: .host)
    }
}

/// Why `BackgroundWorkQueue.enqueue` refused work: `503 Service Unavailable` (or `429 Too Many Requests` for one
/// owner's quota) with `Retry-After`.
public enum BackgroundWorkError: HTTPResponseError, Equatable {
    /// The queue already holds its maximum of waiting items.
    case queueFull(retryAfterSeconds: Int)
    /// The owner (user) already has `maxPerOwner` items queued or running.
    case ownerQuotaExceeded(retryAfterSeconds: Int)
    /// The queue is shutting down and takes no new work.
    case shuttingDown(retryAfterSeconds: Int)
    /// The item could not be recorded (details in `detail`, not shown to clients).
    case storageFailed(detail: String)
    /// The kind has no registered handler, or the payload or idempotency key breaks the rules (a 400 saying which).
    case invalidWork(String)
    /// A closure was enqueued on a queue whose store is PostgreSQL: another host cannot run a closure, so only
    /// named kinds are accepted there (a programming error: 500).
    case closureNeedsLocalStore

    public var status: HTTPStatus {
        switch self {
        case .ownerQuotaExceeded: .tooManyRequests
        case .invalidWork: .badRequest
        case .closureNeedsLocalStore: .internalServerError
        default: .serviceUnavailable
        }
    }

    public var publicMessage: String {
        switch self {
        case .queueFull: "The background work queue is full; try again later."
        case .ownerQuotaExceeded: "You already have as much background work waiting as allowed; try again when some has finished."
        case .shuttingDown: "The server is shutting down; try again later."
        case .storageFailed: "Background work is unavailable right now."
        case .invalidWork(let why): "Background work refused: \(why)."
        case .closureNeedsLocalStore: "Background work is misconfigured."
        }
    }

    public var headers: HTTPHeaders {
        switch self {
        case .queueFull(let s), .shuttingDown(let s), .ownerQuotaExceeded(let s): ["Retry-After": String(s)]
        case .storageFailed: ["Retry-After": "30"]
        case .invalidWork, .closureNeedsLocalStore: [:]
        }
    }
}

/// A safe-to-show failure a work item can throw: its message is recorded as the item's failure message.
public struct WorkFailure: Error, Equatable, CustomStringConvertible {
    /// The message shown in the item's status.
    public var message: String
    /// A failure with `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
