import Foundation
@testable import Porter
import Testing

@Suite struct GzipTests {
    @Test func compressedBytesDecompressToTheOriginalAndReadWithGunzip() async throws {
        let text = Array((0..<400).map { "<item><title>Item \($0) &amp; more</title></item>\n" }.joined().utf8)
        let gz = try #require(Gzip.compress(text))
        #expect(gz.count * 5 < text.count)
        #expect(gz.prefix(2) == [0x1f, 0x8b], "a gzip member")
        #expect(Gzip.decompress(gz) == text)
        // The system's gunzip reads it too (what a browser or feed reader does).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("porter-gzip-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("feed.xml.gz")
        try Data(gz).write(to: file)
        let gunzip = Process()
        gunzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gunzip.arguments = ["-d", file.path]
        try gunzip.run()
        gunzip.waitUntilExit()
        #expect(gunzip.terminationStatus == 0)
        #expect(try Data(contentsOf: dir.appendingPathComponent("feed.xml")) == Data(text))
    }

    @Test func nothingToGainIsNil() {
        #expect(Gzip.compress([]) == nil)
        var random = SystemRandomNumberGenerator()
        #expect(Gzip.compress((0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) }) == nil, "incompressible")
    }

    @Test func badStreamsAreRefused() throws {
        let gz = try #require(Gzip.compress(Array(repeating: UInt8(ascii: "a"), count: 10_000)))
        #expect(Gzip.decompress(Array(gz.dropLast(9))) == nil, "truncated")
        #expect(Gzip.decompress(gz + [0]) == nil, "trailing bytes")
        #expect(Gzip.decompress(Array("not gzip".utf8)) == nil)
        #expect(Gzip.decompress([]) == nil)
        #expect(Gzip.decompress(gz, limit: 9_999) == nil, "larger than the limit")
        #expect(Gzip.decompress(gz, limit: 10_000)?.count == 10_000)
    }

    @Test(arguments: [
        (nil, false), ("gzip", true), (" gzip ; q=0.5 ", true), ("x-gzip", true), ("deflate, gzip", true), ("*", true),
        ("gzip;q=0", false), ("*;q=0", false), ("gzip;q=0, *", false), ("br, *;q=0.1", true), ("identity", false),
        ("gzip;q=abc", false), ("gzip;q=inf", false), ("", false), ("Gzip;Q=1", true), ("x-gzip;q=0, gzip", true),
    ] as [(String?, Bool)])
    func acceptEncoding(_ header: String?, _ accepted: Bool) {
        #expect(Gzip.isAccepted(by: header) == accepted, "\(header ?? "no header")")
    }
}
