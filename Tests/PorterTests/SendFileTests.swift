import Porter
import Testing

@Suite("sendFile names")
struct SendFileTests {
    @Test func onlyNamesThatStayInsideTheDirectoryAreSent() throws {
        for good in ["a.txt", "report-2026_12.pdf", "sub/inner.txt", "a/b/c", "a.b.c", "x.", "v1..2"] { #expect(SendFile.isSafeName(good), "\(good)") }
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a/./b", "a//b", "a/", "..", ".", "a b", "a%2e", "a\\b", "a\0b",
                    "é.txt", "a?b", "a#b", String(repeating: "a", count: 256), ".hidden", ".htpasswd", ".git/config", "sub/.env", "..x"] {
            #expect(!SendFile.isSafeName(bad), "\(bad)")
        }
        #expect(SendFile.isValidLocation("/_porter/files/"))
        for bad in ["/", "//", "/../", "_porter/files/", "/_porter/files", "/a b/"] { #expect(!SendFile.isValidLocation(bad), "\(bad)") }
        var response = HTTPResponse()
        try response.sendFile("sub/x.bin", downloadName: "x\"\r\n.bin")
        #expect(response.headers["X-Accel-Redirect"] == "/_porter/files/sub/x.bin")
        #expect(response.headers["Content-Disposition"] == "attachment; filename=\"x.bin\"")
        #expect(throws: HTTPError.self) { try response.sendFile("../x") }
    }
}
