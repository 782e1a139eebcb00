public import Porter
public import PorterFastCGI
import TOMLKit
import Glibc

/// Everything `porter.toml` says: where to listen, threads and limits, and the handler and module lists.
public struct ServerConfiguration: Sendable {
    /// One `[[handlers]]` entry: verbs + path → a catalogue handler with options.
    public struct HandlerEntry: Sendable, Equatable {
        public var verb: String
        public var path: String
        public var handler: String
        public var options: Options
        /// The largest request body this route takes (`max_body = "16m"`); nil: the handler's default, else the
        /// server's (`max_body_bytes`), and no body at all for GET/HEAD-only routes.
        public var maxBodyBytes: Int?
        /// An entry from its parts.
        public init(verb: String = "*", path: String, handler: String, options: Options = Options(), maxBodyBytes: Int? = nil) {
            self.verb = verb; self.path = path; self.handler = handler; self.options = options; self.maxBodyBytes = maxBodyBytes
        }
    }

    /// One `[[modules]]` entry: a catalogue module with options.
    public struct ModuleEntry: Sendable, Equatable {
        public var name: String
        public var options: Options
        /// An entry from its parts.
        public init(name: String, options: Options = Options()) { self.name = name; self.options = options }
    }

    /// The listen address (`/path.sock`, `127.0.0.1:9000`, `fd:0`).
    public var listen: String = "/run/porter/porter.sock"
    /// TCP peers served (`allowed_peers = ["10.0.0.2", "10.0.0.0/24"]`; addresses or CIDRs, IPv4/IPv6); when unset,
    /// libfcgi's `FCGI_WEB_SERVER_ADDRS` environment variable is used if present.
    public var allowedPeers: [String]?
    /// Lets a non-loopback TCP listener start without `allowed_peers` (`allow_any_peer = true`: a firewall guards it).
    public var allowAnyPeer = false
    /// The `[upstream]` table: the Porter hosts `porter nginx-config --upstream` lists for nginx.
    public var upstream = UpstreamConfiguration()
    /// Unix socket mode, octal.
    public var socketMode: UInt32 = 0o660
    /// Unix socket group (nginx's, e.g. `www-data`).
    public var socketGroup: String?
    /// The most worker threads per process, blocked ones included (`threads`).
    public var threads: Int = 8
    /// Worker threads that wait for work when none is blocked (`min_threads`); nil: one per CPU, at most `threads`.
    public var minThreads: Int?
    /// Largest request body of a route that sets no `max_body` of its own (`max_body_bytes`, default 1 MiB, nginx's default).
    public var maxBodyBytes: Int = 1 << 20
    /// Graceful-stop budget.
    public var drainTimeoutSeconds: Int = 30
    /// Log level name (`trace` … `critical`).
    public var logLevel: String = "info"
    /// Log line format: `text` (swift-log's stream handler) or `json` (one object per line).
    public var logFormat: String = "text"
    /// The configuration file's directory.
    public var baseDirectory: String = "."
    /// Where relative paths in options (databases, key files, image roots) point: `data_directory`, else
    /// systemd's `$STATE_DIRECTORY`, else the configuration file's directory.
    public var dataDirectory: String = "."
    /// Worker processes (0: serve in this process; N: a master keeps the socket and runs N workers).
    public var workers: Int = 0
    /// Requests a worker process serves before it is replaced (0: never).
    public var maxRequests: Int = 0
    /// Requests running longer than this are stopped with 504 (0: no limit).
    public var requestTimeoutSeconds: Int = 0
    /// Modules, in registration order.
    public var modules: [ModuleEntry] = []
    /// Handler mappings, in match order.
    public var handlers: [HandlerEntry] = []

    /// An empty configuration (no handlers, no modules).
    public init() {}

