// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

/// The 8-byte body of a BEGIN_REQUEST record: role and flags (FastCGI 1.0 §5.1).
public struct BeginRequestBody: Hashable, Sendable {
    /// FCGI_KEEP_CONN: the application must not close the connection after the request.
    public static let keepConnectionFlag: UInt8 = 1

    /// The requested role.
    public var role: Role
    /// The flags byte.
    public var flags: UInt8

    /// A body with the given role and FCGI_KEEP_CONN set if `keepConnection`.
    public init(role: Role = .responder, keepConnection: Bool = false) {
        self.role = role
        self.flags = keepConnection ? BeginRequestBody.keepConnectionFlag : 0
    }

    /// Decodes an 8-byte BEGIN_REQUEST body.
    public init(decoding content: [UInt8]) throws(FastCGIWireError) {
        guard content.count == 8 else { throw .invalidBodyLength(type: .beginRequest, length: content.count) }
        role = Role(rawValue: UInt16(content[0]) << 8 | UInt16(content[1]))
        flags = content[2]
    }

    /// Decodes an 8-byte BEGIN_REQUEST body from a raw buffer without copying.
    public init(decoding content: UnsafeRawBufferPointer) throws(FastCGIWireError) {
        guard content.count == 8 else { throw .invalidBodyLength(type: .beginRequest, length: content.count) }
        role = Role(rawValue: UInt16(content[0]) << 8 | UInt16(content[1]))
        flags = content[2]
    }

    /// Whether FCGI_KEEP_CONN is set.
    public var keepConnection: Bool { flags & BeginRequestBody.keepConnectionFlag != 0 }

    /// The 8 body bytes.
    public var encoded: [UInt8] { [UInt8(role.rawValue >> 8), UInt8(role.rawValue & 0xFF), flags, 0, 0, 0, 0, 0] }
}

/// The 8-byte body of an END_REQUEST record: the app's exit status and the protocol status (FastCGI 1.0 §5.5).
public struct EndRequestBody: Hashable, Sendable {
    /// The application's status code (like a CGI exit status).
    public var appStatus: UInt32
    /// Whether the request completed or was refused.
    public var protocolStatus: ProtocolStatus

    /// A body with the given statuses.
    public init(appStatus: UInt32 = 0, protocolStatus: ProtocolStatus = .requestComplete) {
        self.appStatus = appStatus
        self.protocolStatus = protocolStatus
    }

    /// Decodes an 8-byte END_REQUEST body.
    public init(decoding content: [UInt8]) throws(FastCGIWireError) {
        guard content.count == 8 else { throw .invalidBodyLength(type: .endRequest, length: content.count) }
        appStatus = UInt32(content[0]) << 24 | UInt32(content[1]) << 16 | UInt32(content[2]) << 8 | UInt32(content[3])
        protocolStatus = ProtocolStatus(rawValue: content[4])
    }

    /// Writes the 8 body bytes at `pointer` (for framing into memory the caller owns, without an array).
    public func store(at pointer: UnsafeMutableRawPointer) {
        let bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (UInt8(appStatus >> 24), UInt8((appStatus >> 16) & 0xFF), UInt8((appStatus >> 8) & 0xFF),
             UInt8(appStatus & 0xFF), protocolStatus.rawValue, 0, 0, 0)
        pointer.storeBytes(of: bytes, as: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8).self)
    }

    /// The 8 body bytes.
    public var encoded: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 8) { bytes, count in
            store(at: bytes.baseAddress!)
            count = 8
        }
    }
}

/// The 8-byte body of an UNKNOWN_TYPE record: the management type that was not understood (FastCGI 1.0 §4.2).
public struct UnknownTypeBody: Hashable, Sendable {
    /// The record type the peer did not understand.
    public var type: RecordType

    /// A body naming `type`.
    public init(type: RecordType) { self.type = type }

    /// Decodes an 8-byte UNKNOWN_TYPE body.
    public init(decoding content: [UInt8]) throws(FastCGIWireError) {
        guard content.count == 8 else { throw .invalidBodyLength(type: .unknownType, length: content.count) }
        type = RecordType(rawValue: content[0])
    }

    /// The 8 body bytes.
    public var encoded: [UInt8] { [type.rawValue, 0, 0, 0, 0, 0, 0, 0] }
}
