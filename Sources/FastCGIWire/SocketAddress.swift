// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

/// Where a stream socket connects: a unix-domain socket path or an IPv4 host and port.
public enum SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// A unix-domain socket path (at most 107 bytes: `sun_path` is 108 including the NUL).
    case unix(path: String)
    /// An IPv4 dotted-quad address (e.g. `127.0.0.1`) and port.
    case tcp(host: String, port: UInt16)

    /// `unix:/path` or `host:port`, as nginx writes upstream addresses.
    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return "\(host):\(port)"
        }
    }
}

/// Why a socket operation failed; carries `errno` where the system reported one.
public struct SocketError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Hashable, Sendable {
        /// `socket()`, `connect()` or address preparation failed.
        case connectFailed
        /// The unix socket path does not fit `sun_path`, or the host is not an IPv4 address.
        case invalidAddress
        /// `send()` failed (e.g. EPIPE, ECONNRESET).
        case writeFailed
        /// `recv()` failed (e.g. ECONNRESET).
        case readFailed
        /// No data arrived before the deadline.
        case timedOut
        /// The peer closed the connection.
        case closedByPeer
        /// The socket was already closed locally.
        case notConnected
    }

    /// What went wrong.
    public var kind: Kind
    /// The `errno` value, 0 if none.
    public var errno: Int32
    /// Where it happened, e.g. the address.
    public var context: String

    /// An error value.
    public init(_ kind: Kind, errno: Int32 = 0, context: String = "") {
        self.kind = kind
        self.errno = errno
        self.context = context
    }

    /// A one-line explanation including `strerror(errno)`.
    public var description: String {
        var text = "\(kind)"
        if !context.isEmpty { text += " (\(context))" }
        if errno != 0 { text += ": \(ClientSocket.errorString(errno)) [errno \(errno)]" }
        return text
    }
}
