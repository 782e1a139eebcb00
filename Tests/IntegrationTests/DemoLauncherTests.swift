import Foundation
import PorterTesting
import Testing

/// Issue 10, item 5: `deploy/dev.sh demo` as a user runs it (as root, on Debian): a fresh private directory,
/// nginx's workers as www-data, Porter's socket 0660 to their group, and the site serving.
@Suite("Edge: the demo launcher", .serialized,
       .enabled(if: NginxHarness.isAvailable && geteuid() == 0 && getpwnam("www-data") != nil, "needs root, nginx and the www-data user"))
struct DemoLauncherTests {
    /// The `user` of a process from /proc (real uid), or nil.
    static func uid(of pid: Int32) -> uid_t? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { uid_t($0) }
        }
        return nil
    }

    /// The children of `parent` (from /proc/*/stat).
    static func children(of parent: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent
        }
    }

    /// Starts `arguments` with default signal handling and no blocked signals (the test runner's threads block some,
    /// and a shell cannot trap a signal blocked or ignored at entry), output to `log`, in its own process group.
    static func spawn(_ arguments: [String], environment: [String: String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, &attributes, &argv, &envp)
        guard rc == 0 else { throw SpawnFailure(code: rc) }
        return pid
    }

    /// Sends `signal` to `pid` and reaps it (SIGKILL to its process group after 60 s); its exit status, or 128+signal.
    @discardableResult
    static func stop(_ pid: pid_t, signal: Int32) -> Int32? {
        kill(pid, signal)
        let deadline = ContinuousClock.now + .seconds(60)
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
            if reaped < 0 { return nil }
            usleep(20_000)
        }
        kill(-pid, SIGKILL)
        waitpid(pid, &status, 0)
        return nil
    }

    @Test("deploy/dev.sh demo: mktemp directory, socket 0660 group www-data, nginx workers as www-data, / and handlers serve")
    func launcherLayout() async throws {
        let repo = NginxPorterSite.repositoryRoot
        let port = try LocalPorts.free()
        let logs = try TemporaryDirectory(prefix: "porter-launch")
        var environment = ProcessInfo.processInfo.environment
        environment["PORTER_BIN"] = PorterProcess.binaryPath()
        environment["PORTER_SKIP_PACKAGES"] = "1"
        environment["PORTER_DEMO_LISTEN"] = "127.0.0.1:\(port)"
        environment["PATH"] = (environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        let launcher = try Self.spawn(["/bin/bash", repo + "/deploy/dev.sh", "demo"], environment: environment, log: logs.path("launcher.log"))
        var stopped = false
        defer { if !stopped { kill(-launcher, SIGTERM); Self.stop(launcher, signal: SIGTERM); kill(-launcher, SIGKILL) } }

        #expect(try await eventually(timeout: .seconds(120)) { logs.read("launcher.log").contains("demo running") },
                "the launcher started: \(logs.read("launcher.log"))")
        let line = try #require(logs.read("launcher.log").split(separator: "\n").first { $0.contains("demo directory: ") })
        let run = String(line[line.range(of: "demo directory: ")!.upperBound...].split(separator: " ")[0])
        #expect(run.contains("/porter-demo.") && run != "/tmp/porter-demo", "a fresh mktemp directory, not a fixed path: \(run)")

        let www = try #require(getpwnam("www-data")).pointee
        var st = stat()
        #expect(lstat(run, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR && st.st_uid == 0)
        #expect(st.st_mode & 0o777 == 0o711, "others may pass through, not list")
        #expect(lstat(run + "/porter.sock", &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK)
        #expect(st.st_mode & 0o777 == 0o660, "mode \(String(st.st_mode & 0o777, radix: 8))")
        #expect(st.st_gid == www.pw_gid, "the socket belongs to nginx's group")
        #expect(lstat(run + "/state/data", &st) == 0 && st.st_mode & 0o777 == 0o700, "databases stay private")
        #expect(lstat(run + "/state/auth.key", &st) == 0 && st.st_mode & 0o777 == 0o600, "keys stay private")
        #expect(lstat(run + "/state/www", &st) == 0 && st.st_mode & 0o777 == 0o755, "nginx serves www/")

        let master = try #require(Int32(String(decoding: FileManager.default.contents(atPath: run + "/nginx/nginx.pid") ?? Data(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        let workers = Self.children(of: master)
        #expect(!workers.isEmpty)
        for worker in workers { #expect(Self.uid(of: worker) == www.pw_uid, "nginx worker \(worker) runs as www-data") }

        let http = HTTPTestClient(port: port)
        let front = try await http.fetch("/")
        #expect(front.status == 200 && front.text.contains("Porter demo"), "www/ is readable by nginx's workers")
        #expect(try await http.fetch("/hello").text == "Hello, world\n", "nginx's workers can use Porter's socket")
        // The public form routes take 16 KB, not the server's 1 MB (attack pass 31: 1 MB forms from one client slowed
        // every route); nginx refuses more before Porter parses anything.
        let bigForm = Array(repeating: UInt8(ascii: "a"), count: 20_000)
        for path in ["/echo", "/sample.ashx"] {
            #expect(try await http.post(path, body: bigForm).status == 413, "\(path)")
            #expect(try await http.post(path, body: Array("a=1".utf8)).status == 200, "\(path)")
        }
        // Issue 13: the demo's feeds are cached by nginx (`edge_cache = 1`, written as www-data): repeats are HITs with
        // the same bytes; any Cookie (a signed-in visitor) bypasses the cache; a forged Host neither puts itself into the
        // document's links nor changes what other visitors get.
        let feed = try await http.fetch("/news.rss")
        #expect(feed.status == 200 && feed.text.contains("<rss version=\"2.0\""))
        try await waitUntil("a cache HIT for the demo's feed") { try await http.fetch("/news.rss").headers["X-Cache-Status"] == "HIT" }
        #expect(try await http.fetch("/news.rss").body == feed.body)
        #expect(try await http.fetch("/news.rss", headers: ["Cookie": "porter_auth=forged"]).headers["X-Cache-Status"] == "BYPASS")
        let forged = try await http.fetch("/news.rss", headers: ["Host": "evil.example"])
        #expect(forged.status == 200 && !forged.text.contains("evil.example"), "links come from site_url, never from Host")
        #expect(try await http.fetch("/news.rss").body == feed.body)
        for _ in 0..<2 {
            let missing = try await http.fetch("/nope.rss")
            #expect(missing.status == 404 && missing.headers["X-Cache-Status"] != "HIT", "a 404 is not cached")
        }
        let thumb = try await http.fetch("/images/sunset.jpg?p=thumb")
        #expect(thumb.status == 200 && thumb.headers["Content-Type"] == "image/jpeg", "resizes are cached by nginx as www-data")
        let signed = try #require(front.text.range(of: #"/images/sunset\.jpg\?w=300&amp;sig=[A-Za-z0-9_-]+"#, options: .regularExpression))
        #expect(try await http.fetch(front.text[signed].replacingOccurrences(of: "&amp;", with: "&")).status == 200,
                "the front page links signed URLs")
        // Issue 12: the protected static file and the sendFile download ask anonymous visitors to sign in first,
        // and the sendFile directory is not under www/ (the signed-in flow is SendFileNginxTests/StaticAuthorizationNginxTests).
        for path in ["/private/note.txt", "/download/report.txt"] {
            let denied = try await http.fetch(path)
            #expect(denied.status == 302 && denied.headers["Location"]?.contains("/login?returnUrl=") == true, "\(path): \(denied.status)")
        }
        #expect(try await http.fetch("/_porter/files/report.txt").status == 404)
        #expect(try await http.fetch("/files/report.txt").status == 404)
        #expect(lstat(run + "/state/files/report.txt", &st) == 0 && st.st_mode & 0o777 == 0o644, "nginx's workers read the files directory")

        // SIGTERM, as Ctrl-C or a service manager would: the launcher stops Porter and nginx and removes its directory.
        let status = try await ConcurrentClients.offPool { Self.stop(launcher, signal: SIGTERM) }
        stopped = true
        #expect(status == 130, "the launcher exits through its trap")
        #expect(!FileManager.default.fileExists(atPath: run), "the demo directory is removed on exit")
        #expect(kill(master, 0) != 0, "nginx stopped")
    }
}

/// `posix_spawn` failed.
struct SpawnFailure: Error {
    let code: Int32
}
