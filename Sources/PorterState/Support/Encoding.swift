/// Checks that a redirect target stays on this site (prevents open redirects through `returnUrl`).
public enum LocalURL {
    /// Whether `url` is a local absolute path such as `/a/b?c`: it starts with one `/`, is not
    /// protocol-relative (`//host`, `/\host`), and has no scheme, backslash or control characters.
    public static func isLocal(_ url: String) -> Bool {
        let bytes = Array(url.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "/") else { return false }
        if bytes.count > 1, bytes[1] == UInt8(ascii: "/") || bytes[1] == UInt8(ascii: "\\") { return false }
        for b in bytes where b < 0x20 || b == 0x7F || b == UInt8(ascii: "\\") { return false }
        // A percent-encoded slash or backslash right after the first slash is decoded by some browsers.
        let lowered = url.lowercased()
        if lowered.hasPrefix("/%2f") || lowered.hasPrefix("/%5c") { return false }
        return true
    }
}
