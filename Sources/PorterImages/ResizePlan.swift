import Porter

/// What to produce for one request: the box in device pixels, how to fit it, the format and quality.
struct ResizePlan: Sendable, Hashable {
    /// Box width in output pixels (after `dpr`).
    var width: Int
    /// Box height in output pixels (after `dpr`).
    var height: Int
    /// The effective fit (a one-sided request turns `cover`/`fill` into `contain`).
    var fit: ImageFit
    /// The output format.
    var format: ImageFormat
    /// The encoder quality (ignored for PNG).
    var quality: Int

    /// The libvips size mode and crop flag for this fit.
    var vipsMode: (size: VipsSizeMode, crop: Bool) {
        switch fit {
        case .cover: (.both, true)
        case .contain: (.both, false)
        case .fill: (.force, false)
        case .inside: (.down, false)
        }
    }

    /// The normalized parameters, e.g. `w=600&h=400&fit=cover&fmt=webp&q=80` (cache key and ETag input).
    var key: String {
        var key = "w=\(width)&h=\(height)&fit=\(fit.rawValue)&fmt=\(format.rawValue)"
        if format.usesQuality { key += "&q=\(quality)" }
        return key
    }

    /// The box in output pixels for `parameters`, or a 400 when `w`/`h`×`dpr` exceed the limits.
    static func box(for parameters: ImageParameters, limits: ImageServerConfiguration)
        throws(HTTPError) -> (width: Int, height: Int, fit: ImageFit) {
        let dpr = parameters.dpr ?? 1
        guard dpr <= limits.maxDPR else {
            throw HTTPError(.badRequest, message: "dpr must not exceed \(ImageParameters.format(limits.maxDPR))")
        }
        func scaled(_ value: Int?, limit: Int, name: String) throws(HTTPError) -> Int? {
            guard let value else { return nil }
            let pixels = max(1, Int((Double(value) * dpr).rounded()))
            guard pixels <= limit else {
                throw HTTPError(.badRequest, message: "\(name)×dpr must not exceed \(limit) pixels")
            }
            return pixels
        }
        let width = try scaled(parameters.width, limit: limits.maxWidth, name: "w")
        let height = try scaled(parameters.height, limit: limits.maxHeight, name: "h")
        switch (width, height) {
        case let (w?, h?):
            return (w, h, parameters.fit ?? .inside)
        case (nil, nil):
            // Format or quality change only: keep the size, but never beyond the output limits.
            return (limits.maxWidth, limits.maxHeight, .inside)
        default:
            // One side given: the other is bounded by the limit; cover and fill need both sides, so they fit.
            var fit = parameters.fit ?? .inside
            if fit == .cover || fit == .fill { fit = .contain }
            return (width ?? limits.maxWidth, height ?? limits.maxHeight, fit)
        }
    }
}
