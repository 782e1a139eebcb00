import Porter
import Testing

/// `QualityList`: the one reader of q-valued headers (image WebP negotiation and feed gzip both use it).
@Suite struct QualityListTests {
    @Test(arguments: [
        ("image/webp", nil, nil), ("image/webp", "", nil), ("image/webp", "image/webp", 1.0),
        ("image/webp", "image/avif,image/webp,*/*;q=0.8", 1.0), ("image/webp", "*/*", nil), ("image/webp", "image/*", nil),
        ("image/webp", "Image/WebP ; Q=0.5", 0.5), ("image/webp", "image/webp;q=0", 0.0), ("image/webp", "image/webp;q=0.000", 0.0),
        ("image/webp", "image/webp;q=1e309", 0.0), ("image/webp", "image/webp;q=-1", 0.0), ("image/webp", "image/webp;q=2", 0.0),
        ("image/webp", "image/webp;q=abc", 0.0), ("image/webp", "image/webp;q=0, image/webp;q=0.3", 0.3),
        ("image/webp", "image/webpx, ximage/webp", nil), ("image/webp", "image/webp;level=1;q=0.2", 0.2),
        ("image/webp", ",,;,image/webp;;", 1.0), ("gzip", "deflate, gzip;q=0.7 , br", 0.7), ("*", "br, *;q=0.1", 0.1),
    ] as [(String, String?, Double?)])
    func quality(_ token: String, _ header: String?, _ expected: Double?) {
        #expect(QualityList.quality(of: token, in: header) == expected, "\(token) in \(header ?? "no header")")
        #expect(QualityList.accepts(token, in: header) == ((expected ?? 0) > 0))
    }
}
