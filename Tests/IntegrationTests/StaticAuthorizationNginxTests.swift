import Foundation
import Porter
import PorterHost
import PorterDemo
import PorterState
import PorterTesting
import Testing

/// Issue 12, item 3: static files under Porter's authorization rules (nginx auth_request → Authenticate + Authorize only).
@Suite("Static files under the authorization rules (auth_request)", .enabled(if: nginxAvailable, "nginx is not installed"), .serialized)
struct StaticAuthorizationNginxTests {
    static let secret = "admins only: the static note\n"

    static func toml(loginURL: Bool = true) -> String {
        """
        [[modules]]
        name = "authentication"
        keys = ["\(freshKeyOption())"]
        users_database = "users.sqlite"

        [[modules]]
        name = "authorization"
        rules = [ { path = "/private/", allow_roles = ["admin"], deny_users = ["*"] }, { path = "/members/", deny_users = ["?"] } ]
        \(loginURL ? "login_url = \"/login\"" : "www_authenticate = \"Cookie\"")

        [[modules]]
        name = "session"
        store = "sqlite"
        path = "sessions.sqlite"

        [[handlers]]
        verb = "GET,HEAD,POST"
        path = "/login"
        handler = "login"
        rate_limit_zone = ""

        [[handlers]]
        verb = "GET,HEAD"
        path = "/members/*"
        handler = "hello"

        [[handlers]]
        verb = "GET,HEAD"
        path = "*.hello"
        handler = "hello"

        """
    }

    @Test("anonymous → login redirect, non-admin → 403, admin → the file from nginx; path tricks, HEAD, POST and forged identities never pass")
    func staticFilesAskPorter() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-static-auth")
        _ = try makeUsers(in: dir)
        let started = try await IdentitySite.start(Self.toml(), in: dir,
                                                   staticFiles: ["index.html": "<h1>static</h1>\n", "private/note.txt": Self.secret,
                                                                 "public.txt": "public\n"])
        defer { Task { await started.stop() } }
        let site = started.site
        let anonymous = Browser(site)
        #expect(try await anonymous.fetch("/public.txt").text == "public\n", "unprotected static files are untouched")
        let denied = try await anonymous.fetch("/private/note.txt")
        #expect(denied.status == 302, "\(denied.status) \(denied.text)")
        // nginx's `return 302` keeps the login URL relative (absolute_redirect off: never built from the client's Host).
        #expect(denied.headers["Location"] == "/login?returnUrl=%2Fprivate%2Fnote.txt")
        let otherHost = try await anonymous.fetch("/private/note.txt", headers: ["Host": "evil.example"])
        #expect(otherHost.status == 302 && otherHost.headers["Location"] == "/login?returnUrl=%2Fprivate%2Fnote.txt")
        let head = try await anonymous.fetch("/private/note.txt", method: "HEAD")
        #expect(head.status == 302)
        let post = try await anonymous.fetch("/private/note.txt", method: "POST", form: [("a", "b")])
        #expect(post.status == 403 && !post.text.contains("admins only"), "only GET and HEAD reach static files here")

        // Path tricks and case: nginx normalises before choosing the location; Porter normalises the same way.
        for attack in ["/private/../private/note.txt", "/x/../private/note.txt", "/private/%2e%2e/private/note.txt",
                       "/%70rivate/note.txt", "//private/note.txt", "/private//note.txt", "/PRIVATE/note.txt",
                       "/Private/Note.txt", "/private/./note.txt", "/public.txt/../private/note.txt", "/private/note.txt?x=1",
                       // A combining mark, ZWJ or variation selector after a slash (percent-encoded and raw UTF-8): nginx
                       // still resolves the `..` at that slash and serves /private/note.txt, so Porter must decide for it.
                       "/private/%CC%81/../note.txt", "/private/%E2%80%8D/../note.txt", "/private/%E2%80%8C/../note.txt",
                       "/private/%EF%B8%8F/../note.txt", "/private/\u{301}/../note.txt", "/x/%CC%81/../../private/note.txt"] {
            let response = try await anonymous.fetch(attack)
            #expect(!response.text.contains("admins only"), "\(attack): \(response.status)")
            #expect([302, 400, 404].contains(response.status), "\(attack): \(response.status)")
        }
        // A handler route under a rule-protected directory: nginx sends /members/<mark>/x.hello through `^~ /members/`; Porter
        // must route and authorize it as under /members/ too (String.hasPrefix had sent it to `*.hello`, unprotected).
        #expect(try await anonymous.fetch("/x.hello").text.contains("Hello"), "the extension route itself is public")
        for attack in ["/members/x.hello", "/members/%CC%81/x.hello", "/members/%E2%80%8D/x.hello", "/members/\u{FE0F}/x.hello"] {
            let response = try await anonymous.fetch(attack)
            #expect(response.status == 302 && !response.text.contains("Hello"), "\(attack): \(response.status)")
        }
        // Forged identities: no header or Basic credentials make an anonymous request someone.
        for forged in [["X-Remote-User": "demo"], ["Remote-User": "demo"], basic("demo", "right"), ["Cookie": "porter_auth=demo"],
                       ["X-Porter-Login": "https://evil.example/"]] {
            let response = try await anonymous.fetch("/private/note.txt", headers: forged)
            #expect(response.status == 302 && !response.text.contains("admins only"), "\(forged): \(response.status)")
            #expect(response.headers["Location"]?.hasPrefix("/login?") == true)
        }
        // The auth_request target is internal.
        #expect(try await anonymous.fetch("/_porter/authorize").status == 404)

        let alice = Browser(site)
        #expect(try await alice.login("alice", "alice-pw").status == 303)
        let forbidden = try await alice.fetch("/private/note.txt")
        #expect(forbidden.status == 403 && !forbidden.text.contains("admins only"))

        let admin = Browser(site)
        #expect(try await admin.login("demo", "right").status == 303)
        let ok = try await admin.fetch("/private/note.txt")
        #expect(ok.status == 200)
        #expect(ok.text == Self.secret)
        #expect(try await admin.fetch("/private/note.txt", method: "HEAD").status == 200)
        #expect(try await admin.fetch("/private/missing.txt").status == 404)
    }

    @Test("without login_url a denied anonymous request stays 401 (with WWW-Authenticate)")
    func plain401WithoutLoginURL() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-static-auth401")
        _ = try makeUsers(in: dir)
        let started = try await IdentitySite.start(Self.toml(loginURL: false), in: dir,
                                                   staticFiles: ["private/note.txt": Self.secret])
        defer { Task { await started.stop() } }
        let response = try await Browser(started.site).fetch("/private/note.txt")
        #expect(response.status == 401 && !response.text.contains("admins only"))
        #expect(response.headers["WWW-Authenticate"] == "Cookie")
    }
}
