import Porter
import Testing

/// Known-answer tests for `Cryptography` (libcrypto): the published vectors of each standard, so a hash, a
/// signature or a stored password made before (swift-crypto) or elsewhere (Python's hashlib) still matches.
@Suite struct CryptographyTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    /// FIPS 180-4 examples (NIST CAVP short messages).
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256(message: String, digest: String) {
        #expect(Hex.encode(Cryptography.sha256(message.utf8)) == digest)
        #expect(Hex.encode(Cryptography.sha256(Array(message.utf8))) == digest)
    }

    @Test func sha256InPiecesEqualsOneShot() {
        // FIPS 180-4: one million "a", fed in uneven pieces (and an empty one).
        var digest = Cryptography.SHA256()
        var fed = 0
        for size in [0, 1, 63, 64, 65, 4096, 999_000] where fed < 1_000_000 {
            let n = min(size, 1_000_000 - fed)
            digest.update([UInt8](repeating: 0x61, count: n))
            fed += n
        }
        digest.update([UInt8](repeating: 0x61, count: 1_000_000 - fed))
        #expect(Hex.encode(digest.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// RFC 4231 test cases 1, 2, 6 (a key longer than the block) and 7.
    @Test(arguments: [
        (String(repeating: "0b", count: 20), Array("Hi There".utf8),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        ("4a656665", Array("what do ya want for nothing?".utf8),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (String(repeating: "aa", count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (String(repeating: "aa", count: 131), Array(("This is a test using a larger than block-size key and a larger than "
            + "block-size data. The key needs to be hashed before being used by the HMAC algorithm.").utf8),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ])
    func hmacSHA256(key: String, message: [UInt8], tag: String) {
        #expect(Hex.encode(Cryptography.hmacSHA256(key: Self.bytes(key), message)) == tag)
    }

    /// RFC 5869 A.1 and A.3 (no salt, no info).
    @Test func hkdfSHA256() {
        let ikm = [UInt8](repeating: 0x0b, count: 22)
        #expect(Hex.encode(Cryptography.hkdfSHA256(key: ikm, salt: Self.bytes("000102030405060708090a0b0c"),
                                                   info: Self.bytes("f0f1f2f3f4f5f6f7f8f9"), count: 42))
                == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        #expect(Hex.encode(Cryptography.hkdfSHA256(key: ikm, salt: [], info: [], count: 42))
                == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
    }

    /// RFC 7914 section 11 (PBKDF2-HMAC-SHA256) and well-known vectors for "password"/"salt".
    @Test(arguments: [
        ("password", "salt", 1, "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"),
        ("password", "salt", 2, "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"),
        ("password", "salt", 4096, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"),
    ])
    func pbkdf2SHA256(password: String, salt: String, iterations: Int, key: String) throws {
        #expect(Hex.encode(try Cryptography.pbkdf2SHA256(password: Array(password.utf8), salt: Array(salt.utf8),
                                                         iterations: iterations, count: 32)) == key)
    }

    /// RFC 7914 section 12, the first two vectors (the empty password and salt; N = 1024, r = 8, p = 16).
    @Test func scrypt() throws {
        #expect(Hex.encode(try Cryptography.scrypt(password: [], salt: [], n: 16, r: 1, p: 1, count: 64))
                == "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906")
        #expect(Hex.encode(try Cryptography.scrypt(password: Array("password".utf8), salt: Array("NaCl".utf8), n: 1024, r: 8, p: 16, count: 64))
                == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
    }

    @Test func outOfRangeParametersThrowInsteadOfReachingLibcrypto() {
        #expect(throws: CryptographyError.self) { try Cryptography.scrypt(password: [1], salt: [1], n: 1000, r: 8, p: 1, count: 32) }
        #expect(throws: CryptographyError.self) { try Cryptography.scrypt(password: [1], salt: [1], n: 1, r: 8, p: 1, count: 32) }
        #expect(throws: CryptographyError.self) { try Cryptography.scrypt(password: [1], salt: [1], n: 1 << 40, r: 1 << 20, p: 1, count: 32) }
        #expect(throws: CryptographyError.self) { try Cryptography.pbkdf2SHA256(password: [1], salt: [1], iterations: 0, count: 32) }
        #expect(throws: CryptographyError.self) { try Cryptography.pbkdf2SHA256(password: [1], salt: [1], iterations: 1, count: 0) }
    }

    /// A login cookie signed before this change (HKDF + HMAC as RFC 5869 and 2104 define them; the tag computed
    /// with Python's hmac) still verifies: upgrading does not sign everyone out.
    @Test func aKeyRingSignatureFromAnotherImplementationVerifies() throws {
        let ring = try KeyRing(keys: [[UInt8](repeating: 0xA1, count: 32)])
        let message = Array("porter-auth-v1|alice|1700000000|1699990000".utf8)
        let python = Self.bytes("94c8d03fc5be6f3f61059268dad404e71064ebd2c06380fc2d365c555f330b9c")
        #expect(ring.sign(message, purpose: "porter.auth-cookie") == python)
        #expect(ring.verify(message, signature: python, purpose: "porter.auth-cookie") == 0)
    }
}
