// Porter — PorterTesting: helpers shared by the pipeline, FastCGI and nginx test tiers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FastCGIWire
import Synchronization

/// A connected stream socket for sending hand-made bytes (raw HTTP, malformed records) in tests.
/// It is FastCGIWire's ``ClientSocket``: `try RawSocket(connectingTo: .tcp(host: "127.0.0.1", port: port))`.
public typealias RawSocket = ClientSocket

/// Loopback TCP port helpers.
public enum LocalPorts {
    /// A TCP port free on every address (so a test may listen on 127.0.0.1, another loopback address or 0.0.0.0).
    ///
    /// It comes from below the kernel's ephemeral range (`ip_local_port_range`, 32768 and up by default): the kernel
    /// never gives those to an outgoing connection or a `bind` to port 0, so no other test's client can take the port
    /// between this check and the test's own `bind` (with a port from that range, a parallel test's connection did, and
    /// the listener failed with "Address already in use"). No port is handed out twice in one process.
    public static func free() throws -> UInt16 {
        let low = ephemeralLow()
        let base = 10_000
        guard low > base + 100 else { return try kernelAssigned() }
        for _ in 0..<500 {
            let port = UInt16(Int.random(in: base..<low))
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if bindsOnEveryAddress(port) { return port }
        }
        return try kernelAssigned()
    }

    private static let handedOut = Mutex<Set<UInt16>>([])

    /// The first port of the kernel's ephemeral range (32768 when unreadable).
    private static func ephemeralLow() -> Int {
        let fd = open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 32768 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0, let first = String(decoding: buffer[..<count], as: UTF8.self).split(whereSeparator: { !$0.isNumber }).first,
              let low = Int(first) else { return 32768 }
        return low
    }

    /// Whether a socket can bind 0.0.0.0:`port` right now (no SO_REUSEADDR: a port in TIME_WAIT counts as taken).
    private static func bindsOnEveryAddress(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = INADDR_ANY
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A port the kernel picks (bound to 127.0.0.1:0, then released): the fallback when the range below is too small.
    private static func kernelAssigned() throws -> UInt16 {
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
