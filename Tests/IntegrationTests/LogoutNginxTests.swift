import Foundation
import Porter
import PorterHost
import PorterDemo
import PorterState
import PorterTesting
import Testing

/// A demo-like site: authentication (cookie login, users database), authorization on /admin/, sessions in SQLite,
/// login/logout/visits, echo under /admin/. Cookies keep their default (Secure) unless `extra` says otherwise.
func loginSiteTOML(authExtra: String = "", sessionExtra: String = "") -> String {
    """
    [[modules]]
    name = "authentication"
    keys = ["\(freshKeyOption())"]
    users_database = "users.sqlite"
    \(authExtra)
    [[modules]]
    name = "authorization"
    rules = [ { path = "/admin/", allow_roles = ["admin"], deny_users = ["*"] } ]
    login_url = "/login"

    [[modules]]
    name = "session"
    store = "sqlite"
    path = "sessions.sqlite"
    \(sessionExtra)
    [[handlers]]
    verb = "GET,HEAD,POST"
    path = "/login"
    handler = "login"
    rate_limit_zone = ""

    [[handlers]]
    verb = "POST"
    path = "/logout"
    handler = "logout"

    [[handlers]]
    verb = "GET,HEAD"
    path = "/visits"
    handler = "visits"

    [[handlers]]
    verb = "GET,HEAD"
    path = "/admin/*"
    handler = "echo"

    """
}

/// Issue 10, items 4 and 5: logout and login are POST-only forms with anti-forgery tokens; tickets are revoked at
/// logout and password change; sessions are not stored for nothing; cookies are Secure unless configured off.
@Suite("Logout, CSRF, revocation and sessions through nginx", .enabled(if: nginxAvailable, "nginx is not installed"), .serialized)
struct LogoutNginxTests {
    @Test("logout: GET is 405, token-less or cross-site posts are 403, a replayed cookie after logout or a password change is anonymous")
    func logoutRevokesAndRefusesForgery() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-logout")
        let users = try makeUsers(in: dir)
        let started = try await IdentitySite.start(loginSiteTOML(), in: dir)
        let browser = Browser(started.site)
        let host = "http://127.0.0.1:\(started.site.nginx.port)"

