import Porter

/// Validators for a response: a strong ETag and Last-Modified derived from the source file and the parameters.
struct ImageValidators: Sendable {
    /// The strong entity tag.
    let etag: EntityTag
    /// The source's modification time (whole seconds).
    let lastModified: Int64

    /// Validators for `relative` (the root-relative path) as `variant` (normalized parameters, or `original`).
    init(relative: String, file: SourceFile, variant: String) {
        let material = "\(relative)\u{0}\(file.size)\u{0}\(file.modifiedSeconds).\(file.modifiedNanoseconds)\u{0}\(variant)"
        let digest = Cryptography.sha256(material.utf8)
        etag = EntityTag(Hex.encode(digest.prefix(16)))
        lastModified = Int64(file.modifiedSeconds)
    }
}
