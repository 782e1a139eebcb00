import Glibc

/// Opens the listen socket a configuration names (unix path with mode and group, TCP, or inherited).
public enum ListenSocket {
    /// Whether `fd` is a listening socket (e.g. fd 0 handed over by spawn-fcgi).
    public static func isListening(_ fd: Int32) -> Bool { Poller.isListeningSocket(fd) }

    /// Opens (or adopts) the listen socket; returns its fd and the unix socket path when one was created.
    public static func open(_ configuration: FastCGIServerConfiguration) throws(ServerStartError) -> (fd: Int32, path: String?) {
        switch configuration.listen {
        case .unix(let path):
            let fd = LibFCGI.openSocket(path, backlog: configuration.backlog)
            guard fd >= 0 else { throw ServerStartError("cannot listen on \(path): \(String(cString: strerror(errno)))") }
            if let problem = Poller.setSocketPermissions(path: path, mode: mode_t(configuration.socketMode), group: configuration.socketGroup) {
                Poller.close(fd)
                throw ServerStartError(problem)
            }
            return (fd, path)
        case .tcp(let host, let port):
            try configuration.checkPeerPolicy(boundHost: host)
            let fd = LibFCGI.openSocket("\(host):\(port)", backlog: configuration.backlog)
            guard fd >= 0 else { throw ServerStartError("cannot listen on \(host):\(port): \(String(cString: strerror(errno)))") }
            return (fd, nil)
        case .inherited(let fd):
            _ = LibFCGI.initialized
            guard Poller.isListeningSocket(fd) else { throw ServerStartError("fd \(fd) is not a listening socket") }
            if let bound = Poller.boundTCPHost(fd) { try configuration.checkPeerPolicy(boundHost: bound) }
            return (fd, nil)
        }
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
