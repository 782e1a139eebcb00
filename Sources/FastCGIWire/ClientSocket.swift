// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A connected stream socket (unix or TCP) whose connect, reads and writes are bounded by deadlines.
///
/// Writes never raise SIGPIPE (a closed peer becomes ``SocketError`` with EPIPE).
/// Not thread-safe: use one socket from one thread at a time.
public final class ClientSocket {
    /// The file descriptor, or -1 once closed.
    public private(set) var fileDescriptor: Int32
    /// The address this socket connected to.
    public let address: SocketAddress

    /// Connects to `address`, failing after `timeout` if the connection is not accepted.
    public init(connectingTo address: SocketAddress, timeout: Duration = .seconds(10)) throws(SocketError) {
        self.address = address
        self.fileDescriptor = -1
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let fd: Int32
        switch address {
        case .unix(let path):
            fd = try ClientSocket.connectUnix(path: path, deadline: deadline)
        case .tcp(let host, let port):
            fd = try ClientSocket.connectTCP(host: host, port: port, deadline: deadline)
        }
        self.fileDescriptor = fd
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    deinit { close() }

    /// Whether the socket is still open locally.
    public var isOpen: Bool { fileDescriptor >= 0 }

    /// Closes the socket (idempotent).
    public func close() {
        if fileDescriptor >= 0 {
            _ = ClientSocket.systemClose(fileDescriptor)
            fileDescriptor = -1
        }
    }

    /// Half-closes the writing side (`shutdown(SHUT_WR)`), so the peer reads end of input.
    public func shutdownWrite() {
        if fileDescriptor >= 0 { _ = shutdown(fileDescriptor, Int32(SHUT_WR)) }
    }

    /// Writes all of `bytes`, failing after `timeout` if the peer stops reading.
    ///
    /// If `receive` is given, bytes the peer sends meanwhile are read and handed to it (an empty array
    /// means the peer closed its side), so a peer that answers while still reading cannot deadlock the write.
    public func write(_ bytes: [UInt8], timeout: Duration = .seconds(10),
                      receive: ((_ chunk: [UInt8]) -> Void)? = nil) throws(SocketError) {
        guard fileDescriptor >= 0 else { throw SocketError(.notConnected, context: address.description) }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var offset = 0
        var peerClosed = false
        while offset < bytes.count {
            if let receive, !peerClosed {
                let ready = try waitFor(events: Int16(POLLOUT) | Int16(POLLIN), until: deadline)
                if ready & Int16(POLLIN) != 0 || (ready & Int16(POLLOUT) == 0) {
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    let count = buffer.withUnsafeMutableBytes { raw in recv(fileDescriptor, raw.baseAddress!, 65536, 0) }
                    if count > 0 {
                        buffer.removeSubrange(count...)
                        receive(buffer)
                    } else if count == 0 {
                        peerClosed = true
                        receive([])
                    }
                    if ready & Int16(POLLOUT) == 0 { continue }
                }
            } else {
                try waitFor(events: Int16(POLLOUT), until: deadline)
            }
            let written = bytes.withUnsafeBytes { raw -> Int in
                #if canImport(Darwin)
                let flags: Int32 = 0
                #else
                let flags = Int32(MSG_NOSIGNAL)
                #endif
                return send(fileDescriptor, raw.baseAddress! + offset, bytes.count - offset, flags)
            }
            if written < 0 {
                let code = errno
                if code == EINTR || code == EAGAIN || code == EWOULDBLOCK { continue }
                throw SocketError(.writeFailed, errno: code, context: address.description)
            }
            offset += written
        }
    }

    /// Reads whatever arrives next (up to `maximum` bytes); returns an empty array when the peer closed.
    /// Throws ``SocketError/Kind/timedOut`` if nothing arrives before `deadline`.
    public func read(maximum: Int = 65536, until deadline: ContinuousClock.Instant) throws(SocketError) -> [UInt8] {
        guard fileDescriptor >= 0 else { throw SocketError(.notConnected, context: address.description) }
        while true {
            try waitFor(events: Int16(POLLIN), until: deadline)
            var buffer = [UInt8](repeating: 0, count: maximum)
            let count = buffer.withUnsafeMutableBytes { raw in recv(fileDescriptor, raw.baseAddress!, maximum, 0) }
            if count < 0 {
                let code = errno
                if code == EINTR || code == EAGAIN || code == EWOULDBLOCK { continue }
                if code == ECONNRESET { return [] }
                throw SocketError(.readFailed, errno: code, context: address.description)
            }
            buffer.removeSubrange(count...)
            return buffer
        }
    }

    /// Reads until the peer closes or `timeout` passes; returns the bytes and whether the peer closed.
    public func readUntilClosed(timeout: Duration) throws(SocketError) -> (bytes: [UInt8], closedByPeer: Bool) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var collected: [UInt8] = []
        while true {
            let chunk: [UInt8]
            do throws(SocketError) {
                chunk = try read(until: deadline)
            } catch where error.kind == .timedOut {
                return (collected, false)
            }
            if chunk.isEmpty { return (collected, true) }
            collected.append(contentsOf: chunk)
        }
    }

