import Glibc
@testable import PorterHost
import Testing

/// Bytes that must survive `ProcessMemory.releaseAfterStartup()`: a global (the binary's writable data) and a heap block.
nonisolated(unsafe) var startupMemoryGlobal = [UInt8](repeating: 0, count: 4096)

@Suite("Start-up memory: dropped code pages, kept data", .serialized)
struct ProcessMemoryTests {
    /// Resident bytes of `mappings` as smaps reports them now (mappings matched by their start address).
    static func resident(_ mappings: [ProcessMemory.Mapping]) -> Int {
        let now = Dictionary(ProcessMemory.readOnlyFileMappings().map { ($0.start, $0.residentBytes) }, uniquingKeysWith: +)
        return mappings.reduce(0) { $0 + (now[$1.start] ?? 0) }
    }

    @Test("only private, read-only file mappings without copied pages are candidates; this binary's text is one")
    func candidates() throws {
        let mappings = ProcessMemory.readOnlyFileMappings()
        #expect(!mappings.isEmpty)
        #expect(mappings.allSatisfy { $0.path.hasPrefix("/") && $0.end > $0.start })
        var exe = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &exe, exe.count - 1)
        let me = String(decoding: exe[0..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(mappings.contains { $0.path == me }, "the test binary's own text: \(me)")
        // The writable and copied-on-write mappings (data, relocated constants, heap, stacks) are never listed.
        let maps = try #require(FileText.read("/proc/self/maps"))
        let writable = maps.split(separator: "\n").filter { $0.split(separator: " ")[1].contains("w") }
            .compactMap { UInt($0.split(separator: "-")[0], radix: 16) }
        #expect(!writable.isEmpty && Set(writable).isDisjoint(with: mappings.map(\.start)))
    }

    @Test("release drops resident code pages, keeps every written byte, and the code still runs")
    func releaseKeepsData() throws {
        for i in startupMemoryGlobal.indices { startupMemoryGlobal[i] = UInt8(truncatingIfNeeded: i &* 31) }
        let heap = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { heap.deallocate() }
        for i in 0..<heap.count { heap[i] = UInt8(truncatingIfNeeded: i &* 7) }
        let mappings = ProcessMemory.readOnlyFileMappings()
        let before = Self.resident(mappings)
        let released = ProcessMemory.releaseAfterStartup()
        let after = Self.resident(mappings)
        #expect(released.mappings > 0 && released.fileBytes > 0)
        // Other threads of this test process may fault some pages back at once; most stay out.
        #expect(after < before, "resident before \(before), after \(after), released \(released)")
        #expect(startupMemoryGlobal.indices.allSatisfy { startupMemoryGlobal[$0] == UInt8(truncatingIfNeeded: $0 &* 31) })
        #expect((0..<heap.count).allSatisfy { heap[$0] == UInt8(truncatingIfNeeded: $0 &* 7) })
        // Code from the binary and the libraries runs after its pages were dropped (they come back on use).
        let text = (1...200).map { "line \($0)" }.joined(separator: "\n")
        #expect(text.split(separator: "\n").count == 200 && text.hasSuffix("line 200"))
        #expect(try ServerConfiguration.parse(toml: "threads = 3\n", baseDirectory: ".").threads == 3)
    }
}
