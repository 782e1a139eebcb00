import Foundation
import Porter
import PorterHost
import PorterDemo
import PorterState
import PorterTesting
import Testing

/// A site with cookie login and `GET /download/*` (the `download` handler: `response.sendFile`) for signed-in users.
func sendFileSiteTOML() -> String {
    """
    [[modules]]
    name = "authentication"
    keys = ["\(freshKeyOption())"]
    users_database = "users.sqlite"

    [[modules]]
    name = "authorization"
    rules = [ { path = "/download/", deny_users = ["?"] } ]
    login_url = "/login"

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
    path = "/download/*"
    handler = "download"

    [[handlers]]
    verb = "GET,HEAD"
    path = "*.txt"
    handler = "echo"

    """
}

/// Issue 12, item 4: Response.TransmitFile as X-Accel-Redirect to an internal location the generated config declares.
@Suite("sendFile through nginx (X-Accel-Redirect)", .enabled(if: nginxAvailable, "nginx is not installed"), .serialized)
struct SendFileNginxTests {
    static let report = "0123456789 the report nginx sends\n"

    @Test("signed-in users get the bytes from nginx (Range → 206, HEAD); anonymous → login; traversal and the internal location refused")
    func downloadThroughNginx() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-sendfile")
        _ = try makeUsers(in: dir)
        let started = try await IdentitySite.start(sendFileSiteTOML(), in: dir,
                                                   sendFiles: ["report.txt": Self.report, "sub/inner.txt": "inner\n", ".htpasswd": "demo:hash\n",
                                                               "sub/.env": "KEY=secret\n"])
        defer { Task { await started.stop() } }
        let site = started.site
        // A file next to the files directory that no request may reach.
        _ = try dir.write("top secret\n", to: "secret.txt")
        let anonymous = Browser(site)
        let denied = try await anonymous.fetch("/download/report.txt")
        #expect(denied.status == 302)
        #expect(denied.headers["Location"]?.hasPrefix("/login?returnUrl=") == true)
        #expect(!denied.text.contains("the report"))

        let browser = Browser(site)
        let login = try await browser.login("demo", "right")
        #expect(login.status == 303, "\(login.status) \(login.text)")
        let got = try await browser.fetch("/download/report.txt")
        #expect(got.status == 200)
        #expect(got.text == Self.report)
        #expect(got.headers["X-Accel-Redirect"] == nil, "nginx consumes the redirect header")
        #expect(got.headers["Content-Disposition"] == "attachment; filename=\"report.txt\"")
        #expect(got.headers["Content-Type"]?.hasPrefix("text/plain") == true, "nginx's type for the file, not Porter's")
        // The *.txt route (a regex location) must not take the internal redirect to Porter.
        #expect(!got.text.contains("\"method\""))
        let inner = try await browser.fetch("/download/sub/inner.txt")
        #expect(inner.status == 200 && inner.text == "inner\n")

        let range = try await browser.fetch("/download/report.txt", headers: ["Range": "bytes=0-9"])
        #expect(range.status == 206)
        #expect(range.text == "0123456789")
        #expect(range.headers["Content-Range"] == "bytes 0-9/\(Self.report.utf8.count)")
        let head = try await browser.fetch("/download/report.txt", method: "HEAD")
        #expect(head.status == 200 && head.text.isEmpty)
        #expect(head.headers["Content-Length"] == "\(Self.report.utf8.count)")
        let missing = try await browser.fetch("/download/nothing.txt")
        #expect(missing.status == 404)

