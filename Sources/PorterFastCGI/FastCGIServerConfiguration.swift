public import Porter

/// Where and how the FastCGI server listens, and the limits it applies to each connection and request.
public struct FastCGIServerConfiguration: Sendable {
    /// Where to listen.
    public enum Listen: Sendable, Equatable, CustomStringConvertible {
        /// A unix socket at this path (created; a stale socket file is replaced, one a running server accepts on is an error).
        case unix(path: String)
        /// A TCP address, e.g. `127.0.0.1:9000`.
        case tcp(host: String, port: Int)
        /// An already-listening socket inherited from the parent (spawn-fcgi: fd 0; systemd: fd 3).
        case inherited(fd: Int32)

        /// Parses `unix:/path`, `/path`, `host:port`, `:port` or `fd:N`.
        public init(parsing text: String) throws(ConfigurationError) {
            if text.hasPrefix("fd:"), let fd = Int32(text.dropFirst(3)) {
                self = .inherited(fd: fd)
            } else if text.hasPrefix("unix:") {
                self = .unix(path: String(text.dropFirst(5)))
            } else if text.hasPrefix("/") || text.hasPrefix(".") {
                self = .unix(path: text)
            } else if let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) {
                let host = String(text[..<colon])
                self = .tcp(host: host.isEmpty ? "127.0.0.1" : host, port: port)
            } else {
                throw ConfigurationError("listen address \"\(text)\": use /path/to.sock, unix:/path, 127.0.0.1:9000 or fd:0")
            }
        }

        public var description: String {
            switch self {
            case .unix(let path): "unix:\(path)"
            case .tcp(let host, let port): "\(host):\(port)"
            case .inherited(let fd): "fd:\(fd)"
            }
        }
    }

    /// The listen address.
    public var listen: Listen
    /// TCP peers served (others are closed at accept and counted in `TransportStatistics.refusedPeers`);
    /// nil: any peer, which a non-loopback TCP listener refuses to start with unless `allowAnyPeer` is set.
    public var allowedPeers: PeerAllowlist?
    /// Waives the allowlist requirement of a non-loopback TCP listener (a firewall guards the port).
    public var allowAnyPeer = false
    /// Unix socket file mode (nginx's user must be able to connect: 0660 with nginx's group, or 0666).
    public var socketMode: UInt32 = 0o660
    /// Unix socket group (e.g. `www-data`), or nil to keep the process's group.
    public var socketGroup: String?
    /// Listen backlog.
    public var backlog: Int32 = 1024
    /// The most worker threads (they accept, read requests and run sync handlers), blocked ones included.
    public var threads: Int = 8
    /// Worker threads that wait for work when none is blocked; nil: one per CPU this process may use (at most `threads`).
    public var minThreads: Int?
    /// Largest PARAMS stream accepted (libfcgi has no limit; nginx sends a few KiB).
    public var maxParamsBytes: Int = 64 * 1024
    /// Largest request body accepted where the handler mapping sets no limit of its own (`HandlerMapping.bodyLimit`);
    /// a larger declared length gets 413 before the body is read, a body growing past it gets 413 and the
    /// connection is closed.
    public var maxBodyBytes: Int = 1024 * 1024
    /// Request bodies larger than this are spilled to an unlinked temporary file while they are read.
    public var bodySpillThreshold: Int = RequestBodyCollector.defaultSpillThreshold
    /// Where spilled request bodies are written (`$TMPDIR`, else `/tmp`).
    public var bodyTemporaryDirectory: String = RequestBodyCollector.defaultTemporaryDirectory
    /// How long a connection may take to deliver a request's BEGIN and PARAMS before it is dropped.
    public var requestHeaderTimeout: Duration = .seconds(5)
    /// Socket receive/send timeout: the backstop for peers that stop mid-body or stop reading.
    public var ioTimeoutSeconds: Int = 30
    /// A request running longer than this is stopped: an async handler's task is cancelled and the client
    /// gets 504; `nil` disables the limit.
    public var requestTimeout: Duration?
    /// Cancels a request's task when nginx closes the connection (the client went away).
    public var cancelOnDisconnect = true
    /// Called once, with the request's path, when a request is still running `requestTimeout` + 5 s after it
    /// started (a sync handler that cannot be cancelled); the worker-process mode exits so the master replaces
    /// the process.
    public var onStuckRequest: (@Sendable (_ path: String) -> Void)?
    /// How long a graceful stop waits for in-flight requests.
    public var drainTimeout: Duration = .seconds(30)

    /// Refuses a TCP listener on a non-loopback address (`bound`, the host it listens on) without an allowlist.
    public func checkPeerPolicy(boundHost: String) throws(ServerStartError) {
        guard allowedPeers == nil, !allowAnyPeer, !PeerAllowlist.isLoopback(host: boundHost) else { return }
        throw ServerStartError("refusing to listen on \(boundHost) (not loopback) without allowed_peers: list nginx's addresses "
            + "(allowed_peers = [\"10.0.0.2\", \"10.0.0.0/24\"]) or set allow_any_peer = true if a firewall guards the port")
    }

    /// A configuration listening on `listen` with defaults for everything else.
    public init(listen: Listen) { self.listen = listen }
}

extension Duration {
    /// The duration in whole nanoseconds (negative durations count as zero).
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
