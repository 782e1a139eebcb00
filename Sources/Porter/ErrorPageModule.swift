#if canImport(Glibc)
import Glibc
#endif

/// ASP.NET's `<customErrors>`: which error page a client sees. `on` shows the custom page for the status (or the
/// built-in page that leaks nothing) to everyone; `remoteOnly` shows local (loopback) clients the error's details
/// instead; `off` shows details to everyone (development only).
public struct CustomErrors: Sendable {
    /// Who sees details.
    public enum Mode: String, Sendable, CaseIterable {
        /// Custom or generic pages for everyone.
        case on
        /// Details for everyone (development only).
        case off
        /// Details for loopback clients, custom pages for everyone else.
        case remoteOnly = "remote_only"
    }

    /// A custom error page: a static file's bytes (read at startup) or a handler run for the error response.
    public enum Page: Sendable {
        /// A file's content and type.
        case content([UInt8], contentType: String)
        /// A handler; it sees `ctx.error` and the status already set, and writes the body.
        case handler(AnyHTTPHandler)

        /// Reads a static page now (`.html`/`.htm` are HTML, `.txt` plain text, `.json` JSON); a missing file is a startup error.
        public static func file(_ path: String) throws(ConfigurationError) -> Page {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw ConfigurationError("custom error page \(path): \(String(cString: strerror(errno)))")
            }
            defer { _ = close(fd) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw ConfigurationError("custom error page \(path): \(String(cString: strerror(errno)))") }
                if n == 0 { break }
                bytes += chunk[0..<n]
                guard bytes.count <= 1 << 20 else { throw ConfigurationError("custom error page \(path) is larger than 1 MiB") }
            }
            let ext = path.split(separator: "/").last.flatMap { $0.contains(".") ? $0.split(separator: ".").last : nil }?.lowercased()
            let type = switch ext {
            case "txt": "text/plain; charset=utf-8"
            case "json": "application/json"
            default: "text/html; charset=utf-8"
            }
            return .content(bytes, contentType: type)
        }
    }

    /// Who sees details (default `on`: nobody, as before customErrors existed).
    public var mode: Mode
    /// Pages by status code.
    public var pages: [Int: Page]
    /// The page for other error statuses (ASP.NET's `defaultRedirect`, served in place).
    public var defaultPage: Page?

    /// Custom errors; the default is `on` with the built-in pages.
    public init(mode: Mode = .on, pages: [Int: Page] = [:], defaultPage: Page? = nil) {
        self.mode = mode
        self.pages = pages
        self.defaultPage = defaultPage
    }

    /// Reads `mode`, `pages` (status → file) and `default_page` from the `errors` module's options; paths are
    /// relative to `directory`.
    public init(options: Options, directory: String) throws(ConfigurationError) {
        let modeText = try options.string("mode", default: "on")
        guard let mode = Mode(rawValue: modeText) else {
            throw ConfigurationError("\(options.origin): mode must be on, off or remote_only, got \"\(modeText)\"")
        }
        func resolve(_ path: String) -> String { path.hasPrefix("/") ? path : (directory.hasSuffix("/") ? directory : directory + "/") + path }
        var pages: [Int: Page] = [:]
        let table = try options.table("pages")
        for key in table.values.keys.sorted() {
            guard let code = Int(key), (400...599).contains(code) else {
                throw ConfigurationError("\(table.origin): \(key) is not an error status (400...599)")
            }
            guard let path = try table.string(key) else { continue }
            pages[code] = try Page.file(resolve(path))
        }
        let fallback = try options.string("default_page")
        self.init(mode: mode, pages: pages, defaultPage: try fallback.map { (p) throws(ConfigurationError) in try Page.file(resolve(p)) })
    }

    /// Whether `ctx`'s client sees details.
    public func showsDetails(to ctx: HTTPContext) -> Bool {
        switch mode {
        case .on: false
        case .off: true
        case .remoteOnly: ctx.request.isLocal
        }
    }

    var hasAsyncPage: Bool {
        (Array(pages.values) + [defaultPage].compactMap { $0 }).contains { if case .handler(.async) = $0 { true } else { false } }
    }
}

/// Turns handler and module errors into an HTML error page at the Error event: the error's own status
/// (404, 405 + `Allow`, …) or a 500 that leaks nothing; details are logged with the request id. With `CustomErrors`
/// (ASP.NET's `customErrors`) a status gets its own page, and local clients may see details. Headers that
/// modules set before the error (a request id, CORS) stay; the failed response's own representation headers go.
public struct ErrorPageModule: HTTPModule {
    /// The custom error configuration.
    public let customErrors: CustomErrors

    /// The module; by default the built-in pages for everyone.
    public init(customErrors: CustomErrors = CustomErrors()) { self.customErrors = customErrors }

    public var name: String { "errors" }

    public func subscribe(to events: inout ModuleEvents) {
        let custom = customErrors
        if custom.hasAsyncPage {
            events.onAsync(.error) { ctx in
                guard let page = Self.begin(ctx, custom) else { return }
                do {
                    switch page {
                    case .content(let bytes, let type): Self.write(bytes, type, ctx)
                    case .handler(.sync(let h)): try h.processRequest(ctx)
                    case .handler(.async(let h)): try await h.processRequest(ctx)
                    }
                } catch { Self.pageFailed(ctx, error) }
            }
        } else {
            events.on(.error) { ctx in
                guard let page = Self.begin(ctx, custom) else { return }
                do {
                    switch page {
                    case .content(let bytes, let type): Self.write(bytes, type, ctx)
                    case .handler(.sync(let h)): try h.processRequest(ctx)
                    case .handler(.async): break
                    }
                } catch { Self.pageFailed(ctx, error) }
            }
        }
    }

    /// Writes the built-in (or details) page; returns the custom page to write over it, if any.
    static func begin(_ ctx: HTTPContext, _ custom: CustomErrors) -> CustomErrors.Page? {
        guard let error = ctx.error, !ctx.isErrorResponseWritten else { return nil }
        ctx.isErrorResponseWritten = true
        let details = custom.showsDetails(to: ctx)
        ErrorResponder.respond(to: error, in: ctx, html: true, details: details)
        guard !details, let page = custom.pages[ctx.response.status.code] ?? custom.defaultPage else { return nil }
        ErrorResponder.clearBody(ctx)
        return page
    }

    static func write(_ bytes: [UInt8], _ type: String, _ ctx: HTTPContext) {
        ctx.response.contentType = type
        ctx.response.write(bytes)
    }

    /// A custom page handler failed: the built-in page stands, the failure is logged.
    static func pageFailed(_ ctx: HTTPContext, _ error: any Error) {
        ctx.logger.error("custom error page failed", metadata: ["error": .string(String(reflecting: error))])
        if let first = ctx.error { ErrorResponder.respond(to: first, in: ctx, html: true) }
    }
}
