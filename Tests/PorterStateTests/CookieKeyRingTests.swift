import Foundation
import Porter
import Testing
@testable import PorterState

/// Login cookies on the core's key ring: key sources and purpose separation.
@Suite("Cookie keys")
struct CookieKeyRingTests {
    @Test func keysComeFromTheEnvironmentVariable() throws {
        let value = "hex:\(Hex.encode(keyB)) \(Hex.encode(keyA))"
        let auth = try #require(try CookieAuthentication.fromOptions(Options(), environment: { $0 == "PORTER_AUTH_KEYS" ? value : nil }))
        #expect(auth.keys == [keyB, keyA])
        #expect(try CookieAuthentication.fromOptions(Options(), environment: { _ in nil }) == nil, "no key: cookie login off")
        #expect(throws: ConfigurationError.self) {
            try CookieAuthentication.fromOptions(Options(["keys_env": .string("MY_KEYS")]), environment: { _ in nil })
        }
    }

    @Test func aKeyFileReadableByOthersIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("porter-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("auth.keys").path
        try (Hex.encode(keyA) + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(throws: ConfigurationError.self) {
            try CookieAuthentication.fromOptions(Options(["keys_file": .string(path)]), environment: { _ in nil })
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        let auth = try #require(try CookieAuthentication.fromOptions(Options(["keys_file": .string(path)]), environment: { _ in nil }))
        #expect(auth.keys == [keyA])
    }

    @Test func cookieSignaturesAreBoundToTheirPurpose() throws {
        let auth = try CookieAuthentication(keys: [keyA])
        let ticket = AuthenticationTicket(user: "alice", issued: 1_700_000_000, expires: 1_700_001_800)
        let parts = auth.encode(ticket).split(separator: ".").map(String.init)
        let mac = try #require(Base64URL.decode(parts[4]))   // user.expires.issued.generation.mac
        let message = Array(CookieAuthentication.message(parts[0], ticket).utf8)
        let ring = try KeyRing(keys: [keyA])
        #expect(ring.verify(message, signature: mac, purpose: CookieAuthentication.signingPurpose) == 0)
        #expect(ring.verify(message, signature: mac, purpose: "porter.image-url") == nil)
    }
}
