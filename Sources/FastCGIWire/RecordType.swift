// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

/// The type byte of a FastCGI record (FastCGI 1.0 §8); unknown values are representable.
public struct RecordType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The byte as sent on the wire.
    public let rawValue: UInt8

    /// A record type from its wire byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// FCGI_BEGIN_REQUEST (1): starts a request; body is a ``BeginRequestBody``.
    public static let beginRequest = RecordType(rawValue: 1)
    /// FCGI_ABORT_REQUEST (2): the web server aborts a request.
    public static let abortRequest = RecordType(rawValue: 2)
    /// FCGI_END_REQUEST (3): the application finished a request; body is an ``EndRequestBody``.
    public static let endRequest = RecordType(rawValue: 3)
    /// FCGI_PARAMS (4): stream of name-value pairs (CGI environment).
    public static let params = RecordType(rawValue: 4)
    /// FCGI_STDIN (5): stream of the request body.
    public static let stdin = RecordType(rawValue: 5)
    /// FCGI_STDOUT (6): stream of the CGI response.
    public static let stdout = RecordType(rawValue: 6)
    /// FCGI_STDERR (7): stream of error output.
    public static let stderr = RecordType(rawValue: 7)
    /// FCGI_DATA (8): stream of filter data.
    public static let data = RecordType(rawValue: 8)
    /// FCGI_GET_VALUES (9): management query for variables such as FCGI_MPXS_CONNS.
    public static let getValues = RecordType(rawValue: 9)
    /// FCGI_GET_VALUES_RESULT (10): answer to a GET_VALUES query.
    public static let getValuesResult = RecordType(rawValue: 10)
    /// FCGI_UNKNOWN_TYPE (11): the peer did not understand a management record.
    public static let unknownType = RecordType(rawValue: 11)

    /// Whether the type is one of the eleven defined by FastCGI 1.0.
    public var isKnown: Bool { (1...11).contains(rawValue) }

    /// Whether records of this type form a stream terminated by an empty record.
    public var isStream: Bool { [4, 5, 6, 7, 8].contains(rawValue) }

    /// Whether the type is a management record (request id 0).
    public var isManagement: Bool { self == .getValues || self == .getValuesResult || self == .unknownType }

    /// The specification's name, e.g. `FCGI_STDOUT`, or `type(N)` for unknown types.
    public var description: String {
        switch rawValue {
        case 1: return "FCGI_BEGIN_REQUEST"
        case 2: return "FCGI_ABORT_REQUEST"
        case 3: return "FCGI_END_REQUEST"
        case 4: return "FCGI_PARAMS"
        case 5: return "FCGI_STDIN"
        case 6: return "FCGI_STDOUT"
        case 7: return "FCGI_STDERR"
        case 8: return "FCGI_DATA"
        case 9: return "FCGI_GET_VALUES"
        case 10: return "FCGI_GET_VALUES_RESULT"
        case 11: return "FCGI_UNKNOWN_TYPE"
        default: return "type(\(rawValue))"
        }
    }
}

/// The role a BEGIN_REQUEST asks the application to play (FastCGI 1.0 §6).
public struct Role: RawRepresentable, Hashable, Sendable {
    /// The 16-bit role value as sent on the wire.
    public let rawValue: UInt16
    /// A role from its wire value.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// FCGI_RESPONDER (1): the only role nginx uses.
    public static let responder = Role(rawValue: 1)
    /// FCGI_AUTHORIZER (2).
    public static let authorizer = Role(rawValue: 2)
    /// FCGI_FILTER (3).
    public static let filter = Role(rawValue: 3)
}

/// The protocol status in an END_REQUEST body (FastCGI 1.0 §5.5).
public struct ProtocolStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The byte as sent on the wire.
    public let rawValue: UInt8
    /// A protocol status from its wire byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// FCGI_REQUEST_COMPLETE (0): normal end of request.
    public static let requestComplete = ProtocolStatus(rawValue: 0)
    /// FCGI_CANT_MPX_CONN (1): the application rejects a second concurrent request on one connection.
    public static let cantMultiplexConnection = ProtocolStatus(rawValue: 1)
    /// FCGI_OVERLOADED (2): the application is out of some resource.
    public static let overloaded = ProtocolStatus(rawValue: 2)
    /// FCGI_UNKNOWN_ROLE (3): the application does not play the requested role.
    public static let unknownRole = ProtocolStatus(rawValue: 3)

    /// The specification's name.
    public var description: String {
        switch rawValue {
        case 0: return "FCGI_REQUEST_COMPLETE"
        case 1: return "FCGI_CANT_MPX_CONN"
        case 2: return "FCGI_OVERLOADED"
        case 3: return "FCGI_UNKNOWN_ROLE"
        default: return "status(\(rawValue))"
        }
    }
}
