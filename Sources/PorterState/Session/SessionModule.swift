import Logging
import Porter
import PorterHost
import ServiceLifecycle
import Synchronization

/// Session state (ASP.NET's `SessionStateModule`): loads the visitor's session at AcquireRequestState as the
/// handler declares (`context.effectiveSessionState`), saves it at ReleaseRequestState, and makes sure it is
/// released at EndRequest when ReleaseRequestState was skipped (CompleteRequest, errors), so locks never leak.
///
/// - `.disabled`: nothing is loaded. `.readOnly`: loaded without a lock (never waits); changes are discarded,
///   the expiry is still extended. `.exclusive`: loaded under the per-session lock, which serialises the
///   session's exclusive requests across every process sharing the store; saved only if modified, expiry
///   always extended.
/// - A new session gets a random id; it is stored (and its cookie set) only once a value is written, and a
///   session left empty is deleted: a request that only reads (or writes nothing) never adds a row.
///   Cookie ids Porter did not issue, or whose session expired, are replaced by a fresh id (no fixation).
/// - `HTTPSession.abandon()` deletes the session and clears the cookie; `context.regenerateSessionID()`
///   (called at login) moves the values to a new id and deletes the old one.
public struct SessionModule: SessionStateProvider, ServiceProvidingModule {
    /// Where sessions are kept.
    public let store: any SessionStore
    /// Cookie, timeout and limit settings.
    public let configuration: SessionConfiguration
    /// Purges expired sessions every `configuration.purgeInterval` (nil when it is 0); one of `services`.
    public let purger: SessionPurger?
    /// How many new sessions a client address may start (`new_sessions_per_client`).
    public let newSessions: NewSessionLimit
    let clock: WallClock

