import Foundation
import Porter
import PorterDemo
import PorterHost
import PorterOps
import PorterTesting
import Testing

/// Issue 10, item 3: background work is ordered with POST by signed-in users, within a per-user quota, and finished
/// items are purged while the server runs — through nginx, the demo's configuration and the `porter` process.
@Suite("Edge: background work through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct WorkEdgeTests {
    /// The demo prepared in `dir/state` and served by `porter serve` from its TOML with `changes` applied, behind nginx.
    static func demo(in dir: TemporaryDirectory, _ changes: [(String, String)]) async throws -> (PorterProcess, NginxPorterSite, String) {
        let state = dir.path("state")
        _ = try await ConcurrentClients.offPool { try DemoSetup.prepare(state) }
        var text = DemoSetup.demoTOML
        for (old, new) in [("listen = \"/run/porter/porter.sock\"", "listen = \"\(dir.path("s"))\""),
                           ("socket_mode = \"0660\"", "socket_mode = \"0666\"")] + changes {
            #expect(text.contains(old), "the demo configuration has \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        let configPath = state + "/porter.toml"
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
        let configuration = try ServerConfiguration.load(path: configPath)
        let porter = try PorterProcess(arguments: ["serve", "--config", configPath], logPath: dir.path("porter.log"))
        #expect(try await ConcurrentClients.offPool { PorterProcess.waitForSocket(dir.path("s")) }, "porter started: \(porter.log)")
        let locations = try PorterApplication.porter.nginxLocations(for: configuration)
        let site = try await ConcurrentClients.offPool { try NginxPorterSite(socketPath: dir.path("s"), locations: locations) }
        return (porter, site, state + "/data/work.sqlite")
    }

    /// Signs in through the login form (with its anti-forgery token) and returns the `Cookie` header value.
    static func login(_ site: NginxPorterSite, user: String, password: String) async throws -> String {
        let browser = Browser(site)
        let response = try await browser.login(user, password)
        #expect(response.status == 303, "login as \(user)")
        return browser.cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
    }

    /// How many work items the SQLite file records (read from a helper thread).
    static func itemCount(_ database: String) async throws -> Int {
        try await ConcurrentClients.offPool {
            let queue = try BackgroundWorkQueue(databasePath: database, retention: nil)
            return try queue.records(limit: 10_000).count
        }
    }

    @Test("GET and HEAD never enqueue (anonymous: login redirect; signed in: 405); anonymous POST → login; a user's 4th POST → 429, others still 202")
    func onlySignedInPostsEnqueueWithinAQuota() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-work")
        let (porter, site, database) = try await Self.demo(in: dir, [
            ("max_per_user = 3", "max_per_user = 3\nshutdown_grace = 0"),
            ("handler = \"report\"", "handler = \"report\"\nstep_seconds = 60"),
        ])
        _ = try await runPorter(["users", "add", "other", "--password", "other-pw", "--database", dir.path("state/data/users.sqlite")],
                                in: dir, name: "users")
        let http = site.client()
        // An <img src=/report> or a crawler: 110 HEADs and GETs order nothing.
        for i in 0..<110 {
            let r = try await http.fetch("/report", method: i % 2 == 0 ? "HEAD" : "GET")
            #expect(r.status == 302, "anonymous \(r.status)")
        }
        let anonymousPost = try await http.fetch("/report", method: "POST")
        #expect(anonymousPost.status == 302 && anonymousPost.headers["Location"]?.hasPrefix("/login?returnUrl=") == true)
        #expect(try await Self.itemCount(database) == 0)

        let demo = try await Self.login(site, user: "demo", password: "demo")
        for method in ["GET", "HEAD"] {
            let r = try await http.fetch("/report", method: method, headers: ["Cookie": demo])
            #expect(r.status == 405 && r.headers["Allow"] == "POST", "\(method) → \(r.status)")
        }
        #expect(try await Self.itemCount(database) == 0)
        // Cross-site POSTs with the user's cookie (a page elsewhere, a sibling subdomain past SameSite=Lax) order nothing
        // in the user's name: the login cookie does not sign them in, so the rules send them to the login page.
        for forged: HTTPHeaders in [["Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"],
                                    ["Origin": "http://sibling.127.0.0.1.nip.io", "Sec-Fetch-Site": "same-site"], ["Origin": "null"]] {
            var headers = forged
            headers["Cookie"] = demo
            let r = try await http.fetch("/report", method: "POST", headers: headers)
            #expect(r.status == 302 && r.headers["Location"]?.hasPrefix("/login?") == true, "\(forged) → \(r.status)")
        }
        #expect(try await Self.itemCount(database) == 0)

        for n in 1...3 {
            let r = try await http.fetch("/report", method: "POST", headers: ["Cookie": demo])
            #expect(r.status == 202 && r.headers["Location"]?.hasPrefix("/work/") == true, "POST \(n) → \(r.status)")
        }
        let over = try await http.fetch("/report", method: "POST", headers: ["Cookie": demo])
        #expect(over.status == 429 && over.headers["Retry-After"] != nil)
        #expect(try await Self.itemCount(database) == 3)
        let other = try await Self.login(site, user: "other", password: "other-pw")
        #expect(try await http.fetch("/report", method: "POST", headers: ["Cookie": other]).status == 202, "one user's quota is not everyone's")
        #expect(try await Self.itemCount(database) == 4)
        try await stopProcess(porter, site)
    }

    @Test("finished items are purged while the server runs, not only when it starts")
    func purgeRunsWhileServing() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-purge")
        let (porter, site, _) = try await Self.demo(in: dir, [
            ("retention_days = 1", "retention_seconds = 1\npurge_interval_seconds = 0.5"),
            ("handler = \"report\"", "handler = \"report\"\nsteps = 1\nstep_seconds = 0"),
        ])
        let http = site.client()
        let cookie = try await Self.login(site, user: "demo", password: "demo")
        let accepted = try await http.fetch("/report", method: "POST", headers: ["Cookie": cookie])
        #expect(accepted.status == 202)
        let location = try #require(accepted.headers["Location"])
        #expect(try await eventually { try http.get(location).text.contains("\"succeeded\"") }, "the item finished")
        #expect(try await eventually { try http.get(location).status == 404 }, "the finished item was purged while serving")
        #expect(kill(porter.pid, 0) == 0, "the same process is still serving")
        try await stopProcess(porter, site)
    }

    @Test("store = postgres: /report with Idempotency-Key and /work/<id> through nginx and the porter process; the item runs and reads back with its host")
    func postgresStore() async throws {
        let server = try await PostgresTestServer.sharedOrSkip()
        let url = server.url(database: try await server.makeDatabaseName())
        let dir = try TemporaryDirectory(prefix: "porter-work-pg")
        let (porter, site, database) = try await Self.demo(in: dir, [
            ("database = \"data/work.sqlite\"", "store = \"postgres\"\npostgres_url = \"\(url)\"\nlease_seconds = 2\npoll_interval_ms = 50\nshutdown_grace = 1"),
            ("handler = \"report\"", "handler = \"report\"\nsteps = 2\nstep_seconds = 0.1"),
        ])
        let http = site.client()
        let cookie = try await Self.login(site, user: "demo", password: "demo")
        let first = try await http.fetch("/report", method: "POST", headers: ["Cookie": cookie, "Idempotency-Key": "edge-1"])
        let retry = try await http.fetch("/report", method: "POST", headers: ["Cookie": cookie, "Idempotency-Key": "edge-1"])
        #expect(first.status == 202 && retry.status == 202)
        let location = try #require(first.headers["Location"])
        #expect(retry.headers["Location"] == location, "a retried POST with the same key is the same item")
        let bad = try await http.fetch("/report", method: "POST", headers: ["Cookie": cookie, "Idempotency-Key": String(repeating: "x", count: 201)])
        #expect(bad.status == 400)
        #expect(try await eventually { try http.get(location).text.contains("\"succeeded\"") }, "the item ran: \(porter.log)")
        let status = try #require(try JSONSerialization.jsonObject(with: Data(try await http.fetch(location).text.utf8)) as? [String: Any])
        #expect(status["attempts"] as? Int == 1 && (status["host"] as? String)?.isEmpty == false, "\(status)")
        #expect(status["progress"] as? String == "report for demo ready (2 steps)")
        #expect(!FileManager.default.fileExists(atPath: database), "no SQLite work file with store = postgres")
        try await stopProcess(porter, site)
    }
}
