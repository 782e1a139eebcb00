import Foundation
import Porter

/// Password hashing with a real key-derivation function and a random salt; the password itself is never stored.
///
/// Hashes are self-describing strings in the PHC style, so parameters can be raised later and old hashes still verify:
/// - `$pbkdf2-sha256$i=600000$<salt>$<hash>` (PBKDF2-HMAC-SHA256, OWASP 2023: 600,000 iterations; 210,000 minimum)
/// - `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (scrypt, N = 2^ln)
/// Salt and hash are unpadded standard base64. Verification compares in constant time.
public struct PasswordHasher: Sendable, Equatable {
    /// The KDF and its cost.
    public enum Algorithm: Sendable, Equatable {
        /// PBKDF2-HMAC-SHA256 with this many iterations (at least 210,000).
        case pbkdf2SHA256(iterations: Int)
        /// scrypt with N = 2^logN, block size r and parallelism p.
        case scrypt(logN: Int, r: Int, p: Int)
    }

    /// The lowest PBKDF2 iteration count accepted when hashing or verifying.
    public static let minimumPBKDF2Iterations = 210_000

    /// The algorithm new hashes use.
    public let algorithm: Algorithm

    /// A hasher; the default is PBKDF2-HMAC-SHA256 with 600,000 iterations.
    public init(algorithm: Algorithm = .pbkdf2SHA256(iterations: 600_000)) throws {
        switch algorithm {
        case .pbkdf2SHA256(let iterations):
            guard iterations >= Self.minimumPBKDF2Iterations else {
                throw PasswordHashError.weakParameters("PBKDF2 needs at least \(Self.minimumPBKDF2Iterations) iterations")
            }
        case .scrypt(let logN, let r, let p):
            guard (14...20).contains(logN), (1...32).contains(r), (1...16).contains(p) else {
                throw PasswordHashError.weakParameters("scrypt needs ln in 14...20, r in 1...32, p in 1...16")
            }
        }
        self.algorithm = algorithm
    }

    /// Hashes `password` with a fresh 16-byte random salt.
    public func hash(_ password: String) throws -> String {
        let salt = SecureRandom.bytes(16)
        let derived = try Self.derive(password: password, salt: salt, algorithm: algorithm)
        return Self.format(algorithm: algorithm, salt: salt, hash: derived)
    }

    /// Whether `password` matches `encoded` (any supported algorithm); malformed hashes never match.
    public static func verify(_ password: String, against encoded: String) -> Bool {
        guard let parsed = parse(encoded),
              let derived = try? derive(password: password, salt: parsed.salt, algorithm: parsed.algorithm, length: parsed.hash.count)
        else { return false }
        return SecureRandom.constantTimeEquals(derived, parsed.hash)
    }

    /// Whether `encoded` uses weaker parameters than this hasher (so it should be re-hashed at the next login).
    public func needsRehash(_ encoded: String) -> Bool {
        guard let parsed = Self.parse(encoded) else { return true }
        return parsed.algorithm != algorithm
    }

    static func derive(password: String, salt: [UInt8], algorithm: Algorithm, length: Int = 32) throws -> [UInt8] {
        switch algorithm {
        case .pbkdf2SHA256(let iterations):
            try Cryptography.pbkdf2SHA256(password: Array(password.utf8), salt: salt, iterations: iterations, count: length)
        case .scrypt(let logN, let r, let p):
            try Cryptography.scrypt(password: Array(password.utf8), salt: salt, n: 1 << logN, r: r, p: p, count: length)
        }
    }

    static func format(algorithm: Algorithm, salt: [UInt8], hash: [UInt8]) -> String {
        switch algorithm {
        case .pbkdf2SHA256(let iterations):
            "$pbkdf2-sha256$i=\(iterations)$\(b64(salt))$\(b64(hash))"
        case .scrypt(let logN, let r, let p):
            "$scrypt$ln=\(logN),r=\(r),p=\(p)$\(b64(salt))$\(b64(hash))"
        }
    }

    static func parse(_ encoded: String) -> (algorithm: Algorithm, salt: [UInt8], hash: [UInt8])? {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, parts[0].isEmpty,
              let salt = unb64(parts[3]), salt.count >= 8, let hash = unb64(parts[4]), (16...64).contains(hash.count) else { return nil }
        var params: [String: Int] = [:]
        for item in parts[2].split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let v = Int(kv[1]) else { return nil }
            params[String(kv[0])] = v
        }
        switch parts[1] {
        case "pbkdf2-sha256":
            guard let i = params["i"], (minimumPBKDF2Iterations...10_000_000).contains(i) else { return nil }
            return (.pbkdf2SHA256(iterations: i), salt, hash)
        case "scrypt":
            guard let ln = params["ln"], let r = params["r"], let p = params["p"],
                  (10...20).contains(ln), (1...32).contains(r), (1...16).contains(p) else { return nil }
            return (.scrypt(logN: ln, r: r, p: p), salt, hash)
        default:
            return nil
        }
    }

    static func b64(_ bytes: [UInt8]) -> String {
        Base64URL.encode(bytes).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    }

    static func unb64(_ text: String) -> [UInt8]? {
        Base64URL.decode(text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"))
    }
}

/// A password hash could not be made.
public enum PasswordHashError: Error, Equatable {
    /// The requested parameters are below the accepted minimum.
    case weakParameters(String)
}

