import Porter

/// The image server's settings; `init(options:)` reads them from a `porter.toml` handler table.
public struct ImageServerConfiguration: Sendable {
    /// Directory holding the source images (`root`, required); requests can never leave it.
    public var root: String
    /// URL prefix mapped onto `root` (`prefix`, default `/images`): `/images/a/b.jpg` → `<root>/a/b.jpg`.
    public var prefix: String = "/images"
    /// Largest source, in pixels, that will be decoded (`max_source_pixels`, default 50 000 000); larger → 422.
    public var maxSourcePixels: Int = 50_000_000
    /// Largest source file read into memory (`max_source_bytes`, default 64 MiB); larger → 413.
    public var maxSourceBytes: Int = 64 << 20
    /// Largest output width in pixels after `dpr` (`max_width`, default 4096); larger → 400.
    public var maxWidth: Int = 4096
    /// Largest output height in pixels after `dpr` (`max_height`, default 4096); larger → 400.
    public var maxHeight: Int = 4096
    /// Largest `dpr` (`max_dpr`, default 4).
    public var maxDPR: Double = 4
    /// Output formats clients may ask for (`formats`, default jpeg, png, webp, avif).
    public var formats: Set<ImageFormat> = Set(ImageFormat.allCases)
    /// Default encoder quality (`quality`, default 80).
    public var quality: Int = 80
    /// Keys for signed URLs, ≥ 32 bytes each; the first signs, all verify. From `keys` (`hex:…`, `base64:…`,
    /// `text:…`), `signing_key` (older: a bare value is UTF-8 text), `keys_file` (mode 0600) and `keys_env`
    /// (default `PORTER_IMAGE_KEYS`). `nil`: only presets (or, with `allowUnsigned`, anything) can be asked for.
    public var signingKeys: KeyRing?
    /// Named parameter sets requested as `?p=NAME` without a signature (`presets = { thumb = { w = 200, h = 200 } }`).
    public var presets: [String: ImageParameters] = [:]
    /// Whether any size may be asked for without a signature (`allow_unsigned`, default false): every distinct
    /// `w`/`h`/`q`/`dpr`/`fmt` is then a fresh resize anyone can order. Not allowed together with a signing key.
    public var allowUnsigned = false
    /// `Cache-Control` for resized images when URLs are signed (`cache_control`).
    public var cacheControl: String = "public, max-age=31536000, immutable"
    /// `Cache-Control` for originals and for resized images when signing is off (`cache_control_unsigned`).
    public var cacheControlUnsigned: String = "public, max-age=3600"
    /// How long nginx's image cache keeps an image this handler serves (`edge_cache`, seconds, default 7 days; 0: not
    /// at all), sent as `X-Accel-Expires` on 200 and 304. The site's image location stores only what says so: it
    /// serves whichever route Porter picks for a URI, and another handler's answer must not fill the image cache.
    public var edgeCacheSeconds: Int = 604_800
    /// Resize jobs that may wait for a busy thread; more get 503 + `Retry-After` (`queue_limit`, default 32).
    public var queueLimit: Int = 32
    /// OS threads that resize (`threads`, default 2); never Swift's cooperative pool.
    public var threads: Int = 2
    /// libvips operation cache in MiB (`vips_cache_mb`, default 0 = off, as imgproxy does: every request
    /// decodes from a fresh buffer, so cached operations would only hold memory). Process-wide.
    public var vipsCacheMB: Int = 0
    /// Threads libvips uses inside one resize (`vips_concurrency`, default 1; parallelism comes from `threads`).
    public var vipsConcurrency: Int = 1
    /// Seconds sent in `Retry-After` with a 503 (`retry_after`, default 1).
    public var retryAfterSeconds: Int = 1

    /// Settings with defaults for everything but the root directory.
    public init(root: String) {
        self.root = root
    }

