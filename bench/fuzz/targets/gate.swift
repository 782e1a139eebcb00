// RequestGate.inspect on arbitrary connection bytes: never traps or reads out of bounds; a verdict of `ready` means
// libfcgi gets records that FastCGIWire decodes and a PARAMS stream whose pairs all fit; a prefix of bytes the gate
// accepts (ready or incomplete) is never malformed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGate(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(bytes: UnsafeRawBufferPointer(start: data, count: size))
    let small = input.byte()
    let cut = Int(input.byte()) << 8 | Int(input.byte())
    let limits = small & 1 == 0 ? RequestGate.Limits() : RequestGate.Limits(maxParamsBytes: 64, maxGetValuesBytes: 16)
    // A private exact-size copy so AddressSanitizer sees any read past the end.
    let bytes = Array(input.bytes)
    bytes.withUnsafeBytes { raw in
        let gate = RequestGate(limits: limits)
        let verdict = gate.inspect(raw)
        if case .malformed = verdict { return }
        if case .ready = verdict { checkReady(raw, limits: limits) }
        let prefix = UnsafeRawBufferPointer(rebasing: raw[0..<min(cut, raw.count)])
        if case .malformed(let why) = gate.inspect(prefix) {
            violated("prefix of \(prefix.count) of accepted \(raw.count) bytes is malformed: \(why)")
        }
    }
    return 0
}

/// Re-reads a `ready` connection with RecordDecoder: BEGIN, PARAMS whose pairs decode, within the limit.
private func checkReady(_ raw: UnsafeRawBufferPointer, limits: RequestGate.Limits) {
    var decoder = RecordDecoder()
    decoder.feed(raw)
    var params: [UInt8] = []
    var sawBegin = false
    while true {
        let record: Record?
        do { record = try decoder.next() } catch { violated("ready, but RecordDecoder fails: \(error)") }
        guard let record else { violated("ready, but PARAMS never ended") }
        if record.type == .beginRequest { sawBegin = true }
        if record.type == .params {
            guard sawBegin else { violated("PARAMS before BEGIN") }
            if record.content.isEmpty { break }
            params += record.content
        }
    }
    guard params.count <= limits.maxParamsBytes else { violated("PARAMS over the limit") }
    do { _ = try NameValuePairs.decode(params) } catch { violated("ready, but PARAMS do not decode: \(error)") }
}
