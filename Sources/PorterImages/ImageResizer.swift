import Logging
import Porter
import Synchronization

/// Counters of the image server, for tests, the status page and metrics.
public struct ImageServerStatistics: Sendable, Equatable {
    /// Resizes actually run by libvips (coalesced requests count once).
    public var resizes = 0
    /// Requests that joined a resize already in flight instead of starting their own.
    public var coalesced = 0
    /// Requests refused with 503 because the resize queue was full.
    public var rejected = 0
    /// Sources refused before decoding because their header claimed too many pixels.
    public var bombsRefused = 0
    /// Resizes that failed (undecodable source, encoder error).
    public var failures = 0
}

/// A finished resize, shared by every request that waited for it.
struct ResizedImage: Sendable {
    /// The encoded bytes.
    var bytes: [UInt8]
    /// The output format.
    var format: ImageFormat
    /// Output width in pixels.
    var width: Int
    /// Output height in pixels.
    var height: Int
}

/// Runs resizes on its own thread pool and coalesces identical concurrent requests into one resize.
final class ImageResizer: Sendable {
    /// The outcome every waiter of one resize receives.
    typealias Outcome = Result<ResizedImage, HTTPError>

    /// The OS threads resizes run on.
    let pool: BlockingThreadPool
    /// Admits at most one job per thread plus `queueLimit` waiting ones; the rest get 503 + Retry-After.
    let admission: Bulkhead
    private let inFlight = Mutex<[String: [CheckedContinuation<Outcome, Never>]]>([:])
    private let counters = Mutex(ImageServerStatistics())

    /// A resizer with `threads` threads and room for `queueLimit` waiting jobs.
    init(threads: Int, queueLimit: Int, retryAfterSeconds: Int) {
        let threads = max(1, threads)
        admission = Bulkhead(limit: threads + max(0, queueLimit), retryAfterSeconds: retryAfterSeconds)
        // Admission decides; the pool's own bound is never reached.
        pool = BlockingThreadPool(name: "porter-img", threads: threads, queueLimit: admission.limit,
                                  onThreadExit: { VipsRuntime.threadShutdown() })
    }

    /// Runs `job` on the pool if the admission limit has room; returns whether it was admitted.
    func trySubmit(_ job: @escaping @Sendable () -> Void) -> Bool {
        guard admission.tryEnter() else { return false }
        let queued = pool.trySubmit { [admission] in
            job()
            admission.leave()
        }
        if !queued { admission.leave() }
        return queued
    }

    /// A snapshot of the counters.
    var statistics: ImageServerStatistics { counters.withLock { $0 } }

    /// Resizes currently in flight (distinct keys) and the requests waiting on them.
    var inFlightCounts: (jobs: Int, waiters: Int) {
        inFlight.withLock { table in (table.count, table.values.reduce(0) { $0 + $1.count }) }
    }

