// Porter — PorterTesting: helpers shared by the pipeline, FastCGI and nginx test tiers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Why nginx could not be started.
public enum NginxHarnessError: Error, Sendable, CustomStringConvertible {
    /// No nginx binary was found (or `SKIP_NGINX_TESTS=1`).
    case unavailable
    /// `posix_spawn` failed.
    case spawnFailed(errno: Int32)
    /// nginx exited during start-up; `log` has its stderr and error log.
    case exited(status: Int32, log: String)
    /// nginx did not become ready in time; `log` has its stderr and error log.
    case notReady(log: String)

    /// A one-line summary followed by nginx's own messages.
    public var description: String {
        switch self {
        case .unavailable: return "nginx is not available (set NGINX_BIN, or unset SKIP_NGINX_TESTS)"
        case .spawnFailed(let code): return "could not spawn nginx: \(String(cString: strerror(code)))"
        case .exited(let status, let log): return "nginx exited during start-up (status \(status)):\n\(log)"
        case .notReady(let log): return "nginx did not become ready:\n\(log)"
        }
    }
}

/// Runs a real nginx with a given `http`-level configuration in its own temporary prefix.
///
/// ```swift
/// @Test(.enabled(if: NginxHarness.isAvailable))
/// func servesFeed() throws {
///     let nginx = try NginxHarness(http: """
///         server {
///             listen 127.0.0.1:{{PORT}};
///             location / { return 200 "hi\\n"; }
///         }
///         """)
///     defer { nginx.stop() }
///     #expect(try nginx.client().get("/").text == "hi\n")
/// }
/// ```
/// The harness writes `PREFIX/nginx.conf` (`daemon off`, `master_process on`, `worker_processes 1`,
/// pid, logs and every `*_temp_path` under the prefix, `include /etc/nginx/mime.types`, plus `user root`
/// only when running as uid 0), copies `fastcgi_params`/`fastcgi.conf` from `/etc/nginx` into the prefix so
/// relative `include fastcgi_params;` works, replaces `{{PORT}}` with a free 127.0.0.1 port and
/// `{{PREFIX}}` with the prefix path (no trailing slash; short, so `{{PREFIX}}/porter.sock` is a valid
/// unix socket path), starts `nginx -p PREFIX/ -c nginx.conf`, and waits until the pid file exists and
/// (if the configuration uses `{{PORT}}`) the port accepts; nginx writes the pid file
/// after binding its listeners. ``stop()`` (also run on deinit) sends SIGQUIT, then SIGKILL to nginx's process group.
public final class NginxHarness: Sendable {
    /// The temporary prefix holding the configuration, logs and temp paths.
    public let prefix: TemporaryDirectory
    /// The 127.0.0.1 port substituted for `{{PORT}}`.
    public let port: UInt16
    /// The full nginx.conf that was written.
    public let configuration: String
    /// The nginx binary used.
    public let binary: String
    private let process = Mutex<pid_t?>(nil)

    /// Whether nginx tests can run: `SKIP_NGINX_TESTS` is not `1` and a binary is found.
    public static var isAvailable: Bool { binaryPath() != nil }

    /// `NGINX_BIN` if set and executable, else the first of `/usr/sbin/nginx`, `/usr/local/sbin/nginx`,
    /// `/usr/local/nginx/sbin/nginx` or `nginx` on `PATH`; `nil` when `SKIP_NGINX_TESTS=1`.
    public static func binaryPath() -> String? {
        let environment = ProcessInfo.processInfo.environment
        if environment["SKIP_NGINX_TESTS"] == "1" { return nil }
        if let configured = environment["NGINX_BIN"], !configured.isEmpty {
            return access(configured, X_OK) == 0 ? configured : nil
        }
        var candidates = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"]
        for directory in (environment["PATH"] ?? "").split(separator: ":") { candidates.append("\(directory)/nginx") }
        return candidates.first { access($0, X_OK) == 0 }
    }