    /// A module over `store`; `events` receives Session_End for sessions the purger removes. `app.use(module)`
    /// runs its `services` with the server (without them nothing is purged and a PostgreSQL store never connects).
    public init(store: any SessionStore, configuration: SessionConfiguration = SessionConfiguration(),
                clock: WallClock = .system, events: SessionEvents? = nil) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.newSessions = NewSessionLimit(limit: configuration.newSessionsPerClient, clock: clock)
        self.purger = configuration.purgeInterval > .zero
            ? SessionPurger(store: store, interval: configuration.purgeInterval, events: events) : nil
    }

    /// A module from `porter.toml` options: the store keys of `SessionStoreFactory.make` and the settings of
    /// `SessionConfiguration(options:)`; a PostgreSQL store takes its pool from `pools` when given.
    public init(options: Options, events: SessionEvents? = nil, pools: PostgresPools? = nil) throws {
        self.init(store: try SessionStoreFactory.make(options: options, pools: pools),
                  configuration: try SessionConfiguration(options: options), events: events)
    }

    /// The long-running services the module needs the host to run: the purger and the store's database pool.
    public var services: [any Service] {
        var list: [any Service] = []
        if let postgres = store as? PostgresSessionStore { list.append(postgres.database) }
        if let purger { list.append(purger) }
        return list
    }

    public var name: String { "session" }

    public func subscribe(to events: inout ModuleEvents) {
        events.onAsync(.acquireRequestState) { ctx in try await self.acquire(ctx) }
        events.onAsync(.releaseRequestState) { ctx in
            guard let state = ctx.items[SessionRequestState.self] else { return }
            try await self.finish(ctx, state, save: !state.failed)
        }
        events.on(.error) { ctx in
            (ctx.items[SessionRequestState.self])?.failed = true
        }
        events.onAsync(.endRequest) { ctx in
            guard let state = ctx.items[SessionRequestState.self], !state.finished else { return }
            try await self.finish(ctx, state, save: !state.failed)
        }
    }

    public func shutdown() async {
        await store.close()
    }

    // MARK: - AcquireRequestState

    func acquire(_ ctx: HTTPContext) async throws {
        let behavior = ctx.effectiveSessionState
        guard behavior != .disabled else { return }
        let state = SessionRequestState(behavior: behavior)
        ctx.items[SessionRequestState.self] = state
        let timeout = configuration.timeout
        if let id = ctx.request.cookies[configuration.cookieName], SessionID.isWellFormed(id) {
            switch behavior {
            case .readOnly where configuration.readersWaitForWriter:
                // ASP.NET locking: wait until no writer holds the session, then read it (the lock is given
                // back at once, so readers never hold each other up for longer than the read).
                let owner = SessionID.generate()
                if let record = try await store.acquire(id: id, owner: owner, wait: configuration.lockTimeout,
                                                        lease: configuration.lockLease) {
                    try await store.release(id: id, owner: owner, timeoutSeconds: max(60, record.timeoutSeconds))
                    state.stored = true
                    ctx.session = makeSession(ctx, id: id, record: record, readOnly: true)
                }
            case .readOnly:
                if let record = try await store.read(id: id) {
                    state.stored = true
                    ctx.session = makeSession(ctx, id: id, record: record, readOnly: true)
                }
            case .exclusive:
                let owner = SessionID.generate()
                let start = ContinuousClock.now
                let record = try await store.acquire(id: id, owner: owner, wait: configuration.lockTimeout,
                                                     lease: configuration.lockLease)
                let waited = ContinuousClock.now - start
                ctx.trace("exclusive lock \(record == nil ? "not needed (no such session)" : "taken") after \(waited)",
                          category: "session")
                if let record {
                    state.stored = true
                    state.lockOwner = owner
                    state.lockedID = id
                    ctx.session = makeSession(ctx, id: id, record: record, readOnly: false)
                }
            case .disabled:
                break
            }
        }
        if ctx.session == nil {
            let session = HTTPSession(id: SessionID.generate(), isNew: true, isReadOnly: behavior == .readOnly, timeout: timeout)
            session.maxBytes = configuration.maxBytes
            ctx.session = session
            if let events = ctx.services[SessionEvents.self] {
                ctx.trace("Session_Start", category: "session")
                try await events.raiseStart(ctx, session)
            }
        }
    }

    /// The value under which an exclusive request's save records nginx's request id (kept out of `values`), so a
    /// request nginx re-sends after its first host failed finds that its changes are already saved.
    static let savedByRequestKey = "\u{1}porter.saved-by-request"

    /// nginx's `$request_id` (the `REQUEST_ID` parameter; the same on every upstream try), if nginx sent one.
    static func upstreamRequestID(_ ctx: HTTPContext) -> String? {
        guard let id = ctx.request.parameters["REQUEST_ID"], !id.isEmpty else { return nil }
        return id
    }

    func makeSession(_ ctx: HTTPContext, id: String, record: SessionRecord, readOnly: Bool) -> HTTPSession {
        var values: [String: String]
        if let decoded = SessionCodec.decode(record.data) {
            values = decoded
        } else {
            ctx.logger.error("session data is not readable; starting it empty", metadata: ["session": .string(String(id.prefix(6)))])
            values = [:]
        }
        let savedBy = values.removeValue(forKey: Self.savedByRequestKey)
        let session = HTTPSession(id: id, values: values, isNew: false, isReadOnly: readOnly,
                                  timeout: .seconds(max(60, record.timeoutSeconds)))
        session.maxBytes = configuration.maxBytes
        if !readOnly, let savedBy, savedBy == Self.upstreamRequestID(ctx) {
            session.repeatsSavedRequest = true
            ctx.trace("this request was already run and saved by a host that failed; nginx re-sent it", category: "session")
        }
        return session
    }

    // MARK: - ReleaseRequestState / EndRequest

    func finish(_ ctx: HTTPContext, _ state: SessionRequestState, save: Bool) async throws {
        guard !state.finished else { return }
        state.finished = true
        guard let session = ctx.session else {
            // The handler dropped the session object: give the lock back unchanged.
            if let owner = state.lockOwner, let id = state.lockedID { try await store.release(id: id, owner: owner, timeoutSeconds: timeoutSeconds(nil)) }
            return
        }
        let seconds = timeoutSeconds(session)
        let owner = state.lockOwner
        if session.isAbandoned {
            if ctx.request.cookies[configuration.cookieName] != nil { ctx.response.cookies.append(cookie(value: "", maxAge: 0)) }
            if state.stored {
                try await store.delete(id: session.id, owner: owner)
                if let events = ctx.services[SessionEvents.self] {
                    let logger = ctx.logger
                    await events.raiseEnd(EndedSession(id: session.id, values: session.values, reason: .abandoned)) { error in
                        logger.error("a Session_End subscriber failed", metadata: ["error": .string("\(error)")])
                    }
                }
            }
            return
        }
        let writes = save && state.behavior == .exclusive && session.isModified
        if save, state.stored, let owner, session.values.isEmpty {
            // A stored session that holds nothing (emptied now, or by an older version) is deleted, not kept.
            try await store.delete(id: session.id, owner: owner)
            ctx.response.cookies.append(cookie(value: "", maxAge: 0))
            ctx.trace("empty session deleted", category: "session")
            return
        }
        let regenerate = save && state.regenerate && !session.values.isEmpty && (state.stored || writes)
        var data = ""
        if writes || regenerate {
            var values = session.values
            if writes, let requestID = Self.upstreamRequestID(ctx) { values[Self.savedByRequestKey] = requestID }
            data = SessionCodec.encode(values)
            if data.utf8.count > configuration.maxBytes {
                if let owner { try? await store.release(id: session.id, owner: owner, timeoutSeconds: seconds) }
                let error = SessionTooLarge(size: data.utf8.count, limit: configuration.maxBytes)
                ctx.logger.error("session not saved: too large", metadata: ["size": .stringConvertible(error.size),
                                                                             "max_bytes": .stringConvertible(error.limit)])
                throw error
            }
        }
        if regenerate {
            let newID = SessionID.generate()
            try await store.insert(id: newID, data: data, timeoutSeconds: seconds, lockOwner: nil, lease: configuration.lockLease)
            if state.stored { try await store.delete(id: session.id, owner: owner) }
            ctx.response.cookies.append(cookie(value: newID, maxAge: nil))
            let moved = HTTPSession(id: newID, isNew: false, isReadOnly: session.isReadOnly, timeout: session.timeout)
            moved.maxBytes = session.maxBytes
            for (k, v) in session.values { moved[k] = v }
            ctx.session = moved
            ctx.trace("session id regenerated", category: "session")
            return
        }
        if state.stored {
            if let owner {
                if writes {
                    let saved = try await store.save(id: session.id, owner: owner, data: data, timeoutSeconds: seconds)
                    if !saved {
                        ctx.logger.warning("session lock lease expired before the request ended; changes discarded",
                                           metadata: ["session": .string(String(session.id.prefix(6)))])
                    }
                } else {
                    try await store.release(id: session.id, owner: owner, timeoutSeconds: seconds)
                }
            } else {
                try await store.touch(id: session.id, timeoutSeconds: seconds)
            }
        } else if writes && !session.values.isEmpty {
            // A client that never sends the cookie back starts a session per request: bounded per address.
            let (admitted, firstRefusal) = newSessions.admit(ctx.request.clientKey)
            guard admitted else {
                if firstRefusal {
                    ctx.logger.notice("new sessions from this client address are over the limit; this window's are not stored",
                                      metadata: ["address": .string(ctx.request.clientKey),
                                                 "limit": .stringConvertible(configuration.newSessionsPerClient)])
                }
                ctx.trace("new session not stored: the client address is over new_sessions_per_client", category: "session")
                return
            }
            try await store.insert(id: session.id, data: data, timeoutSeconds: seconds, lockOwner: nil, lease: configuration.lockLease)
            ctx.response.cookies.append(cookie(value: session.id, maxAge: nil))
        }
    }

    func timeoutSeconds(_ session: HTTPSession?) -> Int {
        max(1, Int((session?.timeout ?? configuration.timeout).components.seconds))
    }

    func cookie(value: String, maxAge: Int?) -> SetCookie {
        SetCookie(name: configuration.cookieName, value: value, path: configuration.cookiePath, maxAge: maxAge,
                  secure: configuration.cookieSecure, httpOnly: true, sameSite: configuration.cookieSameSite)
    }
}

