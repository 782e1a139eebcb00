import Porter
import Testing

/// `IPAddress`: the one parser behind `isLocal`, `isLoopbackHost`, `clientKey`, `allowed_peers` and listen hosts.
@Suite("IPAddress")
struct IPAddressTests {
    @Test("spellings: what parses, its canonical text, whether it is loopback, the client a limit counts", arguments: [
        ("127.0.0.1", "127.0.0.1", true, "127.0.0.1"),
        ("127.255.0.9", "127.255.0.9", true, "127.255.0.9"),
        ("::1", "::1", true, "0000000000000000/64"),
        ("[::1]", "::1", true, "0000000000000000/64"),
        ("::0:1", "::1", true, "0000000000000000/64"),
        ("0:0:0:0:0:0:0:1", "::1", true, "0000000000000000/64"),
        ("0000:0000::0001", "::1", true, "0000000000000000/64"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1", true, "127.0.0.1"),
        ("::FFFF:7f01:0203", "::ffff:127.1.2.3", true, "127.1.2.3"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1", false, "192.0.2.1"),
        ("203.0.113.7", "203.0.113.7", false, "203.0.113.7"),
        ("2001:db8:0:1::1", "2001:db8:0:1::1", false, "20010db800000001/64"),
        ("2001:DB8:0:1:ffff:eeee:dddd:cccc", "2001:db8:0:1:ffff:eeee:dddd:cccc", false, "20010db800000001/64"),
        ("::", "::", false, "0000000000000000/64"),
        ("::2", "::2", false, "0000000000000000/64"),
        ("0.0.0.0", "0.0.0.0", false, "0.0.0.0"),
        ("128.0.0.1", "128.0.0.1", false, "128.0.0.1"),
    ])
    func parses(_ text: String, _ canonical: String, _ loopback: Bool, _ key: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == canonical)
        #expect(address.isLoopback == loopback)
        #expect(address.clientKey == key)
        #expect(IPAddress(canonical) == address)
    }

    @Test("not addresses: names, short or padded IPv4, brackets around IPv4, junk", arguments: [
        "", "localhost", "127.1", "127.0.0", "127.0.0.1.5", "127.000.000.001", "0127.0.0.1", "127.0.0.256", "[127.0.0.1]",
        "[::1", "::1]", "[]", "::1%lo", "1::2::3", "::ffff:127.0.0.1.1", " 127.0.0.1", "127.0.0.1 ", "0x7f.0.0.1",
        String(repeating: "0", count: 60) + "::1", "127.0.0.1\u{0}.evil",
    ])
    func refuses(_ text: String) {
        #expect(IPAddress(text) == nil, "\(text)")
    }

    @Test("prefix matching: within a family only, any prefix length")
    func prefixes() throws {
        let net = try #require(IPAddress("10.1.2.0"))
        #expect(try #require(IPAddress("10.1.2.255")).isIn(net, prefixLength: 24))
        #expect(try !#require(IPAddress("10.1.3.0")).isIn(net, prefixLength: 24))
        #expect(try #require(IPAddress("10.1.3.0")).isIn(net, prefixLength: 23))
        #expect(try #require(IPAddress("192.0.2.1")).isIn(net, prefixLength: 0))
        #expect(try !#require(IPAddress("::ffff:10.1.2.3")).isIn(net, prefixLength: 24), "a mapped address is IPv6 until unmapped")
        #expect(try #require(IPAddress("::ffff:10.1.2.3")).unmapped.isIn(net, prefixLength: 24))
        let v6 = try #require(IPAddress("fd00::"))
        #expect(try #require(IPAddress("fdff::1")).isIn(v6, prefixLength: 8))
        #expect(try !#require(IPAddress("fe00::1")).isIn(v6, prefixLength: 8))
        #expect(try #require(IPAddress("fd00::1")).isIn(try #require(IPAddress("fd00::1")), prefixLength: 128))
        #expect(IPAddress(bytes: [1, 2, 3]) == nil && IPAddress(bytes: [127, 0, 0, 1])?.isLoopback == true)
    }
}
