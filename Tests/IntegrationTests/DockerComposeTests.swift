import Foundation
import Porter
import PorterHost
import PorterTesting
import Testing
import Glibc

/// The compose deployment without a container engine: the compose file parsed by docker-compose, the image's
/// exact CMD run as a non-root user against a temporary root laid out as the Dockerfile lays it out, behind
/// nginx started with the compose file's nginx configuration (its listen address included).
@Suite("Docker compose deployment, without an engine", .serialized)
struct DockerComposeTests {
    static let repo = NginxPorterSite.repositoryRoot
    static let composeAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/docker-compose")
    static let setprivAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    /// `docker-compose config` of deploy/docker-compose.yml, as JSON (through python3's yaml).
    static func composeConfig() throws -> [String: Any] {
        let yaml = try #require(PorterProcess.output(of: "/usr/bin/docker-compose", ["-f", repo + "/deploy/docker-compose.yml", "config"]),
                                "docker-compose config failed")
        let dir = try TemporaryDirectory(prefix: "porter-compose")
        let path = try dir.write(yaml, to: "compose.yml")
        let json = try #require(PorterProcess.output(of: "/usr/bin/python3", ["-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", path]))
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    /// The Dockerfile's final-stage instructions: `CMD` (exec form), `ENV` pairs, and `RUN` lines after `USER porter`.
    static func dockerfile(_ name: String = "Dockerfile") throws -> (cmd: [String], env: [String: String], runAsPorter: [String]) {
        let text = try String(contentsOfFile: repo + "/deploy/" + name, encoding: .utf8)
        // Join continuation lines.
        let lines = text.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n").map(String.init)
        var cmd: [String] = []
        var env: [String: String] = [:]
        var runs: [String] = []
        var asPorter = false
        for line in lines {
            if line.hasPrefix("USER porter") { asPorter = true }
            if line.hasPrefix("CMD ") {
                cmd = try #require(try JSONSerialization.jsonObject(with: Data(line.dropFirst(4).utf8)) as? [String])
            }
            if line.hasPrefix("ENV ") {
                let pair = line.dropFirst(4).split(separator: "=", maxSplits: 1).map(String.init)
                if pair.count == 2 { env[pair[0]] = pair[1] }
            }
            if asPorter && line.hasPrefix("RUN ") { runs.append(String(line.dropFirst(4))) }
        }
        return (cmd, env, runs)
    }

    @Test("the compose file parses; nginx listens on every address, waits for a healthy porter; both have healthchecks",
          .enabled(if: composeAvailable, "docker-compose (Debian's) is not installed"))
    func composeParses() throws {
        let config = try Self.composeConfig()
        let services = try #require(config["services"] as? [String: Any])
        let nginx = try #require(services["nginx"] as? [String: Any])
        let porter = try #require(services["porter"] as? [String: Any])
        let script = try #require((nginx["command"] as? [String])?.last)
        #expect(script.contains("listen 8080;"))
        #expect(((nginx["depends_on"] as? [String: Any])?["porter"] as? [String: Any])?["condition"] as? String == "service_healthy")
        #expect((porter["healthcheck"] as? [String: Any])?["test"] as? [String] != nil)
        #expect((nginx["healthcheck"] as? [String: Any])?["test"] as? [String] != nil)
        let build = try #require(porter["build"] as? [String: Any])
        let context = try #require(build["context"] as? String)
        #expect(FileManager.default.fileExists(atPath: context + "/.dockerignore"), "the .dockerignore sits in the build context root")
        #expect(FileManager.default.fileExists(atPath: context + "/" + (build["dockerfile"] as? String ?? "")))
    }

    @Test("the image's CMD serves /hello, a feed and a resized image as a non-root user, behind the compose nginx",
          .enabled(if: composeAvailable, "docker-compose (Debian's) is not installed"),
          .enabled(if: nginxAvailable, "nginx is not installed"),
          .enabled(if: setprivAvailable && getuid() == 0, "needs root and setpriv to run the CMD as another (non-root) user"))
    func imageCommandBehindComposeNginx() async throws {
        let config = try Self.composeConfig()
        let (cmd, env, runs) = try Self.dockerfile()
        #expect(cmd.first == "porter")
        let stateDirectory = try #require(env["STATE_DIRECTORY"])
        let services = try #require(config["services"] as? [String: Any])
        let nginxService = try #require(services["nginx"] as? [String: Any])
        let porterService = try #require(services["porter"] as? [String: Any])

        // The root the image has: /etc/porter/porter.toml, the state directory and /run/porter owned by the
        // (non-root) user, the keys file compose mounts, the sample content the Dockerfile's RUN writes.
        let root = try TemporaryDirectory(prefix: "porter-img")
        chmod(root.path, 0o755)
        func inRoot(_ s: String) -> String {
            s.replacingOccurrences(of: "/etc/porter", with: root.path + "/etc/porter")
             .replacingOccurrences(of: "/run/porter", with: root.path + "/run/porter")
             .replacingOccurrences(of: "/var/lib/porter", with: root.path + "/var/lib/porter")
        }
        let nobody: uid_t = 65534
        for dir in ["/etc/porter", "/run/porter", stateDirectory] {
            try FileManager.default.createDirectory(atPath: inRoot(dir), withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: Self.repo + "/deploy/porter.toml", toPath: inRoot("/etc/porter/porter.toml"))
        let keysTarget = try #require((porterService["volumes"] as? [Any])?.compactMap { v -> String? in
            let s = (v as? String) ?? ((v as? [String: Any])?["target"] as? String) ?? ""
            guard s.contains("auth.keys") else { return nil }
            return s.split(separator: ":").count >= 2 ? String(s.split(separator: ":")[1]) : s
        }.first, "compose mounts the keys file")
        #expect(keysTarget.hasPrefix(stateDirectory), "the keys file is mounted where the state directory resolves it")
        FileManager.default.createFile(atPath: inRoot(keysTarget), contents: Data((String(repeating: "ab", count: 32) + "\n").utf8),
                                       attributes: [.posixPermissions: 0o600])
        for dir in ["/run/porter", stateDirectory] { chown(inRoot(dir), nobody, nobody) }
        chown(inRoot(keysTarget), nobody, nobody)
        func asNobody(_ arguments: [String]) -> [String] {
            ["--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups", "--"] + arguments
        }
        let products = PorterProcess.productsDirectory
        for run in runs {
            let result = PorterProcess.output(of: "/usr/bin/setpriv", asNobody(["/bin/sh", "-c", "cd \(inRoot(stateDirectory)) && PATH=\(products):$PATH && \(run)"]))
            #expect(result != nil, "RUN \(run) failed as a non-root user")
        }

