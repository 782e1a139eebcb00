import Glibc
import Porter
import PorterTesting
import Testing

/// The HMAC key ring: rotation, purpose separation, tampering, key rules and key sources.
@Suite struct KeyRingTests {
    static let keyA = [UInt8](repeating: 0xA1, count: 32)
    static let keyB = [UInt8](repeating: 0xB2, count: 32)
    static let message = Array("porter-auth-v1|alice|1700000000|1699990000".utf8)

    @Test func rotationSignsWithTheFirstKeyAndVerifiesWithAll() throws {
        let old = try KeyRing(keys: [Self.keyA])
        let rotated = try KeyRing(keys: [Self.keyB, Self.keyA])
        let oldSignature = old.sign(Self.message, purpose: "test")
        #expect(old.verify(Self.message, signature: oldSignature, purpose: "test") == 0)
        #expect(rotated.verify(Self.message, signature: oldSignature, purpose: "test") == 1, "the old key still verifies")
        let newSignature = rotated.sign(Self.message, purpose: "test")
        #expect(rotated.verify(Self.message, signature: newSignature, purpose: "test") == 0, "the first key signs")
        #expect(old.verify(Self.message, signature: newSignature, purpose: "test") == nil)
        let retired = try KeyRing(keys: [Self.keyB])
        #expect(retired.verify(Self.message, signature: oldSignature, purpose: "test") == nil, "a retired key's signatures are refused")
    }

    @Test func purposesAreSeparated() throws {
        let ring = try KeyRing(keys: [Self.keyA])
        let cookie = ring.sign(Self.message, purpose: "porter.auth-cookie")
        let image = ring.sign(Self.message, purpose: "porter.image-url")
        #expect(cookie != image)
        #expect(ring.verify(Self.message, signature: cookie, purpose: "porter.image-url") == nil)
        #expect(ring.verify(Self.message, signature: image, purpose: "porter.auth-cookie") == nil)
        #expect(ring.verify(Self.message, signature: cookie, purpose: "porter.auth-cookie") == 0)
        #expect(cookie.count == KeyRing.signatureBytes)
    }

    @Test func tamperedMessagesAndSignaturesAreRefused() throws {
        let ring = try KeyRing(keys: [Self.keyA])
        let signature = ring.sign(Self.message, purpose: "test")
        for index in [0, Self.message.count / 2, Self.message.count - 1] {
            var changed = Self.message
            changed[index] ^= 1
            #expect(ring.verify(changed, signature: signature, purpose: "test") == nil)
        }
        for index in [0, 31] {
            var changed = signature
            changed[index] ^= 0x80
            #expect(ring.verify(Self.message, signature: changed, purpose: "test") == nil)
        }
        #expect(ring.verify(Self.message, signature: Array(signature.dropLast()), purpose: "test") == nil)
        #expect(ring.verify(Self.message, signature: [], purpose: "test") == nil)
    }

    @Test func keysShorterThan256BitsAreRefused() {
        #expect(throws: ConfigurationError.self) { try KeyRing(keys: []) }
        #expect(throws: ConfigurationError.self) { try KeyRing(keys: [[UInt8](repeating: 1, count: 31)]) }
        #expect(throws: ConfigurationError.self) { try KeyRing(keys: [Self.keyA, [UInt8](repeating: 1, count: 16)]) }
        #expect(throws: ConfigurationError.self) { try KeyRing(secrets: ["text:sixteen-byte-key"]) }
        #expect(throws: ConfigurationError.self) { try KeyRing(secrets: ["hex:" + String(repeating: "ab", count: 31)]) }
        #expect((try? KeyRing(keys: [[UInt8](repeating: 1, count: 32)])) != nil)
    }

    @Test(arguments: [
        ("hex:" + String(repeating: "a1", count: 32), [UInt8](repeating: 0xA1, count: 32) as [UInt8]?),
        (String(repeating: "A1", count: 32), [UInt8](repeating: 0xA1, count: 32)),
        ("base64:" + String(repeating: "oaGh", count: 11), [UInt8](repeating: 0xA1, count: 33)),
        (String(repeating: "oaGh", count: 11), [UInt8](repeating: 0xA1, count: 33)),
        ("base64:+/+/", [0xFB, 0xFF, 0xBF]),
        ("base64:-_-_", [0xFB, 0xFF, 0xBF]),
        ("base64:oQ==", [0xA1]),
        ("text:abc", Array("abc".utf8)),
        ("hex:zz", nil),
        ("%%%", nil),
    ])
    func secretsAreDecoded(text: String, bytes: [UInt8]?) {
        #expect(KeyRing.decodeSecret(text) == bytes)
    }

