import Foundation
import Porter
import PorterHost

/// The nginx side of a trusted identity (`trust_remote_user`, `trusted_param`, `trusted_header`): the snippet that
/// really authenticates and sets the identity, and the locations that include it.
///
/// nginx fills `$remote_user` from any `Authorization: Basic` header, password unchecked, when no `auth_basic` runs,
/// and passes every client header as `HTTP_*`. So Porter trusts such an identity only when:
/// - the configuration names the snippet (`identity_snippet`), which `porter nginx-config` includes in every
///   Porter location under `identity_paths` (default: all), and
/// - the request carries `PORTER_IDENTITY_SNIPPET`, a parameter only that snippet sets (clients cannot send
///   parameters that do not start with `HTTP_`). Locations without the snippet therefore never vouch for anyone.
public struct NginxIdentity: Sendable, Equatable {
    /// The FastCGI parameter the identity snippet sets, proving the location ran it.
    public static let markerParameter = "PORTER_IDENTITY_SNIPPET"
    /// The snippet nginx includes (a path as nginx resolves `include`), e.g. `porter-identity.conf`.
    public var snippet: String
    /// Path prefixes whose locations include the snippet (`/` = every Porter location).
    public var pathPrefixes: [String]

    /// A policy for `snippet` on the locations under `pathPrefixes`.
    public init(snippet: String, pathPrefixes: [String] = ["/"]) {
        self.snippet = snippet
        self.pathPrefixes = pathPrefixes
    }

    /// Whether the nginx location for `pattern` includes the snippet.
    public func covers(_ pattern: PathPattern) -> Bool {
        let fixed: String? = switch pattern.kind {
        case .any, .fileExtension: nil
        case .directory(let dir), .directoryExtension(let dir, _): dir
        case .exact(let path): path
        }
        return pathPrefixes.contains { prefix in prefix == "/" || (fixed?.hasPrefix(prefix) ?? false) }
    }

    /// Whether the request went through a location that ran the snippet.
    public static func isVouchedFor(_ parameters: CGIParameters) -> Bool {
        parameters.hasValue(markerParameter)
    }

    /// Reads `identity_snippet` and `identity_paths`; throws when an nginx identity is trusted without a snippet
    /// (naming the option), or when a readable snippet file does not set what is trusted.
    static func fromOptions(_ options: Options) throws -> NginxIdentity? {
        var trusted: [String] = []
        if try options.bool("trust_remote_user", default: false) { trusted.append("trust_remote_user") }
        let parameter = try options.string("trusted_param").flatMap { $0.isEmpty ? nil : $0 }
        let header = try options.string("trusted_header").flatMap { $0.isEmpty ? nil : $0 }
        if parameter != nil { trusted.append("trusted_param") }
        if header != nil { trusted.append("trusted_header") }
        let snippet = try options.string("identity_snippet").flatMap { $0.isEmpty ? nil : $0 }
        guard !trusted.isEmpty else {
            if snippet != nil {
                throw ConfigurationError("\(options.origin): identity_snippet is set but nothing trusts nginx's identity (trust_remote_user, trusted_param or trusted_header)")
            }
            return nil
        }
        guard let snippet else {
            throw ConfigurationError("""
                \(options.origin): \(trusted.joined(separator: ", ")) needs identity_snippet: nginx fills REMOTE_USER from any \
                Basic header and passes client headers, so Porter trusts nginx's identity only behind a snippet that really \
                authenticates (identity_snippet = "porter-identity.conf", shipped in nginx/; see SECURITY.md)
                """)
        }
        let paths = try options.strings("identity_paths", default: ["/"])
        guard !paths.isEmpty, paths.allSatisfy({ $0.hasPrefix("/") }) else {
            throw ConfigurationError("\(options.origin): identity_paths must list path prefixes starting with /")
        }
        if snippet.hasPrefix("/"), let text = try? String(contentsOfFile: snippet, encoding: .utf8) {
            var needed = [markerParameter]
            if trusted.contains("trust_remote_user") { needed.append("REMOTE_USER") }
            if let parameter { needed.append(parameter) }
            if let header { needed.append("HTTP_" + header.uppercased().replacingOccurrences(of: "-", with: "_")) }
            let set = Set(text.split(separator: "\n").compactMap { line -> String? in
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                return words.count >= 2 && words[0] == "fastcgi_param" ? String(words[1]) : nil
            })
            for name in needed where !set.contains(name) {
                throw ConfigurationError("\(options.origin): identity_snippet \(snippet) does not set fastcgi_param \(name)")
            }
        }
        return NginxIdentity(snippet: snippet, pathPrefixes: paths)
    }

    /// What the authentication module adds to the nginx location of a route: the snippet, when it covers the route.
    static func routeEdge(options: Options, pattern: PathPattern) throws -> EdgePolicy {
        guard let identity = try fromOptions(options), identity.covers(pattern) else { return EdgePolicy() }
        return EdgePolicy(includes: [identity.snippet])
    }
}
