/// A handler mapping's path: `*` (everything), `*.rss` (extension anywhere), `/dir/*.ext` (extension under a
/// directory), `/dir/*` (everything under a directory) or an exact path such as `/hello`.
///
/// Extensions compare case-insensitively (as ASP.NET and the generated nginx `~*` rules do); directories
/// and exact paths compare case-sensitively (as nginx prefix locations do).
public struct PathPattern: Sendable, Hashable, CustomStringConvertible {
    /// The kinds of pattern.
    public enum Kind: Sendable, Hashable {
        case any
        case fileExtension(String)
        case directoryExtension(directory: String, fileExtension: String)
        case directory(String)
        case exact(String)
    }

    /// The pattern as written.
    public let text: String
    /// The parsed form.
    public let kind: Kind

    /// Parses a pattern; throws for anything else (e.g. `*.`, `a*b`, relative paths).
    public init(_ text: String) throws(PatternError) {
        self.text = text
        if text == "*" {
            kind = .any
        } else if text.hasPrefix("*.") {
            let ext = String(text.dropFirst(2))
            guard PathPattern.isValidExtension(ext) else { throw PatternError(pattern: text) }
            kind = .fileExtension(ext.lowercased())
        } else if text.hasPrefix("/") {
            if let star = text.firstIndex(of: "*") {
                let dir = String(text[..<star])
                let rest = String(text[text.index(after: star)...])
                guard dir.hasSuffix("/"), !rest.contains("*") else { throw PatternError(pattern: text) }
                if rest.isEmpty {
                    kind = .directory(dir)
                } else {
                    guard rest.hasPrefix("."), PathPattern.isValidExtension(String(rest.dropFirst())) else {
                        throw PatternError(pattern: text)
                    }
                    kind = .directoryExtension(directory: dir, fileExtension: rest.dropFirst().lowercased())
                }
            } else {
                guard !text.contains("?"), !text.contains(" ") else { throw PatternError(pattern: text) }
                kind = .exact(text)
            }
        } else {
            throw PatternError(pattern: text)
        }
    }

    public var description: String { text }

    /// Whether `path` (decoded, without query) matches: bytes compared as nginx compares them (see `PathBytes`).
    public func matches(_ path: String) -> Bool {
        switch kind {
        case .any:
            return true
        case .fileExtension(let ext):
            return PathPattern.hasExtension(path, ext)
        case .directoryExtension(let dir, let ext):
            return PathBytes.hasPrefix(path, dir) && PathPattern.hasExtension(path, ext)
        case .directory(let dir):
            return PathBytes.hasPrefix(path, dir)
        case .exact(let exact):
            return PathBytes.equals(path, exact)
        }
    }

    /// Whether the last segment of `path` ends in `.` + `ext` (`ext` lowercase; the path's case is ignored) with
    /// something before the dot. On contiguous bytes: every request to an extension route asks this.
    static func hasExtension(_ path: String, _ ext: String) -> Bool {
        path.withUTF8Bytes { p in
            ext.withUTF8Bytes { e in
                guard p.count > e.count + 1 else { return false }
                let dot = p.count - e.count - 1
                guard p[dot] == UInt8(ascii: "."), p[dot - 1] != UInt8(ascii: "/") else { return false }
                for i in 0..<e.count where p[dot + 1 + i].asciiLowercased != e[i] { return false }
                return true
            }
        }
    }

    static func isValidExtension(_ ext: String) -> Bool {
        !ext.isEmpty && ext.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95
        }
    }
}

/// A path pattern that cannot be parsed.
public struct PatternError: Error, Equatable, CustomStringConvertible {
    public let pattern: String
    public var description: String {
        "invalid path pattern \"\(pattern)\": use *, *.ext, /dir/*.ext, /dir/* or an exact /path"
    }
}

/// The verbs a mapping accepts: `*` or a comma list such as `GET,HEAD,POST`; GET implies HEAD.
public struct VerbSet: Sendable, Hashable, CustomStringConvertible {
    /// The accepted verbs; `nil` means any.
    public let verbs: Set<HTTPMethod>?

    /// Parses `*` or `GET, POST`; verbs are case-sensitive (as in ASP.NET) and spaces are ignored.
    public init(_ text: String) {
        let trimmed = text.filter { $0 != " " }
        if trimmed == "*" || trimmed.isEmpty {
            verbs = nil
        } else {
            var set = Set(trimmed.split(separator: ",").map { HTTPMethod(rawValue: String($0)) })
            if set.contains(.get) { set.insert(.head) }
            verbs = set
        }
        takesNoBody = verbs.map { !$0.isEmpty && $0.isSubset(of: [.get, .head, .delete, .options]) } ?? false
    }

    /// Whether `method` is accepted.
    public func contains(_ method: HTTPMethod) -> Bool { verbs?.contains(method) ?? true }

    /// Whether every accepted verb is one that carries no request body (GET, HEAD, DELETE, OPTIONS); decided
    /// once here, as the transport asks for every request.
    public let takesNoBody: Bool

    public var description: String {
        guard let verbs else { return "*" }
        return verbs.map(\.rawValue).sorted().joined(separator: ",")
    }
}
