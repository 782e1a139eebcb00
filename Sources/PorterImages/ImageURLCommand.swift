import ArgumentParser
import Porter
import PorterHost

/// `porter image-url /images/sunset.jpg --w 300 --fmt webp`: prints the URL the configured image handler accepts
/// for those parameters, signed with its `signing_key` (or `?p=NAME` for a preset).
struct ImageURLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "image-url",
                                                    abstract: "Print a signed image URL (or a preset's URL) for the configured image handler.")

    @OptionGroup var source: ConfigurationSource
    @Argument(help: "The image's URL path, e.g. /images/sunset.jpg.") var path: String
    @Option(help: "Width in CSS pixels.") var w: Int?
    @Option(help: "Height in CSS pixels.") var h: Int?
    @Option(help: "cover, contain, fill or inside.") var fit: String?
    @Option(help: "jpeg, png, webp or avif.") var fmt: String?
    @Option(help: "Quality 1-100.") var q: Int?
    @Option(help: "Device pixel ratio, e.g. 2 or 1.5.") var dpr: String?
    @Option(help: "A configured preset's name instead of parameters.") var preset: String?
    @Option(help: "Printed before the path, e.g. http://127.0.0.1:8080.") var base: String = ""

    func run() throws {
        let server = try source.resolve()
        guard let entry = server.handlers.first(where: { $0.handler == "image" && ((try? PathPattern($0.path))?.matches(path) ?? false) }) else {
            throw ImageURLError("no image handler is mapped at \(path)")
        }
        let images = try ImageServerConfiguration(options: entry.options)
        print(base + (try Self.url(path: path, images: images, preset: preset, given: given)))
    }

    /// The parameters given on the command line, in query spelling.
    var given: [(name: String, value: String)] {
        [("w", w.map(String.init)), ("h", h.map(String.init)), ("fit", fit), ("fmt", fmt), ("q", q.map(String.init)), ("dpr", dpr)]
            .compactMap { item in item.1.map { (item.0, $0) } }
    }

    /// The URL for `path` under `images`: the preset's, else the parameters signed with the first key (unsigned only
    /// when the handler allows unsigned requests).
    static func url(path: String, images: ImageServerConfiguration, preset: String?, given: [(name: String, value: String)]) throws -> String {
        if let preset {
            guard given.isEmpty else { throw ImageURLError("--preset takes no other parameters") }
            guard images.presets[preset] != nil else {
                throw ImageURLError("no preset \"\(preset)\" (configured: \(images.presets.keys.sorted().joined(separator: ", ")))")
            }
            return PercentEncoding.encodePath(path) + "?p=" + preset
        }
        var parameters = ImageParameters()
        do throws(HTTPError) {
            for (name, value) in given { try ParsedImageQuery.apply(name, value, to: &parameters) }
            _ = try ResizePlan.box(for: parameters, limits: images)
        } catch {
            throw ImageURLError(error.message)
        }
        guard !parameters.isEmpty else { throw ImageURLError("give --w, --h, --fit, --fmt, --q or --dpr, or --preset") }
        if let keys = images.signingKeys {
            return ImageURLSigner(keys: keys).signedURL(path: path, parameters: parameters)
        }
        guard images.allowUnsigned else {
            throw ImageURLError("the image handler has no signing keys: only its presets can be requested (--preset NAME)")
        }
        let query = parameters.queryItems.map { PercentEncoding.encode($0.name) + "=" + PercentEncoding.encode($0.value) }
        return PercentEncoding.encodePath(path) + "?" + query.joined(separator: "&")
    }
}

/// Why `porter image-url` printed nothing (shown without the usage text; exit status 1).
struct ImageURLError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
