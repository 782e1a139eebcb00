import CZlib

/// gzip content coding (RFC 9110 §8.4.1.3) for responses a handler keeps and sends many times: compress once when the
/// bytes are made, then send the compressed copy to every client whose `Accept-Encoding` takes it.
public enum Gzip {
    /// `bytes` as a gzip stream (zlib's `level`, 1–9), or nil if compressing failed or saved nothing.
    public static func compress(_ bytes: [UInt8], level: Int32 = 9) -> [UInt8]? {
        guard !bytes.isEmpty else { return nil }
        var stream = z_stream()
        guard porter_deflate_init_gzip(&stream, level) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(bytes.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let status = bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!)
                stream.avail_in = uInt(input.count)
                stream.next_out = output.baseAddress!
                stream.avail_out = uInt(output.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) < bytes.count else { return nil }
        out.removeSubrange(Int(stream.total_out)...)
        return out
    }

    /// The bytes a gzip stream holds, or nil if `gzipped` is not one whole gzip stream no larger than `limit` bytes
    /// once decompressed.
    package static func decompress(_ gzipped: [UInt8], limit: Int = 64 << 20) -> [UInt8]? {
        guard !gzipped.isEmpty else { return nil }
        var stream = z_stream()
        guard porter_inflate_init_gzip(&stream) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        return gzipped.withUnsafeBufferPointer { input -> [UInt8]? in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!)
            stream.avail_in = uInt(input.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { buffer -> (Int32, Int) in
                    stream.next_out = buffer.baseAddress!
                    stream.avail_out = uInt(buffer.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, buffer.count - Int(stream.avail_out))
                }
                out.append(contentsOf: chunk[..<produced])
                guard out.count <= limit else { return nil }
                if status == Z_STREAM_END { return stream.avail_in == 0 ? out : nil }
                guard status == Z_OK, produced > 0 || stream.avail_in > 0 else { return nil }
            }
        }
    }

    /// Whether a request's `Accept-Encoding` takes gzip: `gzip` or `x-gzip` with a non-zero q-value, or `*` when gzip is
    /// not named. No header means identity only (the safe reading for a stored, compressed body).
    public static func isAccepted(by acceptEncoding: String?) -> Bool {
        let named = [QualityList.quality(of: "gzip", in: acceptEncoding), QualityList.quality(of: "x-gzip", in: acceptEncoding)]
            .compactMap { $0 }.max()
        return (named ?? QualityList.quality(of: "*", in: acceptEncoding) ?? 0) > 0
    }
}
