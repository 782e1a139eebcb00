/// How a handler uses session state (ASP.NET's `IRequiresSessionState` / `IReadOnlySessionState` markers).
public enum SessionStateBehavior: Sendable, Equatable {
    /// No session is loaded.
    case disabled
    /// The session is loaded without taking its lock; changes are not saved.
    case readOnly
    /// The session is loaded under an exclusive per-session lock and saved at ReleaseRequestState.
    case exclusive
}

/// One visitor's session: string values keyed by name, loaded from and saved to a session store.
///
/// A session belongs to one request at a time (the session module locks it for exclusive requests).
public final class HTTPSession: @unchecked Sendable {
    /// The session id (the cookie value), 128+ random bits.
    public let id: String
    /// Whether the session was created by this request.
    public let isNew: Bool
    /// Whether changes made during this request will be discarded.
    public let isReadOnly: Bool
    /// Sliding expiry: the session lives this long after its last request.
    public var timeout: Duration
    /// The stored values.
    public private(set) var values: [String: String]
    /// Whether a value changed during this request.
    public private(set) var isModified = false
    /// Whether `abandon()` was called: the store deletes the session at the end of the request.
    public private(set) var isAbandoned = false
    /// The largest serialized session the store accepts (set by the session module); typed setters check it.
    public var maxBytes: Int?
    /// True when this very request (the same nginx `$request_id`) already ran and saved this session on a host
    /// that failed before answering, and nginx re-sent it to this host (`fastcgi_next_upstream`): the values
    /// include that run's changes, so effects that must happen once (a counter, an order) are skipped. Set by the
    /// session module for exclusive sessions.
    public var repeatsSavedRequest = false

    /// A session with the given id and values.
    public init(id: String, values: [String: String] = [:], isNew: Bool, isReadOnly: Bool,
                timeout: Duration = .seconds(20 * 60)) {
        self.id = id
        self.values = values
        self.isNew = isNew
        self.isReadOnly = isReadOnly
        self.timeout = timeout
    }

    /// Reads or writes a value; `nil` removes it.
    public subscript(key: String) -> String? {
        get { values[key] }
        set {
            guard values[key] != newValue else { return }
            values[key] = newValue
            isModified = true
        }
    }

    /// Reads an integer value.
    public func int(_ key: String) -> Int? { values[key].flatMap { Int($0) } }

    /// Removes every value.
    public func clear() {
        guard !values.isEmpty else { return }
        values = [:]
        isModified = true
    }

    /// Ends the session: it is deleted from the store when the request ends (ASP.NET's `Session.Abandon`).
    public func abandon() { isAbandoned = true }
}