        // Login: the token is required, and a foreign Origin is refused even with it.
        let token = try await browser.token(action: "/login")
        let noToken = try await browser.fetch("/login", method: "POST", form: [("user", "demo"), ("password", "right")])
        #expect(noToken.status == 403 && browser.cookies["porter_auth"] == nil)
        let foreign = try await browser.fetch("/login", method: "POST", headers: ["Origin": "https://evil.example"],
                                              form: [("user", "demo"), ("password", "right"), ("csrf", token)])
        #expect(foreign.status == 403 && browser.cookies["porter_auth"] == nil)
        // This host on another port or scheme is another origin (nginx passes the Host as sent, PORTER_HOST_HEADER).
        for other in ["http://127.0.0.1:\(started.site.nginx.port == 9 ? 10 : 9)", "https://127.0.0.1:\(started.site.nginx.port)", "https://127.0.0.1"] {
            let refused = try await browser.fetch("/login", method: "POST", headers: ["Origin": other],
                                                  form: [("user", "demo"), ("password", "right"), ("csrf", token)])
            #expect(refused.status == 403 && browser.cookies["porter_auth"] == nil, "\(other): \(refused.status)")
        }
        let login = try await browser.fetch("/login", method: "POST", headers: ["Origin": host, "Sec-Fetch-Site": "same-origin"],
                                            form: [("user", "demo"), ("password", "right"), ("csrf", token)])
        #expect(login.status == 303, "\(login.status) \(login.text)")
        let ticket = try #require(browser.cookies["porter_auth"])
        #expect(login.headers.values(for: "Set-Cookie").first { $0.hasPrefix("porter_auth=") }?.contains("; Secure") == true,
                "the login cookie is Secure by default")
        #expect(try await browser.fetch("/admin/x").text.contains(#""user":"demo""#))

        // Logout: not by GET, not without the token, not cross-site.
        let get = try await browser.fetch("/logout")
        #expect(get.status == 405 && get.headers["Allow"] == "POST")
        #expect(try await browser.fetch("/logout", method: "POST", form: []).status == 403)
        let logoutToken = try await browser.token(action: "/logout")
        let crossSite = try await browser.fetch("/logout", method: "POST", headers: ["Sec-Fetch-Site": "cross-site"], form: [("csrf", logoutToken)])
        #expect(crossSite.status == 403)
        #expect(try await browser.fetch("/admin/x").status == 200, "still signed in after the refused attempts")
        let out = try await browser.fetch("/logout", method: "POST", form: [("csrf", logoutToken)])
        #expect(out.status == 303 && browser.cookies["porter_auth"] == nil)

        // The old cookie, replayed: refused (the generation moved on), and cleared.
        browser.set("porter_auth", ticket)
        let replay = try await browser.fetch("/admin/x")
        #expect(replay.status == 302 && replay.headers["Location"]?.hasPrefix("/login") == true, "replayed cookie: \(replay.status)")
        #expect(browser.cookies["porter_auth"] == nil, "and the stale cookie is cleared")

        // A password change (here: `porter users add` on the same database) revokes the current cookie too.
        #expect(try await browser.login("demo", "right").status == 303)
        #expect(try await browser.fetch("/admin/x").status == 200)
        try users.setPassword("changed", for: "demo")
        #expect(try await browser.fetch("/admin/x").status == 302, "the cookie from before the password change is refused")
        await started.stop()
    }

    @Test("cookie-less requests that store nothing add no session rows; session and login cookies are Secure by default")
    func sessionsAreNotStoredForNothing() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-sessrows")
        _ = try makeUsers(in: dir)
        let started = try await IdentitySite.start(loginSiteTOML(), in: dir)
        let sessions = try SQLiteSessionStore(path: dir.path("sessions.sqlite"))
        for _ in 0..<10 {
            let page = try await started.site.client().fetch("/login")
            #expect(page.status == 200)
            #expect(!page.headers.values(for: "Set-Cookie").contains { $0.hasPrefix("porter_session=") })
            #expect(try await started.site.client().fetch("/admin/x").status == 302)
        }
        #expect(try sessions.count() == 0, "the login page and refused requests (exclusive sessions, nothing written) stored no session")
        let visit = try await started.site.client().fetch("/visits")
        let cookie = try #require(visit.headers.values(for: "Set-Cookie").first { $0.hasPrefix("porter_session=") })
        #expect(cookie.contains("; Secure"), "the session cookie is Secure by default: \(cookie)")
        #expect(try sessions.count() == 1, "the visits page stores its count")
        #expect(!started.porter.log.contains("without Secure"))
        await started.stop()
    }

    @Test("cookie_secure = false / secure = false (the plain-http demo) drop Secure and warn at start-up")
    func plainHTTPIsExplicitAndWarned() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-plain")
        _ = try makeUsers(in: dir)
        let started = try await IdentitySite.start(loginSiteTOML(authExtra: "secure = false", sessionExtra: "cookie_secure = false"), in: dir)
        let visit = try await started.site.client().fetch("/visits")
        let cookie = try #require(visit.headers.values(for: "Set-Cookie").first { $0.hasPrefix("porter_session=") })
        #expect(!cookie.contains("Secure"))
        let browser = Browser(started.site)
        let login = try await browser.login("demo", "right")
        #expect(login.status == 303)
        #expect(login.headers.values(for: "Set-Cookie").first { $0.hasPrefix("porter_auth=") }.map { !$0.contains("Secure") } == true)
        #expect(started.porter.log.contains("the login cookie is sent without Secure"))
        #expect(started.porter.log.contains("the session cookie is sent without Secure"))
        await started.stop()
    }

    @Test("the demo configuration: no trusted nginx identity, logout POST-only, plain-http cookies said explicitly")
    func demoConfiguration() throws {
        let demo = try ServerConfiguration.parse(toml: DemoSetup.demoTOML, baseDirectory: "/srv/demo")
        let auth = try #require(demo.modules.first { $0.name == "authentication" })
        for option in ["trust_remote_user", "trusted_param", "trusted_header", "keys"] { #expect(auth.options.values[option] == nil, "\(option)") }
        #expect(auth.options.values["secure"] == .bool(false))
        #expect(demo.modules.first { $0.name == "session" }?.options.values["cookie_secure"] == .bool(false))
        #expect(demo.handlers.first { $0.handler == "logout" }?.verb == "POST")
        let deploy = try ServerConfiguration.load(path: NginxPorterSite.repositoryRoot + "/deploy/porter.toml")
        let deployAuth = try #require(deploy.modules.first { $0.name == "authentication" })
        #expect(deployAuth.options.values["secure"] == nil, "the deployment example keeps Secure on")
        #expect(deploy.modules.first { $0.name == "session" }?.options.values["cookie_secure"] == nil)
    }
}
