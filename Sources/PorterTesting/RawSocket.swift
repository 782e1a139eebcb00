// Porter — PorterTesting: helpers shared by the pipeline, FastCGI and nginx test tiers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FastCGIWire

/// A connected stream socket for sending hand-made bytes (raw HTTP, malformed records) in tests.
/// It is FastCGIWire's ``ClientSocket``: `try RawSocket(connectingTo: .tcp(host: "127.0.0.1", port: port))`.
public typealias RawSocket = ClientSocket

/// Loopback TCP port helpers.
public enum LocalPorts {
    /// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
    public static func free() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(.connectFailed, errno: errno, context: "socket()") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw SocketError(.connectFailed, errno: errno, context: "bind 127.0.0.1:0") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw SocketError(.connectFailed, errno: errno, context: "getsockname") }
        return UInt16(bigEndian: addr.sin_port)
    }

    /// Whether something accepts connections on 127.0.0.1:`port` right now.
    public static func isAccepting(port: UInt16) -> Bool {
        (try? ClientSocket(connectingTo: .tcp(host: "127.0.0.1", port: port), timeout: .milliseconds(200))) != nil
    }

    /// Whether something accepts connections on the unix socket at `path` right now.
    public static func isAccepting(unixPath path: String) -> Bool {
        (try? ClientSocket(connectingTo: .unix(path: path), timeout: .milliseconds(200))) != nil
    }
}
