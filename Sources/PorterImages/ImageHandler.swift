import Logging
import Porter

/// The built-in image server: `/images/<path>.jpg?w=300&h=200&fit=cover&fmt=webp&q=80&dpr=2` resized with
/// libvips; without parameters, the original bytes.
///
/// Map it to the prefix's directory, e.g. `registry.add(name: "images", verbs: "GET,HEAD", path: "/images/*",
/// handler: try ImageHandler(configuration))`. Resizes run on the handler's own OS threads (`threads`),
/// at most `queue_limit` wait (then 503 + Retry-After), identical concurrent requests share one resize, and libvips
/// is initialised once per process. Reusable and shared: one instance serves every request.
public final class ImageHandler: AsyncHTTPHandler {
    /// The settings in effect.
    public let configuration: ImageServerConfiguration
    /// The signer for the configured keys, or nil when resizes need no signature.
    public let signer: ImageURLSigner?
    /// Whether this server can encode AVIF (libheif with an AV1 encoder).
    public let supportsAVIF: Bool

    let directory: SourceDirectory
    let resizer: ImageResizer
    private let vipsVersion: String

    /// A handler with `configuration`; throws when the root is missing or a setting is out of range.
    public init(_ configuration: ImageServerConfiguration) throws(ConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        directory = try SourceDirectory(root: configuration.root)
        signer = configuration.signingKeys.map(ImageURLSigner.init(keys:))
        let megabyte = 1 << 20
        do {
            try VipsRuntime.start(VipsRuntime.Settings(
                cacheMaxOperations: configuration.vipsCacheMB > 0 ? 1000 : 0,
                cacheMaxBytes: configuration.vipsCacheMB * megabyte,
                cacheMaxFiles: configuration.vipsCacheMB > 0 ? 100 : 0,
                concurrency: configuration.vipsConcurrency))
        } catch {
            throw ConfigurationError("images: \(error)")
        }
        vipsVersion = VipsRuntime.version
        supportsAVIF = configuration.formats.contains(.avif) ? ImageResizer.probeAVIF() : false
        resizer = ImageResizer(threads: configuration.threads, queueLimit: configuration.queueLimit,
                               retryAfterSeconds: configuration.retryAfterSeconds)
    }

    /// A handler from `porter.toml` options (keys: see `ImageServerConfiguration`).
    public convenience init(options: Options) throws(ConfigurationError) {
        try self.init(try ImageServerConfiguration(options: options))
    }

    deinit { resizer.pool.shutdown() }

    /// Counters: resizes run, coalesced requests, 503s, refused bombs, failures.
    public var statistics: ImageServerStatistics { resizer.statistics }

