// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

/// Why ``FastCGIClient`` could not complete an exchange.
public enum FastCGIClientError: Error, Sendable, CustomStringConvertible {
    /// Connecting, writing or reading failed at the socket level.
    case socket(SocketError)
    /// The application sent bytes that are not valid FastCGI records.
    case wire(FastCGIWireError)
    /// The application closed the connection before END_REQUEST; `records` were received for the request.
    case closedBeforeEndRequest(records: [Record])
    /// Nothing more arrived before the receive timeout (for a response or a GET_VALUES answer); `records` were received for the request.
    case timedOut(records: [Record])
    /// The application sent an END_REQUEST whose body is not 8 bytes.
    case invalidEndRequest(Record)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .socket(let error): return "socket: \(error)"
        case .wire(let error): return "protocol: \(error)"
        case .closedBeforeEndRequest(let records):
            return "connection closed before END_REQUEST (\(records.count) records received)"
        case .timedOut(let records): return "timed out waiting for the application (\(records.count) records received)"
        case .invalidEndRequest(let record): return "END_REQUEST with a \(record.content.count)-byte body"
        }
    }
}
