import Glibc

/// Opens the listen socket a configuration names (unix path with mode and group, TCP, or inherited).
public enum ListenSocket {
    /// Whether `fd` is a listening socket (e.g. fd 0 handed over by spawn-fcgi).
    public static func isListening(_ fd: Int32) -> Bool { Poller.isListeningSocket(fd) }

    /// Opens (or adopts) the listen socket; returns its fd and the unix socket path when one was created.
    ///
    /// Porter binds the socket itself: libfcgi's `FCGX_OpenSocket` calls `exit()` when bind or listen fails (an
    /// address in use ended the process silently, with errno as its status); here every failure is a `ServerStartError`.
    public static func open(_ configuration: FastCGIServerConfiguration) throws(ServerStartError) -> (fd: Int32, path: String?) {
        _ = LibFCGI.initialized
        switch configuration.listen {
        case .unix(let path):
            let fd = try openUnix(path, backlog: configuration.backlog)
            if let problem = Poller.setSocketPermissions(path: path, mode: mode_t(configuration.socketMode), group: configuration.socketGroup) {
                Poller.close(fd)
                throw ServerStartError(problem)
            }
            return (fd, path)
        case .tcp(let host, let port):
            try configuration.checkPeerPolicy(boundHost: host)
            let fd = try openTCP(host: host, port: port, backlog: configuration.backlog)
            return (fd, nil)
        case .inherited(let fd):
            guard Poller.isListeningSocket(fd) else { throw ServerStartError("fd \(fd) is not a listening socket") }
            if let bound = Poller.boundTCPHost(fd) { try configuration.checkPeerPolicy(boundHost: bound) }
            return (fd, nil)
        }
    }

    /// A unix socket at `path`. A stale socket file (nobody accepts on it) is replaced; a socket a running server
    /// accepts on, or a file that is not a socket, is an error rather than being deleted.
    static func openUnix(_ path: String, backlog: Int32) throws(ServerStartError) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !path.isEmpty, path.utf8.count < capacity, !path.utf8.contains(0) else {
            throw ServerStartError("cannot listen on unix:\(path): the path must be 1 to \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw ServerStartError("cannot listen on unix:\(path): the file exists and is not a socket")
            }
            if isAccepting(address) {
                throw ServerStartError("cannot listen on unix:\(path): address already in use (a running server accepts on it)")
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerStartError("cannot listen on unix:\(path): socket: \(String(cString: strerror(errno)))") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw ServerStartError("cannot listen on unix:\(path): \(reason)")
        }
        return fd
    }

    /// Whether something accepts connections on the unix socket `address`.
    private static func isAccepting(_ address: sockaddr_un) -> Bool {
        var address = address
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0
    }

    /// A TCP socket on `host` (a name, an IPv4 or IPv6 address, `*` for every address) and `port`, with SO_REUSEADDR.
    static func openTCP(host: String, port: Int, backlog: Int32) throws(ServerStartError) -> Int32 {
        let label = "\(host):\(port)"
        var bare = host
        if bare.hasPrefix("["), bare.hasSuffix("]") { bare = String(bare.dropFirst().dropLast()) }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = bare == "*" || bare.isEmpty ? getaddrinfo(nil, String(port), &hints, &list) : getaddrinfo(bare, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw ServerStartError("cannot listen on \(label): cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var reason = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let fd = socket(current.pointee.ai_family, current.pointee.ai_socktype, current.pointee.ai_protocol)
            guard fd >= 0 else { reason = String(cString: strerror(errno)); continue }
            var on: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0, listen(fd, backlog) == 0 { return fd }
            reason = String(cString: strerror(errno))
            Glibc.close(fd)
        }
        throw ServerStartError("cannot listen on \(label): \(reason)")
    }
}

/// Why the server could not start.
public struct ServerStartError: Error, CustomStringConvertible {
    /// What went wrong, with the system's reason.
    public let message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
