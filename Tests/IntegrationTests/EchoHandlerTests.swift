import Foundation
import Logging
import Porter
import PorterDemo
import Testing

/// The demo's /echo is public: it shows what Porter sees, but never a credential (found attacking the demo: it
/// reflected the HttpOnly porter_auth cookie, so any script on the site could read it through /echo).
@Suite struct EchoHandlerTests {
    @Test func credentialsAreNeverEchoed() throws {
        let secrets = ["porter_auth=SECRET-TICKET; porter_session=SECRET-SESSION", "Basic U0VDUkVULVBBU1M=", "Bearer SECRET-TOKEN"]
        let request = HTTPRequest(uri: "/echo?q=1", headers: ["Cookie": secrets[0], "authorization": secrets[1], "Proxy-Authorization": secrets[2],
                                                             "X-Seen": "visible"],
                                  parameters: ["HTTP_COOKIE": secrets[0], "HTTP_AUTHORIZATION": secrets[1],
                                               "HTTP_PROXY_AUTHORIZATION": secrets[2], "HTTP_X_SEEN": "visible"])
        let ctx = HTTPContext(request: request, application: ApplicationState(), logger: Logger(label: "echo"))
        try EchoHandler().processRequest(ctx)
        let text = String(decoding: ctx.response.bufferedBody ?? [], as: UTF8.self)
        for secret in ["SECRET-TICKET", "SECRET-SESSION", "U0VDUkVULVBBU1M", "SECRET-TOKEN"] {
            #expect(!text.contains(secret), "\(secret) echoed: \(text)")
        }
        #expect(text.contains("visible") && text.contains("porter_auth") && text.contains("(hidden, "), "names stay, values go: \(text)")
        #expect(ctx.response.headers["X-Content-Type-Options"] == "nosniff")
        #expect(ctx.response.headers["Content-Type"] == "application/json; charset=utf-8")
    }
}
