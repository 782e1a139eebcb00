import Porter
import Testing

/// Base64url, hex, percent-encoding and random bytes: the one implementation every target uses.
@Suite struct EncodingTests {
    @Test func base64URLRoundTrips() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains("=") && !encoded.contains("+") && !encoded.contains("/"))
            #expect(Base64URL.decode(encoded) == bytes)
        }
    }

    @Test(arguments: [
        ("", [UInt8]() as [UInt8]?),
        ("oQ", [0xA1]), ("oQ==", [0xA1]), ("oaE", [0xA1, 0xA1]), ("oaE=", [0xA1, 0xA1]),
        ("-_-_", [0xFB, 0xFF, 0xBF]),
        ("a+b/", nil), ("a", nil), ("oQ=", nil), ("o=Q=", nil), ("oQ===", nil), ("====", nil), ("a b", nil),
    ])
    func base64URLDecoding(text: String, bytes: [UInt8]?) {
        #expect(Base64URL.decode(text) == bytes)
    }

    @Test func hexRoundTripsAndRefusesGarbage() {
        let bytes: [UInt8] = [0x00, 0x0F, 0xA1, 0xFF]
        #expect(Hex.encode(bytes) == "000fa1ff")
        #expect(Hex.decode("000FA1ff") == bytes)
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("") == [])
    }

    @Test(arguments: [
        ("/a b/c.jpg", "/a%20b/c.jpg", "%2Fa%20b%2Fc.jpg"),
        ("/news(1)&x=y;z:@~", "/news(1)&x=y;z:@~", "%2Fnews%281%29%26x%3Dy%3Bz%3A%40~"),
        ("/été?#%", "/%C3%A9t%C3%A9%3F%23%25", "%2F%C3%A9t%C3%A9%3F%23%25"),
    ])
    func percentEncodingOfPathsAndComponents(text: String, path: String, component: String) {
        #expect(PercentEncoding.encodePath(text) == path)
        #expect(PercentEncoding.encode(text) == component)
        #expect(PercentEncoding.decode(path) == text && PercentEncoding.decode(component) == text)
    }

    @Test func secureRandomBytesAndConstantTimeComparison() {
        for count in [0, 1, 7, 8, 9, 16, 33] { #expect(SecureRandom.bytes(count).count == count) }
        #expect(SecureRandom.bytes(32) != SecureRandom.bytes(32))
        #expect(SecureRandom.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!SecureRandom.constantTimeEquals([1, 2, 3], [1, 2, 4]) && !SecureRandom.constantTimeEquals([1, 2], [1, 2, 3]))
        let id = RequestID.generate()
        #expect(id.count == 32 && Hex.decode(id)?.count == 16)
    }
}