    /// Runs `render` for `key` on the pool, or joins the run already in flight for the same key; a full queue
    /// answers 503 with `Retry-After`. `render` runs on a pool thread and must not throw or block forever.
    func result(for key: String, render: @escaping @Sendable (ImageResizer) -> Outcome) async -> Outcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            let starts = inFlight.withLock { table -> Bool in
                if table[key] != nil {
                    table[key]!.append(continuation)
                    return false
                }
                table[key] = [continuation]
                return true
            }
            guard starts else {
                counters.withLock { $0.coalesced += 1 }
                return
            }
            let queued = trySubmit { [self] in
                let outcome = render(self)
                if case .failure = outcome { counters.withLock { $0.failures += 1 } }
                finish(key, with: outcome)
            }
            if !queued {
                let waiters = finish(key, with: .failure(admission.busyError))
                counters.withLock { $0.rejected += waiters }
            }
        }
    }

    @discardableResult
    private func finish(_ key: String, with outcome: Outcome) -> Int {
        let waiters = inFlight.withLock { $0.removeValue(forKey: key) ?? [] }
        for waiter in waiters { waiter.resume(returning: outcome) }
        return waiters.count
    }

    /// Counts one libvips resize (called by the render job right before decoding).
    func countResize() { counters.withLock { $0.resizes += 1 } }

    /// Counts one refused decompression bomb.
    func countBomb() { counters.withLock { $0.bombsRefused += 1 } }

    /// Reads, checks and resizes `file` according to `plan` (runs on a pool thread).
    ///
    /// Only the header is read before the checks: the container must be one the server accepts, the loader
    /// libvips picked must match it, and width×height must not exceed `maxSourcePixels` — so a decompression
    /// bomb is refused without decoding a single pixel.
    static func render(file: SourceFile, source: SourceFormat, plan: ResizePlan, maxSourcePixels: Int,
                       resizer: ImageResizer, logger: Logger) -> Outcome {
        let bytes: [UInt8]
        do { bytes = try file.readAll() } catch { return .failure(error) }
        guard SourceFormat(sniffing: bytes) == source else {
            return .failure(HTTPError(.unprocessableContent, message: "source image changed while reading"))
        }
        return bytes.withUnsafeBytes { raw -> Outcome in
            do {
                let header: VipsImage
                do { header = try VipsImage.header(of: raw) } catch {
                    logger.warning("image header unreadable", metadata: ["error": "\(error)"])
                    return .failure(HTTPError(.unprocessableContent, message: "source image could not be decoded"))
                }
                guard let loader = header.loader, source.allowedLoaders.contains(loader) else {
                    return .failure(HTTPError(.unsupportedMediaType, message: "unsupported source image format"))
                }
                let pixels = header.width.multipliedReportingOverflow(by: header.height)
                guard !pixels.overflow, pixels.partialValue <= maxSourcePixels else {
                    resizer.countBomb()
                    return .failure(HTTPError(.unprocessableContent, message:
                        "source image too large (\(header.width)x\(header.height) exceeds \(maxSourcePixels) pixels)"))
                }
                resizer.countResize()
                let mode = plan.vipsMode
                let image = try VipsImage.thumbnail(of: raw, width: plan.width, height: plan.height,
                                                    size: mode.size, crop: mode.crop)
                let encoded = try image.encoded(as: plan.format, quality: plan.quality)
                return .success(ResizedImage(bytes: encoded, format: plan.format, width: image.width, height: image.height))
            } catch {
                logger.warning("image resize failed", metadata: ["error": "\(error)"])
                return .failure(HTTPError(.unprocessableContent, message: "source image could not be processed"))
            }
        }
    }

    /// How much of a source HEAD reads to check its header (headers of JPEG, PNG, WebP and AVIF come first).
    static let probeBytes = 256 << 10

    /// What HEAD checks instead of resizing: the header in the source's first `probeBytes` must come from a loader
    /// the server accepts and stay within `maxSourcePixels`, as a GET would require. A header libvips cannot read
    /// from that prefix of a larger file is left for the GET to judge. Runs inline: a bounded read and a header parse.
    static func probe(file: SourceFile, source: SourceFormat, maxSourcePixels: Int, resizer: ImageResizer) throws(HTTPError) {
        let bytes = try file.read(offset: 0, count: min(file.size, probeBytes))
        let whole = bytes.count >= file.size
        let outcome: HTTPError? = bytes.withUnsafeBytes { raw -> HTTPError? in
            guard let header = try? VipsImage.header(of: raw) else {
                return whole ? HTTPError(.unprocessableContent, message: "source image could not be decoded") : nil
            }
            guard let loader = header.loader, source.allowedLoaders.contains(loader) else {
                return HTTPError(.unsupportedMediaType, message: "unsupported source image format")
            }
            let pixels = header.width.multipliedReportingOverflow(by: header.height)
            guard !pixels.overflow, pixels.partialValue <= maxSourcePixels else {
                resizer.countBomb()
                return HTTPError(.unprocessableContent, message:
                    "source image too large (\(header.width)x\(header.height) exceeds \(maxSourcePixels) pixels)")
            }
            return nil
        }
        if let outcome { throw outcome }
    }

    /// Whether this libvips can encode AVIF (heifsave with an AV1 encoder), found by encoding a tiny image.
    static func probeAVIF() -> Bool {
        do {
            let image = try VipsImage.fromPixels([UInt8](repeating: 128, count: 16 * 16 * 3), width: 16, height: 16, bands: 3)
            let bytes = try image.encoded(as: .avif, quality: 50)
            return SourceFormat(sniffing: bytes) == .avif
        } catch {
            return false
        }
    }
}