/// What the session module remembers about one request between its events.
final class SessionRequestState: @unchecked Sendable {
    let behavior: SessionStateBehavior
    /// The owner token of the exclusive lock this request holds on the loaded session.
    var lockOwner: String?
    /// Whether the loaded session exists in the store.
    var stored = false
    /// Whether the session was saved/released already.
    var finished = false
    /// Whether the request failed (an Error event ran): changes are then discarded.
    var failed = false
    /// Whether the handler asked for a new session id.
    var regenerate = false

    init(behavior: SessionStateBehavior) { self.behavior = behavior }

    /// The id of the session this request locked.
    var lockedID: String?
}

/// Purges the store's expired sessions every `interval` while the server runs (raising Session_End for them
/// when the store can list them and someone subscribed); a `Service` the host's `ServiceGroup` runs and stops.
public struct SessionPurger: Service, CustomStringConvertible {
    /// Its name in service logs (never the store's configuration).
    public var description: String { "SessionPurger" }

    /// The store purged.
    public let store: any SessionStore
    /// Time between purges.
    public let interval: Duration
    /// Where Session_End is raised for purged sessions (nil: not raised).
    public let events: SessionEvents?
    /// Where failures are reported.
    public let logger: Logger

    /// A purger of `store` running every `interval`.
    public init(store: any SessionStore, interval: Duration, events: SessionEvents? = nil,
                logger: Logger = Logger(label: "porter.sessions")) {
        self.store = store
        self.interval = interval
        self.events = events
        self.logger = logger
    }

    public func run() async throws {
        let purger = self
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: purger.interval)
                await purger.purgeOnce()
            }
        }
    }

    /// Purges once now; failures are logged, never thrown.
    public func purgeOnce() async {
        do {
            let purged: Int
            if let events, events.hasEndSubscribers, let ended = try await store.purgeExpiredSessions() {
                purged = ended.count
                for (id, data) in ended.sorted(by: { $0.key < $1.key }) {
                    await events.raiseEnd(EndedSession(id: id, values: SessionCodec.decode(data) ?? [:], reason: .expired)) { error in
                        logger.error("a Session_End subscriber failed", metadata: ["error": .string("\(error)")])
                    }
                }
            } else {
                purged = try await store.purgeExpired()
            }
            if purged > 0 { logger.debug("purged expired sessions", metadata: ["count": .stringConvertible(purged)]) }
        } catch {
            logger.warning("purging expired sessions failed", metadata: ["error": .string("\(error)")])
        }
    }
}

extension HTTPContext {
    /// Gives the visitor a new session id at ReleaseRequestState, keeping the values and deleting the old id
    /// (call it at login, to defeat session fixation). Does nothing without a session module or session.
    public func regenerateSessionID() {
        items[SessionRequestState.self]?.regenerate = true
    }
}