    /// A key file with `mode`, holding `text`.
    static func keyFile(_ directory: TemporaryDirectory, _ text: String, mode: mode_t) throws -> String {
        let path = directory.path("keys")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        let bytes = Array(text.utf8)
        #expect(write(fd, bytes, bytes.count) == bytes.count)
        close(fd)
        #expect(chmod(path, mode) == 0)
        return path
    }

    @Test func keyFilesHoldOneSecretPerLineAndMustBePrivate() throws {
        let directory = try TemporaryDirectory()
        let text = "# rotated 2025-01-01\n\nhex:\(String(repeating: "b2", count: 32))\n  \(String(repeating: "a1", count: 32))  \n"
        let path = try Self.keyFile(directory, text, mode: 0o600)
        let ring = try #require(try KeyRing.fromOptions(Options(["keys_file": .string(path)]), environmentVariable: "",
                                                        environment: { _ in nil }))
        let oldSignature = try KeyRing(keys: [Self.keyA]).sign(Self.message, purpose: "test")
        #expect(ring.count == 2)
        #expect(ring.verify(Self.message, signature: oldSignature, purpose: "test") == 1)
        #expect(ring.sign(Self.message, purpose: "test") == (try KeyRing(keys: [Self.keyB])).sign(Self.message, purpose: "test"))

        for mode: mode_t in [0o640, 0o604, 0o660, 0o644] {
            _ = try Self.keyFile(directory, text, mode: mode)
            let error = #expect(throws: ConfigurationError.self) {
                try KeyRing.fromOptions(Options(["keys_file": .string(path)], origin: "auth"), environmentVariable: "",
                                        environment: { _ in nil })
            }
            let message = error?.message ?? ""
            #expect(message.contains("accessible by group or others") && message.contains("chmod 600"), "\(message)")
        }
        #expect(throws: ConfigurationError.self) {
            try KeyRing.fromOptions(Options(["keys_file": .string(directory.path("missing"))]), environmentVariable: "",
                                    environment: { _ in nil })
        }
        _ = try Self.keyFile(directory, "hex:abcd\n", mode: 0o400)
        #expect(throws: ConfigurationError.self) {
            try KeyRing.fromOptions(Options(["keys_file": .string(path)]), environmentVariable: "", environment: { _ in nil })
        }
    }

    @Test func environmentVariablesHoldCommaOrSpaceSeparatedSecrets() throws {
        let value = "hex:\(String(repeating: "b2", count: 32)), \(String(repeating: "a1", count: 32))"
        let environment: @Sendable (String) -> String? = { $0 == "PORTER_TEST_KEYS" ? value : nil }
        let ring = try #require(try KeyRing.fromOptions(Options(), environmentVariable: "PORTER_TEST_KEYS", environment: environment))
        #expect(ring.count == 2)
        #expect(KeyRing.secrets(inEnvironmentValue: " a,b  c\td ,") == ["a", "b", "c", "d"])
        // keys_env names another variable; "" turns the default off; a named variable must be set.
        let named = try #require(try KeyRing.fromOptions(Options(["keys_env": .string("PORTER_TEST_KEYS")]),
                                                         environmentVariable: "UNSET", environment: environment))
        #expect(named.count == 2)
        #expect(try KeyRing.fromOptions(Options(["keys_env": .string("")]), environmentVariable: "PORTER_TEST_KEYS",
                                        environment: environment) == nil)
        #expect(try KeyRing.fromOptions(Options(), environmentVariable: "UNSET", environment: environment) == nil)
        #expect(throws: ConfigurationError.self) {
            try KeyRing.fromOptions(Options(["keys_env": .string("UNSET")]), environmentVariable: "", environment: environment)
        }
        #expect(throws: ConfigurationError.self) {
            try KeyRing.fromOptions(Options(), environmentVariable: "SHORT", environment: { _ in "hex:abcd" })
        }
    }

    @Test func sourcesAreCollectedInOrder() throws {
        let a = "hex:" + String(repeating: "a1", count: 32), b = "hex:" + String(repeating: "b2", count: 32)
        let text = "text-key-of-thirty-two-bytes-xyz"
        let ring = try #require(try KeyRing.fromOptions(Options(["keys": .string(a), "signing_key": .string(text)]),
                                                        environmentVariable: "ENV", textOptions: ["signing_key"],
                                                        environment: { _ in b }))
        #expect(ring.count == 3)
        let signatures = try [[Self.keyA], [Array(text.utf8)], [Self.keyB]].map {
            try KeyRing(keys: $0).sign(Self.message, purpose: "test")
        }
        #expect(signatures.map { ring.verify(Self.message, signature: $0, purpose: "test") } == [0, 1, 2])
    }
}
