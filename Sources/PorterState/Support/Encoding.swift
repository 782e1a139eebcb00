import Foundation

/// Cryptographically secure random bytes and constant-time comparison.
public enum SecureRandom {
    /// `count` random bytes from the system CSPRNG (`getrandom` on Linux).
    public static func bytes(_ count: Int) -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &g) }
    }

    /// Compares two byte strings in time that depends only on their lengths.
    public static func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }
}

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
