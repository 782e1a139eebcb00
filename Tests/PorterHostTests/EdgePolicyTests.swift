@testable import PorterHost
import Testing

@Suite("EdgePolicy: nginx directives")
struct EdgePolicyTests {
    /// The sizes in KiB a directive list sets: buffer_size, one of the 4 buffers, busy_buffers_size.
    static func sizes(_ directives: [String]) -> (first: Int, each: Int, count: Int, busy: Int)? {
        func kib(_ word: Substring) -> Int? { word.hasSuffix("k;") || word.hasSuffix("k") ? Int(word.prefix { $0.isNumber }) : nil }
        var first: Int?, each: Int?, count: Int?, busy: Int?
        for line in directives {
            let words = line.split(separator: " ")
            switch words.first {
            case "fastcgi_buffer_size": first = kib(words[1])
            case "fastcgi_buffers": count = Int(words[1]); each = kib(words[2])
            case "fastcgi_busy_buffers_size": busy = kib(words[1])
            default: return nil
            }
        }
        guard let first, let each, let count, let busy else { return nil }
        return (first, each, count, busy)
    }

    @Test("response buffers hold the asked size and satisfy nginx's rules for every size",
          arguments: [0, 1, 4096, 8192, 8193, 17_000, 32 * 1024, 33 * 1024 + 1, 100_000, 1 << 20])
    func bufferSizes(bytes: Int) throws {
        let s = try #require(Self.sizes(EdgePolicy.bufferDirectives(bytes: bytes)))
        #expect(s.first * 1024 >= bytes && s.first >= 8, "the first read takes the whole response")
        #expect(s.busy >= max(s.first, s.each), "nginx: busy_buffers_size must be ≥ the larger buffer")
        #expect(s.busy < s.count * s.each, "nginx: busy_buffers_size must be < all buffers minus one")
        #expect(s.busy <= s.count * s.each - s.each)
    }

    @Test("merge keeps the larger response buffer; the route's location gets the directives after the include")
    func mergeAndRender() {
        var policy = EdgePolicy(responseBufferBytes: 16 * 1024)
        policy.merge(EdgePolicy(responseBufferBytes: 64 * 1024))
        policy.merge(EdgePolicy())
        #expect(policy.responseBufferBytes == 64 * 1024)
        #expect(policy.directives().after.contains("fastcgi_buffer_size 64k;"))
        #expect(!EdgePolicy().directives().after.contains { $0.hasPrefix("fastcgi_buffer") }, "small responses keep nginx's default")
    }
}
