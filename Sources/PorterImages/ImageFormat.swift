/// An output format the image server can encode (`fmt=` values).
public enum ImageFormat: String, Sendable, CaseIterable, Hashable {
    /// JPEG (`image/jpeg`); alpha is flattened on white.
    case jpeg
    /// PNG (`image/png`), lossless; `q` is ignored.
    case png
    /// WebP (`image/webp`), keeps alpha.
    case webp
    /// AVIF (`image/avif`): HEIF with AV1 (libheif + libaom); slow to encode.
    case avif

    /// The format named by a `fmt=` value or a configuration entry (`jpg` is accepted for `jpeg`).
    public init?(name: String) {
        switch name.lowercased() {
        case "jpeg", "jpg": self = .jpeg
        case "png": self = .png
        case "webp": self = .webp
        case "avif": self = .avif
        default: return nil
        }
    }

    /// The media type sent as `Content-Type`.
    public var contentType: String {
        switch self {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        case .webp: "image/webp"
        case .avif: "image/avif"
        }
    }

    /// Whether `q=` changes the output (PNG is lossless, so quality is ignored and left out of cache keys).
    var usesQuality: Bool { self != .png }
}

/// How the image is fitted into the requested `w`×`h` box (`fit=` values).
public enum ImageFit: String, Sendable, CaseIterable, Hashable {
    /// Fill the box exactly, keeping the aspect ratio and cropping the overflow around the centre (may enlarge).
    case cover
    /// Fit inside the box keeping the aspect ratio, no padding: one side equals the box (may enlarge).
    case contain
    /// Stretch to exactly the box, ignoring the aspect ratio (may enlarge).
    case fill
    /// Like `contain`, but never enlarges: images smaller than the box keep their size. The default.
    case inside
}

/// A source image's container, recognised from its first bytes (never from the file name alone).
enum SourceFormat: String, Sendable {
    case jpeg, png, webp, gif, avif, heic

    /// The format whose signature starts `bytes`, or nil for anything else (SVG, PDF, TIFF, text...).
    init?(sniffing bytes: some Collection<UInt8>) {
        let head = Array(bytes.prefix(32))
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        if starts([0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) {
            self = .webp
        } else if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) {
            self = .gif
        } else if starts(Array("ftyp".utf8), at: 4), head.count >= 12 {
            let brand = String(decoding: head[8..<12], as: UTF8.self)
            switch brand {
            case "avif", "avis": self = .avif
            case "heic", "heix", "heim", "heis", "mif1", "msf1": self = .heic
            default: return nil
            }
        } else {
            return nil
        }
    }

    /// The libvips loaders allowed to read this container (checked against the header's `vips-loader`).
    var allowedLoaders: Set<String> {
        switch self {
        case .jpeg: ["jpegload_buffer"]
        case .png: ["pngload_buffer"]
        case .webp: ["webpload_buffer"]
        case .gif: ["gifload_buffer"]
        case .avif, .heic: ["heifload_buffer"]
        }
    }

    /// The output format used when the request names none and the client does not accept WebP.
    var defaultOutput: ImageFormat {
        switch self {
        case .jpeg, .heic: .jpeg
        case .png, .gif: .png
        case .webp: .webp
        case .avif: .avif
        }
    }

    /// The media type of the original bytes.
    var contentType: String {
        switch self {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        case .webp: "image/webp"
        case .gif: "image/gif"
        case .avif: "image/avif"
        case .heic: "image/heic"
        }
    }

    /// File extensions the handler serves (lower case).
    static let servedExtensions: Set<String> = ["jpg", "jpeg", "png", "webp", "gif", "avif", "heic", "heif"]
}
