public import Porter

/// `POST /upload`: parses a `multipart/form-data` form (ASP.NET's `Request.Form` / `Request.Files`) and answers
/// `{"fields": {…}, "files": [{"field", "filename", "contentType", "size", "sha256"}]}`. It stores nothing.
///
/// Anonymous on purpose: nothing is kept and nobody's authority is used, so a cross-site POST gains nothing (its
/// answer is unreadable cross-origin) and an anti-forgery token (which the static front page could not carry) would
/// protect nothing; the tight limits (route `max_body`, few files and fields, small fields) bound the cost instead.
public struct UploadHandler: HTTPHandler {
    /// The multipart limits.
    public let formLimits: FormLimits

    /// An upload handler; options: `max_files` (4), `max_fields` (20), `max_field_bytes` (4096).
    public init(options: Options = Options()) throws(ConfigurationError) {
        formLimits = FormLimits(maxFiles: try options.int("max_files", default: 4), maxFields: try options.int("max_fields", default: 20),
                                maxFieldBytes: try options.int("max_field_bytes", default: 4096))
    }

    public func processRequest(_ context: HTTPContext) throws {
        let request = context.request
        guard MultipartFormParser.isMultipartForm(request.contentType) else {
            throw HTTPError(.unsupportedMediaType, message: "send multipart/form-data")
        }
        var fields: [(String, JSONValue)] = []
        for (name, _) in request.form where !fields.contains(where: { $0.0.lowercased() == name.lowercased() }) {
            fields.append((name, .string(request.form[name] ?? "")))
        }
        var files: [JSONValue] = []
        for file in request.files {
            var hash = Cryptography.SHA256()
            var reader = file.content.makeReader()
            while true {
                let chunk = try reader.read(upTo: 64 * 1024)
                if chunk.isEmpty { break }
                hash.update(chunk)
            }
            files.append([
                "field": .string(file.field), "filename": .string(file.filename), "contentType": .string(file.contentType),
                "size": .int(file.size), "sha256": .string(Hex.encode(hash.finalize())),
            ])
        }
        context.response.setJSON(["fields": .object(fields), "files": .array(files)])
    }
}
