// The only Swift file that talks to libvips (through the CVipsShim C target, which loads libvips with dlopen
// on first use). Everything else in PorterImages uses `VipsRuntime`, `VipsImage` and `VipsError` from here.
import CVipsShim
import Synchronization

/// A libvips failure, with libvips's own error text (for logs; never sent to clients).
struct VipsError: Error, CustomStringConvertible {
    /// What failed and libvips's message.
    let message: String
    var description: String { "libvips: \(message)" }

    /// An error for `operation` carrying (and clearing) libvips's error buffer.
    static func take(_ operation: String) -> VipsError {
        guard let text = cvips_error_take() else { return VipsError(message: operation) }
        defer { cvips_free(text) }
        let detail = String(cString: text).trimmingTrailingNewlines()
        return VipsError(message: detail.isEmpty ? operation : "\(operation): \(detail)")
    }
}

/// Process-wide libvips setup: initialised once; cache and thread settings apply to the whole process.
enum VipsRuntime {
    /// libvips settings (process-wide: the last different call to `start` wins).
    struct Settings: Equatable, Sendable {
        /// Operations kept in libvips's operation cache (0 disables it).
        var cacheMaxOperations = 0
        /// Memory the operation cache may hold.
        var cacheMaxBytes = 0
        /// Files the operation cache may keep open.
        var cacheMaxFiles = 0
        /// Worker threads libvips uses inside one pipeline.
        var concurrency = 1
    }

    /// nil once libvips is loaded and initialised; otherwise why not.
    private static let loadFailure: VipsError? = {
        guard cvips_init() == 0 else {
            return VipsError(message: "not available: \(cvips_load_error().map { String(cString: $0) } ?? "unknown error")")
        }
        // Refuse loaders libvips itself considers unsafe for untrusted input (ImageMagick, matio, ...).
        cvips_block_untrusted(1)
        return nil
    }()
    private static let applied = Mutex<Settings?>(nil)

    /// Loads libvips (first call in the process: dlopen + VIPS_INIT) and applies `settings` when they differ
    /// from the current ones; throws "libvips: not available: <dlerror>" when libvips cannot be loaded.
    static func start(_ settings: Settings) throws(VipsError) {
        if let loadFailure { throw loadFailure }
        applied.withLock { current in
            guard current != settings else { return }
            cvips_configure(Int32(clamping: settings.cacheMaxOperations), settings.cacheMaxBytes,
                            Int32(clamping: settings.cacheMaxFiles), Int32(clamping: max(1, settings.concurrency)))
            current = settings
        }
    }

    /// The libvips version string, e.g. `8.14.1` (`unavailable` when libvips cannot be loaded).
    static var version: String {
        cvips_version().map { String(cString: $0) } ?? "unavailable"
    }

    /// The libvips enum and ABI values the shim is compiled with, by libvips name, to check against the headers.
    static var assumedConstants: [(name: String, value: Int)] {
        var result: [(String, Int)] = []
        var value: Int32 = 0
        while let name = cvips_assumed_constant(Int32(result.count), &value) { result.append((String(cString: name), Int(value))) }
        return result
    }

    /// The libvips string macro the shim assumes for `name` (e.g. `VIPS_META_LOADER`), if it uses one.
    static func assumedString(_ name: String) -> String? { cvips_assumed_string(name).map { String(cString: $0) } }

    /// Releases libvips's per-thread buffers; call on a thread that used libvips before it exits.
    static func threadShutdown() { cvips_thread_shutdown() }
}

/// How a thumbnail is fitted to its box (libvips's `VipsSize`).
enum VipsSizeMode: Sendable {
    /// Grow or shrink to fit the box.
    case both
    /// Only shrink.
    case down
    /// Stretch to exactly the box, ignoring the aspect ratio.
    case force

    var code: Int32 {
        switch self {
        case .both: Int32(CVIPS_SIZE_BOTH)
        case .down: Int32(CVIPS_SIZE_DOWN)
        case .force: Int32(CVIPS_SIZE_FORCE)
        }
    }
}

/// An owned reference to a libvips image (released on deinit).
///
/// Images opened from a buffer read it lazily: the buffer must outlive the image and anything saved from it,
/// so use them inside the `withUnsafeBytes` scope that produced them. Not thread-safe; one job, one thread.
final class VipsImage {
    private let pointer: OpaquePointer

    private init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { cvips_unref(pointer) }

    /// Reads only the header of an encoded image (no pixels are decoded).
    static func header(of bytes: UnsafeRawBufferPointer) throws(VipsError) -> VipsImage {
        guard let base = bytes.baseAddress, let image = cvips_header_buffer(base, bytes.count) else {
            throw VipsError.take("header")
        }
        return VipsImage(image)
    }

    /// Decodes and resizes an encoded image into a `width`×`height` box (vips_thumbnail_buffer; shrink-on-load,
    /// EXIF auto-rotation); `crop` centre-crops to exactly the box.
    static func thumbnail(of bytes: UnsafeRawBufferPointer, width: Int, height: Int, size: VipsSizeMode,
                          crop: Bool) throws(VipsError) -> VipsImage {
        guard let base = bytes.baseAddress,
              let image = cvips_thumbnail_buffer(base, bytes.count, Int32(clamping: width), Int32(clamping: height),
                                                 size.code, crop ? 1 : 0)
        else { throw VipsError.take("thumbnail") }
        return VipsImage(image)
    }

    /// An sRGB (3–4 bands) or grey (1–2 bands) 8-bit image from interleaved pixels, e.g. to generate test images.
    static func fromPixels(_ pixels: [UInt8], width: Int, height: Int, bands: Int) throws(VipsError) -> VipsImage {
        let made = pixels.withUnsafeBytes { raw in
            cvips_image_from_pixels(raw.baseAddress, raw.count, Int32(clamping: width), Int32(clamping: height),
                                    Int32(clamping: bands))
        }
        guard let made else { throw VipsError.take("from pixels") }
        return VipsImage(made)
    }

    /// Width in pixels.
    var width: Int { Int(cvips_width(pointer)) }
    /// Height in pixels.
    var height: Int { Int(cvips_height(pointer)) }
    /// Number of bands (3 for RGB, 4 for RGBA).
    var bands: Int { Int(cvips_bands(pointer)) }
    /// Whether the last band is alpha.
    var hasAlpha: Bool { cvips_has_alpha(pointer) != 0 }
    /// The loader that read the image (e.g. `jpegload_buffer`), if it came from a file or buffer.
    var loader: String? { cvips_loader(pointer).map { String(cString: $0) } }

    /// Encodes the image (metadata stripped; alpha flattened on white for JPEG). Decoding happens here.
    func encoded(as format: ImageFormat, quality: Int) throws(VipsError) -> [UInt8] {
        let code: Int32 = switch format {
        case .jpeg: Int32(CVIPS_FORMAT_JPEG)
        case .png: Int32(CVIPS_FORMAT_PNG)
        case .webp: Int32(CVIPS_FORMAT_WEBP)
        case .avif: Int32(CVIPS_FORMAT_AVIF)
        }
        var out: UnsafeMutableRawPointer?
        var length = 0
        guard cvips_save_buffer(pointer, code, Int32(clamping: quality), &out, &length) == 0, let out else {
            throw VipsError.take("\(format.rawValue) save")
        }
        defer { cvips_free(out) }
        return Array(UnsafeRawBufferPointer(start: out, count: length))
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == "\r" { s = s.dropLast() }
        return String(s)
    }
}