    /// The transport configuration this describes.
    public func transport() throws(ConfigurationError) -> FastCGIServerConfiguration {
        var t = FastCGIServerConfiguration(listen: try .init(parsing: listen))
        t.socketMode = socketMode
        let peers = allowedPeers ?? getenv("FCGI_WEB_SERVER_ADDRS").map { [String(cString: $0)] }.flatMap { $0 == [""] ? nil : $0 }
        if let peers { t.allowedPeers = try PeerAllowlist(parsing: peers) }
        t.allowAnyPeer = allowAnyPeer
        if case .tcp(let host, _) = t.listen {
            do { try t.checkPeerPolicy(boundHost: host) } catch { throw ConfigurationError(error.message) }
        }
        t.socketGroup = socketGroup
        t.threads = threads
        t.minThreads = minThreads
        t.maxBodyBytes = maxBodyBytes
        t.drainTimeout = .seconds(drainTimeoutSeconds)
        if requestTimeoutSeconds > 0 { t.requestTimeout = .seconds(requestTimeoutSeconds) }
        return t
    }

    /// Parses TOML text over `base` (settings the text leaves out keep `base`'s values; its handlers and
    /// modules come after `base`'s); `baseDirectory` is where relative paths point.
    public static func parse(toml text: String, baseDirectory: String, over base: ServerConfiguration = ServerConfiguration(),
                             origin: String = "porter.toml") throws(ConfigurationError) -> ServerConfiguration {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch {
            throw ConfigurationError("\(origin): invalid TOML: \(error)")
        }
        guard case .table(let root) = ConfigValue(toml: table) else { throw ConfigurationError("\(origin): invalid TOML root") }
        var configuration = base
        try configuration.apply(Options(root, origin: origin), baseDirectory: baseDirectory)
        return configuration
    }

    /// Reads and parses a TOML file over `base`.
    public static func load(path: String, over base: ServerConfiguration = ServerConfiguration()) throws(ConfigurationError) -> ServerConfiguration {
        guard let text = FileText.read(path) else { throw ConfigurationError("cannot read configuration file \(path)") }
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        return try parse(toml: text, baseDirectory: dir.isEmpty ? "/" : dir, over: base, origin: path)
    }