    /// A signed URL for the image at `path` (e.g. `/images/cat.jpg`) with `parameters`; unsigned when no key is set
    /// (which only `allow_unsigned` accepts).
    public func url(path: String, parameters: ImageParameters) -> String {
        if let signer { return signer.signedURL(path: path, parameters: parameters) }
        let items = parameters.queryItems
        let query = items.map { PercentEncoding.encode($0.name) + "=" + PercentEncoding.encode($0.value) }
        return PercentEncoding.encodePath(path) + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    /// Answers one image request: the original, a 304, or the resized image (awaited from the resize pool).
    public func processRequest(_ context: HTTPContext) async throws {
        let request = context.request
        guard request.method == .get || request.method == .head else {
            throw HTTPError(.methodNotAllowed, headers: ["Allow": "GET, HEAD"])
        }
        let relative = try ImagePath.relative(path: request.path, rawURI: request.uri, prefix: configuration.prefix)
        let query = try ParsedImageQuery(request.query)
        if query.preset == nil && query.parameters.isEmpty {
            return try serveOriginal(relative, context)
        }

        let (parameters, signed) = try authorize(query, path: request.path)
        let box = try ResizePlan.box(for: parameters, limits: configuration)
        if let format = parameters.format { try checkAvailable(format) }
        // One spelling per preset or signed resize: nginx caches on the raw URI, so `?p=thumb&`, `%73unset.jpg` or
        // `w=%33%30%30` (the same resize under the same signature) were each a cache MISS and a fresh resize (a flood
        // past the cache). Another spelling is redirected to the canonical one: no resize, and the one nginx caches.
        // (With `allow_unsigned` any size is open anyway: a development setting.)
        if query.preset != nil || signed {
            let canonical = query.canonicalURI(path: request.path)
            guard PathBytes.equals(request.uri, canonical) else {
                context.response.redirect(to: canonical, status: .movedPermanently)
                context.response.headers["Cache-Control"] = configuration.cacheControlUnsigned
                // Browsers may keep it; nginx must not (an entry per spelling would let a flood push resized images
                // out of its cache): X-Accel-Expires 0 is nginx's "do not store", never passed on.
                context.response.headers["X-Accel-Expires"] = "0"
                return
            }
        }

        let file = try directory.open(relative)
        guard file.size <= configuration.maxSourceBytes else {
            throw HTTPError(.payloadTooLarge, message: "source image file too large")
        }
        guard let source = SourceFormat(sniffing: try file.read(offset: 0, count: 32)) else {
            throw HTTPError(.unsupportedMediaType, message: "unsupported source image format")
        }
        let format = parameters.format ?? negotiatedFormat(source: source, accept: request.headers["Accept"])
        let plan = ResizePlan(width: box.width, height: box.height, fit: box.fit, format: format,
                              quality: parameters.quality ?? configuration.quality)

        let validators = ImageValidators(relative: relative, file: file, variant: "\(plan.key)&vips=\(vipsVersion)")
        context.response.headers["Cache-Control"] = signed ? configuration.cacheControl : configuration.cacheControlUnsigned
        context.response.headers["X-Accel-Expires"] = String(configuration.edgeCacheSeconds)
        if parameters.format == nil { context.response.headers["Vary"] = "Accept" }
        context.response.headers["X-Content-Type-Options"] = "nosniff"
        if context.respondNotModifiedIfCurrent(etag: validators.etag, lastModified: validators.lastModified) { return }
        if request.method == .head {
            // HEAD never resizes (a HEAD flood must not cost libvips jobs): the GET's headers, the source's header
            // checked as a GET would check it, and no Content-Length (the size is only known after resizing).
            try ImageResizer.probe(file: file, source: source, maxSourcePixels: configuration.maxSourcePixels, resizer: resizer)
            context.response.status = .ok
            context.response.contentType = plan.format.contentType
            context.response.body = .stream { _ in }
            return
        }

        let key = "\(file.identity):\(file.size):\(file.modifiedSeconds).\(file.modifiedNanoseconds)|\(plan.key)"
        let maxPixels = configuration.maxSourcePixels
        let logger = context.logger
        let outcome = await resizer.result(for: key) { resizer in
            ImageResizer.render(file: file, source: source, plan: plan, maxSourcePixels: maxPixels,
                                resizer: resizer, logger: logger)
        }
        let image = try outcome.get()
        respond(context, contentType: image.format.contentType, body: image.bytes)
    }

    /// The parameters `query` may have and whether they were signed: a configured preset (unsigned), parameters
    /// with a valid signature, or — only with `allow_unsigned` and no key — any parameters. Anything else is a 403.
    func authorize(_ query: ParsedImageQuery, path: String) throws(HTTPError) -> (ImageParameters, signed: Bool) {
        if let name = query.preset {
            guard let preset = configuration.presets[name] else { throw HTTPError(.badRequest, message: "unknown preset") }
            return (preset, false)
        }
        if let signer {
            guard let signature = query.signature, signer.isValid(signature: signature, path: path, query: query.signedItems) else {
                throw HTTPError(.forbidden, message: "missing or invalid image signature")
            }
            return (query.parameters, true)
        }
        guard configuration.allowUnsigned else {
            throw HTTPError(.forbidden, message: "this server resizes only to its presets (?p=NAME)")
        }
        return (query.parameters, false)
    }

    /// The format when `fmt` is absent: WebP if the client accepts it (and it is allowed), else the source's own.
    func negotiatedFormat(source: SourceFormat, accept: String?) -> ImageFormat {
        let formats = configuration.formats
        if formats.contains(.webp), QualityList.accepts("image/webp", in: accept) { return .webp }
        let own = source.defaultOutput
        if formats.contains(own), own != .avif || supportsAVIF { return own }
        for fallback in [ImageFormat.jpeg, .png, .webp] where formats.contains(fallback) { return fallback }
        return .jpeg
    }

    private func checkAvailable(_ format: ImageFormat) throws(HTTPError) {
        guard configuration.formats.contains(format) else {
            throw HTTPError(.badRequest, message: "format \(format.rawValue) is not allowed")
        }
        if format == .avif && !supportsAVIF {
            throw HTTPError(.unsupportedMediaType, message: "avif not supported on this server")
        }
    }

    /// The original bytes: buffered up to 1 MiB, streamed in 64 KiB chunks above that.
    private func serveOriginal(_ relative: String, _ context: HTTPContext) throws(HTTPError) {
        let file = try directory.open(relative)
        guard let source = SourceFormat(sniffing: try file.read(offset: 0, count: 32)) else {
            throw HTTPError(.unsupportedMediaType, message: "unsupported source image format")
        }
        let validators = ImageValidators(relative: relative, file: file, variant: "original")
        context.response.headers["Cache-Control"] = configuration.cacheControlUnsigned
        context.response.headers["X-Accel-Expires"] = String(configuration.edgeCacheSeconds)
        context.response.headers["X-Content-Type-Options"] = "nosniff"
        if context.respondNotModifiedIfCurrent(etag: validators.etag, lastModified: validators.lastModified) { return }
        if context.request.method == .head {
            // The GET's head without reading the file: its size is known.
            respond(context, contentType: source.contentType, body: [])
            context.response.headers["Content-Length"] = String(file.size)
            context.response.body = .stream { _ in }
            return
        }
        if file.size <= 1 << 20 {
            return respond(context, contentType: source.contentType, body: try file.readAll())
        }
        respond(context, contentType: source.contentType, body: [])
        let size = file.size
        context.response.body = .stream { writer in
            var offset = 0
            while offset < size {
                let chunk = try file.read(offset: offset, count: min(64 << 10, size - offset))
                if chunk.isEmpty { break }
                try await writer.write(chunk)
                offset += chunk.count
            }
        }
    }

    private func respond(_ context: HTTPContext, contentType: String, body: [UInt8]) {
        context.response.status = .ok
        context.response.contentType = contentType
        context.response.body = .buffer(body)
    }
}
