import COpenSSL

/// SHA-256, HMAC-SHA256, HKDF-SHA256, PBKDF2-HMAC-SHA256 and scrypt, from the system's libcrypto (OpenSSL 3: the
/// distribution patches it, and nginx on the same machine already loads it). The only code that calls libcrypto.
package enum Cryptography {
    /// The length of a SHA-256 digest and of an HMAC-SHA256 tag, in bytes.
    package static let sha256Bytes = 32

    /// SHA-256's implementation, fetched once: OpenSSL 3 otherwise looks it up on every digest (and its `HMAC()`
    /// fetches the MAC on every call: 3.4 µs per tag, against 0.8 µs for `hmacSHA256`'s construction on this one).
    nonisolated(unsafe) private static let sha256Method: OpaquePointer = {
        guard let method = EVP_MD_fetch(nil, "SHA256", nil) else { fatalError("libcrypto: no SHA256") }
        return method
    }()

    /// The SHA-256 digest of `bytes`.
    package static func sha256(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var digest = SHA256()
        digest.update(bytes)
        return digest.finalize()
    }

    /// A SHA-256 digest made piece by piece (a large upload read in chunks).
    package struct SHA256: ~Copyable {
        private let context: OpaquePointer

        /// An empty digest.
        package init() {
            guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, Cryptography.sha256Method, nil) == 1 else {
                fatalError("libcrypto: cannot start a SHA-256 digest")
            }
            self.context = context
        }

        /// Adds `bytes` to the digest.
        package mutating func update(_ bytes: some Sequence<UInt8>) {
            Cryptography.withBytes(bytes) { buffer in
                guard EVP_DigestUpdate(context, buffer.baseAddress, buffer.count) == 1 else {
                    fatalError("libcrypto: SHA-256 update failed")
                }
            }
        }

        /// The 32-byte digest of everything added.
        package consuming func finalize() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: Cryptography.sha256Bytes)
            var length: UInt32 = 0
            guard EVP_DigestFinal_ex(context, &out, &length) == 1, length == UInt32(Cryptography.sha256Bytes) else {
                fatalError("libcrypto: SHA-256 final failed")
            }
            return out
        }

        deinit { EVP_MD_CTX_free(context) }
    }

    /// The HMAC-SHA256 tag of `message` under `key`: RFC 2104's construction over SHA-256, H((K ⊕ opad) ‖
    /// H((K ⊕ ipad) ‖ message)), with K the key (hashed first when longer than the 64-byte block) padded with zeros.
    package static func hmacSHA256(key: some Sequence<UInt8>, _ message: some Sequence<UInt8>) -> [UInt8] {
        var block = Array(key)
        if block.count > 64 { block = sha256(block) }
        block += repeatElement(0, count: 64 - block.count)
        var inner = SHA256()
        inner.update(block.map { $0 ^ 0x36 })
        inner.update(message)
        var outer = SHA256()
        outer.update(block.map { $0 ^ 0x5c })
        outer.update(inner.finalize())
        return outer.finalize()
    }

    /// `count` bytes of key material from `key` (HKDF-SHA256, RFC 5869: extract with `salt`, expand with `info`).
    package static func hkdfSHA256(key: some Sequence<UInt8>, salt: [UInt8], info: [UInt8], count: Int) -> [UInt8] {
        precondition((1...255 * sha256Bytes).contains(count), "HKDF-SHA256 makes 1 to 8160 bytes")
        let prk = hmacSHA256(key: salt, key)
        var okm: [UInt8] = []
        okm.reserveCapacity(count + sha256Bytes)
        var block: [UInt8] = []
        var counter: UInt8 = 1
        while okm.count < count {
            block = hmacSHA256(key: prk, block + info + [counter])
            okm += block
            counter &+= 1
        }
        return Array(okm.prefix(count))
    }

    /// `count` bytes derived from `password` and `salt` with PBKDF2-HMAC-SHA256 over `iterations` rounds (RFC 8018).
    package static func pbkdf2SHA256(password: [UInt8], salt: [UInt8], iterations: Int, count: Int)
        throws(CryptographyError) -> [UInt8] {
        guard (1...Int(Int32.max)).contains(iterations), (1...1024).contains(count),
              password.count <= Int(Int32.max), salt.count <= Int(Int32.max) else {
            throw CryptographyError("PBKDF2 parameters out of range")
        }
        var out = [UInt8](repeating: 0, count: count)
        let made = withBytes(password) { password in
            withBytes(salt) { salt in
                PKCS5_PBKDF2_HMAC(password.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(password.count),
                                  salt.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(salt.count),
                                  Int32(iterations), sha256Method, Int32(count), &out)
            }
        }
        guard made == 1 else { throw CryptographyError("PBKDF2 failed") }
        return out
    }

    /// `count` bytes derived from `password` and `salt` with scrypt (RFC 7914): cost `n` (a power of two), block
    /// size `r`, parallelism `p`. Needs about 128·r·n bytes of memory.
    package static func scrypt(password: [UInt8], salt: [UInt8], n: Int, r: Int, p: Int, count: Int)
        throws(CryptographyError) -> [UInt8] {
        guard n > 1, n & (n - 1) == 0, r > 0, p > 0, (1...1024).contains(count) else {
            throw CryptographyError("scrypt parameters out of range")
        }
        // libcrypto refuses to use more than `maxmem` bytes (default 32 MiB); allow what these parameters need.
        let (v, vOverflow) = (128 * r).multipliedReportingOverflow(by: n + 2)
        guard !vOverflow else { throw CryptographyError("scrypt parameters out of range") }
        let maxmem = UInt64(v) + UInt64(128 * r * p) + 65_536
        var out = [UInt8](repeating: 0, count: count)
        let made = withBytes(password) { password in
            withBytes(salt) { salt in
                EVP_PBE_scrypt(password.baseAddress?.assumingMemoryBound(to: CChar.self), password.count,
                               salt.baseAddress?.assumingMemoryBound(to: UInt8.self), salt.count,
                               UInt64(n), UInt64(r), UInt64(p), maxmem, &out, count)
            }
        }
        guard made == 1 else { throw CryptographyError("scrypt failed (parameters or memory)") }
        return out
    }

    /// Calls `body` with `bytes` as one contiguous buffer whose base address is never nil (libcrypto reads no byte
    /// of an empty input, but some of its functions refuse a null pointer).
    private static func withBytes<R>(_ bytes: some Sequence<UInt8>, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let direct = bytes.withContiguousStorageIfAvailable { buffer -> R? in
            guard buffer.baseAddress != nil else { return nil }
            return body(UnsafeRawBufferPointer(buffer))
        }
        if let direct, let result = direct { return result }
        let copy = Array(bytes)
        if copy.isEmpty {
            var zero: UInt8 = 0
            return withUnsafeBytes(of: &zero) { body(UnsafeRawBufferPointer(start: $0.baseAddress, count: 0)) }
        }
        return copy.withUnsafeBytes(body)
    }
}

/// A key derivation could not run (parameters out of range, or libcrypto failed).
package struct CryptographyError: Error, CustomStringConvertible {
    /// What went wrong.
    package let description: String

    init(_ description: String) { self.description = description }
}
