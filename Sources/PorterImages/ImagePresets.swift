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
}
