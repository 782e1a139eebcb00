// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

import Synchronization

/// A blocking FastCGI client that talks to a responder the way nginx does, for tests and `porter request`.
///
/// ```swift
/// let client = FastCGIClient(unixPath: "/tmp/porter-ab12cd/s")
/// let response = try client.send(.get("/ping"))
/// #expect(response.status == 200)
/// ```
/// With `keepConnection` set on a request, the socket stays open and the next `send` reuses it
/// (``connectionsOpened`` counts connects). Every read is bounded by ``timeout``, so a silent server
/// fails a test instead of hanging it. Calls are serialised by an internal lock.
public final class FastCGIClient: Sendable {
    /// A request, for `FastCGIClient.Request.get("/path")`.
    public typealias Request = FastCGIRequest

    /// The application's address.
    public let address: SocketAddress
    /// The longest wait for a connect, a write, or the next bytes of a response.
    public let timeout: Duration

    private struct Connection: ~Copyable {
        var socket: ClientSocket?
        var decoder = RecordDecoder()
        var connectionsOpened = 0
        var peerClosed = false
    }

    private let state = Mutex(Connection())

    /// A client for a unix-domain socket.
    public convenience init(unixPath: String, timeout: Duration = .seconds(10)) {
        self.init(address: .unix(path: unixPath), timeout: timeout)
    }

    /// A client for an IPv4 TCP address.
    public convenience init(host: String = "127.0.0.1", port: UInt16, timeout: Duration = .seconds(10)) {
        self.init(address: .tcp(host: host, port: port), timeout: timeout)
    }

    /// A client for any ``SocketAddress``.
    public init(address: SocketAddress, timeout: Duration = .seconds(10)) {
        self.address = address
        self.timeout = timeout
    }

    /// How many connections this client has opened so far.
    public var connectionsOpened: Int { state.withLock { $0.connectionsOpened } }

    /// Whether a connection is currently open (a kept connection after a keep-conn request).
    public var isConnected: Bool { state.withLock { $0.socket?.isOpen ?? false } }

    /// Sends `request` and reads its response; closes the connection afterwards unless `keepConnection`.
    public func send(_ request: FastCGIRequest) throws(FastCGIClientError) -> FastCGIResponse {
        try state.withLock { (connection) throws(FastCGIClientError) -> FastCGIResponse in
            try write(request.encoded(), on: &connection)
            let response = try receive(requestID: request.requestID, on: &connection)
            if !request.keepConnection { drop(&connection) }
            return response
        }
    }

    /// Writes raw bytes (connecting first if needed), e.g. hand-made or malformed records.
    public func sendRaw(_ bytes: [UInt8]) throws(FastCGIClientError) {
        try state.withLock { (connection) throws(FastCGIClientError) in
            try write(bytes, on: &connection)
        }
    }

    /// Reads records until END_REQUEST for `requestID`, after bytes written with ``sendRaw(_:)``.
    public func receiveResponse(requestID: UInt16 = 1) throws(FastCGIClientError) -> FastCGIResponse {
        try state.withLock { (connection) throws(FastCGIClientError) -> FastCGIResponse in
            try receive(requestID: requestID, on: &connection)
        }
    }

    /// Reads raw bytes until the application closes the connection or `timeout` passes.
    /// Returns the bytes (including any not yet consumed by earlier reads) and whether the peer closed.
    public func readAll(timeout: Duration = .seconds(2)) throws(FastCGIClientError) -> (bytes: [UInt8], closedByPeer: Bool) {
        try state.withLock { (connection) throws(FastCGIClientError) -> (bytes: [UInt8], closedByPeer: Bool) in
            guard let socket = connection.socket else { throw .socket(SocketError(.notConnected)) }
            var bytes = connection.decoder.takeBufferedBytes()
            do throws(SocketError) {
                let result = try socket.readUntilClosed(timeout: timeout)
                bytes += result.bytes
                if result.closedByPeer { drop(&connection) }
                return (bytes, result.closedByPeer)
            } catch {
                drop(&connection)
                throw .socket(error)
            }
        }
    }

    /// Waits up to `timeout` for the application to close the connection, discarding anything it sends.
    /// Returns `true` if it closed (or no connection is open), `false` if it kept the connection open.
    public func waitForClose(timeout: Duration = .seconds(2)) -> Bool {
        guard isConnected else { return true }
        return (try? readAll(timeout: timeout).closedByPeer) ?? true
    }

