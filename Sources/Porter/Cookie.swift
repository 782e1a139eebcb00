/// Parses a request's `Cookie` header into name/value pairs (first occurrence of a name wins).
public enum CookieParser {
    /// `a=1; b="two"` → `["a": "1", "b": "two"]`; pairs without `=` are ignored.
    public static func parse(_ header: String) -> [String: String] {
        var cookies: [String: String] = [:]
        for part in header.split(separator: ";") {
            guard let eq = part.firstIndex(of: "=") else { continue }
            let name = part[..<eq].trimmingSpaces()
            var value = part[part.index(after: eq)...].trimmingSpaces()
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            if !name.isEmpty, cookies[name] == nil { cookies[name] = value }
        }
        return cookies
    }
}

/// A `Set-Cookie` header value the response sends.
public struct SetCookie: Sendable, Equatable {
    /// The `SameSite` attribute.
    public enum SameSite: String, Sendable { case strict = "Strict", lax = "Lax", none = "None" }

    public var name: String
    public var value: String
    public var path: String? = "/"
    public var domain: String?
    /// Lifetime in seconds (`Max-Age`); `0` deletes the cookie, `nil` makes a session cookie.
    public var maxAge: Int?
    public var secure: Bool = false
    public var httpOnly: Bool = true
    public var sameSite: SameSite? = .lax

    /// A cookie with Porter's defaults: `Path=/`, `HttpOnly`, `SameSite=Lax`.
    public init(name: String, value: String, path: String? = "/", domain: String? = nil, maxAge: Int? = nil,
                secure: Bool = false, httpOnly: Bool = true, sameSite: SameSite? = .lax) {
        self.name = name; self.value = value; self.path = path; self.domain = domain; self.maxAge = maxAge
        self.secure = secure; self.httpOnly = httpOnly; self.sameSite = sameSite
    }

    /// The header value, e.g. `sid=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax`.
    public var headerValue: String {
        var s = "\(name)=\(value)"
        if let path { s += "; Path=\(path)" }
        if let domain { s += "; Domain=\(domain)" }
        if let maxAge { s += "; Max-Age=\(maxAge)" }
        if secure { s += "; Secure" }
        if httpOnly { s += "; HttpOnly" }
        if let sameSite { s += "; SameSite=\(sameSite.rawValue)" }
        return s
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    public func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
