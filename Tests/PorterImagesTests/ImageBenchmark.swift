#if canImport(Glibc)
import Glibc
#endif
import Porter
@testable import PorterImages
import Testing

/// Not a unit test: prints time and peak RSS for 2 MP JPEG → 300 px resizes through the pipeline.
/// Run with `PORTER_IMAGES_BENCH=1 swift test --filter ImageBenchmark`.
@Suite struct ImageBenchmark {
    @Test(.enabled(if: getenv("PORTER_IMAGES_BENCH") != nil))
    func resize2MPJPEGTo300px() async throws {
        let width = 1920, height = 1080
        var pixels = ImageFixtures.gradient(width: width, height: height, bands: 3)
        let noise = ImageFixtures.noise(width: width, height: height, bands: 1)
        for i in 0..<(width * height) { pixels[i * 3 + 1] = pixels[i * 3 + 1] / 2 &+ noise[i] / 2 }
        ImageFixtures.write(ImageFixtures.root + "/bench.jpg", ImageFixtures.encode(pixels, width, height, 3, .jpeg, quality: 85))
        let handler = try makeHandler()
        let client = try makeClient(handler)
        func rssKiB() -> Int {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return usage.ru_maxrss
        }
        for format in ["jpeg", "webp", "avif"] {
            let uri = "/images/bench.jpg?w=300&fmt=\(format)"
            _ = await client.execute(.get, uri)  // warm-up
            let rssBefore = rssKiB()
            let iterations = format == "avif" ? 10 : 50
            let start = monotonicSeconds()
            var size = 0
            for _ in 0..<iterations {
                let ctx = await client.execute(.get, uri)
                #expect(ctx.response.status == .ok)
                size = ctx.response.bufferedBody?.count ?? 0
            }
            let perResize = (monotonicSeconds() - start) / Double(iterations) * 1000
            print("bench: 1920x1080 JPEG (\(ImageFixtures.read(ImageFixtures.root + "/bench.jpg").count) bytes) → w=300 \(format): "
                + "\(String(format: perResize)) ms/resize (\(iterations) sequential), output \(size) bytes, "
                + "peak RSS \(rssBefore / 1024) → \(rssKiB() / 1024) MiB")
        }
        // Concurrency: 40 distinct requests at once on the 2 resize threads.
        let start = monotonicSeconds()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<40 {
                group.addTask { _ = await client.execute(.get, "/images/bench.jpg?w=\(300 + i)") }
            }
        }
        let elapsed = monotonicSeconds() - start
        print("bench: 40 concurrent distinct resizes in \(String(format: elapsed * 1000)) ms "
            + "(\(String(format: 40 / elapsed)) resizes/s), peak RSS \(rssKiB() / 1024) MiB, stats \(handler.statistics)")
    }
}

extension String {
    init(format value: Double) {
        self = String(Double(Int(value * 10)) / 10)
    }
}
