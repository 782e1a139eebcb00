// Porter — PorterTesting: helpers shared by the pipeline, FastCGI and nginx test tiers.

import FastCGIWire
import Porter
import Synchronization

/// An HTTP/1.1 response as received by ``HTTPTestClient``.
public struct HTTPTestResponse: Sendable {
    /// The status code.
    public var status: Int
    /// The reason phrase.
    public var reason: String
    /// The protocol from the status line, e.g. `HTTP/1.1`.
    public var version: String
    /// The header fields (case-insensitive lookup, repeated names kept).
    public var headers: HTTPHeaders
    /// The body, de-chunked if it was sent chunked.
    public var body: [UInt8]
    /// Whether the body was sent with `Transfer-Encoding: chunked`.
    public var wasChunked: Bool

    /// The body decoded as UTF-8 (invalid bytes repaired).
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Why ``HTTPTestClient`` could not complete an exchange.
public enum HTTPTestClientError: Error, Sendable, CustomStringConvertible {
    /// Connecting, writing or reading failed (includes timeouts).
    case socket(SocketError)
    /// The server closed the connection before a whole response arrived.
    case closedEarly(receivedBytes: Int)
    /// The response is not valid HTTP/1.1 framing.
    case malformed(String)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .socket(let error): return "socket: \(error)"
        case .closedEarly(let count): return "connection closed after \(count) bytes, before the response was complete"
        case .malformed(let why): return "malformed HTTP response: \(why)"
        }
    }
}

/// A small blocking HTTP/1.1 client on POSIX sockets, for talking to nginx in tests.
///
/// ```swift
/// let http = HTTPTestClient(port: nginx.port)
/// let response = try http.get("/feed.rss", headers: ["Accept": "application/rss+xml"])
/// #expect(response.status == 200 && response.headers["Content-Type"] == "application/rss+xml; charset=utf-8")
/// ```
/// With `keepAlive` the connection is reused between requests (``connectionsOpened`` counts connects);
/// otherwise each request sends `Connection: close`. Every exchange is bounded by `timeout`.
public final class HTTPTestClient: Sendable {
    /// Where requests go.
    public let address: SocketAddress
    /// Whether to keep the connection open between requests.
    public let keepAlive: Bool
    /// The longest a whole exchange may take.
    public let timeout: Duration
    /// The `Host` header sent when the request has none.
    public let hostHeader: String

    private struct State: ~Copyable {
        var socket: ClientSocket?
        var pending: [UInt8] = []
        var connectionsOpened = 0
    }

    private let state = Mutex(State())

    /// A client for `host:port` (IPv4).
    public init(host: String = "127.0.0.1", port: UInt16, keepAlive: Bool = false, timeout: Duration = hangGuard) {
        self.address = .tcp(host: host, port: port)
        self.keepAlive = keepAlive
        self.timeout = timeout
        self.hostHeader = "\(host):\(port)"
    }

    /// A client for an HTTP server listening on a unix socket (`listen unix:/path;` in nginx).
    public init(unixPath: String, keepAlive: Bool = false, timeout: Duration = hangGuard) {
        self.address = .unix(path: unixPath)
        self.keepAlive = keepAlive
        self.timeout = timeout
        self.hostHeader = "localhost"
    }

    /// How many connections this client has opened.
    public var connectionsOpened: Int { state.withLock { $0.connectionsOpened } }

    /// Closes a kept-alive connection, if any.
    public func close() {
        state.withLock { state in
            state.socket?.close()
            state.socket = nil
            state.pending = []
        }
    }

    /// `GET path`.
    public func get(_ path: String, headers: HTTPHeaders = HTTPHeaders()) throws(HTTPTestClientError) -> HTTPTestResponse {
        try send(method: "GET", path: path, headers: headers)
    }

    /// `HEAD path` (the response has no body, whatever its Content-Length says).
    public func head(_ path: String, headers: HTTPHeaders = HTTPHeaders()) throws(HTTPTestClientError) -> HTTPTestResponse {
        try send(method: "HEAD", path: path, headers: headers)
    }

    /// `POST path` with a body.
    public func post(_ path: String, body: [UInt8], contentType: String = "application/x-www-form-urlencoded",
                     headers: HTTPHeaders = HTTPHeaders()) throws(HTTPTestClientError) -> HTTPTestResponse {
        var headers = headers
        if !headers.contains("Content-Type") { headers.add("Content-Type", contentType) }
        return try send(method: "POST", path: path, headers: headers, body: body)
    }

    /// `POST path` with a UTF-8 text body.
    public func post(_ path: String, text: String, contentType: String = "text/plain; charset=utf-8",
                     headers: HTTPHeaders = HTTPHeaders()) throws(HTTPTestClientError) -> HTTPTestResponse {
        try post(path, body: Array(text.utf8), contentType: contentType, headers: headers)
    }

    /// Sends any request. `Host`, `Content-Length` (when there is a body or the method is POST/PUT/PATCH)
    /// and `Connection: close` (without keep-alive) are added unless `headers` has them.
    public func send(method: String, path: String, headers: HTTPHeaders = HTTPHeaders(),
                     body: [UInt8] = []) throws(HTTPTestClientError) -> HTTPTestResponse {
        var headers = headers
        if !headers.contains("Host") { headers.add("Host", hostHeader) }
        if !headers.contains("Content-Length") && !headers.contains("Transfer-Encoding")
            && (!body.isEmpty || ["POST", "PUT", "PATCH"].contains(method)) {
            headers.add("Content-Length", String(body.count))
        }
        if !keepAlive && !headers.contains("Connection") { headers.add("Connection", "close") }
        var head = "\(method) \(path) HTTP/1.1\r\n"
        for field in headers { head += "\(field.name): \(field.value)\r\n" }
        head += "\r\n"
        let bytes = Array(head.utf8) + body
        let isHead = method == "HEAD"
        return try state.withLock { (state) throws(HTTPTestClientError) -> HTTPTestResponse in
            let reused = state.socket != nil
            do throws(HTTPTestClientError) {
                return try exchange(bytes, isHead: isHead, state: &state)
            } catch {
                // A kept-alive connection the server closed while idle: retry once on a fresh one.
                if reused, case .closedEarly(0) = error { return try exchange(bytes, isHead: isHead, state: &state) }
                if reused, case .socket(let socketError) = error, socketError.kind == .writeFailed {
                    return try exchange(bytes, isHead: isHead, state: &state)
                }
                throw error
            }
        }
    }

