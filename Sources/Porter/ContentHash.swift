/// A fast, non-cryptographic 128-bit hash (two 64-bit lanes over 8-byte words, murmur3 finalizer).
enum ContentHash {
    static func hash128(_ bytes: [UInt8]) -> (UInt64, UInt64) {
        var h1: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var h2: UInt64 = 0xC2B2_AE3D_27D4_EB4F &+ UInt64(bytes.count)
        bytes.withUnsafeBytes { raw in
            let n = raw.count
            var i = 0
            while i + 8 <= n {
                let w = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                h1 = rotl((h1 ^ w) &* 0x87C3_7B91_1142_53D5, 31) &* 5 &+ 0x52DC_E729
                h2 = rotl((h2 &+ w) &* 0x4CF5_AD43_2745_937F, 33) &* 9 &+ 0x3849_5AB5
                i += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(raw[i]) << shift
                shift += 8
                i += 1
            }
            h1 = rotl((h1 ^ tail) &* 0x87C3_7B91_1142_53D5, 31)
            h2 = rotl((h2 &+ tail) &* 0x4CF5_AD43_2745_937F, 33)
        }
        h1 &+= h2
        h2 &+= h1
        h1 = fmix(h1)
        h2 = fmix(h2)
        h1 &+= h2
        h2 &+= h1
        return (h1, h2)
    }

    @inline(__always) static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    static func fmix(_ k: UInt64) -> UInt64 {
        var k = k
        k ^= k >> 33
        k &*= 0xFF51_AFD7_ED55_8CCD
        k ^= k >> 33
        k &*= 0xC4CE_B9FE_1A85_EC53
        k ^= k >> 33
        return k
    }

    static func hex(_ v: UInt64) -> String {
        withUnsafeBytes(of: v.bigEndian) { Hex.encode($0) }
    }
}
