public import Porter
import Synchronization

/// Why a session ended.
public enum SessionEndReason: String, Sendable, Equatable {
    /// `HTTPSession.abandon()` (ASP.NET's `Session.Abandon`).
    case abandoned
    /// Its timeout passed and the store purged it.
    case expired
}

/// A session that ended, as a `Session_End` subscriber sees it (there is no request then, for an expiry).
public struct EndedSession: Sendable, Equatable {
    /// The session id.
    public let id: String
    /// The values it held.
    public let values: [String: String]
    /// Why it ended.
    public let reason: SessionEndReason

    /// An ended session.
    public init(id: String, values: [String: String], reason: SessionEndReason) {
        self.id = id
        self.values = values
        self.reason = reason
    }
}

/// Session_Start and Session_End subscribers (ASP.NET's `SessionStateModule.Start`/`End`, Global.asax's
/// `Session_Start`/`Session_End`). A module registers its subscribers in `publish(in:)`:
/// `SessionEvents.shared(in: services).onStart { ctx, session in … }`.
///
/// - Start runs at AcquireRequestState when a request gets a new session (no valid cookie), before the handler,
///   under the same conditions as ASP.NET: a request that stores nothing gets a new session (and a new Start)
///   next time too. Values it writes are saved like the handler's (exclusive requests only). A throwing
///   subscriber fails the request.
/// - End runs after an abandoned session was deleted (every store), and after the purge removed an expired
///   session — only for stores that can report what they purged (`SessionStore.purgeExpiredSessions`:
///   memory and SQLite; PostgreSQL raises End on abandon only). End subscribers cannot fail a request:
///   an error is logged.
public final class SessionEvents: Sendable {
    /// A Session_Start subscriber.
    public typealias Start = @Sendable (HTTPContext, HTTPSession) async throws -> Void
    /// A Session_End subscriber.
    public typealias End = @Sendable (EndedSession) async throws -> Void

    private let subscribers = Mutex<(start: [Start], end: [End])>(([], []))

    /// An empty hub (use `shared(in:)` to get the application's).
    public init() {}

    /// The application's hub, registered in `services` the first time it is asked for.
    public static func shared(in services: ApplicationServices) -> SessionEvents {
        services.resolve(SessionEvents.self) { SessionEvents() }
    }

    /// Adds a Session_Start subscriber.
    public func onStart(_ body: @escaping Start) { subscribers.withLock { $0.start.append(body) } }

    /// Adds a Session_End subscriber.
    public func onEnd(_ body: @escaping End) { subscribers.withLock { $0.end.append(body) } }

    /// Whether anyone listens for Session_End (the purge only collects expired values then).
    public var hasEndSubscribers: Bool { subscribers.withLock { !$0.end.isEmpty } }

    func raiseStart(_ ctx: HTTPContext, _ session: HTTPSession) async throws {
        let list = subscribers.withLock { $0.start }
        for body in list { try await body(ctx, session) }
    }

    func raiseEnd(_ ended: EndedSession, log: (any Error) -> Void) async {
        let list = subscribers.withLock { $0.end }
        for body in list {
            do { try await body(ended) } catch { log(error) }
        }
    }
}
