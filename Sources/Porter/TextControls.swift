extension Unicode.Scalar {
    /// Whether this character is not shown as itself but changes how the text around it reads: C0 controls (newline,
    /// escape), DEL, C1 controls (U+0085 next line), the line and paragraph separators, and the bidirectional marks,
    /// embeddings, overrides and isolates (U+200E-F, U+202A-E, U+2066-9: U+202E shows what follows reversed). Text a
    /// client sent keeps none of them where it is shown or logged as one item: user names, log fields, file names.
    public var isInvisibleControl: Bool {
        switch value {
        case 0..<0x20, 0x7F...0x9F, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}
