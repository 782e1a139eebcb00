/// URL helpers for feeds: absolute links from relative ones (path encoding is `PercentEncoding.encodePath`).
public enum FeedURL {
    /// Whether `text` starts with a URI scheme (`http:`, `urn:`, `tag:` …).
    public static func hasScheme(_ text: String) -> Bool {
        var sawLetter = false
        for b in text.utf8 {
            if b == UInt8(ascii: ":") { return sawLetter }
            let letter = (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
            if !sawLetter {
                guard letter else { return false }
                sawLetter = true
            } else if !(letter || (b >= 48 && b <= 57) || b == 43 || b == 45 || b == 46) {
                return false
            }
        }
        return false
    }

    /// `link` made absolute against `base` (e.g. `http://example.org`): kept if it has a scheme, else joined.
    public static func resolve(_ link: String, against base: String) -> String {
        if hasScheme(link) { return link }
        if link.hasPrefix("//") { return (base.hasPrefix("https:") ? "https:" : "http:") + link }
        let root = base.hasSuffix("/") ? String(base.dropLast()) : base
        if link.isEmpty { return root + "/" }
        return link.hasPrefix("/") ? root + link : root + "/" + link
    }
}
