import Porter

/// The resize parameters of one request, in imgproxy's vocabulary: `w`, `h`, `fit`, `fmt`, `q`, `dpr`.
public struct ImageParameters: Sendable, Equatable {
    /// Requested width in CSS pixels (`w=`).
    public var width: Int?
    /// Requested height in CSS pixels (`h=`).
    public var height: Int?
    /// How to fit the box (`fit=`); `inside` when absent.
    public var fit: ImageFit?
    /// Output format (`fmt=`); negotiated from `Accept` when absent.
    public var format: ImageFormat?
    /// Encoder quality 1–100 (`q=`); the configured default when absent.
    public var quality: Int?
    /// Device pixel ratio (`dpr=`) multiplying `w` and `h`; 1 when absent.
    public var dpr: Double?

    /// Parameters with the given values (all optional).
    public init(width: Int? = nil, height: Int? = nil, fit: ImageFit? = nil, format: ImageFormat? = nil,
                quality: Int? = nil, dpr: Double? = nil) {
        self.width = width
        self.height = height
        self.fit = fit
        self.format = format
        self.quality = quality
        self.dpr = dpr
    }

    /// Whether no parameter is set (the request asks for the original bytes).
    public var isEmpty: Bool {
        width == nil && height == nil && fit == nil && format == nil && quality == nil && dpr == nil
    }

    /// The parameters as query items, sorted by name (the order the signature uses).
    public var queryItems: [(name: String, value: String)] {
        var items: [(name: String, value: String)] = []
        if let dpr { items.append(("dpr", ImageParameters.format(dpr))) }
        if let fit { items.append(("fit", fit.rawValue)) }
        if let format { items.append(("fmt", format.rawValue)) }
        if let height { items.append(("h", String(height))) }
        if let quality { items.append(("q", String(quality))) }
        if let width { items.append(("w", String(width))) }
        return items
    }

    /// `2` for 2.0, `1.5` for 1.5 (the shortest form that parses back to the same value).
    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e9 { return String(Int(value)) }
        return String(value)
    }
}

/// A request's query, split into validated parameters, the items the signature covers, and the signature.
struct ParsedImageQuery: Sendable {
    /// The validated parameters.
    var parameters: ImageParameters
    /// Every item except `sig`, as given (decoded), for the signature check.
    var signedItems: [(name: String, value: String)]
    /// The `sig=` value, if any.
    var signature: String?
    /// The `p=` value: a configured preset's name (given alone).
    var preset: String?

    /// The one URI spelling of this request for `path` (decoded): the path percent-encoded as `encodePath` does, then
    /// `p=NAME` alone, or the items in signing order (sorted by name, values encoded) with `sig` last, as
    /// `ImageURLSigner.signedURL` writes them (keeping the given signature: a rotated key's stays valid).
    func canonicalURI(path: String) -> String {
        if let preset { return PercentEncoding.encodePath(path) + "?p=" + preset }
        return ImageURLSigner.url(path: path, query: signedItems, signature: signature)
    }

    /// The recognised query keys.
    static let keys: Set<String> = ["w", "h", "fit", "fmt", "q", "dpr", "sig", "p"]

    /// Parses and syntax-checks the query: unknown or repeated keys, empty or malformed values are 400s, and so is
    /// `p=` next to any other parameter (a preset is the whole request).
    init(_ query: QueryParameters) throws(HTTPError) {
        parameters = ImageParameters()
        signedItems = []
        signature = nil
        preset = nil
        var seen: Set<String> = []
        for (name, value) in query {
            guard ParsedImageQuery.keys.contains(name) else {
                throw HTTPError(.badRequest, message: "unknown image parameter '\(ParsedImageQuery.printable(name))'")
            }
            guard seen.insert(name).inserted else {
                throw HTTPError(.badRequest, message: "image parameter '\(name)' given twice")
            }
            guard !value.isEmpty, value.utf8.count <= 128, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw HTTPError(.badRequest, message: "invalid value for image parameter '\(name)'")
            }
            if name == "sig" {
                signature = value
                continue
            }
            if name == "p" {
                guard ImagePresets.isValidName(value) else { throw HTTPError(.badRequest, message: "invalid preset name") }
                preset = value
                continue
            }
            signedItems.append((name, value))
            try ParsedImageQuery.apply(name, value, to: &parameters)
        }
        if preset != nil && (!signedItems.isEmpty || signature != nil) {
            throw HTTPError(.badRequest, message: "p= names a preset and takes no other image parameters")
        }
    }

    /// Sets the parameter `name` (`w`, `h`, `q`, `dpr`, `fit`, `fmt`) from its text, or throws a 400 saying what is wrong.
    static func apply(_ name: String, _ value: String, to parameters: inout ImageParameters) throws(HTTPError) {
        switch name {
        case "w": parameters.width = try integer(value, name: "w", range: 1...99_999)
        case "h": parameters.height = try integer(value, name: "h", range: 1...99_999)
        case "q": parameters.quality = try integer(value, name: "q", range: 1...100)
        case "dpr": parameters.dpr = try decimal(value, name: "dpr")
        case "fit":
            guard let fit = ImageFit(rawValue: value) else {
                throw HTTPError(.badRequest, message: "fit must be one of cover, contain, fill, inside")
            }
            parameters.fit = fit
        case "fmt":
            guard let format = ImageFormat(name: value) else {
                throw HTTPError(.badRequest, message: "fmt must be one of jpeg, png, webp, avif")
            }
            parameters.format = format
        default:
            throw HTTPError(.badRequest, message: "unknown image parameter '\(printable(name))'")
        }
    }

    static func integer(_ text: String, name: String, range: ClosedRange<Int>) throws(HTTPError) -> Int {
        guard text.utf8.count <= 6, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(text),
              range.contains(value) else {
            throw HTTPError(.badRequest, message: "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    static func decimal(_ text: String, name: String) throws(HTTPError) -> Double {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard text.utf8.count <= 8, (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }),
              text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 }), let value = Double(text),
              value > 0 else {
            throw HTTPError(.badRequest, message: "\(name) must be a positive number such as 2 or 1.5")
        }
        return value
    }

    /// A short, printable rendition of client text for error messages.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(32).map { $0.value >= 0x20 && $0.value < 0x7F ? $0 : "?" }))
    }
}