    // MARK: - Internals (lock held)

    private func exchange(_ request: [UInt8], isHead: Bool, state: inout State) throws(HTTPTestClientError) -> HTTPTestResponse {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let socket: ClientSocket
        if let existing = state.socket, existing.isOpen {
            socket = existing
        } else {
            do throws(SocketError) {
                socket = try ClientSocket(connectingTo: address, timeout: timeout)
            } catch {
                throw .socket(error)
            }
            state.socket = socket
            state.pending = []
            state.connectionsOpened += 1
        }
        var reader = Reader(socket: socket, buffer: state.pending, deadline: deadline)
        do throws(HTTPTestClientError) {
            do throws(SocketError) { try socket.write(request, timeout: timeout) } catch { throw .socket(error) }
            var response: HTTPTestResponse
            repeat {
                response = try readResponse(&reader, isHead: isHead)
            } while (100..<200).contains(response.status) && response.status != 101
            let serverCloses = response.headers["Connection"]?.lowercased() == "close" || response.version == "HTTP/1.0"
            if !keepAlive || serverCloses || reader.readToClose {
                drop(&state)
            } else {
                state.pending = Array(reader.buffer[reader.index...])
            }
            return response
        } catch {
            drop(&state)
            throw error
        }
    }

    private func drop(_ state: inout State) {
        state.socket?.close()
        state.socket = nil
        state.pending = []
    }

    private func readResponse(_ reader: inout Reader, isHead: Bool) throws(HTTPTestClientError) -> HTTPTestResponse {
        let statusLine = try reader.line()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]), parts[1].count == 3 else {
            throw .malformed("status line \(statusLine.debugDescription)")
        }
        var headers = HTTPHeaders()
        while true {
            let line = try reader.line()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw .malformed("header line \(line.debugDescription)") }
            let value = line[line.index(after: colon)...].trimmingSpaces()
            headers.add(String(line[..<colon]), value)
        }
        var response = HTTPTestResponse(status: status, reason: parts.count > 2 ? String(parts[2]) : "",
                                        version: String(parts[0]), headers: headers, body: [], wasChunked: false)
        if isHead || (100..<200).contains(status) || status == 204 || status == 304 { return response }
        if let encoding = headers["Transfer-Encoding"], encoding.lowercased().contains("chunked") {
            response.wasChunked = true
            while true {
                let sizeLine = try reader.line()
                let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingSpaces(), radix: 16), size >= 0 else {
                    throw .malformed("chunk size \(sizeLine.debugDescription)")
                }
                if size == 0 {
                    while try !reader.line().isEmpty {}  // trailers
                    break
                }
                response.body += try reader.bytes(size)
                guard try reader.line().isEmpty else { throw .malformed("missing CRLF after chunk") }
            }
        } else if let lengthText = headers["Content-Length"] {
            guard let length = Int(lengthText), length >= 0 else { throw .malformed("Content-Length \(lengthText)") }
            response.body = try reader.bytes(length)
        } else {
            response.body = try reader.rest()
        }
        return response
    }

    /// Buffered reading from the socket up to a deadline.
    private struct Reader: ~Copyable {
        let socket: ClientSocket
        var buffer: [UInt8]
        var index = 0
        let deadline: ContinuousClock.Instant
        var readToClose = false
        var received = 0

        init(socket: ClientSocket, buffer: [UInt8], deadline: ContinuousClock.Instant) {
            self.socket = socket
            self.buffer = buffer
            self.deadline = deadline
        }

        /// Reads more bytes; returns false at end of stream.
        mutating func fill() throws(HTTPTestClientError) -> Bool {
            let chunk: [UInt8]
            do throws(SocketError) { chunk = try socket.read(until: deadline) } catch { throw .socket(error) }
            if chunk.isEmpty { return false }
            received += chunk.count
            buffer += chunk
            return true
        }

        /// The next line without its CRLF (or LF).
        mutating func line() throws(HTTPTestClientError) -> String {
            while true {
                if let newline = buffer[index...].firstIndex(of: 0x0A) {
                    var end = newline
                    if end > index && buffer[end - 1] == 0x0D { end -= 1 }
                    let text = String(decoding: buffer[index..<end], as: UTF8.self)
                    index = newline + 1
                    return text
                }
                guard try fill() else { throw .closedEarly(receivedBytes: received) }
            }
        }

        /// Exactly `count` bytes.
        mutating func bytes(_ count: Int) throws(HTTPTestClientError) -> [UInt8] {
            while buffer.count - index < count {
                guard try fill() else { throw .closedEarly(receivedBytes: received) }
            }
            defer { index += count }
            return Array(buffer[index..<index + count])
        }

        /// Everything until the server closes.
        mutating func rest() throws(HTTPTestClientError) -> [UInt8] {
            while try fill() {}
            readToClose = true
            defer { index = buffer.count }
            return Array(buffer[index...])
        }
    }
}