        // Path tricks: nginx decodes and normalises the path before choosing a location (dot segments that
        // leave /download/ land elsewhere: here the *.txt echo route or a static 404), and Porter refuses any name
        // with a dot or empty segment or an unsafe character (400). Nothing outside the directory is ever sent.
        for attack in ["/download/x/%2e%2e/report.txt", "/download/%2e%2e/secret.txt", "/download/..%2fsecret.txt",
                       "/download/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/download/sub//inner.txt", "/download/../secret.txt",
                       "/DOWNLOAD/../download/report.txt", "/download/%2E%2E/%2E%2E/secret.txt"] {
            let response = try await browser.fetch(attack)
            #expect(!response.text.contains("top secret") && !response.text.contains("root:"), "\(attack): \(response.status)")
            if response.status == 200 { #expect([Self.report, "inner\n"].contains(response.text) || response.text.contains("\"method\""), "\(attack)") }
        }
        // Hidden files in the files directory are never sent (attack pass 30: `/download/.htaccess` reached nginx).
        for hidden in ["/download/.htpasswd", "/download/sub/.env", "/download/%2Ehtpasswd"] {
            let response = try await browser.fetch(hidden)
            #expect(response.status == 400 && !response.text.contains("demo:hash") && !response.text.contains("KEY="), "\(hidden): \(response.status)")
        }
        for bad in ["/download/a%20b.txt", "/download/report.txt%00.png", "/download/", "/download/.hidden%3f", "/download/caf%C3%A9.txt"] {
            let response = try await browser.fetch(bad)
            #expect([400, 404].contains(response.status), "\(bad): \(response.status)")
            #expect(!response.text.contains("the report"), "\(bad)")
        }
        // Symbolic links below the files directory are not followed (disable_symlinks): a link to a file outside it, to a
        // directory outside it (404: nginx's openat of the link as a directory fails with ENOTDIR) or to a file inside it is
        // refused. Without the directive every one of these is 200.
        let files = started.site.files
        #expect(symlink(dir.path("secret.txt"), files.path("leak.txt")) == 0)
        #expect(symlink(dir.path, files.path("outside")) == 0)
        #expect(symlink(files.path("report.txt"), files.path("alias.txt")) == 0)
        #expect(symlink(dir.path("secret.txt"), files.path("sub/deep.txt")) == 0)
        for (link, status) in [("/download/leak.txt", 403), ("/download/outside/secret.txt", 404), ("/download/alias.txt", 403),
                               ("/download/sub/deep.txt", 403)] {
            let response = try await browser.fetch(link)
            #expect(response.status == status && !response.text.contains("top secret") && !response.text.contains("the report"),
                    "\(link): \(response.status)")
        }
        #expect(try await browser.fetch("/download/report.txt").text == Self.report, "plain files are still sent")
        // The internal location is not reachable from a client, signed in or not.
        for client in [anonymous, browser] {
            let direct = try await client.fetch("/_porter/files/report.txt")
            #expect(direct.status == 404)
            #expect(!direct.text.contains("the report"))
        }
        // A client-sent X-Accel-Redirect is just a request header: anonymous still gets the login redirect.
        let forged = try await anonymous.fetch("/download/report.txt", headers: ["X-Accel-Redirect": "/_porter/files/report.txt"])
        #expect(forged.status == 302 && !forged.text.contains("the report"))
    }

    @Test("nginx-config declares the internal location once, as ^~, aliasing $porter_files; the site file sets $porter_files")
    func generatedConfig() throws {
        let configuration = try ServerConfiguration.parse(toml: sendFileSiteTOML(), baseDirectory: "/srv/x")
        let locations = try PorterApplication.porter.nginxLocations(for: configuration)
        #expect(locations.contains("location ^~ /_porter/files/ {\n    internal;\n    alias $porter_files/;\n    disable_symlinks on from=$document_root;\n}\n"))
        #expect(locations.components(separatedBy: "/_porter/files/").count == 2)
        let site = NginxConfig.render(site: try String(contentsOfFile: NginxPorterSite.repositoryRoot + "/nginx/porter.conf", encoding: .utf8),
                                      socket: "/run/s", root: "/srv/site/www", listen: "127.0.0.1:1", includeDirectory: "/etc/x",
                                      cacheDirectory: "/var/c")
        #expect(site.contains("default \"/srv/site/files\";"))
        #expect(throws: ConfigurationError.self) {
            _ = try PorterApplication.porter.nginxLocations(for: try ServerConfiguration.parse(
                toml: sendFileSiteTOML().replacingOccurrences(of: "handler = \"download\"", with: "handler = \"download\"\nlocation = \"/../x/\""),
                baseDirectory: "/srv/x"))
        }
    }
}
