import Porter

/// Named parameter sets (imgproxy's and thumbor's presets): `presets = { thumb = { w = 200, h = 200, fit = "cover" } }`
/// in the handler's options, requested as `?p=thumb`. A preset needs no signature: the set of variants is fixed by
/// the configuration, so a client cannot make the server resize to sizes nobody configured.
enum ImagePresets {
    /// Whether `name` can name a preset: 1–64 of `A-Z a-z 0-9 - _`.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95
        }
    }

    /// Reads the `presets` table: each entry a table of `w`, `h`, `fit`, `fmt`, `q`, `dpr` with the same rules as the query.
    static func parse(_ options: Options) throws(ConfigurationError) -> [String: ImageParameters] {
        guard options.values["presets"] != nil else { return [:] }
        let table = try options.table("presets")
        var presets: [String: ImageParameters] = [:]
        for (name, value) in table.values.sorted(by: { $0.key < $1.key }) {
            let origin = "\(table.origin).\(name)"
            guard isValidName(name) else { throw ConfigurationError("\(origin): preset names use 1-64 letters, digits, - and _") }
            guard let fields = value.table, !fields.isEmpty else {
                throw ConfigurationError("\(origin): a preset is a table such as { w = 200, h = 200, fit = \"cover\" }")
            }
            var parameters = ImageParameters()
            for (key, field) in fields.sorted(by: { $0.key < $1.key }) {
                guard let text = field.string else { throw ConfigurationError("\(origin): \(key) must be a number or a string") }
                do throws(HTTPError) { try ParsedImageQuery.apply(key, text, to: &parameters) } catch {
                    throw ConfigurationError("\(origin): \(error.message)")
                }
            }
            presets[name] = parameters
        }
        return presets
    }
}
