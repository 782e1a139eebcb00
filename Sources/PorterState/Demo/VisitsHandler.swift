import Porter

/// Demo page: counts this visitor's visits in the session (exclusive, so concurrent requests of one session
/// never lose a count), counts all visits in application state, and shows who you are. Everything is escaped.
public struct VisitsHandler: HTTPHandler {
    /// The application-state key of the process-wide total.
    public static let totalKey = "porter.demo.visits"

    /// The handler.
    public init() {}

    /// No options.
    public init(options: Options) throws {}

    public var sessionState: SessionStateBehavior { .exclusive }

    public func processRequest(_ ctx: HTTPContext) throws {
        // A request nginx re-sent after the host that ran it died finds its count already saved: count it once.
        let repeated = ctx.session?.repeatsSavedRequest == true
        let visits = (ctx.session?.int("visits") ?? 0) + (repeated ? 0 : 1)
        ctx.session?["visits"] = String(visits)
        let total = repeated ? ctx.application.increment(Self.totalKey, by: 0) : ctx.application.increment(Self.totalKey)
        let user = ctx.user
        let e = HTMLEscaping.escape
        let roles = user.roles.sorted().joined(separator: ", ")
        let sessionPrefix = ctx.session.map { String($0.id.prefix(8)) + "…" } ?? "(none)"
        ctx.response.contentType = "text/html; charset=utf-8"
        ctx.response.headers["Cache-Control"] = "no-store"
        ctx.response.denyFramingByOtherSites()   // it carries the sign-out form
        ctx.response.write("""
            <!doctype html><html><head><meta charset="utf-8"><title>Visits</title></head><body>
            <h1>Visits</h1>
            <dl>
            <dt>User</dt><dd id="user">\(e(user.isAuthenticated ? user.name : "anonymous"))</dd>
            <dt>Roles</dt><dd id="roles">\(e(roles.isEmpty ? "(none)" : roles))</dd>
            <dt>Authentication</dt><dd id="auth">\(e(user.authenticationType ?? "none"))</dd>
            <dt>Session</dt><dd id="session">\(e(sessionPrefix))</dd>
            <dt>Your visits</dt><dd id="visits">\(visits)</dd>
            <dt>All visits (this process)</dt><dd id="total">\(total)</dd>
            </dl>
            \(LogoutForm.htmlIfSignedIn(ctx))</body></html>

            """)
    }
}
