import Porter

/// Reading presets from the handler's options (kept apart from the name rule so the query parser builds on its own, e.g. for bench/fuzz).
extension ImagePresets {
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
