import Foundation
import Porter
import PorterHost
import PorterDemo
import PorterState
import PorterTesting
import Synchronization
import Testing

/// A client with a cookie jar, for login flows through nginx.
final class Browser: Sendable {
    let site: NginxPorterSite
    private let jar = Mutex<[String: String]>([:])

    init(_ site: NginxPorterSite) { self.site = site }

    /// The jar's cookies.
    var cookies: [String: String] { jar.withLock { $0 } }

    /// Sets or removes a cookie by hand (to replay an old one).
    func set(_ name: String, _ value: String?) { jar.withLock { $0[name] = value } }

    /// Sends a request with the jar's cookies and stores the cookies the response sets.
    func fetch(_ path: String, method: String = "GET", headers: [String: String] = [:], form: [(String, String)]? = nil) async throws -> HTTPTestResponse {
        var h = HTTPHeaders()
        for (k, v) in headers { h.add(k, v) }
        let cookieHeader = jar.withLock { $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        if !cookieHeader.isEmpty { h.add("Cookie", cookieHeader) }
        var body: [UInt8] = []
        if let form {
            h.add("Content-Type", "application/x-www-form-urlencoded")
            body = Array(form.map { PercentEncoding.encode($0.0) + "=" + PercentEncoding.encode($0.1) }.joined(separator: "&").utf8)
        }
        let response = try await site.client().fetch(path, method: method, headers: h, body: body)
        for line in response.headers.values(for: "Set-Cookie") {
            let first = line.split(separator: ";").first.map(String.init) ?? ""
            guard let eq = first.firstIndex(of: "=") else { continue }
            let name = String(first[..<eq]), value = String(first[first.index(after: eq)...])
            jar.withLock { $0[name] = (value.isEmpty || line.contains("Max-Age=0")) ? nil : value }
        }
        return response
    }

    /// The hidden anti-forgery token of the form posting to `action` on the page at `path`.
    func token(on path: String = "/login", action: String) async throws -> String {
        let page = try await fetch(path)
        return try #require(Self.token(in: page.text, action: action), "no token for \(action) in \(page.status) \(page.text)")
    }

    static func token(in html: String, action: String) -> String? {
        guard let form = html.range(of: "action=\"\(action)\"") else { return nil }
        let rest = html[form.upperBound...]
        guard let start = rest.range(of: "name=\"csrf\" value=\"") else { return nil }
        let value = rest[start.upperBound...]
        return value.firstIndex(of: "\"").map { String(value[..<$0]) }
    }

    /// Signs in through the login form.
    func login(_ user: String, _ password: String, headers: [String: String] = [:]) async throws -> HTTPTestResponse {
        let token = try await token(action: "/login")
        return try await fetch("/login", method: "POST", headers: headers, form: [("user", user), ("password", password), ("csrf", token)])
    }
}

/// `Authorization: Basic` for `user:password`.
func basic(_ user: String, _ password: String) -> [String: String] {
    ["Authorization": "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()]
}

/// A fresh random 32-byte key as the `keys` option value (nothing key-like is committed, even in tests).
func freshKeyOption() -> String {
    "hex:" + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
}

/// A `porter serve` process for `body` (listen line added) behind the shipped nginx site, in `dir`.
struct IdentitySite {
    let porter: PorterProcess
    let site: NginxPorterSite
    let configuration: ServerConfiguration

    /// Starts both; `locations` defaults to what `porter nginx-config` generates for the configuration.
    static func start(_ body: String, in dir: TemporaryDirectory, locations: String? = nil,
                      configFiles: [String: String] = [:], sendFiles: [String: String] = [:],
                      staticFiles: [String: String] = ["index.html": "<h1>static</h1>\n"]) async throws -> IdentitySite {
        let text = "listen = \"\(dir.path("s"))\"\nsocket_mode = \"0666\"\nlog_level = \"info\"\nthreads = 4\n" + body
        let configuration = try ServerConfiguration.parse(toml: text, baseDirectory: dir.path)
        let path = try dir.write(text, to: "porter.toml")
        let porter = try PorterProcess(arguments: ["serve", "--config", path], logPath: dir.path("porter.log"))
        // Wait for the socket, or for the process to give up (a configuration error).
        let up = try await ConcurrentClients.offPool {
            for _ in 0..<300 {
                if PorterProcess.waitForSocket(dir.path("s"), timeout: .milliseconds(200)) { return true }
                if porter.waitForExit(timeout: .zero) != nil { return false }
            }
            return false
        }
        try #require(up, "porter did not start:\n\(porter.log)")
        let site = try NginxPorterSite(socketPath: dir.path("s"),
                                       locations: try locations ?? PorterApplication.porter.nginxLocations(for: configuration),
                                       staticFiles: staticFiles, configFiles: configFiles, sendFiles: sendFiles)
        return IdentitySite(porter: porter, site: site, configuration: configuration)
    }

    func stop() async {
        porter.signal(SIGTERM)
        _ = try? await ConcurrentClients.offPool { porter.waitForExit(timeout: .seconds(10)) }
        site.stop()
    }
}

/// A users database in `dir` with `demo` (password `right`, role admin) and `alice` (password `alice-pw`).
func makeUsers(in dir: TemporaryDirectory) throws -> SQLiteUserStore {
    let store = try SQLiteUserStore(path: dir.path("users.sqlite"), hasher: PasswordHasher(algorithm: .pbkdf2SHA256(iterations: 210_000)))
    try store.setPassword("right", for: "demo")
    try store.addRole("admin", to: "demo")
    try store.setPassword("alice-pw", for: "alice")
    return store
}
