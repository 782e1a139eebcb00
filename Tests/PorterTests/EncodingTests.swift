import Porter
import Testing

/// Base64url and hex: the one implementation every target uses.
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
}