    mutating func apply(_ root: Options, baseDirectory: String) throws(ConfigurationError) {
        let known: Set<String> = ["listen", "socket_mode", "socket_group", "threads", "min_threads", "max_body_bytes", "drain_timeout_seconds",
                                  "log_level", "log_format", "workers", "max_requests", "request_timeout_seconds", "data_directory",
                                  "modules", "handlers", "allowed_peers", "allow_any_peer", "upstream"]
        for key in root.values.keys where !known.contains(key) {
            throw ConfigurationError("\(root.origin): unknown setting \"\(key)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        self.baseDirectory = baseDirectory
        if let data = try root.string("data_directory"), !data.isEmpty {
            dataDirectory = data.hasPrefix("/") || baseDirectory == "." ? data : baseDirectory + "/" + data
        } else if let state = getenv("STATE_DIRECTORY").map({ String(cString: $0) }), !state.isEmpty {
            dataDirectory = String(state.split(separator: ":").first ?? "")   // systemd: StateDirectory=
        } else {
            dataDirectory = baseDirectory
        }
        listen = try root.string("listen", default: listen)
        if let mode = try root.string("socket_mode") {
            guard let m = UInt32(mode, radix: 8), m <= 0o777 else { throw ConfigurationError("\(root.origin): socket_mode must be octal like \"0660\"") }
            socketMode = m
        }
        socketGroup = try root.string("socket_group")
        if root.value("allowed_peers") != nil {
            let peers = try root.strings("allowed_peers", default: [])
            _ = try PeerAllowlist(parsing: peers)   // reject a bad entry when the file is read
            allowedPeers = peers
        }
        allowAnyPeer = try root.bool("allow_any_peer", default: allowAnyPeer)
        if root.value("upstream") != nil { upstream = try UpstreamConfiguration(try root.table("upstream"), over: upstream) }
        threads = try root.int("threads", default: threads)
        guard (1...1024).contains(threads) else { throw ConfigurationError("\(root.origin): threads must be 1...1024") }
        if root.value("min_threads") != nil {
            let minimum = try root.int("min_threads", default: 1)
            guard (1...threads).contains(minimum) else { throw ConfigurationError("\(root.origin): min_threads must be 1...threads (\(threads))") }
            minThreads = minimum
        }
        maxBodyBytes = try ByteSize.option("max_body_bytes", in: root) ?? maxBodyBytes
        drainTimeoutSeconds = try root.int("drain_timeout_seconds", default: drainTimeoutSeconds)
        logLevel = try root.string("log_level", default: logLevel)
        logFormat = try root.string("log_format", default: logFormat)
        guard ["text", "json"].contains(logFormat) else { throw ConfigurationError("\(root.origin): log_format must be text or json") }
        workers = try root.int("workers", default: workers)
        maxRequests = try root.int("max_requests", default: maxRequests)
        requestTimeoutSeconds = try root.int("request_timeout_seconds", default: requestTimeoutSeconds)
        for (i, item) in (root.values["modules"]?.array ?? []).enumerated() {
            guard let t = item.table, let name = t["name"]?.string else {
                throw ConfigurationError("\(root.origin): modules[\(i)] needs name = \"…\"")
            }
            var opts = t
            opts["name"] = nil
            if let nested = t["options"]?.table { opts["options"] = nil; opts.merge(nested) { a, _ in a } }
            modules.append(ModuleEntry(name: name, options: Options(Self.resolvePaths(opts, dataDirectory), origin: "\(root.origin): modules[\(i)] (\(name))")))
        }
        for (i, item) in (root.values["handlers"]?.array ?? []).enumerated() {
            guard let t = item.table, let path = t["path"]?.string, let handler = t["handler"]?.string else {
                throw ConfigurationError("\(root.origin): handlers[\(i)] needs path = \"…\" and handler = \"…\"")
            }
            var opts = t["options"]?.table ?? [:]
            for (k, v) in t where !["path", "handler", "verb", "options", "max_body"].contains(k) { opts[k] = v }
            let origin = "\(root.origin): handlers[\(i)] (\(handler) \(path))"
            do { _ = try PathPattern(path) } catch { throw ConfigurationError("\(origin): \(error)") }
            let maxBody = try ByteSize.option("max_body", in: Options(t, origin: origin))
            handlers.append(HandlerEntry(verb: t["verb"]?.string ?? "*", path: path, handler: handler,
                                         options: Options(Self.resolvePaths(opts, dataDirectory), origin: origin),
                                         maxBodyBytes: maxBody))
        }
    }

    /// Makes relative file-system paths in options absolute against the data directory
    /// (keys named `root`, `database`, `path`, `file`, `dir` or ending in `_path`, `_file`, `_dir`, `_database`).
    static func resolvePaths(_ values: [String: ConfigValue], _ base: String) -> [String: ConfigValue] {
        var out = values
        for (key, value) in values {
            let isPathKey = ["root", "database", "path", "file", "dir"].contains(key)
                || ["_path", "_file", "_dir", "_database", "_root"].contains { key.hasSuffix($0) }
            if isPathKey, case .string(let s) = value, !s.hasPrefix("/"), !s.isEmpty, !s.contains("://") {
                out[key] = .string(base == "." ? s : "\(base)/\(s)")
            }
        }
        return out
    }
}

extension ConfigValue {
    /// Converts a parsed TOML value.
    init(toml value: any TOMLValueConvertible) {
        switch value.type {
        case .table:
            var t: [String: ConfigValue] = [:]
            if let table = value.table { for key in table.keys { if let v = table[key] { t[key] = ConfigValue(toml: v) } } }
            self = .table(t)
        case .array:
            self = .array((value.array.map { Array($0) } ?? []).map { ConfigValue(toml: $0) })
        case .int: self = .int(value.int ?? 0)
        case .double: self = .double(value.double ?? 0)
        case .bool: self = .bool(value.bool ?? false)
        case .string: self = .string(value.string ?? "")
        default: self = .string(value.debugDescription)
        }
    }
}
