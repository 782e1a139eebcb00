// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

public import Porter

/// Why a FastCGI application's STDOUT is not a valid CGI response (nginx answers 502 for these).
public enum CGIResponseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The output ended before the blank line that ends the headers.
    case missingHeaderTerminator
    /// A header line has no colon or an invalid name.
    case invalidHeaderLine(String)
    /// The `Status:` value does not start with a three-digit code from 100 to 999.
    case invalidStatus(String)

    /// A one-line human-readable explanation.
    public var description: String {
        switch self {
        case .missingHeaderTerminator: return "CGI response ended before the end of its headers"
        case .invalidHeaderLine(let line): return "invalid CGI header line: \(line)"
        case .invalidStatus(let value): return "invalid CGI Status: \(value)"
        }
    }
}

/// A CGI response read the way nginx reads a FastCGI STDOUT stream.
///
/// Header lines end with LF or CRLF; a blank line ends them. `Status: 404 Not Found` sets the status
/// (and is removed from ``headers``); without it the status is 302 if a `Location` header is present,
/// else 200. A header's value is everything after the first colon, trimmed. The body is kept byte for byte.
public struct CGIResponse: Hashable, Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The reason phrase from the `Status:` line, if one was given.
    public var reason: String?
    /// The header fields other than `Status`.
    public var headers: HTTPHeaders
    /// The body bytes after the blank line.
    public var body: [UInt8]

    /// A response from its parts.
    public init(status: Int, reason: String? = nil, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
    }

    /// Parses a complete STDOUT stream.
    public init(parsing output: [UInt8]) throws(CGIResponseError) {
        var headers = HTTPHeaders()
        var statusValue: String?
        var offset = 0
        var terminated = false
        while offset < output.count {
            guard let newline = output[offset...].firstIndex(of: 0x0A) else { break }
            var lineEnd = newline
            if lineEnd > offset && output[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            let line = output[offset..<lineEnd]
            offset = newline + 1
            if line.isEmpty {
                terminated = true
                break
            }
            let text = String(decoding: line, as: UTF8.self)
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw .invalidHeaderLine(text) }
            let nameBytes = line[line.startIndex..<colon]
            guard !nameBytes.isEmpty, nameBytes.allSatisfy(CGIResponse.isTokenByte) else {
                throw .invalidHeaderLine(text)
            }
            let name = String(decoding: nameBytes, as: UTF8.self)
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces()
            if name.equalsIgnoringASCIICase("Status") {
                statusValue = value
            } else {
                headers.add(name, value)
            }
        }
        guard terminated else { throw .missingHeaderTerminator }

        if let statusValue {
            let digits = statusValue.utf8.prefix(3)
            guard digits.count == 3, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let code = Int(String(decoding: digits, as: UTF8.self)), code >= 100,
                  statusValue.utf8.count == 3 || statusValue.utf8.dropFirst(3).first == 0x20
            else { throw .invalidStatus(statusValue) }
            status = code
            let rest = String(decoding: statusValue.utf8.dropFirst(3), as: UTF8.self).trimmingSpaces()
            reason = rest.isEmpty ? nil : rest
        } else {
            status = headers.contains("Location") ? 302 : 200
            reason = nil
        }
        self.headers = headers
        self.body = Array(output[offset...])
    }

    /// The body decoded as UTF-8 (invalid bytes repaired).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// RFC 9110 token characters, which nginx accepts in upstream header names.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}
