/// Links published in feeds (channel and item links, enclosure URLs): absolute `http`/`https` URLs, or references
/// relative to the handler's `site_url`, written in RFC 3986 characters only.
///
/// `normalize` percent-encodes what must be encoded (spaces, `"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`,
/// brackets outside the host, a `%` not starting an escape, and every non-ASCII byte) and refuses what no encoding
/// can make a web link: another scheme (`javascript:`, `data:`), a missing or malformed host, control characters.
/// The store normalizes at insert; the renderer normalizes again, so rows written by older versions or by hand are
/// published valid or not at all.
public enum FeedLink {
    /// `link` in RFC 3986 characters, or nil when it is not an http(s) URL or a site-relative reference.
    public static func normalize(_ link: String) -> String? {
        let bytes = Array(link.utf8)
        guard !bytes.isEmpty, bytes.count <= 8192, !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        var rest = bytes[...]
        var out = ""
        if FeedURL.hasScheme(link) {
            let colon = bytes.firstIndex(of: UInt8(ascii: ":"))!
            let scheme = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
            guard scheme == "http" || scheme == "https" else { return nil }
            out = scheme + ":"
            rest = bytes[(colon + 1)...]
            guard rest.starts(with: Array("//".utf8)) else { return nil }
        }
        if rest.starts(with: Array("//".utf8)) {
            rest = rest.dropFirst(2)
            let end = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? rest.endIndex
            let authority = rest[..<end]
            guard isValidAuthority(authority) else { return nil }
            out += "//" + String(decoding: authority, as: UTF8.self)
            rest = rest[end...]
        }
        var i = rest.startIndex
        while i < rest.endIndex {
            let b = rest[i]
            if b == UInt8(ascii: "%"), i + 2 < rest.endIndex, isHex(rest[i + 1]), isHex(rest[i + 2]) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else if isAllowedOutsideHost(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += percentEncoded(b)
            }
            i += 1
        }
        return out
    }

    /// The absolute URL to publish for a stored `link` (resolved against `siteURL`), or nil to leave it out.
    public static func published(_ link: String, siteURL: String) -> String? {
        guard let normalized = normalize(link) else { return nil }
        let absolute = FeedURL.resolve(normalized, against: siteURL)
        guard let checked = normalize(absolute), checked.hasPrefix("http://") || checked.hasPrefix("https://") else { return nil }
        return checked
    }

    /// `userinfo@host:port` with a non-empty host of RFC 3986 characters (an IPv6 literal in brackets allowed).
    static func isValidAuthority(_ authority: ArraySlice<UInt8>) -> Bool {
        var hostPart = authority
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) { hostPart = authority[(at + 1)...] }
        guard let first = hostPart.first, first != UInt8(ascii: ":") else { return false }
        let allowed = Array("-._~!$&'()*+,;=:@%[]".utf8)
        guard authority.allSatisfy({ isAlphanumeric($0) || allowed.contains($0) }) else { return false }
        if first == UInt8(ascii: "[") { return hostPart.contains(UInt8(ascii: "]")) }
        return !hostPart.contains(UInt8(ascii: "[")) && !hostPart.contains(UInt8(ascii: "]"))
    }

    /// RFC 3986 unreserved, sub-delims, and `:` `@` `/` `?` `#` (brackets only belong in the host).
    static func isAllowedOutsideHost(_ b: UInt8) -> Bool {
        isAlphanumeric(b) || Array("-._~!$&'()*+,;=:@/?#".utf8).contains(b)
    }

    static func isAlphanumeric(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
    static func isHex(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102) }

    static func percentEncoded(_ b: UInt8) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        return "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
    }
}
