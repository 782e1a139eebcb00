import Foundation
import Porter

/// A session as a store keeps it: the serialized values, the sliding timeout and the current expiry.
public struct SessionRecord: Sendable, Equatable {
    /// The values, serialized by `SessionCodec` (JSON).
    public var data: String
    /// The sliding timeout in seconds.
    public var timeoutSeconds: Int
    /// When the session expires, in Unix milliseconds.
    public var expiresAtMillis: Int64

    /// A record with the given parts.
    public init(data: String, timeoutSeconds: Int, expiresAtMillis: Int64) {
        self.data = data
        self.timeoutSeconds = timeoutSeconds
        self.expiresAtMillis = expiresAtMillis
    }
}

/// Where sessions live between requests (ASP.NET's `SessionStateStoreProviderBase`), with an exclusive
/// per-session lock that works across every process sharing the store.
///
/// Locking protocol: `acquire` takes the lock (waiting asynchronously up to `wait`), and exactly one of
/// `save`, `release` or `delete` with the same `owner` gives it back. A lock older than `lease` is
/// considered abandoned (its process died) and may be taken over. Expired sessions are never returned.
public protocol SessionStore: Sendable {
    /// The store's kind, e.g. `sqlite`.
    var kind: String { get }
    /// Reads a session without locking it (read-only requests); `nil` when missing or expired.
    func read(id: String) async throws -> SessionRecord?
    /// Takes the exclusive lock on `id` for `owner` and returns the session; `nil` (and no lock) when the
    /// session is missing or expired. Throws `SessionLockTimeout` when the lock is not free within `wait`.
    func acquire(id: String, owner: String, wait: Duration, lease: Duration) async throws -> SessionRecord?
    /// Stores a new session; when `lockOwner` is given the session is created locked by that owner.
    func insert(id: String, data: String, timeoutSeconds: Int, lockOwner: String?, lease: Duration) async throws
    /// Writes the values, extends the expiry and releases `owner`'s lock; `false` if `owner` no longer holds it.
    @discardableResult
    func save(id: String, owner: String, data: String, timeoutSeconds: Int) async throws -> Bool
    /// Extends the expiry and releases `owner`'s lock without changing the values.
    func release(id: String, owner: String, timeoutSeconds: Int) async throws
    /// Extends the expiry of an unlocked read (sliding timeout for read-only requests).
    func touch(id: String, timeoutSeconds: Int) async throws
    /// Deletes the session (and releases `owner`'s lock on it, if any).
    func delete(id: String, owner: String?) async throws
    /// Deletes every expired, unlocked session; returns how many were deleted.
    @discardableResult
    func purgeExpired() async throws -> Int
    /// Closes connections; the store is not used afterwards.
    func close() async
    /// Deletes every expired, unlocked session like `purgeExpired` and returns their data by id (for Session_End);
    /// `nil` when the store cannot report them (the default: it only purges).
    func purgeExpiredSessions() async throws -> [String: String]?
}

extension SessionStore {
    public func purgeExpiredSessions() async throws -> [String: String]? {
        _ = try await purgeExpired()
        return nil
    }
}

/// The exclusive session lock was not free within the lock timeout.
public struct SessionLockTimeout: HTTPResponseError, CustomStringConvertible {
    /// The session whose lock was busy.
    public let sessionID: String
    /// How long the request waited.
    public let waited: Duration

    public var status: HTTPStatus { .serviceUnavailable }
    public var publicMessage: String { "The session is busy with another request; please retry." }
    public var headers: HTTPHeaders { ["Retry-After": "1"] }
    public var description: String { "session lock timeout after \(waited) (session \(sessionID.prefix(6))…)" }
}

/// The serialized session is larger than `max_bytes`: it is not saved (never silently truncated).
public struct SessionTooLarge: HTTPResponseError, CustomStringConvertible {
    /// The serialized size in bytes.
    public let size: Int
    /// The configured limit in bytes.
    public let limit: Int
    /// The key whose write was refused (`HTTPSession.set(_:forKey:)`), or `nil` when a save was refused.
    public var key: String? = nil

    public var status: HTTPStatus { .internalServerError }
    public var publicMessage: String { "Internal Server Error" }
    public var description: String {
        if let key { return "session value \(key) not stored: the session would be \(size) bytes, over max_bytes = \(limit)" }
        return "session state of \(size) bytes exceeds max_bytes = \(limit); not saved"
    }
}

/// Turns session values into the text a store keeps (sorted-key JSON) and back.
public enum SessionCodec {
    /// Serializes values as JSON with sorted keys (the core's `JSONValue` does the escaping).
    public static func encode(_ values: [String: String]) -> String {
        JSONValue.object(values.keys.sorted().map { ($0, .string(values[$0]!)) }).serialized()
    }

    /// Parses what `encode` wrote; `nil` when the text is not a JSON object of strings.
    public static func decode(_ text: String) -> [String: String]? {
        guard let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        var values: [String: String] = [:]
        for (k, v) in object {
            guard let s = v as? String else { return nil }
            values[k] = s
        }
        return values
    }
}