    /// Starts nginx with `http` placed inside the `http { }` block (one or more `server { }` blocks and
    /// any http-level directives such as `upstream`).
    /// - Parameters:
    ///   - files: extra files to write into the prefix before start (name → contents; `{{PORT}}`/`{{PREFIX}}` substituted).
    ///   - errorLogLevel: the `error_log` level (`info` shows connection-level events).
    ///   - startTimeout: how long to wait for nginx to accept connections (a hang guard).
    public init(http: String, files: [String: String] = [:], errorLogLevel: String = "info",
                startTimeout: Duration = hangGuard) throws {
        guard let binary = NginxHarness.binaryPath() else { throw NginxHarnessError.unavailable }
        self.binary = binary
        var attempt = 0
        while true {
            attempt += 1
            let prefix = try TemporaryDirectory(prefix: "porter-nginx")
            let port = try LocalPorts.free()
            let configuration = NginxHarness.render(http: http, prefix: prefix.path, port: port, errorLogLevel: errorLogLevel)
            try NginxHarness.prepare(prefix: prefix, configuration: configuration, files: files, port: port)
            let pid = try NginxHarness.spawn(binary: binary, prefix: prefix.path)
            do {
                try NginxHarness.waitUntilReady(pid: pid, prefix: prefix, port: http.contains("{{PORT}}") ? port : nil,
                                                timeout: startTimeout)
            } catch NginxHarnessError.exited(let status, let log) where attempt < 3 && log.contains("Address already in use") {
                _ = status
                continue  // another process took the port between picking and binding it
            } catch {
                NginxHarness.terminate(pid)
                throw error
            }
            self.prefix = prefix
            self.port = port
            self.configuration = configuration
            process.withLock { $0 = pid }
            NginxHarness.running(pid)
            return
        }
    }

    deinit { stop() }

    /// The process id of the nginx master, while running.
    public var pid: pid_t? { process.withLock { $0 } }

    /// Whether the nginx master is still running.
    public var isRunning: Bool {
        process.withLock { pid in
            guard let current = pid else { return false }
            var status: Int32 = 0
            if waitpid(current, &status, WNOHANG) == current {
                pid = nil
                return false
            }
            return true
        }
    }

    /// The error log so far (start-up messages from stderr included).
    public var errorLog: String { prefix.read("logs/stderr.log") + prefix.read("logs/error.log") }

    /// The access log so far.
    public var accessLog: String { prefix.read("logs/access.log") }

    /// `http://127.0.0.1:PORT` followed by `path`.
    public func url(_ path: String = "/") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// An HTTP client for this nginx's port (`timeout` bounds each exchange: a hang guard).
    public func client(keepAlive: Bool = false, timeout: Duration = hangGuard) -> HTTPTestClient {
        HTTPTestClient(port: port, keepAlive: keepAlive, timeout: timeout)
    }

    /// Asks nginx to re-read its configuration files (SIGHUP), e.g. after changing files in the prefix.
    /// Returns at once; use ``reloadAndWait(timeout:)`` to know when the new configuration serves.
    public func reload() {
        if let pid { kill(pid, SIGHUP) }
    }

    /// The pids of the master's worker processes now (its children named `nginx: worker process`).
    public var workerPIDs: Set<pid_t> {
        guard let master = pid else { return [] }
        return ProcessTable.children(of: master).filter { ProcessTable.commandLine(of: $0).contains("worker process") }
    }

    /// Reloads the configuration (SIGHUP) and waits until nginx serves with it: a worker started after the
    /// signal runs and every worker from before has exited. Throws ``WaitTimedOut`` (with the error log)
    /// if that does not happen within `timeout`, e.g. because the new configuration is invalid.
    public func reloadAndWait(timeout: Duration = hangGuard) async throws {
        let before = workerPIDs
        reload()
        try await waitUntil("nginx to reload (workers before \(before.sorted()), now \(workerPIDs.sorted())); error log:\n\(errorLog)",
                            timeout: timeout) {
            let now = workerPIDs
            return !now.isEmpty && now.isDisjoint(with: before)
        }
    }