    /// Settings from handler options; throws for missing or bad values (root must be an existing directory).
    /// `environment` looks up `keys_env` (the process environment by default).
    public init(options: Options, environment: (String) -> String? = KeyRing.processEnvironment) throws(ConfigurationError) {
        guard let root = try options.string("root"), !root.isEmpty else {
            throw ConfigurationError("\(options.origin): root (the directory of source images) is required")
        }
        self.init(root: root)
        prefix = try options.string("prefix", default: prefix)
        maxSourcePixels = try options.int("max_source_pixels", default: maxSourcePixels)
        maxSourceBytes = try options.int("max_source_bytes", default: maxSourceBytes)
        maxWidth = try options.int("max_width", default: maxWidth)
        maxHeight = try options.int("max_height", default: maxHeight)
        maxDPR = try options.double("max_dpr", default: maxDPR)
        var formats: Set<ImageFormat> = []
        for name in try options.strings("formats", default: ImageFormat.allCases.map(\.rawValue)) {
            guard let format = ImageFormat(name: name) else {
                throw ConfigurationError("\(options.origin): formats: unknown format \"\(name)\" (use jpeg, png, webp, avif)")
            }
            formats.insert(format)
        }
        self.formats = formats
        quality = try options.int("quality", default: quality)
        signingKeys = try KeyRing.fromOptions(options, environmentVariable: "PORTER_IMAGE_KEYS", textOptions: ["signing_key"],
                                              environment: environment)
        presets = try ImagePresets.parse(options)
        allowUnsigned = try options.bool("allow_unsigned", default: allowUnsigned)
        cacheControl = try options.string("cache_control", default: cacheControl)
        cacheControlUnsigned = try options.string("cache_control_unsigned", default: cacheControlUnsigned)
        edgeCacheSeconds = try options.int("edge_cache", default: edgeCacheSeconds)
        queueLimit = try options.int("queue_limit", default: queueLimit)
        threads = try options.int("threads", default: threads)
        vipsCacheMB = try options.int("vips_cache_mb", default: vipsCacheMB)
        vipsConcurrency = try options.int("vips_concurrency", default: vipsConcurrency)
        retryAfterSeconds = try options.int("retry_after", default: retryAfterSeconds)
        try validate(origin: options.origin)
    }

    /// Checks ranges and consistency; `origin` prefixes the messages.
    public func validate(origin: String = "images") throws(ConfigurationError) {
        func require(_ ok: Bool, _ message: String) throws(ConfigurationError) {
            if !ok { throw ConfigurationError("\(origin): \(message)") }
        }
        try require(prefix.hasPrefix("/") && !prefix.hasSuffix("/") || prefix.isEmpty,
                    "prefix must start with / and not end with / (e.g. /images), or be empty")
        try require(edgeCacheSeconds >= 0, "edge_cache must be 0 or more seconds")
        try require(maxSourcePixels > 0, "max_source_pixels must be positive")
        try require(maxSourceBytes > 0, "max_source_bytes must be positive")
        try require((1...100_000).contains(maxWidth), "max_width must be from 1 to 100000")
        try require((1...100_000).contains(maxHeight), "max_height must be from 1 to 100000")
        try require(maxDPR >= 1 && maxDPR <= 10, "max_dpr must be from 1 to 10")
        try require(!formats.isEmpty, "formats must name at least one format")
        try require((1...100).contains(quality), "quality must be from 1 to 100")
        try require(signingKeys != nil || !presets.isEmpty || allowUnsigned,
                    "anyone could order any size: set keys/keys_file (signed URLs; `porter image-url` prints them), presets "
                    + "(named sizes requested as ?p=NAME), or allow_unsigned = true to accept every size unsigned")
        try require(signingKeys == nil || !allowUnsigned, "allow_unsigned = true makes signing keys pointless: choose one")
        for (name, preset) in presets.sorted(by: { $0.key < $1.key }) {
            do throws(HTTPError) { _ = try ResizePlan.box(for: preset, limits: self) } catch {
                throw ConfigurationError("\(origin): presets.\(name): \(error.message)")
            }
        }
        try require((0...100_000).contains(queueLimit), "queue_limit must be from 0 to 100000")
        try require((1...256).contains(threads), "threads must be from 1 to 256")
        try require((0...65_536).contains(vipsCacheMB), "vips_cache_mb must be from 0 to 65536")
        try require((1...256).contains(vipsConcurrency), "vips_concurrency must be from 1 to 256")
        try require((0...3600).contains(retryAfterSeconds), "retry_after must be from 0 to 3600")
    }
}
