// RecordDecoder fed in arbitrary chunks gives the same records (or the same error) as decoding the whole input at
// once; the record bodies and PARAMS of whatever decodes are parsed too; encoding a record decodes back to it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecords(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(bytes: UnsafeRawBufferPointer(start: data, count: size))
    let chunk = Int(input.byte() % 64) + 1
    let bytes = Array(input.bytes)

    let whole = Result { () throws(FastCGIWireError) in try RecordDecoder.decodeAll(bytes) }
    var decoder = RecordDecoder()
    var records: [Record] = []
    var failure: FastCGIWireError?
    var offset = 0
    feeding: while offset < bytes.count {
        decoder.feed(bytes[offset..<min(offset + chunk, bytes.count)])
        offset += chunk
        do throws(FastCGIWireError) { records += try decoder.nextRecords() } catch { failure = error; break feeding }
    }
    if failure == nil {
        do throws(FastCGIWireError) { try decoder.finish() } catch { failure = error }
    }
    switch whole {
    case .success(let all):
        guard failure == nil, all == records else { violated("chunked decoding differs: \(String(describing: failure))") }
    case .failure(let error):
        guard let failure else { violated("whole input fails (\(error)), chunked does not") }
        // The chunked decoder may stop at the same bad header or report the cut-off stream; both are errors.
        _ = failure
    }
    for record in records {
        _ = try? BeginRequestBody(decoding: record.content)
        _ = try? EndRequestBody(decoding: record.content)
        _ = try? UnknownTypeBody(decoding: record.content)
        if let pairs = try? NameValuePairs.decode(record.content) {
            guard (try? NameValuePairs.decode(NameValuePairs.encode(pairs))) == pairs else { violated("pairs do not round-trip") }
        }
        let encoded = record.encoded
        guard (try? RecordDecoder.decodeAll(encoded)) == [record] else { violated("record does not round-trip") }
    }
    return 0
}
