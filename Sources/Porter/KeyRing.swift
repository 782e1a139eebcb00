import Synchronization

/// HMAC-SHA256 secrets with rotation and purpose separation: the first key signs, every key verifies.
///
/// Each signature is made with a subkey derived for its purpose (HKDF-SHA256, salt `porter-key-ring-v1`,
/// info = the purpose, 32 bytes), so a ring shared by login cookies and image URLs never makes a signature
/// that is valid for the other. To rotate: put the new key first and keep the old one after it until what
/// it signed has expired; removing a key retires it.
public struct KeyRing: Sendable {
    /// The shortest key accepted, in bytes (256 bits).
    public static let minimumKeyBytes = 32
    /// The length of a signature in bytes (HMAC-SHA256).
    public static let signatureBytes = 32

    /// The secrets, signing key first.
    package let keys: [[UInt8]]
    /// Each purpose's subkeys (one per key), derived on first use: HKDF is two HMACs, and every request with a
    /// login cookie verifies one.
    private let subkeys = SubkeyCache()

    /// A ring over `keys` (the first signs); throws when there is none or one is shorter than 32 bytes.
    public init(keys: [[UInt8]]) throws(ConfigurationError) {
        guard !keys.isEmpty else { throw ConfigurationError("a key ring needs at least one key") }
        for key in keys where key.count < KeyRing.minimumKeyBytes {
            throw ConfigurationError("a key has \(key.count) bytes; keys need at least \(KeyRing.minimumKeyBytes) bytes "
                + "(256 bits): generate one with `openssl rand -hex 32`")
        }
        self.keys = keys
    }

    /// How many keys the ring holds.
    public var count: Int { keys.count }

    /// The signature of `message` for `purpose` (e.g. `porter.auth-cookie`), made with the first key.
    public func sign(_ message: [UInt8], purpose: String) -> [UInt8] {
        Cryptography.hmacSHA256(key: subkeys.subkeys(of: keys, purpose: purpose)[0], message)
    }

    /// The index of the key that made `signature` of `message` for `purpose` (0 = the signing key), or `nil`
    /// when none did. Every key is tried, each comparison in constant time.
    public func verify(_ message: [UInt8], signature: [UInt8], purpose: String) -> Int? {
        guard signature.count == KeyRing.signatureBytes else { return nil }
        var matched: Int?
        for (index, subkey) in subkeys.subkeys(of: keys, purpose: purpose).enumerated() {
            let expected = Cryptography.hmacSHA256(key: subkey, message)
            let valid = SecureRandom.constantTimeEquals(expected, signature)
            if valid && matched == nil { matched = index }
        }
        return matched
    }

    /// The subkey of `key` for `purpose`.
    static func subkey(_ key: [UInt8], purpose: String) -> [UInt8] {
        precondition(!purpose.isEmpty, "a signing purpose must not be empty")
        return Cryptography.hkdfSHA256(key: key, salt: Array("porter-key-ring-v1".utf8), info: Array(purpose.utf8), count: 32)
    }
}

/// A key ring's subkeys by purpose. Purposes are a handful of constants in code; the cache is emptied should it ever
/// hold 64, so a purpose built from input could not grow it without bound.
private final class SubkeyCache: Sendable {
    private let byPurpose = Mutex<[String: [[UInt8]]]>([:])

    func subkeys(of keys: [[UInt8]], purpose: String) -> [[UInt8]] {
        if let cached = byPurpose.withLock({ $0[purpose] }) { return cached }
        let derived = keys.map { KeyRing.subkey($0, purpose: purpose) }
        byPurpose.withLock { cache in
            if cache.count >= 64 { cache.removeAll() }
            cache[purpose] = derived
        }
        return derived
    }
}
