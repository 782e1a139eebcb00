import Foundation
import Porter
import PorterHost
import PorterDemo
import PorterState
import PorterTesting
import Testing

/// The authentication module's options for a site whose admin area trusts nginx's `auth_basic`.
func trustedIdentityModules(extra: String = "") -> String {
    """
    [[modules]]
    name = "authentication"
    keys = ["\(freshKeyOption())"]
    trust_remote_user = true
    identity_snippet = "porter-identity.conf"
    identity_paths = ["/admin/"]
    roles_file = "roles"
    \(extra)
    [[modules]]
    name = "authorization"
    rules = [ { path = "/admin/", allow_roles = ["admin"], deny_users = ["*"] } ]
    login_url = "/login"

    [[handlers]]
    verb = "GET,HEAD"
    path = "/admin/*"
    handler = "echo"

    [[handlers]]
    path = "/echo"
    handler = "echo"

    """
}

/// Issue 10, item 1: an `Authorization: Basic` header is nobody's identity unless a location really authenticates.
@Suite("Identity from nginx: only behind a snippet that authenticates", .enabled(if: nginxAvailable, "nginx is not installed"), .serialized)
struct NginxIdentityTests {
    @Test("the shipped FastCGI snippet sends no REMOTE_USER for a Basic header with any password, nor a forged Host")
    func basicHeaderIsNotAnIdentity() async throws {
        let (server, site) = try NginxTests.site()
        let echo = try await site.client().fetch("/echo", headers: ["Authorization": basic("demo", "wrong")["Authorization"]!,
                                                                     "X-Remote-User": "admin"])
        #expect(echo.status == 200)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(echo.body)) as? [String: Any])
        let params = try #require(json["params"] as? [String: String])
        #expect(params["REMOTE_USER"] == nil, "nginx filled REMOTE_USER from the unchecked Basic header: \(params["REMOTE_USER"] ?? "")")
        #expect(params[NginxIdentity.markerParameter] == nil)
        #expect(json["user"] as? String == "", "anonymous")
        #expect(params["HTTP_HOST"] == "127.0.0.1", "Host is nginx's $host, not the raw header")
        site.stop()
        server.shutdown()
        await server.waitUntilStopped()
    }

