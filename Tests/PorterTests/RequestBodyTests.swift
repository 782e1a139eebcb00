import Porter
import PorterTesting
import Testing
import Glibc

@Suite("Request bodies: in memory or spilled to a temporary file")
struct RequestBodyTests {
    static func collect(_ bytes: [UInt8], threshold: Int, pieces: Int = 7) throws -> RequestBody {
        var collector = RequestBodyCollector(spillThreshold: threshold, expectedLength: bytes.count)
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + max(1, bytes.count / pieces))
            try collector.append(Array(bytes[offset..<end]))
            offset = end
        }
        return collector.finish()
    }

    static let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }

    @Test("at or below the threshold in memory, above it in a file; the bytes are the same", arguments: [0, 1, 65_536, 65_537, 200_000])
    func storage(_ size: Int) throws {
        let bytes = Array(Self.body.prefix(size))
        let body = try Self.collect(bytes, threshold: 65_536)
        #expect(body.storage == (size > 65_536 ? .file : .memory))
        #expect(body.count == size && body.isEmpty == (size == 0))
        #expect(body.bytes == bytes)
        #expect(try body.readAll() == bytes)
        body.close()
    }

    @Test("a reader hands out the body in pieces, from sync code")
    func reader() throws {
        let body = try Self.collect(Self.body, threshold: 1024)
        var reader = body.makeReader()
        var collected: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: 4093)
        while true {
            let n = try scratch.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            collected += scratch[0..<n]
        }
        #expect(collected == Self.body)
        #expect(reader.offset == Self.body.count)
        body.close()
    }

    @Test("chunks(size:) streams the body in async code")
    func chunks() async throws {
        let body = try Self.collect(Self.body, threshold: 1024)
        var sizes: [Int] = []
        var collected: [UInt8] = []
        for try await chunk in body.chunks(size: 64 * 1024) {
            sizes.append(chunk.count)
            collected += chunk
        }
        #expect(collected == Self.body)
        #expect(sizes == [65_536, 65_536, 65_536, 3_392])
        body.close()
    }

    @Test("after close a spilled body can no longer be read")
    func closed() throws {
        let body = try Self.collect(Self.body, threshold: 1024)
        body.close()
        #expect(throws: RequestBodyError.closed) { try body.readAll() }
        #expect(body.bytes.isEmpty)
        body.close()  // idempotent
    }

    @Test("a directory that cannot hold the file is an error, not a silent loss")
    func unwritableDirectory() throws {
        var collector = RequestBodyCollector(spillThreshold: 4, temporaryDirectory: "/nonexistent/porter")
        try collector.append([1, 2, 3])
        #expect(throws: RequestBodyError.self) { try collector.append([4, 5]) }
    }

    @Test("the request keeps the old conveniences: bodyText and form")
    func conveniences() {
        let request = HTTPRequest(method: .post, uri: "/f", headers: ["Content-Type": "application/x-www-form-urlencoded"],
                                  body: Array("a=1&b=two".utf8))
        #expect(request.body.count == 9)
        #expect(request.bodyText == "a=1&b=two")
        #expect(request.form["b"] == "two")
    }
}
