import Foundation
import Logging
import Porter
import PorterFastCGI
import PorterHost
import PorterDemo
import PorterState
import PorterTesting
import Synchronization
import Testing

/// A password store that holds every check until the test opens the gate, and records which threads checked.
final class GatedUserStore: UserStore, TicketGenerations {
    let gate = DispatchSemaphore(value: 0)
    let entered = Atomic<Int>(0)
    let onWorkerThreads = Atomic<Int>(0)
    let onKDFThreads = Atomic<Int>(0)

    func verify(user: String, password: String) throws -> Bool {
        entered.add(1, ordering: .relaxed)
        if OSThread.currentName.hasPrefix("porter-w") { onWorkerThreads.add(1, ordering: .relaxed) }
        if KDFExecutor.isExecutorThread { onKDFThreads.add(1, ordering: .relaxed) }
        gate.wait()
        return password == "right"
    }

    func generation(of user: String) throws -> Int64? { 1 }
    func bumpGeneration(of user: String) throws {}
}

/// The real SQLite store, recording which threads ran its (PBKDF2) checks.
final class RecordingUserStore: UserStore {
    let store: SQLiteUserStore
    let onWorkerThreads = Atomic<Int>(0)
    let onKDFThreads = Atomic<Int>(0)
    init(_ store: SQLiteUserStore) { self.store = store }

    func verify(user: String, password: String) throws -> Bool {
        if OSThread.currentName.hasPrefix("porter-w") { onWorkerThreads.add(1, ordering: .relaxed) }
        if KDFExecutor.isExecutorThread { onKDFThreads.add(1, ordering: .relaxed) }
        return try store.verify(user: user, password: password)
    }
}

/// An in-process Porter (2 FastCGI worker threads) with `/login` on `users` and `/hello`, behind the shipped nginx site.
func loginServer(users: any UserStore, kdf: KDFExecutor) throws -> (FastCGIServer, NginxPorterSite) {
    let dir = FastCGITestServer.makeShortTemporaryDirectory()
    var app = PorterApplication(name: "login-flood")
    app.configuration.listen = dir + "/s"
    app.configuration.socketMode = 0o666
    app.configuration.threads = 2
    let auth = try CookieAuthentication(keys: [(0..<32).map { _ in UInt8.random(in: 0...255) }], secure: false)
    app.use(AuthenticationModule(cookie: auth, users: users, kdf: kdf))
    app.use(SessionModule(store: MemorySessionStore()))
    app.map("GET,HEAD,POST", "/login", LoginHandler(authentication: auth, users: users, kdf: kdf,
                                                    throttle: LoginThrottle(maxFailures: 0, maxAddressFailures: 0)))
    app.map("GET,HEAD", "/hello", try HelloHandler())
    var logger = Logger(label: "porter.login-test")
    logger.logLevel = .error
    let server = try app.build(app.configuration, logger: logger).makeServer(logger: logger)
    try server.start()
    let site = try NginxPorterSite(socketPath: dir + "/s", locations: try app.nginxLocations(for: app.configuration))
    return (server, site)
}


/// Issue 10, item 3: password hashing never occupies the FastCGI worker threads; floods get 503, guessing gets 429.
@Suite("Login under load: KDF off the worker threads, bounded queue, backoff", .enabled(if: nginxAvailable, "nginx is not installed"), .serialized)
struct LoginLoadTests {
    @Test("logins parked in the KDF hold no FastCGI worker thread: /hello answers; a full KDF queue answers 503 + Retry-After")
    func parkedLoginsLeaveWorkersFree() async throws {
        let users = GatedUserStore()
        let kdf = KDFExecutor(threads: 2, queueLimit: 6)
        let (server, site) = try loginServer(users: users, kdf: kdf)
        let browser = Browser(site)
        let token = try await browser.token(action: "/login")
        let cookies = browser.cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
        // 12 logins against 2 worker threads: 2 run in the KDF (parked at the gate), 6 wait in its queue, 4 are refused.
        let logins = Task.detached {
            await ConcurrentClients.run(12) { i -> HTTPTestResponse in
                try site.client(timeout: .seconds(120)).post("/login", body: Array("user=u\(i)&password=right&csrf=\(token)".utf8),
                                                            headers: ["Cookie": cookies])
            }
        }
        try await waitUntil("2 checks running and 6 waiting") { users.entered.load(ordering: .relaxed) == 2 && kdf.waiting == 6 }
        try await waitUntil("4 logins refused") { kdf.statistics.rejected.load(ordering: .relaxed) == 4 }
        // Every KDF thread is parked and the queue is full. On the old sync login handler both worker threads would sit
        // in the KDF here and these requests would wait; now each is answered (the client's timeout is the hang guard).
        let hellos = await ConcurrentClients.run(20) { _ in try site.client(timeout: .seconds(10)).get("/hello").status }
        #expect(hellos.map { (try? $0.get()) ?? -1 } == [Int](repeating: 200, count: 20))
        #expect(users.entered.load(ordering: .relaxed) == 2, "still parked while /hello was answered")
        for _ in 0..<12 { users.gate.signal() }
        let results = await logins.value.map { try? $0.get() }
        let statuses = results.map { $0?.status ?? -1 }
        #expect(statuses.filter { $0 == 303 }.count == 8, "\(statuses)")
        let refused = results.compactMap { $0 }.filter { $0.status == 503 }
        #expect(refused.count == 4 && refused.allSatisfy { $0.headers["Retry-After"] == "1" })
        #expect(users.onWorkerThreads.load(ordering: .relaxed) == 0, "no password check ran on a FastCGI worker thread")
        #expect(users.onKDFThreads.load(ordering: .relaxed) == 8)
        #expect(kdf.statistics.maxRunning.load(ordering: .relaxed) <= 2)
        site.stop()
        server.shutdown()
        await server.waitUntilStopped()
        kdf.shutdown()
    }