    /// Blocks until `events` are ready or the deadline passes (hang-up and errors count as ready); returns `revents`.
    @discardableResult
    private func waitFor(events: Int16, until deadline: ContinuousClock.Instant) throws(SocketError) -> Int16 {
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { throw SocketError(.timedOut, context: address.description) }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            var descriptor = pollfd(fd: fileDescriptor, events: events, revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return descriptor.revents }
            if ready < 0 && errno != EINTR {
                throw SocketError(.readFailed, errno: errno, context: address.description)
            }
        }
    }

    /// `strerror` as a Swift string.
    public static func errorString(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    private static func systemClose(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.close(fd)
        #elseif canImport(Musl)
        return Musl.close(fd)
        #else
        return Darwin.close(fd)
        #endif
    }

    private static func streamType() -> Int32 {
        #if canImport(Glibc)
        return Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        return SOCK_STREAM
        #endif
    }

    private static func connectUnix(path: String, deadline: ContinuousClock.Instant) throws(SocketError) -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !pathBytes.isEmpty, pathBytes.count < capacity else {
            throw SocketError(.invalidAddress, context: "unix socket path is \(pathBytes.count) bytes, limit \(capacity - 1): \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let fd = socket(AF_UNIX, streamType(), 0)
        guard fd >= 0 else { throw SocketError(.connectFailed, errno: errno, context: "unix:\(path)") }
        try withUnsafePointer(to: &addr) { (pointer) throws(SocketError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (address) throws(SocketError) in
                try connectNonBlocking(fd, address, socklen_t(MemoryLayout<sockaddr_un>.size),
                                       deadline: deadline, context: "unix:\(path)")
            }
        }
        return fd
    }

    /// Connects `fd` without blocking past `deadline`; leaves the socket non-blocking; closes it on failure.
    private static func connectNonBlocking(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t,
                                           deadline: ContinuousClock.Instant, context: String) throws(SocketError) {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        while true {
            if connect(fd, address, length) == 0 { return }
            let code = errno
            switch code {
            case EINTR:
                continue
            case EAGAIN:  // unix socket with a full accept backlog: retry until the deadline
                if ContinuousClock.now >= deadline {
                    _ = systemClose(fd)
                    throw SocketError(.timedOut, errno: code, context: context)
                }
                usleep(2_000)
                continue
            case EINPROGRESS:
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let remaining = ContinuousClock.now.duration(to: deadline)
                let (seconds, attoseconds) = remaining.components
                let milliseconds = max(0, Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
                if poll(&descriptor, 1, milliseconds) <= 0 {
                    _ = systemClose(fd)
                    throw SocketError(.timedOut, context: context)
                }
                var socketError: Int32 = 0
                var size = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &size)
                if socketError == 0 { return }
                _ = systemClose(fd)
                throw SocketError(.connectFailed, errno: socketError, context: context)
            default:
                _ = systemClose(fd)
                throw SocketError(.connectFailed, errno: code, context: context)
            }
        }
    }

    private static func connectTCP(host: String, port: UInt16, deadline: ContinuousClock.Instant) throws(SocketError) -> Int32 {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            throw SocketError(.invalidAddress, context: "not an IPv4 address: \(host)")
        }
        let fd = socket(AF_INET, streamType(), 0)
        guard fd >= 0 else { throw SocketError(.connectFailed, errno: errno, context: "\(host):\(port)") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        try withUnsafePointer(to: &addr) { (pointer) throws(SocketError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (address) throws(SocketError) in
                try connectNonBlocking(fd, address, socklen_t(MemoryLayout<sockaddr_in>.size),
                                       deadline: deadline, context: "\(host):\(port)")
            }
        }
        return fd
    }
}