    @Test("trust_remote_user (or trusted_param/header) without identity_snippet: serve and nginx-config refuse, naming the option")
    func trustWithoutSnippetIsAStartupError() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-trust")
        let text = """
            listen = "\(dir.path("s"))"
            [[modules]]
            name = "authentication"
            trust_remote_user = true
            [[handlers]]
            path = "/echo"
            handler = "echo"
            """
        let config = try dir.write(text, to: "porter.toml")
        let porter = try PorterProcess(arguments: ["serve", "--config", config], logPath: dir.path("serve.log"))
        let status = try await ConcurrentClients.offPool { porter.waitForExit(timeout: .seconds(20)) }
        #expect(status != nil && status != 0, "serve refused to start")
        #expect(porter.log.contains("trust_remote_user") && porter.log.contains("identity_snippet"), "\(porter.log)")
        #expect(!FileManager.default.fileExists(atPath: dir.path("s")), "no socket was opened")
        let rules = try PorterProcess(arguments: ["nginx-config", "--config", config], logPath: dir.path("rules.log"))
        #expect(try await ConcurrentClients.offPool { rules.waitForExit(timeout: .seconds(20)) } != 0)
        #expect(rules.log.contains("identity_snippet"))
        let header = try dir.write(text.replacingOccurrences(of: "trust_remote_user = true", with: "trusted_header = \"X-User\""), to: "h.toml")
        let second = try PorterProcess(arguments: ["serve", "--config", header], logPath: dir.path("serve2.log"))
        #expect(try await ConcurrentClients.offPool { second.waitForExit(timeout: .seconds(20)) } != 0)
        #expect(second.log.contains("trusted_header") && second.log.contains("identity_snippet"))
    }

    @Test("with the snippet and a real auth_basic: right password authenticates, wrong one is nginx's 401; other locations stay anonymous")
    func snippetAuthenticatesForReal() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-idsnip")
        try "admin: demo\n".write(toFile: dir.path("roles"), atomically: true, encoding: .utf8)
        let started = try await IdentitySite.start(trustedIdentityModules(), in: dir,
                                                   configFiles: ["porter.htpasswd": "demo:{PLAIN}right\n"])
        let rules = try PorterApplication.porter.nginxLocations(for: started.configuration)
        #expect(rules.contains("location ^~ /admin/ {\n    client_max_body_size 1;\n    include porter-fastcgi.conf;\n    include porter-identity.conf;\n}"), "\(rules)")
        #expect(rules.contains("location = /echo {\n    client_max_body_size 1m;\n    include porter-fastcgi.conf;\n}"), "only identity_paths get the snippet")
        let http = started.site.client()
        let none = try await http.fetch("/admin/x")
        #expect(none.status == 401 && none.headers["WWW-Authenticate"] == "Basic realm=\"Porter\"")
        var wrong = HTTPHeaders()
        wrong.add("Authorization", basic("demo", "wrong")["Authorization"]!)
        #expect(try await http.fetch("/admin/x", headers: wrong).status == 401, "nginx checks the password")
        var right = HTTPHeaders()
        right.add("Authorization", basic("demo", "right")["Authorization"]!)
        let admin = try await http.fetch("/admin/x", headers: right)
        #expect(admin.status == 200 && admin.text.contains(#""user":"demo""#), "\(admin.status) \(admin.text)")
        let elsewhere = try await http.fetch("/echo", headers: right)
        #expect(elsewhere.status == 200 && elsewhere.text.contains(#""user":"""#) && !elsewhere.text.contains("REMOTE_USER"),
                "a location without the snippet passes no identity, even with the right password")
        await started.stop()
    }

    @Test("trusting REMOTE_USER behind locations without the snippet (even ones passing fastcgi_params' REMOTE_USER): anonymous, login redirect")
    func unvouchedLocationsStayAnonymous() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-idbare")
        try "admin: demo\n".write(toFile: dir.path("roles"), atomically: true, encoding: .utf8)
        // A hand-written location of the kind the issue found: Debian's fastcgi_params, REMOTE_USER $remote_user, no auth_basic.
        let handWritten = """
            location ^~ /admin/ {
                include fastcgi_params;
                fastcgi_pass porter;
            }

            """
        let started = try await IdentitySite.start(trustedIdentityModules(), in: dir, locations: handWritten)
        let forged = try await started.site.client().fetch("/admin/x", headers: {
            var h = HTTPHeaders()
            h.add("Authorization", basic("demo", "wrong")["Authorization"]!)
            return h
        }())
        #expect(forged.status == 302, "a Basic header with a wrong password is anonymous: \(forged.status) \(forged.text)")
        #expect(forged.headers["Location"]?.hasPrefix("/login?returnUrl=") == true)
        await started.stop()
    }

    @Test("trusted_header: the snippet overwrites the client's header; elsewhere the header is ignored")
    func trustedHeaderIsOverwritten() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-idhdr")
        try "admin: demo\n".write(toFile: dir.path("roles"), atomically: true, encoding: .utf8)
        let shipped = try String(contentsOfFile: NginxPorterSite.repositoryRoot + "/nginx/porter-identity.conf", encoding: .utf8)
        let snippet = shipped.replacingOccurrences(of: "# fastcgi_param HTTP_X_REMOTE_USER", with: "fastcgi_param HTTP_X_REMOTE_USER")
        #expect(snippet != shipped, "the shipped snippet documents the header line")
        let modules = trustedIdentityModules().replacingOccurrences(of: "trust_remote_user = true", with: "trusted_header = \"X-Remote-User\"")
        let started = try await IdentitySite.start(modules, in: dir,
                                                   configFiles: ["porter.htpasswd": "demo:{PLAIN}right\n", "porter-identity.conf": snippet])
        var h = HTTPHeaders()
        h.add("Authorization", basic("demo", "right")["Authorization"]!)
        h.add("X-Remote-User", "root")
        let admin = try await started.site.client().fetch("/admin/x", headers: h)
        #expect(admin.status == 200 && admin.text.contains(#""user":"demo""#), "\(admin.text)")
        #expect(!admin.text.contains("root"), "the client's X-Remote-User never reaches Porter")
        var forged = HTTPHeaders()
        forged.add("X-Remote-User", "demo")
        let echo = try await started.site.client().fetch("/echo", headers: forged)
        #expect(echo.text.contains(#""user":"""#), "no snippet on /echo: the header is no identity")
        await started.stop()
    }
}