    @Test("48 concurrent real PBKDF2 logins while /hello keeps flowing: every /hello 200, every KDF run on the KDF threads")
    func fortyEightLoginsWhileHelloFlows() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-flood")
        let users = RecordingUserStore(try makeUsers(in: dir))
        let kdf = KDFExecutor(threads: 2, queueLimit: 64)
        let (server, site) = try loginServer(users: users, kdf: kdf)
        let browser = Browser(site)
        let token = try await browser.token(action: "/login")
        let cookies = browser.cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
        let done = Atomic<Bool>(false)
        let logins = Task.detached {
            defer { done.store(true, ordering: .relaxed) }
            // 48 + the two /hello clients stay under the site's 64 requests in progress per address (limit_conn).
            return await ConcurrentClients.run(48) { _ -> Int in
                try site.client(timeout: .seconds(300)).post("/login", body: Array("user=demo&password=right&csrf=\(token)".utf8),
                                                            headers: ["Cookie": cookies]).status
            }
        }
        // /hello from two clients until the flood is over; note which were sent while logins waited for the KDF.
        let hellos = await ConcurrentClients.run(2) { _ -> (statuses: [Int], duringFlood: Int) in
            var statuses: [Int] = []
            var duringFlood = 0
            while !done.load(ordering: .relaxed) {
                let busy = kdf.waiting > 0
                statuses.append((try? site.client(timeout: .seconds(10)).get("/hello").status) ?? -1)
                if busy { duringFlood += 1 }
            }
            return (statuses, duringFlood)
        }.compactMap { try? $0.get() }
        let loginStatuses = await logins.value.map { (try? $0.get()) ?? -1 }
        #expect(loginStatuses == [Int](repeating: 303, count: 48), "\(loginStatuses)")
        let all = hellos.flatMap(\.statuses)
        #expect(!all.isEmpty && all.allSatisfy { $0 == 200 }, "\(all.filter { $0 != 200 })")
        #expect(hellos.map(\.duringFlood).reduce(0, +) > 0, "some /hello requests were answered while logins queued for the KDF")
        #expect(users.onWorkerThreads.load(ordering: .relaxed) == 0)
        #expect(users.onKDFThreads.load(ordering: .relaxed) == 48)
        #expect(kdf.statistics.maxRunning.load(ordering: .relaxed) <= 2)
        site.stop()
        server.shutdown()
        await server.waitUntilStopped()
        kdf.shutdown()
    }

    @Test("after N wrong passwords for a user (or from one address) Porter answers 429 + Retry-After, even to the right password")
    func wrongPasswordsBackOff() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-backoff")
        _ = try makeUsers(in: dir)
        let started = try await IdentitySite.start("""
            [[modules]]
            name = "authentication"
            keys = ["\(freshKeyOption())"]
            users_database = "users.sqlite"

            [[modules]]
            name = "session"
            store = "memory"

            [[handlers]]
            verb = "GET,HEAD,POST"
            path = "/login"
            handler = "login"
            max_failures = 3
            max_address_failures = 6
            rate_limit_zone = ""
            """, in: dir)
        let browser = Browser(started.site)
        for _ in 0..<3 {
            let wrong = try await browser.login("demo", "wrong")
            #expect(wrong.status == 200 && wrong.text.contains("Invalid user name or password."))
        }
        let locked = try await browser.login("demo", "right")
        #expect(locked.status == 429, "\(locked.status)")
        #expect(Int(locked.headers["Retry-After"] ?? "") ?? 0 >= 1)
        #expect(browser.cookies["porter_auth"] == nil)
        // Spraying other users from the same address: the address budget (6) runs out too.
        for user in ["alice", "bob", "carol"] { #expect(try await browser.login(user, "guess").status == 200) }
        let sprayed = try await browser.login("alice", "alice-pw")
        #expect(sprayed.status == 429, "the address is throttled: \(sprayed.status)")
        await started.stop()
    }

    @Test("the generated login location carries the porter_login limit_req zone: nginx answers bursts with 429 itself")
    func nginxRateLimitsLogin() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-limitreq")
        _ = try makeUsers(in: dir)
        let started = try await IdentitySite.start("""
            [[modules]]
            name = "authentication"
            keys = ["\(freshKeyOption())"]
            users_database = "users.sqlite"

            [[modules]]
            name = "session"
            store = "memory"

            [[handlers]]
            verb = "GET,HEAD,POST"
            path = "/login"
            handler = "login"
            """, in: dir)
        let rules = try PorterApplication.porter.nginxLocations(for: started.configuration)
        #expect(rules.contains("location = /login {\n    client_max_body_size 16k;\n    limit_req zone=porter_login burst=10 nodelay;\n    include porter-fastcgi.conf;\n}"), "\(rules)")
        var statuses: [Int] = []
        var fromNginx = 0
        for _ in 0..<20 {
            let r = try await started.site.client().fetch("/login", method: "POST", headers: ["Content-Type": "application/x-www-form-urlencoded"],
                                                          body: Array("user=demo&password=x".utf8))
            statuses.append(r.status)
            if r.status == 429 && r.headers["Retry-After"] == nil { fromNginx += 1 }
        }
        #expect(statuses.prefix(11).allSatisfy { $0 == 403 }, "Porter refuses token-less posts: \(statuses)")
        #expect(fromNginx >= 5, "nginx's limit_req answered the rest: \(statuses)")
        await started.stop()
    }
}