    /// Stops nginx: SIGQUIT (graceful), then after `grace` SIGKILL to its whole process group. Idempotent.
    public func stop(grace: Duration = .seconds(10)) {
        guard let pid = process.withLock({ value -> pid_t? in defer { value = nil }; return value }) else { return }
        defer { NginxHarness.live.withLock { _ = $0.remove(pid) } }
        kill(pid, SIGQUIT)
        let deadline = ContinuousClock.now.advanced(by: grace)
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result < 0 && errno == ECHILD) { return }
            usleep(10_000)
        }
        NginxHarness.terminate(pid)
    }

    // MARK: - Start-up

    static func render(http: String, prefix: String, port: UInt16, errorLogLevel: String) -> String {
        let snippet = substitute(http, prefix: prefix, port: port)
        let mimeTypes = access("/etc/nginx/mime.types", R_OK) == 0 ? "    include /etc/nginx/mime.types;\n" : ""
        return """
        # Written by PorterTesting.NginxHarness
        \(geteuid() == 0 ? "user root;\n" : "")daemon off;
        master_process on;
        worker_processes 1;
        pid \(prefix)/nginx.pid;
        error_log \(prefix)/logs/error.log \(errorLogLevel);

        events {
            worker_connections 1024;
        }

        http {
        \(mimeTypes)    default_type application/octet-stream;
            access_log \(prefix)/logs/access.log;
            client_body_temp_path \(prefix)/temp/client_body;
            proxy_temp_path \(prefix)/temp/proxy;
            fastcgi_temp_path \(prefix)/temp/fastcgi;
            uwsgi_temp_path \(prefix)/temp/uwsgi;
            scgi_temp_path \(prefix)/temp/scgi;

        \(snippet)
        }

        """
    }

    static func substitute(_ text: String, prefix: String, port: UInt16) -> String {
        text.replacingOccurrences(of: "{{PORT}}", with: String(port)).replacingOccurrences(of: "{{PREFIX}}", with: prefix)
    }

    private static func prepare(prefix: TemporaryDirectory, configuration: String, files: [String: String], port: UInt16) throws {
        for directory in ["logs", "temp"] { try prefix.makeDirectory(directory) }
        for name in ["fastcgi_params", "fastcgi.conf", "mime.types"] {
            if let data = FileManager.default.contents(atPath: "/etc/nginx/\(name)") {
                try prefix.write(String(decoding: data, as: UTF8.self), to: name)
            }
        }
        for (name, contents) in files {
            try prefix.write(substitute(contents, prefix: prefix.path, port: port), to: name)
        }
        try prefix.write(configuration, to: "nginx.conf")
    }

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+; declared only under _GNU_SOURCE, so looked up).
    private static func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ lowest: Int32) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, lowest)
    }

    private static func spawn(binary: String, prefix: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "\(prefix)/logs/stderr.log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // nginx lives for a whole test: it must not keep other tests' descriptors open. A pipe's write end it inherited
        // (a test reading git's output to EOF at the same moment) never closed while nginx ran, and that read held a
        // thread of the cooperative pool until a CI run stalled. glibc's closefrom action closes every descriptor >= 3.
        Self.addCloseFrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE, SIGALRM, SIGWINCH] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let arguments = [binary, "-p", prefix + "/", "-c", "nginx.conf", "-e", "\(prefix)/logs/stderr.log"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, binary, &actions, &attributes, &argv, environ)
        guard result == 0 else { throw NginxHarnessError.spawnFailed(errno: result) }
        return pid
    }

    private static func waitUntilReady(pid: pid_t, prefix: TemporaryDirectory, port: UInt16?, timeout: Duration) throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        func log() -> String { prefix.read("logs/stderr.log") + prefix.read("logs/error.log") }
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw NginxHarnessError.exited(status: status, log: log())
            }
            if access(prefix.path("nginx.pid"), F_OK) == 0 && (port.map { LocalPorts.isAccepting(port: $0) } ?? true) { return }
            usleep(20_000)
        }
        throw NginxHarnessError.notReady(log: log())
    }

    /// The nginx masters started and not yet stopped: killed (with their workers) when the test process exits, so a
    /// test that ends before its stop runs (a `defer { Task { await stop() } }` when the process exits first) leaves no
    /// nginx behind (filtered runs left three).
    static let live = Mutex<Set<pid_t>>([])

    private static let killAtExit: Void = {
        atexit {
            for pid in NginxHarness.live.withLock({ $0 }) { kill(-pid, SIGKILL) }
        }
    }()

    private static func running(_ pid: pid_t) {
        _ = killAtExit
        live.withLock { _ = $0.insert(pid) }
    }

    /// SIGKILL to the process group, then reap the master.
    private static func terminate(_ pid: pid_t) {
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
}
