// Porter — PorterTesting: helpers shared by the pipeline, FastCGI and nginx test tiers.

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.0-style request from a chosen local IPv4 address (e.g. `127.0.0.2`, which Linux routes to loopback
/// without configuration), so nginx sees that `$remote_addr`: for testing `allow`/`deny` rules.
public enum SourceBoundRequest {
    /// What came back: the status code and the whole raw response (head and body) as text.
    public struct Response: Sendable {
        /// The status code from the status line.
        public var status: Int
        /// Everything the server sent.
        public var raw: String
    }

    /// Why the request failed.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong.
        public var description: String
    }

    /// Sends `GET path` (with `Connection: close`) to `127.0.0.1:port` from `source` and reads until the server closes.
    public static func get(port: UInt16, path: String, from source: String, timeoutSeconds: Int = 10) throws -> Response {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
        let raw = String(decoding: try exchange(request, port: port, from: source, timeoutSeconds: timeoutSeconds), as: UTF8.self)
        let parts = raw.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure(description: "no status line in \(raw.prefix(80).debugDescription)") }
        return Response(status: status, raw: raw)
    }

    /// Sends `bytes` to `127.0.0.1:port` from the local address `source` and returns every byte that came back
    /// before the server closed (or reset) the connection; empty when it closed without an answer. A send the
    /// server refused (it may close a connection at accept) is not an error: the answer then is empty.
    public static func exchange(_ bytes: [UInt8], port: UInt16, from source: String, timeoutSeconds: Int = 10) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func address(_ host: String, _ port: UInt16) -> sockaddr_in {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            a.sin_addr.s_addr = inet_addr(host)
            return a
        }
        var local = address(source, 0)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw Failure(description: "bind \(source): \(String(cString: strerror(errno)))") }
        var remote = address("127.0.0.1", port)
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect: \(String(cString: strerror(errno)))") }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { received += buffer[0..<n]; continue }
            if n == 0 || errno == ECONNRESET { break }
            if errno == EINTR { continue }
            throw Failure(description: "recv: \(String(cString: strerror(errno)))")
        }
        return received
    }
}
