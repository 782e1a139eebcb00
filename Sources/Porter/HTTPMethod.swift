/// An HTTP request method (verb), compared case-sensitively as ASP.NET's handler mappings do.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String

    /// Wraps a method name such as `GET`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Wraps a method name written as a literal.
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { rawValue }

    public static let get: HTTPMethod = "GET"
    public static let head: HTTPMethod = "HEAD"
    public static let post: HTTPMethod = "POST"
    public static let put: HTTPMethod = "PUT"
    public static let delete: HTTPMethod = "DELETE"
    public static let patch: HTTPMethod = "PATCH"
    public static let options: HTTPMethod = "OPTIONS"

    /// Whether the method is safe (RFC 9110 9.2.1: GET, HEAD, OPTIONS, TRACE): it asks, it changes nothing.
    public var isSafe: Bool { self == .get || self == .head || self == .options || rawValue == "TRACE" }
}
