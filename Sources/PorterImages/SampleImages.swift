import Glibc

/// Sample source images for the demo and benchmarks, drawn in memory and encoded with libvips.
public enum SampleImages {
    /// Writes `sunset.jpg` (1920×1080), `alpha.png` (800×600 with transparency) and `tiles.webp` (1200×800)
    /// into `directory` (created if missing); returns the file names written.
    @discardableResult
    public static func write(to directory: String) throws -> [String] {
        try VipsRuntime.start(VipsRuntime.Settings())
        var partial = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            partial += "/" + component
            _ = mkdir(partial, 0o755)
        }
        let files: [(String, Int, Int, Int, ImageFormat)] = [
            ("sunset.jpg", 1920, 1080, 3, .jpeg), ("alpha.png", 800, 600, 4, .png), ("tiles.webp", 1200, 800, 3, .webp),
        ]
        for (name, width, height, bands, format) in files {
            let bytes = try VipsImage.fromPixels(pixels(width, height, bands), width: width, height: height, bands: bands)
                .encoded(as: format, quality: 90)
            guard let f = fopen(directory + "/" + name, "wb") else { throw ConfigurationErrorText("cannot write \(directory)/\(name)") }
            fwrite(bytes, 1, bytes.count, f)
            fclose(f)
        }
        return files.map(\.0)
    }

    /// A warm gradient with soft circles (and alpha fading left to right for 4 bands).
    static func pixels(_ width: Int, _ height: Int, _ bands: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height * bands)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * bands
                let fy = Double(y) / Double(height), fx = Double(x) / Double(width)
                let ring = (sin(fx * 18) * cos(fy * 12) + 1) / 2
                out[i] = UInt8(min(255, 120 + 135 * (1 - fy)))
                out[i + 1] = UInt8(min(255, 40 + 150 * ring * (1 - fy)))
                out[i + 2] = UInt8(min(255, 60 + 140 * fy))
                if bands == 4 { out[i + 3] = UInt8(255 - Int(fx * 200)) }
            }
        }
        return out
    }
}

/// An error carrying a message.
struct ConfigurationErrorText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
