public import Porter

/// `GET /download/NAME`: sends `NAME` from the files directory through nginx (`response.sendFile`) to signed-in
/// users only (401 for anyone else, or the authorization module's login redirect when a rule covers the path).
/// The name is what follows the route's directory; anything that could leave the directory is a 400.
public struct DownloadHandler: HTTPHandler {
    /// The internal nginx location the files are sent from.
    public let location: String
    /// Whether the response asks the browser to save the file (`Content-Disposition: attachment`).
    public let attachment: Bool

    /// Options: `location` (default `/_porter/files/`), `attachment` (default true).
    public init(options: Options = Options()) throws(ConfigurationError) {
        location = try options.string("location", default: SendFile.defaultLocation)
        attachment = try options.bool("attachment", default: true)
        guard SendFile.isValidLocation(location) else {
            throw ConfigurationError("\(options.origin): location must look like /_porter/files/ (letters, digits, . _ -)")
        }
    }

    /// The nginx side: the route's internal sendFile location.
    public static func edge(options: Options) throws -> EdgePolicy {
        var edge = EdgePolicy()
        edge.sendFileLocation = try DownloadHandler(options: options).location
        return edge
    }

    public func processRequest(_ context: HTTPContext) throws {
        guard context.user.isAuthenticated else {
            throw HTTPError(.unauthorized)
        }
        var name = context.request.path
        if let text = context.handler?.pattern, let pattern = try? PathPattern(text), case .directory(let dir) = pattern.kind {
            let prefix = dir.hasSuffix("/") ? dir : dir + "/"
            // Bytes, as routing compares them (PathBytes): `String` prefixes and counts work on grapheme clusters.
            guard PathBytes.hasPrefixIgnoringASCIICase(name, prefix) else { throw HTTPError(.notFound) }
            name = String(decoding: name.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
        } else {
            name = String(name.split(separator: "/", omittingEmptySubsequences: false).last ?? "")
        }
        let file = name.split(separator: "/").last.map(String.init) ?? name
        try context.response.sendFile(name, location: location, downloadName: attachment ? file : nil)
        context.trace("sendFile \(name) for \(context.user.name)", category: "download")
    }
}
