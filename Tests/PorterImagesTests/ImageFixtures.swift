#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Porter
@testable import PorterImages
import PorterTesting
import Synchronization

/// Source images generated once per test process with libvips (through PorterImages' own wrapper) in a temp dir.
///
/// Layout: `<base>/root` is the image root; `<base>/outside` holds files symlinks point to from inside the root.
enum ImageFixtures {
    /// The fixture directories (created on first use).
    static let base: String = {
        var template = Array("/tmp/porter-images-XXXXXX".utf8CString)
        let base = template.withUnsafeMutableBufferPointer { buffer -> String in
            guard let made = mkdtemp(buffer.baseAddress!) else { preconditionFailure("mkdtemp failed") }
            return String(cString: made)
        }
        build(base)
        atexit { ImageFixtures.removeTree(ImageFixtures.base) }
        return base
    }()

    /// Deletes `path` and everything below it (symlinks are removed, never followed).
    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    static var root: String { base + "/root" }

    /// Writes every fixture file.
    private static func build(_ base: String) {
        let root = base + "/root", outside = base + "/outside"
        for dir in [root, outside, root + "/sub", root + "/sub/deeper"] { mkdir(dir, 0o755) }
        write(root + "/photo.jpg", encode(gradient(width: 640, height: 480, bands: 3), 640, 480, 3, .jpeg))
        write(root + "/sub/deeper/photo copy.jpg", encode(gradient(width: 640, height: 480, bands: 3), 640, 480, 3, .jpeg))
        write(root + "/alpha.png", encode(gradient(width: 200, height: 100, bands: 4), 200, 100, 4, .png))
        write(root + "/photo.webp", encode(gradient(width: 320, height: 240, bands: 3), 320, 240, 3, .webp))
        write(root + "/large.png", encode(noise(width: 800, height: 600, bands: 4), 800, 600, 4, .png))
        write(root + "/bomb.png", pngBomb(width: 100_000, height: 100_000))
        write(root + "/notimage.jpg", Array("this is not an image\n".utf8))
        let photo = read(root + "/photo.jpg")
        write(root + "/truncated.jpg", Array(photo.prefix(photo.count / 3)))
        write(root + "/headeronly.jpg", Array(photo.prefix(8)))
        write(root + "/garbage.png", Array(pngBomb(width: 10, height: 10).prefix(33)) + noise(width: 64, height: 1, bands: 1))
        write(root + "/svg.png", Array("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>".utf8))
        write(root + "/.hidden.jpg", encode(gradient(width: 8, height: 8, bands: 3), 8, 8, 3, .jpeg))
        write(root + "/photo.txt", Array("text".utf8))
        write(outside + "/secret.jpg", encode(gradient(width: 64, height: 64, bands: 3), 64, 64, 3, .jpeg))
        symlink(outside + "/secret.jpg", root + "/escape.jpg")
        symlink(outside, root + "/linkdir")
        symlink("/etc/passwd", root + "/passwd.jpg")
        symlink("photo.jpg", root + "/inside-link.jpg")
    }

    /// A smooth RGB(A) gradient; alpha (band 4) goes from opaque to transparent left to right.
    static func gradient(width: Int, height: Int, bands: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * bands)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * bands
                pixels[i] = UInt8(x * 255 / max(1, width - 1))
                pixels[i + 1] = UInt8(y * 255 / max(1, height - 1))
                pixels[i + 2] = UInt8((x + y) % 256)
                if bands == 4 { pixels[i + 3] = UInt8(255 - x * 255 / max(1, width - 1)) }
            }
        }
        return pixels
    }

    /// Pseudo-random pixels (incompressible, for a large file).
    static func noise(width: Int, height: Int, bands: Int) -> [UInt8] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<(width * height * bands)).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }

    /// Encodes pixels with libvips.
    static func encode(_ pixels: [UInt8], _ width: Int, _ height: Int, _ bands: Int, _ format: ImageFormat,
                       quality: Int = 90) -> [UInt8] {
        try! VipsRuntime.start(VipsRuntime.Settings())
        return try! VipsImage.fromPixels(pixels, width: width, height: height, bands: bands)
            .encoded(as: format, quality: quality)
    }

    /// A valid-looking PNG whose header claims `width`×`height` RGBA pixels, with one tiny IDAT.
    static func pngBomb(width: UInt32, height: UInt32) -> [UInt8] {
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var ihdr = bigEndian(width) + bigEndian(height)
        ihdr += [8, 6, 0, 0, 0]  // 8-bit RGBA, deflate, no filter, no interlace
        png += chunk("IHDR", ihdr)
        // A stored (uncompressed) zlib stream holding one filter byte: far too little data, but headers are fine.
        png += chunk("IDAT", [0x78, 0x01, 0x01, 0x01, 0x00, 0xFE, 0xFF, 0x00, 0x00, 0x01, 0x00, 0x01])
        png += chunk("IEND", [])
        return png
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeBytes = Array(type.utf8)
        return bigEndian(UInt32(data.count)) + typeBytes + data + bigEndian(crc32(typeBytes + data))
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func write(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "cannot create \(path)")
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            precondition(n > 0)
            offset += n
        }
    }

    static func read(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        precondition(fd >= 0, "cannot open \(path)")
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, 65_536) }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }
}

/// What a decoded output image looks like.
struct DecodedImage: Equatable {
    var width: Int
    var height: Int
    var bands: Int
    var format: SourceFormat?
}

/// Decodes `bytes` with libvips (header) and the signature sniffer; nil when libvips cannot read it.
func decode(_ bytes: [UInt8]) -> DecodedImage? {
    bytes.withUnsafeBytes { raw -> DecodedImage? in
        guard let image = try? VipsImage.header(of: raw) else { return nil }
        return DecodedImage(width: image.width, height: image.height, bands: image.bands,
                            format: SourceFormat(sniffing: bytes))
    }
}

/// A handler over the fixtures with test-friendly settings: any size unsigned, unless `configure` sets a signing key
/// or turns `allowUnsigned` off.
func makeHandler(_ configure: (inout ImageServerConfiguration) -> Void = { _ in }) throws -> ImageHandler {
    var configuration = ImageServerConfiguration(root: ImageFixtures.root)
    configuration.allowUnsigned = true
    configure(&configuration)
    if configuration.signingKeys != nil { configuration.allowUnsigned = false }
    return try ImageHandler(configuration)
}

/// A pipeline-tier client mapping `/images/*` (GET, HEAD) to `handler`.
func makeClient(_ handler: ImageHandler) throws -> PipelineTestClient {
    var registry = HandlerRegistry()
    try registry.add(name: "images", verbs: "GET,HEAD", path: "/images/*", handler: handler)
    return PipelineTestClient(registry: registry)
}

/// Collects a streamed body.
final class BodyCollector: ResponseBodyWriter {
    let bytes = Mutex<[UInt8]>([])
    func write(_ chunk: [UInt8]) async throws { bytes.withLock { $0 += chunk } }
}

/// The response body, buffered or streamed.
func body(of response: HTTPResponse) async throws -> [UInt8] {
    switch response.body {
    case .buffer(let bytes): return bytes
    case .stream(let produce):
        let collector = BodyCollector()
        try await produce(collector)
        return collector.bytes.withLock { $0 }
    }
}