    /// Sends FCGI_ABORT_REQUEST for `requestID` on the current connection.
    public func abort(requestID: UInt16 = 1) throws(FastCGIClientError) {
        try sendRaw(Record(type: .abortRequest, requestID: requestID).encoded)
    }

    /// Asks for management variables (e.g. `FCGI_MPXS_CONNS`) with GET_VALUES; returns the answered ones.
    public func getValues(_ names: [String]) throws(FastCGIClientError) -> [String: String] {
        try state.withLock { (connection) throws(FastCGIClientError) -> [String: String] in
            let query = NameValuePairs.encode(names.map { NameValuePair($0, "") })
            try write(Record(type: .getValues, requestID: 0, content: query).encoded, on: &connection)
            let deadline = ContinuousClock.now.advanced(by: timeout)
            while true {
                let record = try nextRecord(on: &connection, until: deadline, received: [])
                guard record.requestID == 0 else { continue }
                if record.type == .unknownType { return [:] }
                guard record.type == .getValuesResult else { continue }
                do throws(FastCGIWireError) {
                    let pairs = try NameValuePairs.decode(record.content)
                    return Dictionary(pairs.map { ($0.nameString, $0.valueString) }, uniquingKeysWith: { a, _ in a })
                } catch {
                    throw .wire(error)
                }
            }
        }
    }

    /// Closes the connection, if one is open.
    public func close() {
        state.withLock { drop(&$0) }
    }

    // MARK: - Internals (called with the lock held)

    private func drop(_ connection: inout Connection) {
        connection.socket?.close()
        connection.socket = nil
        connection.decoder = RecordDecoder()
        connection.peerClosed = false
    }

    private func connected(_ connection: inout Connection) throws(FastCGIClientError) -> ClientSocket {
        if let socket = connection.socket, socket.isOpen { return socket }
        do throws(SocketError) {
            let socket = try ClientSocket(connectingTo: address, timeout: timeout)
            connection.socket = socket
            connection.decoder = RecordDecoder()
            connection.peerClosed = false
            connection.connectionsOpened += 1
            return socket
        } catch {
            throw .socket(error)
        }
    }

    private func write(_ bytes: [UInt8], on connection: inout Connection) throws(FastCGIClientError) {
        let socket = try connected(&connection)
        var received: [UInt8] = []
        var peerClosed = false
        defer {
            // Keep what the application answered while we were still writing (it may stream output early).
            connection.decoder.feed(received)
            if peerClosed { connection.peerClosed = true }
        }
        do throws(SocketError) {
            try socket.write(bytes, timeout: timeout) { chunk in
                if chunk.isEmpty { peerClosed = true } else { received += chunk }
            }
        } catch {
            drop(&connection)
            throw .socket(error)
        }
    }

    private func nextRecord(on connection: inout Connection, until deadline: ContinuousClock.Instant,
                            received: [Record]) throws(FastCGIClientError) -> Record {
        while true {
            do throws(FastCGIWireError) {
                if let record = try connection.decoder.next() { return record }
            } catch {
                drop(&connection)
                throw .wire(error)
            }
            guard let socket = connection.socket, !connection.peerClosed else {
                drop(&connection)
                throw .closedBeforeEndRequest(records: received)
            }
            let chunk: [UInt8]
            do throws(SocketError) {
                chunk = try socket.read(until: deadline)
            } catch {
                drop(&connection)
                if error.kind == .timedOut { throw .timedOut(records: received) }
                throw .socket(error)
            }
            if chunk.isEmpty {
                drop(&connection)
                throw .closedBeforeEndRequest(records: received)
            }
            connection.decoder.feed(chunk)
        }
    }

    private func receive(requestID: UInt16, on connection: inout Connection) throws(FastCGIClientError) -> FastCGIResponse {
        var records: [Record] = []
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        while true {
            // The timeout bounds the wait for each next piece of the response, not the whole response.
            let deadline = ContinuousClock.now.advanced(by: timeout)
            let record = try nextRecord(on: &connection, until: deadline, received: records)
            guard record.requestID == requestID else { continue }
            records.append(record)
            switch record.type {
            case .stdout:
                stdout += record.content
            case .stderr:
                stderr += record.content
            case .endRequest:
                do throws(FastCGIWireError) {
                    let end = try EndRequestBody(decoding: record.content)
                    return FastCGIResponse(requestID: requestID, stdout: stdout, stderr: stderr, end: end, records: records)
                } catch {
                    drop(&connection)
                    throw .invalidEndRequest(record)
                }
            default:
                continue
            }
        }
    }
}