        // The CMD, exactly, with the root's paths.
        let arguments = cmd.dropFirst().map(inRoot)
        let log = try TemporaryDirectory(prefix: "porter-imglog")
        let porter = try PorterProcess(arguments: asNobody([PorterProcess.binaryPath()] + arguments), logPath: log.path("porter.log"),
                                       environment: ["STATE_DIRECTORY": inRoot(stateDirectory)], executable: "/usr/bin/setpriv",
                                       workingDirectory: inRoot(stateDirectory))
        let socket = inRoot("/run/porter/porter.sock")
        #expect(try await ConcurrentClients.offPool { PorterProcess.waitForSocket(socket) }, "porter started: \(porter.log)")

        // The porter healthcheck, as compose runs it.
        let health = try #require((porterService["healthcheck"] as? [String: Any])?["test"] as? [String])
        #expect(health.first == "CMD" && health.dropFirst().first == "porter")
        // Docker retries it until healthy (the workers may still be starting): so does this, with a hang guard.
        let probe = Array(health.dropFirst(2).map(inRoot))
        try await waitUntil("the compose healthcheck to pass; log:\n\(porter.log)") {
            try await ConcurrentClients.offPool { PorterProcess.output(of: PorterProcess.binaryPath(), probe)?.contains("pong") == true }
        }

        // nginx with the compose command's rendering of nginx/porter.conf (listen on every address).
        let script = try #require((nginxService["command"] as? [String])?.last)
        let sedPart = try #require(script.components(separatedBy: " > ").first)
        let site = try #require(PorterProcess.output(of: "/bin/sh", ["-c", sedPart.replacingOccurrences(of: "/etc/porter-nginx/porter.conf", with: Self.repo + "/nginx/porter.conf")]))
        #expect(site.contains("listen 8080;") && !site.contains("listen 127.0.0.1"))
        let ports = (nginxService["ports"] as? [Any]) ?? []
        #expect(ports.contains { "\($0)".contains("8080") }, "compose publishes the port nginx listens on")
        let www = try TemporaryDirectory(prefix: "porter-cwww")
        let cache = try TemporaryDirectory(prefix: "porter-ccache")
        let rendered = NginxConfig.render(site: site.replacingOccurrences(of: "listen 8080;", with: "listen {{PORT}};"),
                                          socket: socket, root: www.path, listen: "", includeDirectory: "{{PREFIX}}", cacheDirectory: cache.path)
        var files: [String: String] = [:]
        for volume in (nginxService["volumes"] as? [Any]) ?? [] {
            let s = (volume as? String) ?? ""
            let parts = s.split(separator: ":").map(String.init)
            guard parts.count >= 2, parts[1].hasPrefix("/etc/nginx/"), parts[1] != "/etc/nginx/conf.d/porter.conf" else { continue }
            files[(parts[1] as NSString).lastPathComponent] = try String(contentsOfFile: parts[0], encoding: .utf8)
        }
        #expect(files.keys.contains("porter-locations.conf") && files.keys.contains("porter-fastcgi.conf"))
        let nginx = try NginxHarness(http: rendered, files: files, errorLogLevel: "warn")
        defer { nginx.stop() }
        let http = nginx.client()
        let hello = try await http.fetch("/hello")
        #expect(hello.status == 200 && hello.text == "Hello, world\n", "\(hello.status) \(hello.text)\nnginx: \(nginx.errorLog)\nporter: \(porter.log)")
        let feed = try await http.fetch("/news.rss")
        #expect(feed.status == 200 && feed.text.contains("<rss"), "feed: \(feed.status) \(feed.text.prefix(300))")
        let image = try await http.fetch("/images/sunset.jpg?p=thumb")
        #expect(image.status == 200 && image.headers["Content-Type"]?.hasPrefix("image/") == true && image.body.count > 100,
                "image: \(image.status) \(image.headers["Content-Type"] ?? "-") \(image.text.prefix(200))\nporter: \(porter.log.suffix(1500))")
        // Data went under the state directory, nothing under /etc/porter.
        #expect(FileManager.default.fileExists(atPath: inRoot(stateDirectory + "/data/feeds.sqlite")))
        #expect((try? FileManager.default.contentsOfDirectory(atPath: inRoot("/etc/porter"))) == ["porter.toml"])
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
        withExtendedLifetime((root, log, www, cache)) {}
    }
}
