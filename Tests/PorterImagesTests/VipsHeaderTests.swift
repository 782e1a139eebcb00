import Foundation
@testable import PorterImages
import Testing

/// The shim declares the libvips prototypes and enum values it uses itself (libvips is loaded with dlopen, no
/// headers at build time): these must match the installed headers, so a libvips ABI change fails here, not in
/// production. Needs libvips-dev (deploy/dev.sh installs it).
@Suite struct VipsHeaderTests {
    static let includeDirectory = "/usr/include/vips"

    /// Every `#define NAME value` and enum constant in the libvips headers, as written (enum constants without an
    /// initialiser get the previous one + 1).
    static func headerConstants() throws -> [String: String] {
        let files = try FileManager.default.contentsOfDirectory(atPath: includeDirectory).filter { $0.hasSuffix(".h") }
        var constants: [String: String] = [:]
        for file in files {
            let text = withoutComments(try String(contentsOfFile: includeDirectory + "/" + file, encoding: .utf8))
            for line in text.split(separator: "\n") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if words.count >= 3, words[0] == "#define" { constants[String(words[1])] = words[2...].joined(separator: " ") }
            }
            var rest = Substring(text)
            while let open = rest.range(of: "enum"), let brace = rest[open.upperBound...].firstIndex(of: "{"),
                  let close = rest[brace...].firstIndex(of: "}") {
                // `enum [tag] {`: anything else between them (e.g. `vips_enum_nick(`) is not an enum body.
                guard rest[open.upperBound..<brace].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0.isWhitespace }) else {
                    rest = rest[open.upperBound...]
                    continue
                }
                do {
                    var next: Int? = 0
                    for entry in rest[rest.index(after: brace)..<close].split(separator: ",") {
                        let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                        guard let name = parts.first, !name.isEmpty else { continue }
                        let value = parts.count == 2 ? Int(parts[1]) : next
                        if let value { constants[name] = String(value) }
                        next = value.map { $0 + 1 }
                    }
                }
                rest = rest[rest.index(after: close)...]
            }
        }
        return constants
    }

    static func withoutComments(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let start = rest.range(of: "/*") {
            out += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].range(of: "*/") else { return out }
            rest = rest[end.upperBound...]
        }
        return out + rest
    }

    /// An integer macro's value, e.g. `(58)`.
    static func integer(_ text: String?) -> Int? {
        text.flatMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: "() "))) }
    }

    @Test("the enum values and ABI version the shim assumes are the installed libvips headers'")
    func assumedConstantsMatchTheHeaders() throws {
        try #require(FileManager.default.fileExists(atPath: Self.includeDirectory + "/vips.h"),
                     "libvips-dev is not installed (deploy/dev.sh installs it for the tests): this check must not be skipped")
        let headers = try Self.headerConstants()
        let assumed = VipsRuntime.assumedConstants
        #expect(assumed.count >= 10, "the shim reports what it assumes")
        for (name, value) in assumed {
            let terms = name.split(separator: "-").map(String.init)
            let actual: Int? = terms.count == 2
                ? Self.integer(headers[terms[0]]).flatMap { a in Self.integer(headers[terms[1]]).map { a - $0 } }
                : Self.integer(headers[name])
            #expect(actual == value, "\(name): the shim assumes \(value), the headers say \(actual.map(String.init) ?? "nothing")")
        }
        #expect(headers["VIPS_META_LOADER"] == "\"\(try #require(VipsRuntime.assumedString("VIPS_META_LOADER")))\"")
        #expect(VipsRuntime.assumedString("NO_SUCH_MACRO") == nil)
    }

    @Test("the header parser sees implicit and explicit enum values (so the check above means something)")
    func parserReadsEnums() throws {
        let headers = try Self.headerConstants()
        #expect(headers["VIPS_ACCESS_RANDOM"] == "0" && headers["VIPS_SIZE_UP"] == "1" && headers["VIPS_SIZE_LAST"] == "4")
        #expect(headers["VIPS_CODING_RAD"] == "6" && headers["VIPS_CODING_LAST"] == "7")
        #expect(headers["VIPS_NO_SUCH_VALUE"] == nil)
    }

    @Test("libvips loads on first use and reports its version")
    func loadsOnFirstUse() throws {
        try VipsRuntime.start(VipsRuntime.Settings())
        #expect(VipsRuntime.version.hasPrefix("8."))
    }
}
